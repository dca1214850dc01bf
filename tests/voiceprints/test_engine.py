"""The engine's front: a call's stream state saved and restored between chunks, and whole recordings."""

from __future__ import annotations

import io

import numpy as np
import pytest

from voiceid_site import demo
from voiceprints import engine, weights
from voiceprints.engine import CallStream

CHUNK = 2000  # 0.25 s at 8 kHz, as calls send


@pytest.fixture(scope="module", autouse=True)
def _weights() -> None:
    try:
        weights.model_path()
    except weights.ModelNotFoundError as exc:
        pytest.skip(f"speaker-encoder weights are absent: {exc}")


@pytest.fixture(scope="module", params=[0, 1], ids=["quiet-alice", "loud-bob"])
def call(request: pytest.FixtureRequest) -> np.ndarray:
    # 12 s of a demo caller, canonical 8 kHz. alice speaks quietly: most of her windows need a gain and are
    # run whole when they end, so her state seldom holds open windows; bob is loud, and his nearly always does.
    return demo.CALLERS[request.param].call_audio()[: 12 * 8000]


def chunks(samples: np.ndarray) -> list[np.ndarray]:
    return [samples[i : i + CHUNK] for i in range(0, len(samples), CHUNK)]


def npz_bytes(stream: CallStream) -> bytes:
    """The stream as CallStream.to_bytes wrote it before the binary layout: np.savez of the same arrays."""
    arrays = {}
    for part, state in (
        ("vad", stream._detector.state()),
        ("resampler", stream._resampler.state()),
        ("embedding", stream._embedding.state()),
    ):
        arrays.update({f"{part}.{name}": np.asarray(value) for name, value in state.items()})
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def test_a_stream_saved_and_restored_after_every_chunk_is_the_stream_kept_in_memory(call):
    kept, state = CallStream.new(), b""
    for chunk in chunks(call):
        kept.append(chunk)
        restored = CallStream.from_bytes(state)
        restored.append(chunk)
        state = restored.to_bytes()

    resumed = CallStream.from_bytes(state)
    assert state[:4] == b"VIDS"
    assert resumed.speech_seconds == kept.speech_seconds > 5
    np.testing.assert_array_equal(resumed.vector(), kept.vector())
    assert CallStream.from_bytes(state).to_bytes() == state


def test_a_state_saved_by_np_savez_still_loads_and_streams_on(call):
    half = len(call) // 2
    old = CallStream.new()
    for chunk in chunks(call[:half]):
        old.append(chunk)
    legacy = npz_bytes(old)
    assert legacy[:2] == b"PK"

    resumed = CallStream.from_bytes(legacy)
    for chunk in chunks(call[half:]):
        resumed.append(chunk)
        old.append(chunk)

    assert resumed.speech_seconds == old.speech_seconds
    np.testing.assert_array_equal(resumed.vector(), old.vector())


def test_empty_state_is_a_new_stream_with_the_asked_detector():
    stream = CallStream.from_bytes(b"", vad_kind="energy")
    assert stream.vector() is None and stream.speech_seconds == 0.0


def test_a_damaged_state_is_refused_not_misread(call):
    stream = CallStream.new()
    stream.append(call[:16000])
    state = stream.to_bytes()

    for damaged in (state[:-1], state + b"\0", state[:40], b"VIDS\x02\x00" + state[6:], b"XXXX" + state[4:]):
        with pytest.raises(ValueError):
            CallStream.from_bytes(damaged)


def test_a_state_holding_objects_is_refused():
    with pytest.raises(ValueError, match="not saved"):
        engine._pack_arrays({"vad.kind": np.array([object()], dtype=object)})


def test_a_whole_recording_gives_the_voiceprint_a_call_streaming_it_gets(call):
    streamed = CallStream.new()
    for chunk in chunks(call):
        streamed.append(chunk)

    whole = engine.voiceprint_of(call)

    assert whole is not None
    assert whole.speech_seconds == streamed.speech_seconds
    assert float(np.dot(whole.vector, streamed.vector())) >= 0.99999
