from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from voiceprints import scoring
from voiceprints.scoring import Calibration, CohortStats, ScoreMap

CALIBRATION = Calibration("snorm", top_k=3, auth=ScoreMap(1.0, 0.5), risk=ScoreMap(3.0, 0.5), meta={})
# Score 50 at cos 0.8 (d50 = 0.2), 90 at cos 0.9: k = ln 9 / ln 2.
COSINE = Calibration(
    "cosine",
    top_k=3,
    auth=ScoreMap(-math.log(0.2), math.log(2) / math.log(9)),
    risk=ScoreMap(-math.log(0.1), 0.3),
    meta={},
)


def unit_rows(rng: np.random.Generator, n: int, dim: int = 16) -> np.ndarray:
    rows = rng.standard_normal((n, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_cohort_stats_uses_only_the_top_k_most_similar_voices():
    vector = np.array([1.0, 0.0], np.float32)
    angles = np.array([0.1, 0.2, 0.3, 1.2, 1.4, 3.0])
    cohort = np.stack([np.cos(angles), np.sin(angles)], axis=1).astype(np.float32)
    stats = scoring.cohort_stats(vector, cohort, top_k=3)
    top = np.cos(angles[:3])
    assert stats.mean == pytest.approx(top.mean(), abs=1e-6)
    assert stats.std == pytest.approx(top.std(), abs=1e-6)


def test_cohort_stats_many_matches_one_at_a_time():
    rng = np.random.default_rng(0)
    cohort, matrix = unit_rows(rng, 40), unit_rows(rng, 7)
    means, stds = scoring.cohort_stats_many(matrix, cohort, top_k=5)
    for row, mean, std in zip(matrix, means, stds, strict=True):
        one = scoring.cohort_stats(row, cohort, top_k=5)
        assert (mean, std) == pytest.approx((one.mean, one.std), abs=1e-6)


def test_top_k_larger_than_the_cohort_uses_the_whole_cohort():
    rng = np.random.default_rng(1)
    cohort, vector = unit_rows(rng, 4), unit_rows(rng, 1)[0]
    stats = scoring.cohort_stats(vector, cohort, top_k=50)
    assert stats.mean == pytest.approx(float((cohort @ vector).mean()), abs=1e-6)


def test_degenerate_voiceprints_get_finite_stats_and_scores():
    rng = np.random.default_rng(2)
    cohort = unit_rows(rng, 20)
    for vector in (np.zeros(16, np.float32), np.full(16, np.nan, np.float32)):
        stats = scoring.cohort_stats(vector, cohort, top_k=5)
        assert math.isfinite(stats.mean) and stats.std >= scoring.STD_FLOOR
        enrolled = CohortStats(0.5, 0.05)
        score = scoring.authentication_score(
            float(np.nan_to_num(vector @ cohort[0])), enrolled, stats, CALIBRATION
        )
        assert 0 <= score <= 100


def test_snorm_is_symmetric_and_standardises_each_side():
    a, b = CohortStats(0.4, 0.05), CohortStats(0.6, 0.1)
    assert scoring.snorm(0.8, a, b) == pytest.approx(scoring.snorm(0.8, b, a))
    assert scoring.snorm(0.8, a, b) == pytest.approx(0.5 * ((0.8 - 0.4) / 0.05 + (0.8 - 0.6) / 0.1))
    both = scoring.snorm(np.array([0.5, 0.8]), a, b)
    assert both.shape == (2,) and both[1] == pytest.approx(scoring.snorm(0.8, a, b))


def test_score_map_is_monotonic_clamped_and_integer():
    s = np.linspace(-50, 50, 2001)
    scores = CALIBRATION.auth.score(s)
    assert scores.dtype.kind == "i"
    assert np.all(np.diff(scores) >= 0)
    assert scores.min() == 0 and scores.max() == 100
    extremes = CALIBRATION.auth.score(np.array([np.nan, -np.inf, np.inf, 1e300]))
    assert extremes.tolist() == [0, 0, 100, 100]


def test_threshold_snorm_inverts_the_map():
    for score in (50, 90, 99):
        s = CALIBRATION.auth.threshold_snorm(score)
        assert CALIBRATION.auth.percent(s) == pytest.approx(score)
        assert int(CALIBRATION.auth.score(s + 1e-6)) == score
    assert CALIBRATION.auth.threshold_snorm(50) == pytest.approx(CALIBRATION.auth.center)


def test_authentication_and_risk_scores_use_their_own_maps():
    enrolled, caller = CohortStats(0.5, 0.05), CohortStats(0.5, 0.05)
    cos = 0.5 + 2 * 0.05  # s-norm 2.0: above the auth centre (1.0), below the risk centre (3.0)
    assert scoring.authentication_score(cos, enrolled, caller, CALIBRATION) > 50
    assert scoring.risk_score(cos, enrolled, caller, CALIBRATION) < 50
    assert isinstance(scoring.risk_score(cos, enrolled, caller, CALIBRATION), int)


def test_calibration_round_trips_through_json():
    assert Calibration.from_json(CALIBRATION.to_json()) == CALIBRATION
    assert Calibration.from_json(COSINE.to_json()) == COSINE


def test_an_unknown_statistic_is_refused():
    with pytest.raises(ValueError):
        Calibration("zscore", 3, ScoreMap(0, 1), ScoreMap(0, 1), {})


def test_cosine_scores_rise_with_the_cosine_and_saturate_at_one():
    stats = CohortStats(0.5, 0.05)  # ignored by the cosine statistic
    cosines = np.linspace(-1.0, 1.0, 4001)
    scores = [scoring.authentication_score(float(c), stats, stats, COSINE) for c in cosines]
    assert all(b >= a for a, b in itertools.pairwise(scores))
    assert scores[0] == 0 and scores[-1] == 100
    assert scoring.authentication_score(0.8, stats, stats, COSINE) == 50
    assert scoring.authentication_score(0.9 + 1e-6, stats, stats, COSINE) == 90
    assert scoring.authentication_score(0.9 - 0.01, stats, stats, COSINE) < 90
    assert scoring.authentication_score(float("nan"), stats, stats, COSINE) == 0
    assert scoring.risk_score(0.9, stats, stats, COSINE) == 50


def test_the_committed_cohort_and_calibration_load():
    if not scoring.CALIBRATION_FILE.exists() or not scoring.COHORT_FILE.exists():
        pytest.skip("voiceprints/data/ has no calibration yet: run scripts/accuracy.py --write-docs")
    calibration = scoring.load_calibration()
    cohort = scoring.load_cohort()
    assert cohort.dtype == np.float32 and cohort.ndim == 2 and len(cohort) >= calibration.top_k
    assert np.allclose(np.linalg.norm(cohort, axis=1), 1.0, atol=1e-3)
    # The defaults' meaning: auth 90 is stricter than auth 50, and both maps rise.
    assert calibration.auth.width > 0 and calibration.risk.width > 0
    assert calibration.auth.threshold_snorm(90) > calibration.auth.threshold_snorm(50)
