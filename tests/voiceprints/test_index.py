from __future__ import annotations

import numpy as np
import pytest

from voiceprints.index import Match, VoiceprintIndex, bench_screening, brute_force_search
from voiceprints.scoring import Calibration, CohortStats, ScoreMap, cohort_stats_many

CALIBRATION = Calibration("snorm", top_k=5, auth=ScoreMap(1.0, 0.5), risk=ScoreMap(3.0, 0.5), meta={})
COSINE = Calibration("cosine", top_k=5, auth=ScoreMap(1.6, 0.3), risk=ScoreMap(2.3, 0.3), meta={})


def unit_rows(rng: np.random.Generator, n: int, dim: int = 32) -> np.ndarray:
    rows = rng.standard_normal((n, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def random_index(rng: np.random.Generator, n: int) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    ids = [f"fraudster-{i}" for i in range(n)]
    # Spreads differ a lot, so the s-norm winner is often not the cosine winner.
    return ids, unit_rows(rng, n), rng.uniform(0.0, 0.3, n), rng.uniform(0.02, 0.2, n)


@pytest.mark.parametrize("calibration", [CALIBRATION, COSINE], ids=["snorm", "cosine"])
def test_search_agrees_with_brute_force(calibration):
    rng = np.random.default_rng(0)
    ids, matrix, means, stds = random_index(rng, 300)
    index = VoiceprintIndex(ids, matrix, means, stds, calibration=calibration)
    differs = 0
    for query in unit_rows(rng, 50):
        stats = CohortStats(float(rng.uniform(0, 0.3)), float(rng.uniform(0.02, 0.2)))
        match = index.search(query, stats)
        expected_id, expected_value = brute_force_search(ids, matrix, means, stds, query, stats, calibration)
        assert match is not None and match.id == expected_id
        assert match.statistic == pytest.approx(expected_value, rel=1e-4, abs=1e-4)
        assert match.risk_score == int(calibration.risk.score(match.statistic))
        differs += match.id != ids[int(np.argmax(matrix @ query))]
    # s-norm really re-ranks (the test exercises the normalisation); the cosine statistic never does.
    assert (differs > 0) == (calibration.statistic == "snorm")


def test_a_fraudsters_own_voice_is_found():
    rng = np.random.default_rng(1)
    ids, matrix, means, stds = random_index(rng, 1000)
    index = VoiceprintIndex(ids, matrix, means, stds, calibration=CALIBRATION)
    match = index.search(matrix[123], CohortStats(0.1, 0.05))
    assert isinstance(match, Match) and match.id == "fraudster-123"
    assert match.cos == pytest.approx(1.0, abs=1e-5) and match.risk_score == 100


def test_an_empty_index_finds_nothing():
    for vectors in (np.zeros((0, 32), np.float32), np.zeros(0, np.float32)):
        index = VoiceprintIndex.build(ids=[], vectors=vectors, calibration=CALIBRATION)
        assert len(index) == 0
        assert index.search(np.ones(32, np.float32) / np.sqrt(32), CohortStats(0.1, 0.05)) is None


def test_build_computes_cohort_stats_unless_given():
    rng = np.random.default_rng(2)
    cohort, vectors = unit_rows(rng, 30), unit_rows(rng, 4)
    index = VoiceprintIndex.build(ids=list("abcd"), vectors=vectors, cohort=cohort, top_k=5)
    means, stds = cohort_stats_many(vectors, cohort, top_k=5)
    assert np.allclose(index.means, means) and np.allclose(1 / index.inv_stds, stds, rtol=1e-5)
    given = VoiceprintIndex.build(
        ids=list("abcd"), vectors=vectors, cohort_means=np.zeros(4), cohort_stds=np.ones(4)
    )
    assert np.all(given.means == 0)


def test_mismatched_shapes_are_refused():
    rng = np.random.default_rng(3)
    with pytest.raises(ValueError):
        VoiceprintIndex(["a", "b"], unit_rows(rng, 3), np.zeros(2), np.ones(2))
    with pytest.raises(ValueError):
        VoiceprintIndex(["a", "b"], unit_rows(rng, 2), np.zeros(3), np.ones(2))


def test_the_index_is_read_only():
    rng = np.random.default_rng(4)
    index = VoiceprintIndex(*random_index(rng, 3))
    with pytest.raises(ValueError):
        index.matrix[0, 0] = 0.0


def test_bench_screening_reports_time_and_bound():
    (row,) = bench_screening(sizes=(1000,), repeats=5)
    assert row["size"] == 1000 and row["threads"] == 1
    assert row["p50_ms"] > 0 and row["bound_ms"] > 0 and row["bandwidth_gbs"] > 0
    assert row["matrix_mb"] == pytest.approx(1000 * 256 * 4 / 1e6)
