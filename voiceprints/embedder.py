"""Speaker embeddings: resemblyzer's GE2E encoder, run by our own numpy code, whole or incrementally.

The network is resemblyzer 0.1.4's ``VoiceEncoder``: a 40-band power mel spectrogram (25 ms window, 10 ms
hop, 16 kHz; librosa's Slaney filterbank, not log) cut into partial windows of 160 frames (1.6 s) every
77 frames, each run through a 3-layer LSTM (256 units) whose last hidden state goes through
Linear(256, 256), ReLU and L2 normalisation; the utterance embedding is the L2-normalised mean of the
partial embeddings. :meth:`GE2EEncoder.embed_reference` is exactly that pipeline, volume normalisation
included, and a test pins it to embeddings computed by resemblyzer itself.

One deliberate change for streams: resemblyzer normalises the whole utterance to -30 dBFS (increase only)
before the mel, and the network sees power, so gain matters. A stream cannot know the level of audio it
has not heard yet, so :meth:`GE2EEncoder.embed` and the streams normalise each partial window's own
1.6 s instead. Because the spectrum is power, that is the window's mel frames times the squared gain.

Streams exploit two facts. Each partial window starts the LSTM from zero, so a window's embedding depends
only on its own 160 frames; and librosa's centred STFT pads with zeros, so a mel frame depends only on the
400 samples around it. A stream therefore computes each mel frame once its samples have arrived, runs each
window once its frames are final, and keeps only the running sum of window embeddings, their count, and
the frames and samples that windows not yet run still need. Its ``embedding()`` adds the windows that
resemblyzer's slicing would take from the audio so far (padding the end with zeros, dropping a last window
under 75 % coverage) without changing the stream, so a stream fed in any chunks agrees with
:meth:`GE2EEncoder.embed` on the concatenated audio.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from voiceprints import torchfile, weights

__all__ = [
    "MODEL_RATE",
    "EmbeddingStream",
    "GE2EEncoder",
    "SpeakerEncoder",
    "load_encoder",
    "mel_filterbank",
    "mel_spectrogram",
    "partial_starts",
]

MODEL_RATE = 16000

# resemblyzer/hparams.py and VoiceEncoder.embed_utterance defaults.
N_FFT = 400  # 25 ms
HOP = 160  # 10 ms
N_MELS = 40
PARTIAL_FRAMES = 160  # 1.6 s
FRAME_STEP = round((MODEL_RATE / 1.3) / HOP)  # rate 1.3 partials per second -> 77 frames
MIN_COVERAGE = 0.75
# -30 dBFS as a mean square (full scale 1.0); power spectra scale with the square of the gain.
TARGET_MEAN_SQUARE = 10 ** (-30 / 10)

HIDDEN = 256
EMBEDDING_SIZE = 256
LAYERS = 3
# Windows per LSTM call: large enough for efficient matmuls, small enough to bound memory on long audio.
MAX_BATCH = 32

_PAD = N_FFT // 2  # librosa's centred frames: frame t covers samples [t*HOP - _PAD, t*HOP + _PAD).


class EmbeddingStream(Protocol):
    """A running embedding of speech that arrives in order, in chunks of any size."""

    def append(self, samples: np.ndarray) -> None:
        """Add more 16 kHz speech samples."""
        ...

    def embedding(self) -> np.ndarray | None:
        """The unit vector for all audio so far (``None`` before any); does not change the stream."""
        ...

    @property
    def seconds(self) -> float:
        """Seconds of 16 kHz audio appended so far."""
        ...

    def state(self) -> dict[str, np.ndarray]:
        """Everything needed to resume, as numpy arrays (``np.savez``-able); bounded in size."""
        ...


@runtime_checkable
class SpeakerEncoder(Protocol):
    """What the engine needs from a speaker model, so that a better one can replace GE2E later."""

    name: str
    dimension: int
    sample_rate: int

    def embed(self, samples: np.ndarray) -> np.ndarray:
        """Unit-length embedding of float32 speech at ``sample_rate``."""
        ...

    def stream(self) -> EmbeddingStream:
        """An empty incremental embedding."""
        ...

    def stream_from_state(self, state: Mapping[str, np.ndarray]) -> EmbeddingStream:
        """Resume a stream from its :meth:`EmbeddingStream.state`."""
        ...


# --- mel front end (librosa.feature.melspectrogram with resemblyzer's arguments) -------------------------

_F_SP, _MIN_LOG_HZ, _LOGSTEP = 200.0 / 3, 1000.0, float(np.log(6.4) / 27.0)


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale (librosa ``htk=False``): linear below 1 kHz, logarithmic above."""
    mels = hz / _F_SP
    log_region = hz >= _MIN_LOG_HZ
    mels[log_region] = _MIN_LOG_HZ / _F_SP + np.log(hz[log_region] / _MIN_LOG_HZ) / _LOGSTEP
    return mels


def _mel_to_hz(mels: np.ndarray) -> np.ndarray:
    hz = _F_SP * mels
    log_region = mels >= _MIN_LOG_HZ / _F_SP
    hz[log_region] = _MIN_LOG_HZ * np.exp(_LOGSTEP * (mels[log_region] - _MIN_LOG_HZ / _F_SP))
    return hz


@functools.cache
def mel_filterbank() -> np.ndarray:
    """``librosa.filters.mel(sr=16000, n_fft=400, n_mels=40)``: Slaney-normalised triangles, (40, 201)."""
    fft_freqs = np.fft.rfftfreq(N_FFT, d=1.0 / MODEL_RATE)
    top = _hz_to_mel(np.array([MODEL_RATE / 2.0]))[0]
    mel_freqs = _mel_to_hz(np.linspace(0.0, top, N_MELS + 2))
    widths = np.diff(mel_freqs)
    ramps = mel_freqs[:, None] - fft_freqs[None, :]
    # Rounded to float32 row by row, then scaled, in librosa's order, so the values match it bit for bit.
    bank = np.zeros((N_MELS, len(fft_freqs)), dtype=np.float32)
    for i in range(N_MELS):
        bank[i] = np.maximum(0.0, np.minimum(-ramps[i] / widths[i], ramps[i + 2] / widths[i + 1]))
    bank *= (2.0 / (mel_freqs[2:] - mel_freqs[:-2]))[:, None]
    bank.flags.writeable = False
    return bank


@functools.cache
def _hann() -> np.ndarray:
    # Periodic Hann (scipy.signal.get_window("hann", 400, fftbins=True)), float64 as librosa uses it.
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(N_FFT) / N_FFT)


def _power_mel(buffer: np.ndarray, count: int) -> np.ndarray:
    """Power mel frames of ``buffer[j*HOP : j*HOP + N_FFT]`` for j < count, as (count, 40) float32."""
    if count <= 0:
        return np.zeros((0, N_MELS), dtype=np.float32)
    frames = np.lib.stride_tricks.sliding_window_view(buffer[: (count - 1) * HOP + N_FFT], N_FFT)[::HOP]
    # librosa windows in float64, stores the STFT as complex64, then squares the magnitude in float32.
    spectrum = np.fft.rfft(frames * _hann(), axis=1).astype(np.complex64)
    power = np.abs(spectrum) ** 2
    return power @ mel_filterbank().T


def mel_spectrogram(samples: np.ndarray) -> np.ndarray:
    """resemblyzer's ``wav_to_mel_spectrogram``: centred, zero-padded frames, (1 + n // 160, 40) float32."""
    samples = np.asarray(samples, dtype=np.float32)
    padded = np.concatenate([np.zeros(_PAD, np.float32), samples, np.zeros(_PAD, np.float32)])
    return _power_mel(padded, 1 + len(samples) // HOP)


def partial_starts(n_samples: int) -> list[int]:
    """First mel frame of each partial window resemblyzer takes from ``n_samples`` samples.

    ``VoiceEncoder.compute_partial_slices(n, rate=1.3, min_coverage=0.75)``: windows every 77 frames while
    they start before ``n_frames - 83``; a last window less than 75 % covered by audio is dropped unless
    it is the only one. Each window spans frames ``[s, s + 160)`` and samples ``[s*160, (s+160)*160)``.
    """
    n_frames = n_samples // HOP + 1
    starts = list(range(0, max(1, n_frames - PARTIAL_FRAMES + FRAME_STEP + 1), FRAME_STEP))
    coverage = (n_samples - starts[-1] * HOP) / (PARTIAL_FRAMES * HOP)
    if coverage < MIN_COVERAGE and len(starts) > 1:
        starts.pop()
    return starts


def _power_gain(energy: float, n_real: int) -> float:
    """Power gain that brings a window to -30 dBFS, increase only (resemblyzer's normalize_volume)."""
    if n_real <= 0 or energy <= 0.0:
        return 1.0  # digital silence: resemblyzer would divide by zero; leave it as it is
    return max(1.0, TARGET_MEAN_SQUARE * n_real / energy)


def _final_frames(n_samples: int) -> int:
    """How many mel frames no later sample can change: frame t needs samples up to t*HOP + _PAD."""
    return max(0, (n_samples - _PAD) // HOP + 1)


# --- the network ---------------------------------------------------------------------------------------


@functools.cache
def _openblas() -> tuple[Any, Any] | None:
    """numpy's bundled OpenBLAS thread-count setter and getter, when numpy has one (best effort)."""
    for library in sorted((Path(np.__file__).parent.parent / "numpy.libs").glob("*openblas*.so*")):
        try:
            handle = ctypes.CDLL(str(library))
            return handle.scipy_openblas_set_num_threads64_, handle.scipy_openblas_get_num_threads64_
        except (OSError, AttributeError):
            continue
    return None


@contextlib.contextmanager
def _one_blas_thread() -> Iterator[None]:
    """Run the LSTM's many small matmuls on one BLAS thread.

    Threaded OpenBLAS spins its workers between calls; with 160 x 3 tiny sequential matmuls per window that
    is no faster on an idle machine and several times slower on a busy one (measured: this module's tests
    took 30-55 s instead of 8 s on the 2-core VM while other processes ran). OPENBLAS_NUM_THREADS=1 for the
    whole process works too, but only if set before numpy is imported, which a library cannot promise.
    """
    blas = _openblas()
    if blas is None:
        yield
        return
    set_threads, get_threads = blas
    previous = get_threads()
    set_threads(1)
    try:
        yield
    finally:
        set_threads(previous)


class GE2EEncoder:
    """resemblyzer 0.1.4's speaker encoder (GE2E, 256-d) with a numpy forward pass."""

    name = "ge2e-resemblyzer-0.1.4"
    dimension = EMBEDDING_SIZE
    sample_rate = MODEL_RATE

    def __init__(self, model_state: Mapping[str, Any]) -> None:
        """``model_state`` is the checkpoint's ``model_state``: torch ``nn.LSTM`` and ``nn.Linear`` names."""
        self._layers: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        # torch orders the LSTM gates (input, forget, cell, output). We reorder them to (i, f, o, g) so the
        # three sigmoid gates are one contiguous block, and fold the activations' input scaling into the
        # weights (exact: powers of two): sigmoid(x) = 1 / (1 + exp(-x)) and tanh(x) = 2 sigmoid(2x) - 1,
        # so one exp over all four gates does the work, which is cheaper than numpy's float32 tanh.
        h = HIDDEN
        order = np.r_[0 : 2 * h, 3 * h : 4 * h, 2 * h : 3 * h]
        scale = np.full((4 * h, 1), -1.0, np.float32)
        scale[3 * h :] = -2.0
        for layer in range(LAYERS):
            w_ih = _param(model_state, f"lstm.weight_ih_l{layer}", (4 * h, N_MELS if layer == 0 else h))
            w_hh = _param(model_state, f"lstm.weight_hh_l{layer}", (4 * h, h))
            bias = _param(model_state, f"lstm.bias_ih_l{layer}", (4 * h,))
            bias = bias + _param(model_state, f"lstm.bias_hh_l{layer}", (4 * h,))
            self._layers.append(
                (
                    np.ascontiguousarray((w_ih[order] * scale).T),
                    np.ascontiguousarray((w_hh[order] * scale).T),
                    bias[order] * scale[:, 0],
                )
            )
        linear = _param(model_state, "linear.weight", (EMBEDDING_SIZE, h))
        self._linear_t = np.ascontiguousarray(linear.T)
        self._linear_b = _param(model_state, "linear.bias", (EMBEDDING_SIZE,))

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> GE2EEncoder:
        """Load resemblyzer's ``pretrained.pt`` (or any checkpoint with the same ``model_state``)."""
        checkpoint = torchfile.load(path)
        if not isinstance(checkpoint, Mapping) or not isinstance(checkpoint.get("model_state"), Mapping):
            raise ValueError(f"{path}: not a resemblyzer checkpoint (no model_state)")
        return cls(checkpoint["model_state"])

    def forward(self, mels: np.ndarray) -> np.ndarray:
        """Unit embeddings of partial windows: (batch, frames, 40) power mels -> (batch, 256) float32."""
        mels = np.asarray(mels, dtype=np.float32)
        if not len(mels):
            return np.zeros((0, EMBEDDING_SIZE), np.float32)
        with _one_blas_thread():
            return np.concatenate(
                [self._forward(mels[i : i + MAX_BATCH]) for i in range(0, len(mels), MAX_BATCH)]
            )

    def _forward(self, mels: np.ndarray) -> np.ndarray:
        batch, steps, _ = mels.shape
        h3 = 3 * HIDDEN
        # OpenBLAS's sgemm is slow for 2-3 rows (a stream usually runs one or two windows): use gemv per row.
        rowwise = batch < 4
        sequence = np.ascontiguousarray(mels.transpose(1, 0, 2))  # time-major: each step is contiguous
        hidden = np.zeros((batch, HIDDEN), np.float32)
        for layer, (w_ih_t, w_hh_t, bias) in enumerate(self._layers):
            # The input projection of every step at once; only the recurrent part is sequential.
            projected = (sequence.reshape(steps * batch, -1) @ w_ih_t + bias).reshape(steps, batch, -1)
            outputs = np.empty((steps, batch, HIDDEN), np.float32) if layer < LAYERS - 1 else None
            hidden = np.zeros((batch, HIDDEN), np.float32)
            cell = np.zeros((batch, HIDDEN), np.float32)
            gates = np.empty((batch, 4 * HIDDEN), np.float32)
            scratch = np.empty((batch, HIDDEN), np.float32)
            with np.errstate(over="ignore"):  # exp(+large) = inf gives sigmoid 0, as it should
                for t in range(steps):
                    if rowwise:
                        for row in range(batch):
                            np.matmul(hidden[row], w_hh_t, out=gates[row])
                    else:
                        np.matmul(hidden, w_hh_t, out=gates)
                    gates += projected[t]
                    np.exp(gates, out=gates)
                    gates += 1.0
                    np.divide(1.0, gates, out=gates)  # sigmoid of i, f, o; sigmoid(2x) of g
                    candidate = gates[:, h3:]
                    candidate *= 2.0
                    candidate -= 1.0  # tanh of g
                    cell *= gates[:, HIDDEN : 2 * HIDDEN]
                    np.multiply(gates[:, :HIDDEN], candidate, out=scratch)
                    cell += scratch
                    np.tanh(cell, out=scratch)
                    if outputs is not None:
                        hidden = outputs[t]  # written in place: the next layer's input, no copy
                    np.multiply(gates[:, 2 * HIDDEN : h3], scratch, out=hidden)
            if outputs is not None:
                sequence = outputs
        raw = np.maximum(hidden @ self._linear_t + self._linear_b, 0.0)
        norms = np.linalg.norm(raw, axis=1, keepdims=True)
        return raw / np.where(norms > 0, norms, 1.0)

    def embed(self, samples: np.ndarray) -> np.ndarray:
        """Unit embedding of 16 kHz float32 speech, each 1.6 s window normalised to -30 dBFS on its own."""
        stream = _GE2EStream(self)
        stream._extend(_as_samples(samples))  # no window run early: embedding() runs them all in one batch
        vector = stream.embedding()
        if vector is None:
            raise ValueError("cannot embed an empty signal")
        return vector

    def embed_reference(self, samples: np.ndarray) -> np.ndarray:
        """Exactly resemblyzer's ``embed_utterance(normalize_volume(samples, -30, increase_only=True))``.

        Only for pinning this code to the original; use :meth:`embed` everywhere else.
        """
        wav = _as_samples(samples)
        if not len(wav):
            raise ValueError("cannot embed an empty signal")
        mean_square = float(np.mean(np.square(wav, dtype=np.float64)))
        if 0.0 < mean_square < TARGET_MEAN_SQUARE:
            wav = wav * np.float32(np.sqrt(TARGET_MEAN_SQUARE / mean_square))
        starts = partial_starts(len(wav))
        stop = (starts[-1] + PARTIAL_FRAMES) * HOP
        mel = mel_spectrogram(np.pad(wav, (0, max(0, stop - len(wav)))))
        partials = self.forward(np.stack([mel[s : s + PARTIAL_FRAMES] for s in starts]))
        return _unit(partials.mean(axis=0))

    def stream(self) -> EmbeddingStream:
        return _GE2EStream(self)

    def stream_from_state(self, state: Mapping[str, np.ndarray]) -> EmbeddingStream:
        return _GE2EStream.from_state(self, state)


def _param(state: Mapping[str, Any], key: str, shape: tuple[int, ...]) -> np.ndarray:
    if key not in state:
        raise ValueError(f"model_state has no {key}")
    value = np.asarray(state[key], dtype=np.float32)
    if value.shape != shape:
        raise ValueError(f"model_state[{key!r}] has shape {value.shape}, expected {shape}")
    return value


def _as_samples(samples: np.ndarray) -> np.ndarray:
    array = np.asarray(samples)
    if array.dtype.kind != "f" and array.size:
        # PCM integers would reach the network 30,000 times too loud: the caller forgot to scale them.
        raise ValueError(f"expected float samples in [-1, 1], got {array.dtype}")
    array = array.astype(np.float32, copy=False)
    if array.ndim != 1:
        raise ValueError(f"expected mono samples (1-D), got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError("samples contain NaN or infinity")
    return array


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    if not norm > 0.0:
        raise ValueError("the encoder produced a zero embedding (degenerate input)")
    return (vector / norm).astype(np.float32)


# --- incremental embeddings ----------------------------------------------------------------------------


class _GE2EStream:
    """Running GE2E embedding; see the module docstring for why it agrees with :meth:`GE2EEncoder.embed`.

    Invariants (frame and window indices are absolute; window c starts at frame c * 77):
    * ``_count`` windows have been run and summed into ``_sum``;
    * ``_mel``/``_energy`` hold the final frames from the next window's start on (mel frames, and each
      frame's 160-sample block energy for the per-window gain), so ``_count * 77 + len(_mel)`` frames are
      final: all that ``_n`` samples determine;
    * ``_samples`` holds the audio from sample ``frames_done * 160 - 200`` on (zeros before the start),
      which is what the next, not yet final frame needs: under 400 samples.
    So the state stays under about 40 KB however long the stream runs.
    """

    _STATE_KEYS = frozenset({"model", "sum", "count", "n_samples", "samples", "mel", "energy"})

    def __init__(self, encoder: GE2EEncoder) -> None:
        self._encoder = encoder
        self._sum = np.zeros(EMBEDDING_SIZE, np.float64)
        self._count = 0
        self._n = 0
        self._samples = np.zeros(_PAD, np.float32)
        self._mel = np.zeros((0, N_MELS), np.float32)
        self._energy = np.zeros(0, np.float64)
        # embedding() runs one or two windows each time; callers often ask again before more audio comes.
        self._memo: tuple[int, np.ndarray] | None = None

    @property
    def seconds(self) -> float:
        return self._n / MODEL_RATE

    @property
    def _frames_done(self) -> int:
        return self._count * FRAME_STEP + len(self._mel)

    def append(self, samples: np.ndarray) -> None:
        self._extend(_as_samples(samples))
        ready = (self._frames_done - PARTIAL_FRAMES) // FRAME_STEP + 1 - self._count
        if ready > 0:
            starts = [k * FRAME_STEP for k in range(ready)]
            mels = self._windows(self._mel, self._energy, starts, self._count * FRAME_STEP)
            self._sum += self._encoder.forward(mels).sum(axis=0, dtype=np.float64)
            self._count += ready
            self._mel = self._mel[ready * FRAME_STEP :].copy()
            self._energy = self._energy[ready * FRAME_STEP :].copy()

    def _extend(self, samples: np.ndarray) -> None:
        """Take in samples and compute the mel frames they make final, but run no window yet."""
        if not len(samples):
            return
        done = self._frames_done
        self._n += len(samples)
        buffer = np.concatenate([self._samples, samples])
        new = _final_frames(self._n) - done
        if new > 0:
            self._mel = np.concatenate([self._mel, _power_mel(buffer, new)])
            self._energy = np.concatenate([self._energy, _block_energy(buffer[_PAD:], new)])
            buffer = buffer[new * HOP :].copy()
        self._samples = buffer

    def embedding(self) -> np.ndarray | None:
        if self._n == 0:
            return None
        if self._memo is not None and self._memo[0] == self._n:
            return self._memo[1].copy()
        first = self._count * FRAME_STEP
        starts = [s for s in partial_starts(self._n) if s >= first]
        total = self._sum.copy()
        if starts:
            # Windows reaching past the final frames get the zeros batch resemblyzer pads the end with,
            # computed on copies so that later audio still takes their place.
            missing = starts[-1] + PARTIAL_FRAMES - self._frames_done
            mel, energy = self._mel, self._energy
            if missing > 0:
                padded = np.concatenate([self._samples, np.zeros(missing * HOP + N_FFT, np.float32)])
                mel = np.concatenate([mel, _power_mel(padded, missing)])
                energy = np.concatenate([energy, _block_energy(padded[_PAD:], missing)])
            mels = self._windows(mel, energy, [s - first for s in starts], first)
            total += self._encoder.forward(mels).sum(axis=0, dtype=np.float64)
        vector = _unit(total)
        self._memo = (self._n, vector)
        return vector.copy()

    def _windows(self, mel: np.ndarray, energy: np.ndarray, starts: list[int], first: int) -> np.ndarray:
        """The windows at ``starts`` (relative to frame ``first``), each scaled to -30 dBFS on its own."""
        out = np.empty((len(starts), PARTIAL_FRAMES, N_MELS), np.float32)
        for i, s in enumerate(starts):
            begin = (first + s) * HOP
            n_real = min(self._n, begin + PARTIAL_FRAMES * HOP) - begin
            gain = _power_gain(float(energy[s : s + PARTIAL_FRAMES].sum()), n_real)
            np.multiply(mel[s : s + PARTIAL_FRAMES], np.float32(gain), out=out[i])
        return out

    def state(self) -> dict[str, np.ndarray]:
        return {
            "model": np.array(self._encoder.name),
            "sum": self._sum.copy(),
            "count": np.array(self._count, np.int64),
            "n_samples": np.array(self._n, np.int64),
            "samples": self._samples.copy(),
            "mel": self._mel.copy(),
            "energy": self._energy.copy(),
        }

    @classmethod
    def from_state(cls, encoder: GE2EEncoder, state: Mapping[str, np.ndarray]) -> _GE2EStream:
        missing = cls._STATE_KEYS - set(state)
        if missing:
            raise ValueError(f"stream state lacks {sorted(missing)}")
        if str(state["model"]) != encoder.name:
            raise ValueError(f"stream state is for {state['model']}, not {encoder.name}")
        stream = cls(encoder)
        stream._sum = np.array(state["sum"], np.float64).reshape(EMBEDDING_SIZE)
        stream._count = int(state["count"])
        stream._n = int(state["n_samples"])
        stream._samples = np.array(state["samples"], np.float32).reshape(-1)
        stream._mel = np.array(state["mel"], np.float32).reshape(-1, N_MELS)
        stream._energy = np.array(state["energy"], np.float64).reshape(-1)
        if (
            stream._count < 0
            or len(stream._energy) != len(stream._mel)
            or stream._frames_done != _final_frames(stream._n)
            or len(stream._samples) != stream._n - stream._frames_done * HOP + _PAD
        ):
            raise ValueError("inconsistent stream state")
        return stream


def _block_energy(samples: np.ndarray, count: int) -> np.ndarray:
    """Sum of squares of each consecutive 160-sample block (one per mel frame), float64."""
    blocks = samples[: count * HOP].reshape(count, HOP).astype(np.float64)
    return np.einsum("ij,ij->i", blocks, blocks)


@functools.cache
def _load_cached(path: str) -> GE2EEncoder:
    return GE2EEncoder.from_file(path)


def load_encoder(path: str | os.PathLike[str] | None = None) -> GE2EEncoder:
    """The GE2E encoder, loaded once per process and file; ``None`` means :func:`weights.model_path`."""
    resolved = weights.model_path() if path is None else os.fspath(path)
    return _load_cached(os.path.realpath(resolved))
