"""Verification metrics: EER, FAR/FRR at thresholds, DET points, minDCF and a speaker bootstrap.

Convention everywhere: a trial is accepted iff its score is >= the threshold, as Voice ID accepts at or
above AcceptanceThreshold.
"""

from __future__ import annotations

import numpy as np

DET_FARS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4)


def rates_at(target: np.ndarray, nontarget: np.ndarray, thresholds) -> tuple[np.ndarray, np.ndarray]:
    """(FAR, FRR) at each threshold."""
    t = np.sort(np.asarray(target, dtype=np.float64))
    n = np.sort(np.asarray(nontarget, dtype=np.float64))
    th = np.asarray(thresholds, dtype=np.float64)
    frr = np.searchsorted(t, th, side="left") / max(len(t), 1)
    far = (len(n) - np.searchsorted(n, th, side="left")) / max(len(n), 1)
    return far, frr


def _curve(target: np.ndarray, nontarget: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Thresholds (every distinct score, plus one above the top) with FAR falling and FRR rising."""
    th = np.unique(np.concatenate([target, nontarget]).astype(np.float64))
    th = np.append(th, np.inf)
    far, frr = rates_at(target, nontarget, th)
    return th, far, frr


def eer(target: np.ndarray, nontarget: np.ndarray) -> tuple[float, float]:
    """(equal error rate, threshold), interpolated linearly between the two points where FAR and FRR cross."""
    th, far, frr = _curve(np.asarray(target), np.asarray(nontarget))
    diff = frr - far  # rises from <= 0 to >= 0
    i = int(np.searchsorted(diff, 0.0, side="left"))
    if i == 0:
        return float(far[0]), float(th[0])
    d0, d1 = diff[i - 1], diff[i]
    w = 0.0 if d1 == d0 else -d0 / (d1 - d0)
    rate = far[i - 1] + w * (far[i] - far[i - 1])
    threshold = th[i - 1] + w * (th[i] - th[i - 1]) if np.isfinite(th[i]) else th[i - 1]
    return float(rate), float(threshold)


def frr_at_far(target: np.ndarray, nontarget: np.ndarray, far_max: float) -> tuple[float, float]:
    """(FRR, threshold) at the lowest threshold whose FAR is <= far_max."""
    th, far, frr = _curve(np.asarray(target), np.asarray(nontarget))
    i = int(np.argmax(far <= far_max))
    return float(frr[i]), float(th[i])


def det_points(target: np.ndarray, nontarget: np.ndarray, fars=DET_FARS) -> list[tuple[float, float, float]]:
    """(FAR target, FRR, threshold) at each operating point of the DET curve."""
    return [(far, *frr_at_far(target, nontarget, far)) for far in fars]


def min_dcf(target: np.ndarray, nontarget: np.ndarray, p_target: float = 0.01) -> float:
    """Normalised minimum detection cost with C_miss = C_fa = 1."""
    _, far, frr = _curve(np.asarray(target), np.asarray(nontarget))
    cost = p_target * frr + (1 - p_target) * far
    return float(cost.min() / min(p_target, 1 - p_target))


def bootstrap_eer(
    scores: np.ndarray, labels: np.ndarray, groups: np.ndarray, *, resamples: int = 300, seed: int = 3
) -> tuple[float, float]:
    """95 % interval of the EER when the test speakers (`groups`) are resampled with replacement."""
    rng = np.random.default_rng(seed)
    names = np.unique(groups)
    members = {g: np.flatnonzero(groups == g) for g in names}
    values = []
    for _ in range(resamples):
        take = np.concatenate([members[g] for g in rng.choice(names, len(names))])
        t, n = scores[take][labels[take]], scores[take][~labels[take]]
        if len(t) and len(n):
            values.append(eer(t, n)[0])
    lo, hi = np.percentile(values, [2.5, 97.5])
    return float(lo), float(hi)
