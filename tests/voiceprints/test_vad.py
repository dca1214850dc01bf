from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import pytest

from voiceprints import vad
from voiceprints.audio import decode_wav
from voiceprints.vad import FRAME, SpeechDetector, net_speech_seconds, speech_only, webrtc_available

ROOT = Path(__file__).resolve().parents[2]
LIBRISPEECH = next(
    (
        p
        for p in (ROOT / "demo" / "librispeech", ROOT.parent / "shared" / "audio" / "devset" / "librispeech")
        if p.is_dir()
    ),
    None,
)
KINDS = [
    "energy",
    pytest.param(
        "webrtc", marks=pytest.mark.skipif(not webrtc_available(), reason="webrtcvad-wheels is not installed")
    ),
]
CHUNK = 2000  # 0.25 s


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    """Two real sentences (about 20 s) at 8 kHz."""
    if LIBRISPEECH is None:
        pytest.skip("../shared/audio/devset is absent: no librispeech WAV to test on")
    paths = sorted(LIBRISPEECH.glob("ls_1688/*.wav"))[:2]
    return np.concatenate([decode_wav(p.read_bytes()).samples for p in paths])


def noise(seconds: float, dbfs: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(int(seconds * 8000)) * 10 ** (dbfs / 20)).astype(np.float32)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * 8000), dtype=np.float32)


def streamed(
    x: np.ndarray, kind: str, sizes, *, save_state: bool = False
) -> tuple[np.ndarray, SpeechDetector]:
    detector, parts, pos = SpeechDetector(kind=kind), [], 0
    for size in sizes:
        if pos >= len(x):
            break
        parts.append(detector.push(x[pos : pos + size]))
        pos += size
        if save_state:
            buffer = io.BytesIO()
            np.savez(buffer, **detector.state())
            buffer.seek(0)
            with np.load(buffer, allow_pickle=False) as arrays:
                detector = SpeechDetector.from_state({key: arrays[key] for key in arrays.files})
    parts.append(detector.flush())
    return np.concatenate(parts), detector


@pytest.mark.parametrize("kind", KINDS)
def test_silence_and_quiet_noise_are_not_speech(kind):
    assert net_speech_seconds(silence(5), kind=kind) == 0
    assert net_speech_seconds(noise(5, -50), kind=kind) < 0.1
    assert net_speech_seconds(np.concatenate([silence(2), noise(2, -50), silence(1)]), kind=kind) < 0.1


@pytest.mark.parametrize("kind", KINDS)
def test_padding_a_clip_with_silence_and_noise_barely_changes_its_net_speech(kind, speech):
    clip = speech[: 8000 * 8]
    padded = np.concatenate([silence(2), clip, noise(2, -50)])
    alone = net_speech_seconds(clip, kind=kind)
    assert 5 < alone < 8
    assert abs(net_speech_seconds(padded, kind=kind) / alone - 1) < 0.15


def test_the_energy_detector_learns_a_loud_noise_floor_within_a_second():
    # Before it has heard a noise floor it assumes a quiet line, so loud noise counts for its first ~0.5 s.
    assert net_speech_seconds(noise(6, -35), kind="energy") < 0.8


@pytest.mark.parametrize("kind", KINDS)
def test_it_still_finds_speech_in_loud_noise(kind, speech):
    clean = net_speech_seconds(speech, kind=kind)
    noisy = noise(3 + len(speech) / 8000, -35)  # about 13 dB below the speech
    noisy[3 * 8000 :] += speech
    assert 0.5 * clean < net_speech_seconds(noisy, kind=kind) < clean + 1


@pytest.mark.parametrize("kind", KINDS)
def test_the_output_is_speech_samples_in_order(kind, speech):
    # Faint noise rather than zeros around it, so that every frame is unique and can be found again.
    padded = np.concatenate([noise(1, -80), speech[: len(speech) // FRAME * FRAME], noise(1, -80, seed=1)])
    kept = speech_only(padded, kind=kind)
    assert kept.dtype == np.float32
    assert len(kept) % FRAME == 0  # whole frames (the input is a whole number of frames)
    assert 0.6 * len(speech) < len(kept) <= len(speech) + 0.5 * 8000
    # Frames come out unchanged and in their original order.
    where = {frame.tobytes(): i for i, frame in enumerate(padded.reshape(-1, FRAME))}
    positions = [where[frame.tobytes()] for frame in kept.reshape(-1, FRAME)]
    assert positions == sorted(set(positions))


@pytest.mark.parametrize("kind", KINDS)
def test_quarter_second_chunks_give_the_same_samples_as_the_whole(kind, speech):
    x = np.concatenate([silence(1), speech, noise(1, -50)])
    expected = speech_only(x, kind=kind)
    got, detector = streamed(x, kind, [CHUNK] * (len(x) // CHUNK + 1))
    assert np.array_equal(got, expected)
    assert detector.speech_seconds == len(got) / 8000


def test_energy_state_survives_serialization_between_any_chunks(speech):
    x = np.concatenate([silence(1), speech[: 8000 * 6], noise(1, -50), speech[8000 * 6 : 8000 * 9]])
    rng = np.random.default_rng(3)
    sizes = [int(rng.choice([1, 159, 160, 161, CHUNK, int(rng.integers(1, 6000))])) for _ in range(400)]
    got, detector = streamed(x, "energy", [*sizes, len(x)], save_state=True)
    assert np.array_equal(got, speech_only(x, kind="energy"))
    assert detector.speech_seconds == len(got) / 8000


@pytest.mark.skipif(not webrtc_available(), reason="webrtcvad-wheels is not installed")
def test_webrtc_state_survives_serialization_closely(speech):
    # The WebRTC VAD's own state cannot be saved; replaying recent audio gets close (see WEBRTC_PRIME_FRAMES).
    x = np.concatenate([silence(1), speech, noise(1, -50)])
    sizes = [CHUNK] * (len(x) // CHUNK + 1)
    uninterrupted, _ = streamed(x, "webrtc", sizes)
    restored, detector = streamed(x, "webrtc", sizes, save_state=True)
    assert detector.kind == "webrtc"
    assert abs(len(restored) / len(uninterrupted) - 1) < 0.03


@pytest.mark.parametrize("kind", KINDS)
def test_it_holds_back_only_a_short_lookahead(kind, speech):
    detector = SpeechDetector(kind=kind)
    pushed = detector.push(speech)
    held = len(detector.flush())
    assert held <= (vad.PREROLL_FRAMES + vad.MIN_RUN_FRAMES) * FRAME  # 100 ms
    assert detector.speech_seconds == (len(pushed) + held) / 8000


def test_state_is_plain_numpy():
    state = SpeechDetector(kind="energy").state()
    assert all(isinstance(value, np.ndarray | np.generic) for value in state.values())


def test_auto_means_webrtc_when_installed():
    assert SpeechDetector().kind == ("webrtc" if webrtc_available() else "energy")


def test_webrtc_without_the_package_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "webrtcvad", None)  # makes `import webrtcvad` fail
    assert not webrtc_available()
    assert SpeechDetector(kind="auto").kind == "energy"
    with pytest.raises(RuntimeError, match="webrtcvad-wheels"):
        SpeechDetector(kind="webrtc")


def test_bad_arguments():
    with pytest.raises(ValueError, match="kind"):
        SpeechDetector(kind="loud")
    with pytest.raises(ValueError, match="mono"):
        SpeechDetector(kind="energy").push(np.zeros((10, 2)))
    assert len(speech_only(np.zeros(0, dtype=np.float32), kind="energy")) == 0
