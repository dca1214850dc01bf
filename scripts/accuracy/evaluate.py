"""Scoring the trials: EERs, cross-validated calibrated scores, FAR/FRR per threshold and 1:N screening.

Honesty rule: a trial's integer score always comes from a calibration fitted on trials in which neither
speaker belongs to the test speaker's fold (4-fold cross-validation by speaker), so no trial of that test
speaker, the trial itself included, helped fit it. Only the committed calibration is fitted on everything,
and its resubstitution figures are labelled as such.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from scripts.accuracy import calibrate, metrics
from scripts.accuracy.trials import FOLDS, TrialSet, Utterance
from voiceprints.index import VoiceprintIndex
from voiceprints.scoring import Calibration, CohortStats, cohort_stats_many, cosine_statistic, snorm_arrays

THRESHOLDS = tuple(range(50, 100))
RISK_THRESHOLDS = (30, 40, 50, 60, 70, 80, 90)


def family(speaker: str) -> str:
    """The corpus a speaker belongs to, LibriSpeech's cohort folder counting as LibriSpeech."""
    corpus = speaker.split("/", 1)[0]
    return "librispeech" if corpus.endswith("librispeech") else corpus


@dataclass
class Table:
    """Every enrollment x every test of one length, under one condition."""

    condition: str
    seconds: float
    enroll: list[Utterance]
    tests: list[Utterance]
    ev: np.ndarray  # (E, D) enrollment voiceprints
    tv: np.ndarray  # (T, D) test voiceprints
    achieved: np.ndarray  # (T,) net speech each test really held
    cos: np.ndarray = field(init=False)
    target: np.ndarray = field(init=False)
    same_family: np.ndarray = field(init=False)
    enroll_fold: np.ndarray = field(init=False)
    test_fold: np.ndarray = field(init=False)
    test_speaker: np.ndarray = field(init=False)
    _stats: dict[int, tuple[np.ndarray, ...]] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.cos = self.ev @ self.tv.T
        es = np.array([u.speaker for u in self.enroll])
        ts = np.array([u.speaker for u in self.tests])
        self.target = es[:, None] == ts[None, :]
        self.same_family = (
            np.array([family(s) for s in es])[:, None] == np.array([family(s) for s in ts])[None, :]
        )
        self.enroll_fold = np.array([u.fold for u in self.enroll])
        self.test_fold = np.array([u.fold for u in self.tests])
        self.test_speaker = ts

    def stats(self, cohort: np.ndarray, top_k: int) -> tuple[np.ndarray, ...]:
        """(enroll means, enroll stds, test means, test stds) against the cohort, cached per top-K."""
        if top_k not in self._stats:
            self._stats[top_k] = (
                *cohort_stats_many(self.ev, cohort, top_k),
                *cohort_stats_many(self.tv, cohort, top_k),
            )
        return self._stats[top_k]

    def values(self, statistic: str, cohort: np.ndarray, top_k: int) -> np.ndarray:
        """(E, T) statistic of every trial ("cosine": -ln(1 - cos); "snorm": adaptive s-norm)."""
        if statistic == "cosine":
            return cosine_statistic(self.cos)
        em, es, tm, ts = self.stats(cohort, top_k)
        return snorm_arrays(self.cos, em[:, None], es[:, None], tm[None, :], ts[None, :])


def build_tables(
    trial_set: TrialSet, vectors: dict[str, dict[str, np.ndarray]], seconds: dict[str, dict[str, float]]
) -> dict[tuple[str, float], Table]:
    tables = {}
    enroll = trial_set.by_role("enroll")
    for condition, vecs in vectors.items():
        for length in sorted({u.seconds for u in trial_set.by_role("test")}, reverse=True):
            tests = trial_set.by_role("test", length)
            tables[condition, length] = Table(
                condition,
                length,
                enroll,
                tests,
                np.stack([vecs[u.id] for u in enroll]),
                np.stack([vecs[u.id] for u in tests]),
                np.array([seconds[condition][u.id] for u in tests]),
            )
    return tables


def verification_summary(table: Table, values: np.ndarray, *, bootstrap: bool = True) -> dict:
    """EER (all non-targets, and same-corpus only), its speaker-bootstrap interval, minDCF, FRR at FARs."""
    t, n = values[table.target], values[~table.target]
    n_same = values[~table.target & table.same_family]
    rate, threshold = metrics.eer(t, n)
    out = {
        "n_target": int(t.size),
        "n_nontarget": int(n.size),
        "n_nontarget_same_corpus": int(n_same.size),
        "eer": rate,
        "eer_threshold": threshold,
        "eer_same_corpus": metrics.eer(t, n_same)[0],
        "min_dcf": metrics.min_dcf(t, n),
        "frr_at_far_1": metrics.frr_at_far(t, n, 0.01)[0],
        "frr_at_far_01": metrics.frr_at_far(t, n, 0.001)[0],
        "det": metrics.det_points(t, n),
    }
    if bootstrap:
        groups = np.broadcast_to(table.test_speaker[None, :], values.shape).ravel()
        out["eer_ci"] = metrics.bootstrap_eer(values.ravel(), table.target.ravel(), groups)
    return out


def fold_calibrations(
    tables: Sequence[Table], statistic: str, cohort: np.ndarray, top_k: int
) -> dict[int, Calibration]:
    """One calibration per held-out fold, fitted on trials whose two speakers are both outside it."""
    calibrations = {}
    for fold in range(FOLDS):
        pooled = []
        for table in tables:
            keep = (table.enroll_fold[:, None] != fold) & (table.test_fold[None, :] != fold)
            keep &= ~table.target & table.same_family
            pooled.append(table.values(statistic, cohort, top_k)[keep])
        calibrations[fold] = calibrate.fit(np.concatenate(pooled), statistic=statistic, top_k=top_k)
    return calibrations


def final_calibration(
    tables: Sequence[Table], statistic: str, cohort: np.ndarray, top_k: int, meta: dict
) -> Calibration:
    pooled = [t.values(statistic, cohort, top_k)[~t.target & t.same_family] for t in tables]
    return calibrate.fit(np.concatenate(pooled), statistic=statistic, top_k=top_k, meta=meta)


def scores_by_fold(
    table: Table, values: np.ndarray, calibrations: dict[int, Calibration], which: str
) -> np.ndarray:
    """(E, T) integer scores, each test column scored by the calibration that never saw its fold."""
    out = np.empty(values.shape, dtype=np.int64)
    for fold, calibration in calibrations.items():
        columns = table.test_fold == fold
        out[:, columns] = getattr(calibration, which).score(values[:, columns])
    return out


def threshold_rows(table: Table, scores: np.ndarray, thresholds: Sequence[int] = THRESHOLDS) -> list[dict]:
    """FAR (all non-targets and same-corpus only) and FRR when accepting at score >= threshold."""
    t = scores[table.target]
    n = scores[~table.target]
    n_same = scores[~table.target & table.same_family]
    far, frr = metrics.rates_at(t, n, thresholds)
    far_same, _ = metrics.rates_at(t, n_same, thresholds)
    return [
        {"threshold": th, "far": float(a), "far_same_corpus": float(b), "frr": float(r)}
        for th, a, b, r in zip(thresholds, far, far_same, frr, strict=True)
    ]


def screening(
    table: Table,
    watchlists: Sequence[Sequence[str]],
    calibrations: dict[int, Calibration],
    cohort: np.ndarray,
    *,
    thresholds: Sequence[int] = RISK_THRESHOLDS,
    float16: bool = False,
) -> dict:
    """Every test call screened against every watchlist with the production index.

    A fraud call is a test of a watchlisted speaker: detected when the best match is that speaker and its
    RiskScore reaches the threshold. Every other call (other enrolled speakers and the impostor callers)
    raises a false alarm when its best RiskScore reaches the threshold.
    """
    position = {u.id: i for i, u in enumerate(table.enroll)}
    speaker_of = {u.id: u.speaker for u in table.enroll}
    any_calibration = next(iter(calibrations.values()))
    em, es, tm, ts = table.stats(cohort, any_calibration.top_k)
    fraud_scores, fraud_correct, innocent_scores, agree = [], [], [], []
    for members in watchlists:
        rows = [position[e] for e in members]
        matrix = table.ev[rows]
        if float16:
            matrix = matrix.astype(np.float16).astype(np.float32)
        listed = {speaker_of[e] for e in members}
        indexes = {
            fold: VoiceprintIndex(list(members), matrix, em[rows], es[rows], calibration=calibration)
            for fold, calibration in calibrations.items()
        }
        for j, test in enumerate(table.tests):
            match = indexes[test.fold].search(table.tv[j], CohortStats(float(tm[j]), float(ts[j])))
            assert match is not None
            agree.append(match.id)
            if test.speaker in listed:
                fraud_scores.append(match.risk_score)
                fraud_correct.append(speaker_of[match.id] == test.speaker)
            else:
                innocent_scores.append(match.risk_score)
    fraud = np.array(fraud_scores)
    correct = np.array(fraud_correct)
    innocent = np.array(innocent_scores)
    rows_out = [
        {
            "threshold": th,
            "detected": float(np.mean((fraud >= th) & correct)),
            "flagged": float(np.mean(fraud >= th)),
            "false_alarm": float(np.mean(innocent >= th)),
        }
        for th in thresholds
    ]
    return {"n_fraud": int(fraud.size), "n_innocent": int(innocent.size), "rows": rows_out, "best_ids": agree}
