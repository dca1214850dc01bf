"""Cosine similarity -> Voice ID's integer 0-100 `Score` and `RiskScore`, calibrated on the devset.

Two statistics are supported, and `data/calibration.json` (written by `scripts/accuracy.py`) says which
one the maps take, with the maps' constants:
- "cosine": -ln(1 - cos). The committed choice: on the devset it separates speakers better than s-norm,
  and one threshold holds across its three corpora and the mu-law channel (docs/accuracy.md).
- "snorm": adaptive s-norm, each side standardised against its top-K nearest voices of a cohort. It is the
  usual way to make one threshold hold across domains, but only with an in-domain cohort; against the
  licensed LibriSpeech cohort it made every devset condition worse, so it is kept ready, not used.
Every voiceprint still carries its `CohortStats` against the committed cohort (computed once, at
enrollment) so that s-norm is a calibration change away; a new cohort means recomputing them from the
stored vectors, not re-enrolling anyone.
A logistic map turns the statistic into the integer score; thresholds 90 (accept) and 50 (high risk)
mean the false-accept and false-alarm rates documented in docs/accuracy.md.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

DATA_DIR = Path(__file__).with_name("data")
COHORT_FILE = DATA_DIR / "cohort.npz"
CALIBRATION_FILE = DATA_DIR / "calibration.json"

# A degenerate voiceprint (silence, a zero vector) has identical similarity to every cohort voice; without a
# floor its s-norm would divide by zero. 1e-3 is ~20x below the smallest top-K spread seen on real speech.
STD_FLOOR = 1e-3


@dataclass(frozen=True)
class CohortStats:
    """How similar one voiceprint is to its top-K nearest cohort voices (mean and spread of the cosines)."""

    mean: float
    std: float


@dataclass(frozen=True)
class ScoreMap:
    """Logistic map from an s-norm score to 0-100: `100 / (1 + exp(-(s - center) / width))`, rounded."""

    center: float
    width: float

    def percent(self, s: float | np.ndarray) -> np.ndarray:
        """The unrounded 0-100 value; NaN (undefined audio) maps to 0 rather than poisoning a decision."""
        s = np.nan_to_num(np.asarray(s, dtype=np.float64), nan=-np.inf)
        with np.errstate(over="ignore", invalid="ignore"):
            z = np.clip((s - self.center) / self.width, -60.0, 60.0)
        return 100.0 / (1.0 + np.exp(-z))

    def score(self, s: float | np.ndarray) -> np.ndarray:
        """Integer scores (as an int array of the input's shape), clamped to 0..100."""
        return np.clip(np.floor(self.percent(s) + 0.5), 0, 100).astype(np.int64)

    def threshold_snorm(self, score: float) -> float:
        """The s-norm value at which `percent` equals `score` (useful for reporting thresholds)."""
        p = min(max(score, 1e-9), 100 - 1e-9) / 100.0
        return self.center + self.width * math.log(p / (1.0 - p))


STATISTICS = ("cosine", "snorm")
# 1 - cos is floored so that identical vectors give a large but finite statistic.
COSINE_DISTANCE_FLOOR = 1e-6


@dataclass(frozen=True)
class Calibration:
    """Everything `scripts/accuracy.py` fits: which statistic is scored, the cohort size for s-norm, and the
    two logistic maps applied to that statistic.

    statistic "cosine": x = -ln(1 - cos), so the maps read `100 / (1 + ((1 - cos) / d50) ** (1 / width))`
    with d50 = exp(-center): the score saturates at 100 as the cosine reaches 1 instead of running out of
    range. statistic "snorm": x = the adaptive s-norm of the cosine against the cohort.
    """

    statistic: str
    top_k: int
    auth: ScoreMap
    risk: ScoreMap
    meta: dict[str, Any]

    def __post_init__(self) -> None:
        if self.statistic not in STATISTICS:
            raise ValueError(f"statistic must be one of {STATISTICS}, got {self.statistic!r}")

    def statistic_of(
        self,
        cos: float | np.ndarray,
        enroll_mean: float | np.ndarray,
        enroll_std: float | np.ndarray,
        test_mean: float | np.ndarray,
        test_std: float | np.ndarray,
    ) -> np.ndarray:
        """The value the maps take, broadcasting over all inputs (the index passes whole watchlists)."""
        if self.statistic == "cosine":
            return cosine_statistic(cos)
        return snorm_arrays(cos, enroll_mean, enroll_std, test_mean, test_std)

    def to_json(self) -> dict[str, Any]:
        return {
            "statistic": self.statistic,
            "top_k": self.top_k,
            "auth": {"center": self.auth.center, "width": self.auth.width},
            "risk": {"center": self.risk.center, "width": self.risk.width},
            "meta": self.meta,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Calibration:
        return cls(
            statistic=str(data["statistic"]),
            top_k=int(data["top_k"]),
            auth=ScoreMap(float(data["auth"]["center"]), float(data["auth"]["width"])),
            risk=ScoreMap(float(data["risk"]["center"]), float(data["risk"]["width"])),
            meta=dict(data.get("meta", {})),
        )


def cosine_statistic(cos: float | np.ndarray) -> np.ndarray:
    """-ln(1 - cos): the log cosine distance, rising without bound as the cosine nears 1 (NaN -> cos -1)."""
    cos = np.nan_to_num(np.asarray(cos, dtype=np.float64), nan=-1.0)
    return -np.log(np.clip(1.0 - cos, COSINE_DISTANCE_FLOOR, 2.0))


@functools.cache
def load_calibration() -> Calibration:
    """The committed calibration (read once per process)."""
    return Calibration.from_json(json.loads(CALIBRATION_FILE.read_text()))


@functools.cache
def load_cohort() -> np.ndarray:
    """The committed normalisation cohort: (C, D) unit float32 voiceprints, read once per process."""
    with np.load(COHORT_FILE, allow_pickle=False) as data:
        cohort = np.ascontiguousarray(data["embeddings"], dtype=np.float32)
    cohort.setflags(write=False)
    return cohort


def _top_k_stats(sims: np.ndarray, top_k: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std of the top-K values along the last axis (NaN-safe, std floored)."""
    sims = np.nan_to_num(sims, nan=0.0, posinf=1.0, neginf=-1.0)
    k = max(1, min(int(top_k), sims.shape[-1]))
    top = np.partition(sims, sims.shape[-1] - k, axis=-1)[..., sims.shape[-1] - k :]
    return top.mean(axis=-1), np.maximum(top.std(axis=-1), STD_FLOOR)


def cohort_stats(
    vector: np.ndarray, cohort: np.ndarray | None = None, top_k: int | None = None
) -> CohortStats:
    """Adaptive cohort statistics of one voiceprint; computed once per enrollment and once per test."""
    cohort = load_cohort() if cohort is None else cohort
    top_k = load_calibration().top_k if top_k is None else top_k
    mean, std = _top_k_stats(cohort @ np.asarray(vector, dtype=np.float32), top_k)
    return CohortStats(float(mean), float(std))


def cohort_stats_many(
    matrix: np.ndarray, cohort: np.ndarray | None = None, top_k: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """`cohort_stats` for N voiceprints at once: (means, stds), each shape (N,)."""
    cohort = load_cohort() if cohort is None else cohort
    top_k = load_calibration().top_k if top_k is None else top_k
    matrix = np.asarray(matrix, dtype=np.float32).reshape(-1, cohort.shape[1])
    means, stds = _top_k_stats(matrix @ cohort.T, top_k)
    return means.astype(np.float32), stds.astype(np.float32)


def snorm_arrays(
    cos: float | np.ndarray,
    enroll_mean: float | np.ndarray,
    enroll_std: float | np.ndarray,
    test_mean: float | np.ndarray,
    test_std: float | np.ndarray,
) -> np.ndarray:
    """Symmetric s-norm, broadcasting over any of its inputs (the index uses it on whole watchlists)."""
    cos = np.nan_to_num(np.asarray(cos, dtype=np.float64), nan=0.0)
    return 0.5 * ((cos - enroll_mean) / enroll_std + (cos - test_mean) / test_std)


def snorm(cos: float | np.ndarray, enroll_stats: CohortStats, test_stats: CohortStats) -> float | np.ndarray:
    """S-norm of a cosine between an enrolled voiceprint and a test voiceprint; symmetric in the two sides."""
    s = snorm_arrays(cos, enroll_stats.mean, enroll_stats.std, test_stats.mean, test_stats.std)
    return float(s) if s.ndim == 0 else s


def calibrated_statistic(
    cos: float, enroll_stats: CohortStats, test_stats: CohortStats, calibration: Calibration | None = None
) -> float:
    """The value the score maps are applied to (see `Calibration.statistic_of`)."""
    calibration = calibration or load_calibration()
    return float(
        calibration.statistic_of(cos, enroll_stats.mean, enroll_stats.std, test_stats.mean, test_stats.std)
    )


def authentication_score(
    cos: float, enroll_stats: CohortStats, test_stats: CohortStats, calibration: Calibration | None = None
) -> int:
    """Voice ID's authentication `Score`: ACCEPT iff it is >= the domain's AcceptanceThreshold (default 90)."""
    calibration = calibration or load_calibration()
    return int(calibration.auth.score(calibrated_statistic(cos, enroll_stats, test_stats, calibration)))


def risk_score(
    cos: float, fraudster_stats: CohortStats, test_stats: CohortStats, calibration: Calibration | None = None
) -> int:
    """Voice ID's fraud `RiskScore` for one fraudster: HIGH_RISK iff it is >= RiskThreshold (default 50)."""
    calibration = calibration or load_calibration()
    return int(calibration.risk.score(calibrated_statistic(cos, fraudster_stats, test_stats, calibration)))
