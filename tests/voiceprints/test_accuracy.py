from __future__ import annotations

import math
import random
from pathlib import Path

import numpy as np
import pytest

from scripts.accuracy import calibrate, metrics, trials
from voiceprints import scoring

REPO = Path(__file__).resolve().parents[2]
DEVSET = REPO.parent / "shared" / "audio" / "devset"


def librispeech_folder() -> Path:
    """The committed demo copy of the devset's LibriSpeech speakers, else the devset itself."""
    for folder in (REPO / "demo" / "librispeech", DEVSET / "librispeech"):
        if (folder / "ls_367").is_dir() and (folder / "ls_1998").is_dir():
            return folder
    pytest.skip(
        "../shared/audio/devset is absent (and demo/librispeech lacks ls_367, ls_1998): no real speech"
    )


# --- the committed calibration on real speech ------------------------------------------------------------


@pytest.fixture(scope="module")
def engine():
    if not scoring.CALIBRATION_FILE.exists() or not scoring.COHORT_FILE.exists():
        pytest.skip("voiceprints/data/ has no calibration yet: run scripts/accuracy.py --write-docs")
    from voiceprints import engine, weights

    try:
        weights.model_path()
    except weights.ModelNotFoundError as error:
        pytest.skip(str(error))
    return engine


def voiceprint(engine, files: list[Path]):
    from voiceprints import audio

    samples = [audio.to_canonical(audio.decode_wav(f.read_bytes())) for f in files]
    return engine.voiceprint_of(np.concatenate(samples))


def test_the_committed_calibration_accepts_the_speaker_and_rejects_another(engine):
    folder = librispeech_folder()
    own = sorted((folder / "ls_1998").glob("*.wav"))
    other = sorted((folder / "ls_367").glob("*.wav"))  # also a woman reading: not a trivial impostor
    enrolled = voiceprint(engine, own[:5])
    assert enrolled.speech_seconds >= 30
    same = voiceprint(engine, own[7:9])
    impostor = voiceprint(engine, other[7:9])
    assert engine.authentication_score(enrolled, same) >= 90  # ACCEPT at the default threshold
    assert engine.authentication_score(enrolled, impostor) < 90  # REJECT
    calibration = scoring.load_calibration()
    assert calibration.auth.threshold_snorm(90) > calibration.auth.threshold_snorm(50)


# --- metrics -----------------------------------------------------------------------------------------------


def test_eer_of_separable_scores_is_zero_and_of_identical_ones_half():
    assert metrics.eer(np.array([0.9, 0.95]), np.array([0.1, 0.2, 0.3]))[0] == 0.0
    same = np.linspace(0, 1, 101)
    assert metrics.eer(same, same)[0] == pytest.approx(0.5, abs=0.02)


def test_eer_of_two_gaussians_matches_theory():
    rng = np.random.default_rng(0)
    target, nontarget = rng.normal(2.0, 1.0, 200_000), rng.normal(0.0, 1.0, 200_000)
    expected = 0.5 * math.erfc(1.0 / math.sqrt(2))  # Q(1): the crossing is halfway, one sigma from each
    rate, threshold = metrics.eer(target, nontarget)
    assert rate == pytest.approx(expected, abs=0.003)
    assert threshold == pytest.approx(1.0, abs=0.02)


def test_rates_accept_at_or_above_the_threshold():
    far, frr = metrics.rates_at(np.array([1, 2, 3]), np.array([0, 1, 2]), [2])
    assert far[0] == pytest.approx(1 / 3) and frr[0] == pytest.approx(1 / 3)


def test_frr_at_far_picks_the_lowest_threshold_meeting_the_far():
    target = np.array([0.5, 0.6, 0.9])
    nontarget = np.arange(100) / 100.0  # 0.00 .. 0.99
    frr, threshold = metrics.frr_at_far(target, nontarget, 0.05)
    assert threshold == pytest.approx(0.95) and frr == pytest.approx(1.0)


# --- calibration fit -------------------------------------------------------------------------------------


def test_fitted_maps_hit_their_false_accept_anchors():
    rng = np.random.default_rng(1)
    cos = np.tanh(rng.normal(0.9, 0.25, 100_000))  # a non-target-like cosine spread
    x = scoring.cosine_statistic(cos)
    calibration = calibrate.fit(x, statistic="cosine", top_k=20)
    scores = calibration.auth.score(x)
    assert np.mean(scores >= 90) == pytest.approx(calibrate.AUTH_FAR_AT_90, abs=0.0005)
    assert np.mean(scores >= 50) == pytest.approx(calibrate.AUTH_FAR_AT_50, abs=0.003)
    assert np.mean(calibration.risk.score(x) >= 50) == pytest.approx(calibrate.RISK_FAR_AT_50, abs=0.0003)


# --- trial design ------------------------------------------------------------------------------------------


def fake_clips() -> tuple[dict[str, list[str]], dict[str, float]]:
    rng = random.Random(7)
    clips, speech = {}, {}
    for corpus, speakers, n_clips, seconds in (
        ("arabic-speech-commands", 6, 150, 0.6),
        ("librispeech", 3, 10, 6.5),
        ("fsdd", 2, 120, 0.4),
        ("cohort-librispeech", 12, 1, 8.0),
    ):
        for s in range(speakers):
            speaker = f"{corpus}/s{s}"
            clips[speaker] = [f"{speaker}/{i}.wav" for i in range(n_clips)]
            speech.update({c: seconds * rng.uniform(0.7, 1.3) for c in clips[speaker]})
    return clips, speech


def test_the_design_is_reproducible_and_keeps_enrollment_and_tests_apart(monkeypatch):
    monkeypatch.setattr(trials, "NORMALISATION_COHORT_SIZE", 6)
    monkeypatch.setattr(trials, "WATCHLIST_SIZE", 4)
    clips, speech = fake_clips()
    first, again = trials.build(clips, speech), trials.build(clips, speech)
    assert first == again
    for speaker in {u.speaker for u in first.by_role("enroll")}:
        enrolled = {c for u in first.by_role("enroll") if u.speaker == speaker for c in u.clips}
        tested = {c for u in first.by_role("test") if u.speaker == speaker for c in u.clips}
        assert enrolled and tested and not enrolled & tested
    for u in first.utterances:
        if u.seconds:
            assert sum(speech[c] for c in u.clips) >= u.seconds or u.corpus == "librispeech"
    cohort = {u.speaker for u in first.by_role("cohort")}
    impostors = {u.speaker for u in first.by_role("test") if u.corpus == "cohort-librispeech"}
    assert len(cohort) == 6 and not cohort & impostors
    assert all(len(w) == 4 for w in first.watchlists)
    assert trials.build(clips, speech, seed=1) != first


def test_the_trial_lists_are_written_with_file_names_only(tmp_path, monkeypatch):
    monkeypatch.setattr(trials, "NORMALISATION_COHORT_SIZE", 6)
    monkeypatch.setattr(trials, "WATCHLIST_SIZE", 4)
    clips, speech = fake_clips()
    trial_set = trials.build(clips, speech)
    written = trials.write(trial_set, tmp_path)
    assert {p.name for p in written} == {
        "utterances.csv",
        "trials-30s-10s.csv",
        "trials-30s-05s.csv",
        "watchlists.csv",
    }
    lines = (tmp_path / "trials-30s-10s.csv").read_text().splitlines()
    assert lines[0] == "enroll,test,target" and len(lines) == 1 + len(trial_set.trials(10.0))
