"""The GE2E encoder: pinned to resemblyzer's own output, and streams that agree with whole-utterance embeds."""

from __future__ import annotations

import io
import platform
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from voiceprints import embedder, weights

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = Path(__file__).parent / "data" / "ge2e_reference.npz"
LIBRISPEECH = next(
    (
        p
        for p in (ROOT / "demo" / "librispeech", ROOT.parent / "shared" / "audio" / "devset" / "librispeech")
        if p.is_dir()
    ),
    None,
)


@pytest.fixture(scope="module")
def encoder():
    try:
        return embedder.load_encoder(weights.model_path())
    except weights.ModelNotFoundError as exc:
        pytest.skip(f"speaker-encoder weights are absent: {exc}")


@pytest.fixture(scope="module")
def reference():
    with np.load(REFERENCE) as data:
        return {key: data[key] for key in data.files}


def librispeech(name):
    if LIBRISPEECH is None:
        pytest.skip("../shared/audio/devset is absent: no librispeech WAV (nor demo/librispeech) to embed")
    return LIBRISPEECH / name


def read_8k(path):
    with wave.open(str(path)) as w:
        assert w.getframerate() == 8000 and w.getnchannels() == 1 and w.getsampwidth() == 2
        return np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / np.float32(32768)


def upsample2(x):
    """Fixed 8 -> 16 kHz linear interpolation: the very function the reference inputs were made with."""
    y = np.empty(2 * len(x), np.float32)
    y[0::2] = x
    y[1::2] = np.append(x[:-1] + x[1:], x[-1]) * np.float32(0.5)
    return y


def speech(name, start=0, stop=None, gain=1.0):
    return upsample2(read_8k(librispeech(name)))[start:stop] * np.float32(gain)


def reference_input(reference, i):
    return speech(
        str(reference["names"][i]),
        int(reference["starts"][i]),
        int(reference["stops"][i]),
        reference["gains"][i],
    )


def cosine(a, b):
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def feed(stream, samples, rng, max_chunk=12000):
    position = 0
    while position < len(samples):
        size = int(rng.integers(1, max_chunk))
        stream.append(samples[position : position + size])
        position += size


# --- the pin to resemblyzer --------------------------------------------------------------------------


def test_mel_front_end_matches_librosa(reference):
    samples = reference_input(reference, 0)

    mel = embedder.mel_spectrogram(samples)

    assert mel.dtype == np.float32 and mel.shape == (int(reference["mel_n_frames"]), 40)
    np.testing.assert_allclose(mel[100:120], reference["mel_frames"], rtol=1e-5, atol=1e-9)


def test_mel_filterbank_has_librosas_slaney_shape():
    bank = embedder.mel_filterbank()

    assert bank.shape == (40, 201) and bank.dtype == np.float32 and (bank >= 0).all()
    # Slaney normalisation: each triangle has unit area in Hz (2 / width * width / 2), bins are 40 Hz apart.
    areas = bank.sum(axis=1) * 40.0
    np.testing.assert_allclose(areas[5:-1], 1.0, rtol=0.05)


@pytest.mark.parametrize(
    ("n_samples", "starts"),
    [
        (100, [0]),  # shorter than a window: one, padded
        (30000, [0]),  # second window only 69 % covered: dropped
        (35200, [0, 77]),  # 89 % covered: kept
        (160000, list(range(0, 848, 77))),  # 10 s: 12 windows
    ],
)
def test_partial_windows_follow_resemblyzers_slicing(n_samples, starts):
    assert embedder.partial_starts(n_samples) == starts


def test_embed_reference_reproduces_resemblyzer(encoder, reference):
    for i, name in enumerate(reference["names"]):
        ours = encoder.embed_reference(reference_input(reference, i))
        theirs = reference["embeddings"][i]

        assert cosine(ours, theirs) >= 0.99999, name
        assert np.abs(ours - theirs).max() <= 1e-4, name


def test_the_network_alone_reproduces_resemblyzer(encoder, reference):
    for i, name in enumerate(reference["names"]):
        samples = reference_input(reference, i)
        starts = embedder.partial_starts(len(samples))
        stop = (starts[-1] + 160) * 160
        mel = embedder.mel_spectrogram(np.pad(samples, (0, max(0, stop - len(samples)))))

        partials = encoder.forward(np.stack([mel[s : s + 160] for s in starts]))
        ours = partials.mean(axis=0) / np.linalg.norm(partials.mean(axis=0))

        np.testing.assert_allclose(np.linalg.norm(partials, axis=1), 1.0, rtol=1e-5)
        assert cosine(ours, reference["embeddings_raw"][i]) >= 0.99999, name
        assert np.abs(ours - reference["embeddings_raw"][i]).max() <= 1e-4, name


def test_embed_stays_close_to_whole_utterance_normalisation(encoder, reference):
    # embed() levels each 1.6 s window on its own; on loud enough speech that is the original exactly.
    loud = reference_input(reference, 3)  # 15 s at -22.7 dBFS: no window is raised
    quiet = reference_input(reference, 1)  # -45.9 dBFS: every window is raised, each by its own gain

    assert cosine(encoder.embed(loud), reference["embeddings"][3]) >= 0.99999
    assert cosine(encoder.embed(quiet), reference["embeddings"][1]) >= 0.99


# --- the encoder interface ---------------------------------------------------------------------------


def test_it_implements_the_speaker_encoder_interface(encoder):
    assert isinstance(encoder, embedder.SpeakerEncoder)
    assert (encoder.name, encoder.dimension, encoder.sample_rate) == ("ge2e-resemblyzer-0.1.4", 256, 16000)
    assert embedder.MODEL_RATE == 16000


def test_embed_returns_a_unit_float32_vector(encoder):
    vector = encoder.embed(speech("ls_367/367-130732-0006.wav"))

    assert vector.shape == (256,) and vector.dtype == np.float32
    assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-6)


def test_it_rejects_empty_or_multichannel_audio(encoder):
    with pytest.raises(ValueError, match="empty"):
        encoder.embed(np.zeros(0, np.float32))
    with pytest.raises(ValueError, match="mono"):
        encoder.embed(np.zeros((2, 16000), np.float32))
    with pytest.raises(ValueError, match="float samples"):
        encoder.embed(np.ones(16000, np.int16))
    with pytest.raises(ValueError, match="NaN"):
        encoder.stream().append(np.full(10, np.nan, np.float32))


def test_digital_silence_still_gives_a_finite_vector(encoder):
    assert np.isfinite(encoder.embed(np.zeros(16000, np.float32))).all()


def test_load_encoder_loads_once_per_file(encoder):
    assert embedder.load_encoder(weights.model_path()) is encoder
    assert embedder.load_encoder() is encoder


# --- streams -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1])
def test_a_stream_fed_in_random_chunks_equals_embed(encoder, seed):
    samples = speech("ls_533/533-1066-0004.wav")  # 9 s
    stream = encoder.stream()

    feed(stream, samples, np.random.default_rng(seed))

    assert stream.seconds == pytest.approx(len(samples) / 16000)
    assert cosine(stream.embedding(), encoder.embed(samples)) >= 0.9999


def test_a_stream_agrees_with_embed_at_every_length(encoder):
    samples = speech("ls_1998/1998-15444-0007.wav", gain=0.3)
    stream = encoder.stream()
    rng = np.random.default_rng(3)

    assert stream.embedding() is None
    position = 0
    while position < len(samples):
        size = int(rng.integers(1, 9000))
        stream.append(samples[position : position + size])
        position += size
        expected = encoder.embed(samples[:position])
        assert cosine(stream.embedding(), expected) >= 0.9999, position


def test_asking_for_the_embedding_does_not_change_the_stream(encoder):
    samples = speech("ls_2033/2033-164914-0001.wav")
    asked, quiet = encoder.stream(), encoder.stream()

    for chunk in np.array_split(samples, 17):
        asked.append(chunk)
        asked.embedding()
        quiet.append(chunk)

    np.testing.assert_array_equal(asked.embedding(), quiet.embedding())


def test_state_round_trips_through_npz_bytes_between_appends(encoder):
    samples = speech("ls_367/367-130732-0001.wav")
    uninterrupted = encoder.stream()
    uninterrupted.append(samples)
    resumed = encoder.stream()

    for chunk in np.array_split(samples, 9):
        buffer = io.BytesIO()
        np.savez(buffer, **resumed.state())
        with np.load(io.BytesIO(buffer.getvalue()), allow_pickle=False) as saved:
            resumed = encoder.stream_from_state({key: saved[key] for key in saved.files})
        resumed.append(chunk)

    assert resumed.seconds == uninterrupted.seconds
    assert cosine(resumed.embedding(), uninterrupted.embedding()) >= 0.99999


def test_state_stays_small_however_long_the_stream(encoder):
    stream = encoder.stream()
    minute = np.tile(speech("ls_1688/1688-142285-0000.wav"), 4)  # 60 s
    sizes = []

    for chunk in np.array_split(minute, 40):
        stream.append(chunk)
        sizes.append(sum(value.nbytes for value in stream.state().values()))

    assert stream.seconds == pytest.approx(60.0)
    # ~237 mel frames at most, under 400 samples, and the network state of 3 windows run ahead at most.
    assert max(sizes) < 64_000
    assert len(stream.state()["samples"]) < 400
    assert len(stream.state()["open_windows"]) <= 3


def test_running_frames_in_pieces_continues_the_same_network_state(encoder):
    rng = np.random.default_rng(7)
    mels = rng.random((3, 160, 40), dtype=np.float32) * np.float32(0.05)

    whole = encoder.run(mels)
    state = encoder.run(mels[:, :1])
    for start, stop in ((1, 40), (40, 41), (41, 160)):
        state = encoder.run(mels[:, start:stop], state)

    # Equal to float32 rounding, which is relative: cell states reach ~7.5, where adjacent floats are 5e-7
    # apart, and the products sum in other orders for other numbers of steps.
    np.testing.assert_allclose(state, whole, rtol=1e-6, atol=2e-6)
    np.testing.assert_allclose(encoder.head(state), encoder.forward(mels), atol=1e-6)


def test_the_networks_weights_start_on_cache_lines(encoder):
    # numpy allocates on 16-byte boundaries; OpenBLAS's AVX-512 kernels read misaligned weights a third slower.
    matrices = [matrix for w_ih_t, w_hh, _bias in encoder._layers for matrix in (w_ih_t, w_hh)]
    matrices.append(encoder._linear_t)

    assert all(matrix.ctypes.data % 64 == 0 for matrix in matrices)
    assert all(matrix.flags.c_contiguous and matrix.dtype == np.float32 for matrix in matrices)


@pytest.mark.parametrize("width", [2, 3])
def test_narrow_states_run_the_same_column_by_column_or_as_one_product(encoder, monkeypatch, width):
    # Which way runs is measured per machine (narrow_product_plan): both must give the same network.
    mels = np.random.default_rng(width).random((width, 160, 40), dtype=np.float32) * np.float32(0.05)

    monkeypatch.setattr(encoder, "column_by_column_widths", frozenset({width}))
    by_column = encoder.run(mels)
    monkeypatch.setattr(encoder, "column_by_column_widths", frozenset())
    as_product = encoder.run(mels)

    np.testing.assert_allclose(by_column, as_product, rtol=1e-6, atol=2e-6)
    np.testing.assert_allclose(encoder.head(by_column), encoder.head(as_product), atol=1e-6)


@pytest.mark.parametrize("count", [1, 3, 5, 13, 17])
def test_a_batch_of_windows_embeds_each_as_alone(encoder, count):
    # Batches are padded to kernel-friendly widths and split at MAX_BATCH: neither may leak between windows.
    mels = np.random.default_rng(count).random((count, 160, 40), dtype=np.float32) * np.float32(0.05)

    batched = encoder.forward(mels)
    alone = np.concatenate([encoder.forward(mels[i : i + 1]) for i in range(count)])

    np.testing.assert_allclose(batched, alone, atol=1e-6)


def test_loud_speech_runs_windows_ahead_and_a_stream_still_equals_embed(encoder):
    samples = speech("ls_1688/1688-142285-0000.wav")  # loud: every window at gain 1
    stream = encoder.stream()
    open_counts = []

    for chunk in np.array_split(samples, len(samples) // 4000):  # 0.25 s chunks, as calls send
        stream.append(chunk)
        open_counts.append(len(stream.state()["open_windows"]))

    assert max(open_counts) >= 2  # windows overlap: two or three run ahead together
    assert cosine(stream.embedding(), encoder.embed(samples)) >= 0.99999


def test_a_window_run_ahead_that_ends_up_needing_a_gain_is_run_again_at_it(encoder):
    # Loud for its first 0.6 s, near silence after: the window is judged loud and run ahead at gain 1, but
    # over its 1.6 s it falls below -30 dBFS and needs a gain. So do the windows after it.
    loud = speech("ls_533/533-1066-0004.wav", 16000, 25600)
    quiet = speech("ls_533/533-1066-0004.wav", 25600, 60000, gain=0.02)
    samples = np.concatenate([loud, quiet])
    stream = encoder.stream()

    for chunk in np.array_split(samples, 30):
        stream.append(chunk)
        assert cosine(stream.embedding(), encoder.embed(samples[: int(stream.seconds * 16000)])) >= 0.9999

    assert cosine(stream.embedding(), encoder.embed(samples)) >= 0.99999


def test_a_state_saved_before_windows_ran_ahead_still_resumes(encoder):
    samples = speech("ls_2033/2033-164914-0001.wav")
    half = len(samples) // 2
    stream = encoder.stream()
    stream.extend(samples[:half])  # runs no window, so none is open: what the older code saved
    old_state = {key: value for key, value in stream.state().items() if not key.startswith("open_")}

    resumed = encoder.stream_from_state(old_state)
    resumed.append(samples[half:])

    assert cosine(resumed.embedding(), encoder.embed(samples)) >= 0.99999


def test_from_state_rejects_other_models_and_inconsistent_states(encoder):
    stream = encoder.stream()
    stream.append(np.ones(5000, np.float32) * 0.01)
    state = stream.state()

    with pytest.raises(ValueError, match="not ge2e"):
        encoder.stream_from_state({**state, "model": np.array("another-model")})
    with pytest.raises(ValueError, match="inconsistent"):
        encoder.stream_from_state({**state, "samples": state["samples"][:-1]})
    with pytest.raises(ValueError, match="lacks"):
        encoder.stream_from_state({key: value for key, value in state.items() if key != "mel"})
    with pytest.raises(ValueError, match="inconsistent"):  # a window that cannot be open at this point
        encoder.stream_from_state(
            {**state, "open_windows": np.array([5]), "open_states": np.zeros((1, 3, 2, 256), np.float32)}
        )


# --- where the weights come from ---------------------------------------------------------------------


def test_model_path_prefers_the_environment(monkeypatch, tmp_path):
    custom = tmp_path / "pretrained.pt"
    custom.write_bytes(b"")
    monkeypatch.setenv(weights.MODEL_PATH_ENV, str(custom))

    assert weights.model_path() == custom


def test_a_missing_model_says_how_to_fetch_it(monkeypatch, tmp_path):
    monkeypatch.setenv(weights.MODEL_PATH_ENV, str(tmp_path / "nowhere.pt"))

    with pytest.raises(weights.ModelNotFoundError, match=r"make install.*scripts/fetch-model"):
        weights.model_path()


def test_fetch_model_pins_the_same_digest():
    script = (ROOT / "scripts" / "fetch-model").read_text()

    assert f'SHA256 = "{weights.PRETRAINED_SHA256}"' in script


def test_the_engine_imports_neither_torch_nor_scipy():
    code = (
        "import sys, voiceprints.embedder; sys.exit(bool({'torch', 'scipy', 'librosa'} & set(sys.modules)))"
    )

    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=False).returncode == 0


@pytest.mark.skipif(embedder._openblas_library() is None, reason="this numpy does not bundle OpenBLAS")
@pytest.mark.skipif(platform.machine() != "x86_64", reason="the cores named are x86-64 ones")
@pytest.mark.parametrize("coretype", ["Haswell", "Sandybridge"])
def test_the_blas_kernels_reported_are_those_openblas_runs(coretype):
    # OpenBLAS reads OPENBLAS_CORETYPE when it loads, so a fresh process is asked; both cores run on any
    # x86-64 CPU a bench VM has (AVX2 and AVX).
    env = {"OPENBLAS_CORETYPE": coretype, "PATH": "/usr/bin:/bin"}
    reported = subprocess.run(
        [sys.executable, "-c", "from voiceprints import embedder; print(embedder.blas_kernels())"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(embedder.__file__).parent.parent,
    ).stdout.strip()
    assert reported == coretype
