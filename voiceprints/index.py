"""1:N screening: a watchlist's fraudster voiceprints as one matrix, searched in one vectorised pass.

The pass is `matrix @ vector`, then (only when the calibration scores s-norm) the s-norm of all N cosines,
then one argmax. The product reads every byte of the matrix once, so its cost is bounded below by matrix
bytes / memory bandwidth; `bench_screening` measures both. Storage stays float32: numpy has no BLAS kernel
for float16, and a float16 product measured many times slower than float32 (docs/accuracy.md), which
outweighs halving the bytes.
Caching the index per process and rebuilding it when a watchlist changes is the caller's job.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voiceprints.scoring import (
    CALIBRATION_FILE,
    Calibration,
    CohortStats,
    cohort_stats_many,
    load_calibration,
)


@dataclass(frozen=True)
class Match:
    """The best-matching voiceprint: its id, raw cosine, the statistic the risk map was applied to (see
    `scoring.Calibration`) and the calibrated risk score."""

    id: str
    cos: float
    statistic: float
    risk_score: int


class VoiceprintIndex:
    """Immutable (N, D) matrix of unit voiceprints with their cohort statistics, searched in one pass."""

    def __init__(
        self,
        ids: Sequence[str],
        matrix: np.ndarray,
        means: np.ndarray,
        stds: np.ndarray,
        *,
        calibration: Calibration | None = None,
    ) -> None:
        self.ids = list(ids)
        n = len(self.ids)
        matrix = np.asarray(matrix, dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape[0] != n:
            raise ValueError(f"matrix must be ({n}, D), got {matrix.shape}")
        means = np.asarray(means, dtype=np.float32).reshape(-1)
        stds = np.asarray(stds, dtype=np.float32).reshape(-1)
        if means.shape != (n,) or stds.shape != (n,):
            raise ValueError("means and stds need one value per voiceprint")
        # C order keeps the product a single contiguous stream over memory.
        self.matrix = np.ascontiguousarray(matrix)
        self.means = means
        # Precompute 1/std so the per-search s-norm is multiplies only.
        self.inv_stds = (1.0 / np.maximum(stds, np.float32(1e-6))).astype(np.float32)
        for array in (self.matrix, self.means, self.inv_stds):
            array.setflags(write=False)
        self.calibration = calibration

    @classmethod
    def build(
        cls,
        *,
        ids: Sequence[str],
        vectors: np.ndarray,
        cohort_means: np.ndarray | None = None,
        cohort_stds: np.ndarray | None = None,
        cohort: np.ndarray | None = None,
        top_k: int | None = None,
        calibration: Calibration | None = None,
    ) -> VoiceprintIndex:
        """An index of `vectors`; cohort statistics stored with the voiceprints are reused, else computed."""
        n = len(ids)
        vectors = np.asarray(vectors, dtype=np.float32)
        if n == 0:
            dim = vectors.shape[-1] if vectors.ndim == 2 else 0
            return cls([], np.zeros((0, dim), np.float32), np.zeros(0), np.ones(0), calibration=calibration)
        vectors = vectors.reshape(n, -1)
        if cohort_means is None or cohort_stds is None:
            cohort_means, cohort_stds = cohort_stats_many(vectors, cohort, top_k)
        return cls(ids, vectors, cohort_means, cohort_stds, calibration=calibration)

    def __len__(self) -> int:
        return len(self.ids)

    def statistics(
        self, vector: np.ndarray, test_stats: CohortStats, calibration: Calibration | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(cosines, calibrated statistics) of `vector` against every voiceprint, in index order."""
        calibration = calibration or self.calibration or load_calibration()
        cos = np.nan_to_num(self.matrix @ np.asarray(vector, dtype=np.float32), nan=-1.0)
        if calibration.statistic == "cosine":
            return cos, calibration.statistic_of(cos, 0, 1, 0, 1)
        test_term = (cos - np.float32(test_stats.mean)) * np.float32(1.0 / max(test_stats.std, 1e-6))
        return cos, np.float32(0.5) * ((cos - self.means) * self.inv_stds + test_term)

    def search(self, vector: np.ndarray, test_stats: CohortStats) -> Match | None:
        """The voiceprint with the highest calibrated statistic, or None for an empty index."""
        if not self.ids:
            return None
        calibration = self.calibration or load_calibration()
        if calibration.statistic == "cosine":  # monotonic in the cosine: transform the winner only
            cos = np.nan_to_num(self.matrix @ np.asarray(vector, dtype=np.float32), nan=-1.0)
            best = int(np.argmax(cos))
            value = float(calibration.statistic_of(float(cos[best]), 0, 1, 0, 1))
        else:
            cos, statistic = self.statistics(vector, test_stats, calibration)
            best = int(np.argmax(statistic))
            value = float(statistic[best])
        return Match(
            id=self.ids[best],
            cos=float(cos[best]),
            statistic=value,
            risk_score=int(calibration.risk.score(value)),
        )


def brute_force_search(
    ids: Sequence[str],
    matrix: np.ndarray,
    means: np.ndarray,
    stds: np.ndarray,
    vector: np.ndarray,
    test_stats: CohortStats,
    calibration: Calibration,
) -> tuple[str, float] | None:
    """Reference implementation (one comparison at a time, float64) that tests hold the index against."""
    best: tuple[str, float] | None = None
    for i, voiceprint_id in enumerate(ids):
        cos = float(np.dot(np.asarray(matrix[i], np.float64), np.asarray(vector, np.float64)))
        value = float(
            calibration.statistic_of(cos, float(means[i]), float(stds[i]), test_stats.mean, test_stats.std)
        )
        if best is None or value > best[1]:
            best = (voiceprint_id, value)
    return best


# --- benchmark -------------------------------------------------------------------------------------------

_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS")


def bench_screening(
    sizes: Sequence[int] = (1000, 10000, 100000),
    *,
    repeats: int = 200,
    dim: int = 256,
    threads: int = 1,
    statistic: str | None = None,
) -> list[dict[str, float | int | str]]:
    """Time `search` on random unit voiceprints and the memory-bandwidth bound it is measured against.

    Runs in a child process because BLAS reads its thread count from the environment at import time.
    `statistic` defaults to the committed calibration's ("cosine": argmax of the cosines; "snorm": the
    s-norm of all N first). Each row: size, dim, dtype, statistic, threads, matrix_mb, p50_ms, p99_ms,
    bandwidth_gbs (single-stream read bandwidth from `np.sum` over 512 MiB), bound_ms (matrix bytes /
    bandwidth), p50_over_bound and cache_mb (last-level cache: matrices below it can beat the bound).
    """
    env = dict(os.environ, **{var: str(threads) for var in _THREAD_VARS})
    if statistic is None:
        statistic = load_calibration().statistic if CALIBRATION_FILE.exists() else "snorm"
    args = json.dumps({"sizes": list(sizes), "repeats": repeats, "dim": dim, "statistic": statistic})
    code = "import sys, json; from voiceprints.index import _bench_here; print(json.dumps(_bench_here(**json.loads(sys.argv[1]))))"
    done = subprocess.run(
        [sys.executable, "-c", code, args], env=env, capture_output=True, text=True, check=True, timeout=1800
    )
    rows: list[dict[str, float | int | str]] = json.loads(done.stdout.strip().splitlines()[-1])
    for row in rows:
        row["threads"] = threads
    return rows


def _last_level_cache_mb() -> float | None:
    """Size of CPU 0's last-level cache, from sysfs (None where unknown): a matrix smaller than it can be
    served from cache after warm-up, beating the DRAM bound."""
    caches = sorted(Path("/sys/devices/system/cpu/cpu0/cache").glob("index*/size"))
    try:
        text = caches[-1].read_text().strip()
    except (IndexError, OSError):
        return None
    units = {"K": 1 / 1024, "M": 1.0, "G": 1024.0}
    return float(text[:-1]) * units[text[-1]] if text and text[-1] in units else None


def _read_bandwidth(nbytes: int = 512 * 2**20, repeats: int = 7) -> float:
    """Bytes/second that one thread streams from memory (best of `repeats` sums over a buffer >> cache)."""
    buffer = np.ones(nbytes // 4, dtype=np.float32)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        buffer.sum()
        best = min(best, time.perf_counter() - start)
    return nbytes / best


def _bench_here(
    sizes: Sequence[int], repeats: int, dim: int, statistic: str
) -> list[dict[str, float | int | str]]:
    rng = np.random.default_rng(20261121)
    bandwidth = _read_bandwidth()
    cache_mb = _last_level_cache_mb()
    calibration = Calibration.from_json(
        {
            "statistic": statistic,
            "top_k": 1,
            "auth": {"center": 0, "width": 1},
            "risk": {"center": 3, "width": 1},
        }
    )
    rows: list[dict[str, float | int | str]] = []
    for size in sizes:
        matrix = rng.standard_normal((size, dim), dtype=np.float32)
        matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
        means = rng.uniform(0.3, 0.6, size).astype(np.float32)
        stds = rng.uniform(0.03, 0.08, size).astype(np.float32)
        index = VoiceprintIndex([f"f{i}" for i in range(size)], matrix, means, stds, calibration=calibration)
        queries = rng.standard_normal((16, dim), dtype=np.float32)
        queries /= np.linalg.norm(queries, axis=1, keepdims=True)
        stats = CohortStats(0.45, 0.05)
        for q in queries[:3]:  # warm-up: page in the matrix, settle the allocator
            index.search(q, stats)
        times = []
        for r in range(repeats):
            start = time.perf_counter()
            index.search(queries[r % len(queries)], stats)
            times.append(time.perf_counter() - start)
        ms = np.array(times) * 1e3
        bound_ms = matrix.nbytes / bandwidth * 1e3
        rows.append(
            {
                "size": size,
                "dim": dim,
                "dtype": "float32",
                "statistic": statistic,
                "matrix_mb": round(matrix.nbytes / 1e6, 3),
                "p50_ms": round(float(np.percentile(ms, 50)), 3),
                "p99_ms": round(float(np.percentile(ms, 99)), 3),
                "bandwidth_gbs": round(bandwidth / 1e9, 2),
                "bound_ms": round(bound_ms, 3),
                "p50_over_bound": round(float(np.percentile(ms, 50)) / bound_ms, 2),
                "cache_mb": cache_mb,
            }
        )
    return rows
