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

Speed. The LSTM is sequential in time, so on one window numpy spends each step on a matrix-vector product
that reads all of a layer's weights, plus a dozen small array operations; 16 windows at once cost ~6 ms a
window against ~12 ms alone. Whole recordings run all their windows in batches. A stream runs a
window ahead, frame by frame as its frames become final, whenever the window is likely to need no gain
(loud speech, the usual case): the 2 or 3 windows that overlap then share every step, an ended window
costs only its linear head, and ``embedding()`` runs only the zero-padded end of the last window instead
of all of it. A window run ahead that does need a gain in the end is run again, whole, at that gain, so
every window's embedding is the one ``embed`` computes (to float32 rounding: batches sum in other orders).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import itertools
import os
import time
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
    "narrow_product_plan",
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
# Windows per LSTM call: large enough for efficient matmuls, small enough to bound memory on long audio (16:
# 6.4 ms a window on the 2-core bench machine, against 12 ms alone; 32 is no faster there).
MAX_BATCH = 16
_CACHE_LINE = 64
# Up to this many state columns, the recurrence may multiply column by column (narrow_product_plan says when).
COLUMN_BY_COLUMN_WIDTH = 3
# A stream runs each window frame by frame as its frames arrive, at gain 1, when the audio is loud enough that
# the window will most likely need no gain: mean square at least this fraction of the -30 dBFS target, judged
# on the frames the stream holds when the window starts, then on the window's own frames once it has this many.
# A window that does need a gain is run whole again when it ends. On the demo voices (after the speech
# detector) this runs 97-100 % of a loud voice's windows ahead, and gives up early on a quiet one's.
RUN_AHEAD_LEVEL = 0.5
RUN_AHEAD_JUDGED_AFTER = 40

_PAD = N_FFT // 2  # librosa's centred frames: frame t covers samples [t*HOP - _PAD, t*HOP + _PAD).


class EmbeddingStream(Protocol):
    """A running embedding of speech that arrives in order, in chunks of any size."""

    def append(self, samples: np.ndarray) -> None:
        """Add more 16 kHz speech samples."""
        ...

    def extend(self, samples: np.ndarray) -> None:
        """Add samples whose embedding is wanted once, at the end: defers the network to ``embedding()``."""
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
def _openblas_library() -> Any | None:
    """numpy's bundled OpenBLAS (scipy-openblas, 64-bit ints), when numpy has one (best effort)."""
    for library in sorted((Path(np.__file__).parent.parent / "numpy.libs").glob("*openblas*.so*")):
        try:
            handle = ctypes.CDLL(str(library))
        except OSError:
            continue
        if hasattr(handle, "scipy_openblas_set_num_threads64_"):
            return handle
    return None


@functools.cache
def _openblas() -> tuple[Any, Any] | None:
    """numpy's OpenBLAS thread-count setter and getter, when numpy has one."""
    handle = _openblas_library()
    if handle is None:
        return None
    return handle.scipy_openblas_set_num_threads64_, handle.scipy_openblas_get_num_threads64_


def blas_kernels() -> str | None:
    """The CPU kernels numpy's OpenBLAS runs (its "core", e.g. Haswell or SkylakeX), None if unknown.

    OpenBLAS picks them for the CPU when it loads, unless OPENBLAS_CORETYPE names others. The network's
    small products depend on the choice: on an AMD Zen 5 VM whose environment set OPENBLAS_CORETYPE=Haswell
    (AVX2), OpenBLAS's own choice there (SkylakeX, AVX-512) multiplied a layer's weights by 2 state columns
    in 10.5 us against 43 us, and made a 10 s voiceprint 53 ms against 73-77 ms (docs/benchmarks.md).
    """
    corename = getattr(_openblas_library(), "scipy_openblas_get_corename64_", None)
    if corename is None:
        return None
    corename.restype = ctypes.c_char_p
    name = corename()
    return name.decode() if name else None


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


def narrow_product_plan(matrix: np.ndarray, *, rounds: int = 7, repeats: int = 20) -> frozenset[int]:
    """The state widths (2 to COLUMN_BY_COLUMN_WIDTH) at which this machine multiplies ``matrix`` faster
    one column at a time than as one matrix product.

    It depends on the CPU, not on anything we can read. On an AMD EPYC (Zen 3) bench VM OpenBLAS took 42 us
    for W @ 2 columns against 2 x 12 us column by column (62 against 37 us for 3); on an Intel Xeon
    (Sapphire Rapids) one, 22 against 33 us (36 against 51 us for 3). A stream's windows run ahead 2 or 3 at
    a time, so the wrong choice costs a fifth of its network time. Each encoder therefore measures, once:
    the best of ``rounds`` interleaved rounds of each way, ~15 ms in all, so a busy moment does not decide.
    Either way gives the same numbers to float32 rounding.
    """
    faster_by_column = set()
    with _one_blas_thread():
        for width in range(2, COLUMN_BY_COLUMN_WIDTH + 1):
            states = np.ones((matrix.shape[1], width), np.float32)
            out = np.empty((matrix.shape[0], width), np.float32)
            column_states = [states[:, k] for k in range(width)]
            column_outs = [out[:, k] for k in range(width)]
            whole, by_column = float("inf"), float("inf")
            for _ in range(rounds):
                started = time.perf_counter()
                for _ in range(repeats):
                    np.matmul(matrix, states, out=out)
                whole = min(whole, time.perf_counter() - started)
                started = time.perf_counter()
                for _ in range(repeats):
                    for state, column_out in zip(column_states, column_outs, strict=True):
                        np.matmul(matrix, state, out=column_out)
                by_column = min(by_column, time.perf_counter() - started)
            if by_column < whole:
                faster_by_column.add(width)
    return frozenset(faster_by_column)


class GE2EEncoder:
    """resemblyzer 0.1.4's speaker encoder (GE2E, 256-d) with a numpy forward pass."""

    name = "ge2e-resemblyzer-0.1.4"
    dimension = EMBEDDING_SIZE
    sample_rate = MODEL_RATE

    def __init__(self, model_state: Mapping[str, Any]) -> None:
        """``model_state`` is the checkpoint's ``model_state``: torch ``nn.LSTM`` and ``nn.Linear`` names."""
        self._layers: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        # torch orders the LSTM gates (input, forget, cell, output). We reorder them to (i, f, o, g) so the
        # three sigmoid gates are one contiguous block, and rescale the weights by powers of two (exact) so
        # that one tanh over all four gates does the activations: sigmoid(x) = (1 + tanh(x / 2)) / 2. The
        # recurrence then carries twice the hidden state, 2h = (1 + tanh(o / 2)) tanh(c), which the weights
        # that read it (the next step's, the next layer's, the linear head) take back by another factor 1/2.
        # That is two fewer numpy calls per step than separate sigmoid and tanh, and numpy's float32 tanh is
        # the cheapest of its transcendental functions.
        h = HIDDEN
        order = np.r_[0 : 2 * h, 3 * h : 4 * h, 2 * h : 3 * h]
        gate_scale = np.full((4 * h, 1), 0.5, np.float32)
        gate_scale[3 * h :] = 1.0
        for layer in range(LAYERS):
            w_ih = _param(model_state, f"lstm.weight_ih_l{layer}", (4 * h, N_MELS if layer == 0 else h))
            w_hh = _param(model_state, f"lstm.weight_hh_l{layer}", (4 * h, h))
            bias = _param(model_state, f"lstm.bias_ih_l{layer}", (4 * h,))
            bias = bias + _param(model_state, f"lstm.bias_hh_l{layer}", (4 * h,))
            input_scale = np.float32(1.0 if layer == 0 else 0.5)  # layers above the first read 2h
            self._layers.append(
                (
                    # (inputs, gates): the input projection of all steps is one (steps x inputs) product.
                    _cache_aligned((w_ih[order] * gate_scale * input_scale).T),
                    # (gates, hidden): the recurrence keeps states as columns, (hidden, batch). OpenBLAS was
                    # 1.3-2x faster on W @ states than on states.T @ W.T for 2-32 windows on the AMD bench VMs;
                    # on the Intel one states.T @ W.T was 10-20 % faster up to 5 windows, slower from 8.
                    _cache_aligned(w_hh[order] * gate_scale * np.float32(0.5)),
                    bias[order] * gate_scale[:, 0],
                )
            )
        linear = _param(model_state, "linear.weight", (EMBEDDING_SIZE, h))
        self._linear_t = _cache_aligned(linear.T * np.float32(0.5))
        self._linear_b = _param(model_state, "linear.bias", (EMBEDDING_SIZE,))
        # Narrow states (2 or 3 windows: a stream's windows run ahead) multiply column by column at these
        # widths, as one matrix product at the others; measured on this machine, and settable for tests.
        self.column_by_column_widths = narrow_product_plan(self._layers[0][1])

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
                [self.head(self.run(mels[i : i + MAX_BATCH])) for i in range(0, len(mels), MAX_BATCH)]
            )

    def head(self, state: np.ndarray) -> np.ndarray:
        """Unit embeddings from LSTM states after a window's last frame, (LAYERS, 2, HIDDEN, batch)."""
        raw = np.maximum(state[-1, 0].T @ self._linear_t + self._linear_b, 0.0)
        norms = np.linalg.norm(raw, axis=1, keepdims=True)
        return raw / np.where(norms > 0, norms, 1.0)

    def run(self, mels: np.ndarray, state: np.ndarray | None = None) -> np.ndarray:
        """The LSTM over (batch, steps, 40) power mels from ``state`` (zeros if None); the state after.

        A state is (LAYERS, 2, HIDDEN, batch): each layer's hidden state (doubled, see ``__init__``) and
        cell state, one column per window. Running frames [0, k) and then [k, n) from the state in between
        gives what running [0, n) at once does (to float32 rounding), which is what lets a stream run a
        window's frames as they arrive.
        """
        batch, steps, _ = mels.shape
        if state is None:
            state = np.zeros((LAYERS, 2, HIDDEN, batch), np.float32)
        if not steps:
            return state.copy()
        h, h3 = HIDDEN, 3 * HIDDEN
        # OpenBLAS (SkylakeX kernels) takes as long for 13 state columns as for 16, and longer for 5 to 7
        # than for 8: run padding columns (zero input, discarded) up to a multiple of 8 beyond 4 windows.
        width = batch if batch <= 4 else -(-batch // 8) * 8
        after = np.empty_like(state)
        # Rows (step, window): the input projection of every step is one matrix product.
        sequence = np.ascontiguousarray(mels.transpose(1, 0, 2), dtype=np.float32).reshape(steps * batch, -1)
        projected = np.zeros((steps, 4 * h, width), np.float32)
        gates = np.empty((4 * h, width), np.float32)
        # For 2 or 3 columns OpenBLAS's matrix product can be slower than one matrix-vector product per column,
        # depending on the CPU (narrow_product_plan); from 4 columns on it is as fast or faster. Where it is
        # slower, narrow states go column by column and still share the step's other operations.
        gate_columns = [gates[:, k] for k in range(width)] if width in self.column_by_column_widths else []
        # Views made once: at one or two windows a step is ~20 us, of which numpy's per-call cost is a third.
        sigmoids, in_gate, forget_gate, out_gate, cell_gate = (
            gates[:h3],
            gates[:h],
            gates[h : 2 * h],
            gates[2 * h : h3],
            gates[h3:],
        )
        scratch = np.empty((h, width), np.float32)
        one, half = np.float32(1.0), np.float32(0.5)
        with _one_blas_thread():
            for layer, (w_ih_t, w_hh, bias) in enumerate(self._layers):
                inputs = sequence @ w_ih_t
                inputs += bias
                # Each step's gates as one contiguous (gates, windows) block, the recurrence's layout.
                projected[:, :, :batch] = inputs.reshape(steps, batch, 4 * h).transpose(0, 2, 1)
                last = layer == LAYERS - 1
                # Each step writes its hidden state in place: the next layer's input, no copy. The last
                # layer's outputs are not needed: its steps all write to one array.
                outputs = np.empty((1 if last else steps, h, width), np.float32)
                hidden = np.zeros((h, width), np.float32)
                cell = np.zeros((h, width), np.float32)
                hidden[:, :batch], cell[:, :batch] = state[layer, 0], state[layer, 1]
                for step, gates_in in enumerate(projected):
                    if gate_columns:
                        for k, gate_column in enumerate(gate_columns):
                            np.matmul(w_hh, hidden[:, k], out=gate_column)
                    else:
                        np.matmul(w_hh, hidden, out=gates)
                    gates += gates_in
                    np.tanh(gates, out=gates)
                    sigmoids += one  # 2 sigmoid(x) of i, f, o; tanh(x) of g
                    cell *= forget_gate
                    np.multiply(in_gate, cell_gate, out=scratch)
                    cell += scratch
                    cell *= half  # c = f c + i g, each sigmoid having been doubled
                    np.tanh(cell, out=scratch)
                    hidden = outputs[0 if last else step]
                    np.multiply(out_gate, scratch, out=hidden)  # 2h = 2 o tanh(c)
                after[layer, 0], after[layer, 1] = hidden[:, :batch], cell[:, :batch]
                if not last:
                    sequence = np.ascontiguousarray(outputs[:, :, :batch].transpose(0, 2, 1))
                    sequence = sequence.reshape(steps * batch, h)
        return after

    def embed(self, samples: np.ndarray) -> np.ndarray:
        """Unit embedding of 16 kHz float32 speech, each 1.6 s window normalised to -30 dBFS on its own."""
        stream = _GE2EStream(self)
        stream.extend(samples)  # no window run early: embedding() runs them all in one batch
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


def _cache_aligned(array: np.ndarray) -> np.ndarray:
    """A C-contiguous float32 copy of ``array`` starting on a 64-byte boundary (a cache line).

    numpy only promises 16 bytes, so where the weights landed depended on the process's allocation history
    (in a Django process two of the three recurrent matrices were off a cache line). OpenBLAS's AVX-512
    kernels then split loads across cache lines, and the recurrence's products, which read a whole layer's
    weights every step, slow by a third (Intel Xeon VM: W @ 2 state columns 16-17 us aligned, 23 us at a
    16- or 32-byte offset; 3 columns 25-28 against 39 us).
    """
    source = np.asarray(array, dtype=np.float32)
    buffer = np.empty(source.nbytes + _CACHE_LINE, np.uint8)
    start = -buffer.ctypes.data % _CACHE_LINE
    aligned = buffer[start : start + source.nbytes].view(np.float32).reshape(source.shape)
    aligned[...] = source
    return aligned


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
      which is what the next, not yet final frame needs: under 400 samples;
    * ``_open`` maps each window run ahead (started, not ended: start < frames_done < start + 160) to the
      network's state after its final frames at gain 1, a (LAYERS, 2, HIDDEN) array; 2 or 3 at most.
    So the state stays under about 60 KB however long the stream runs.
    """

    # Also "open_windows" and "open_states", which states saved before windows were run ahead lack: such a
    # stream resumes with none open.
    _STATE_KEYS = frozenset({"model", "sum", "count", "n_samples", "samples", "mel", "energy"})

    def __init__(self, encoder: GE2EEncoder) -> None:
        self._encoder = encoder
        self._sum = np.zeros(EMBEDDING_SIZE, np.float64)
        self._count = 0
        self._n = 0
        self._samples = np.zeros(_PAD, np.float32)
        self._mel = np.zeros((0, N_MELS), np.float32)
        self._energy = np.zeros(0, np.float64)
        self._open: dict[int, np.ndarray] = {}
        # embedding() runs one or two windows each time; callers often ask again before more audio comes.
        self._memo: tuple[int, np.ndarray] | None = None

    @property
    def seconds(self) -> float:
        return self._n / MODEL_RATE

    @property
    def _frames_done(self) -> int:
        return self._count * FRAME_STEP + len(self._mel)

    def append(self, samples: np.ndarray) -> None:
        before = self._frames_done
        self._extend(_as_samples(samples))
        self._run_windows(before)

    def extend(self, samples: np.ndarray) -> None:
        """Take in samples but run no window: ``embedding()`` then runs them all in one batch, which is
        cheapest for audio embedded once, at its end. Windows run ahead so far are dropped (they run whole)."""
        self._open.clear()
        self._extend(_as_samples(samples))

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

    def _run_windows(self, before: int) -> None:
        """Run what the frames final since frame ``before`` allow: open windows go on over the new frames,
        ended windows are summed, each at its own gain (run whole again when gain 1 was the wrong guess)."""
        done, base = self._frames_done, self._count * FRAME_STEP
        ended = max(self._count, (done - PARTIAL_FRAMES) // FRAME_STEP + 1)  # windows below this have ended
        spans: dict[int, tuple[int, int]] = {}
        whole: list[int] = []
        for window in range(self._count, (done - 1) // FRAME_STEP + 1):  # every window started by now
            start, end = window * FRAME_STEP, window * FRAME_STEP + PARTIAL_FRAMES
            if window in self._open:
                spans[window] = (before, min(end, done))
            elif start >= before and end > done and self._loud(0, done - base):
                self._open[window] = np.zeros((LAYERS, 2, HIDDEN), np.float32)
                spans[window] = (start, done)
            elif end <= done:
                whole.append(window)  # started before it could be run ahead, or judged too quiet
        if spans:
            self._open.update(_advance(self._encoder, self._open, spans, self._mel, base))
        partials = []
        for window in sorted(self._open):
            start = window * FRAME_STEP - base
            if window < ended:
                state = self._open.pop(window)
                if self._gain(self._energy, start, base) == 1.0:
                    partials.append(self._encoder.head(state[..., None]))
                else:
                    whole.append(window)
            elif done - base - start >= RUN_AHEAD_JUDGED_AFTER and not self._loud(start, done - base):
                # Likely to need a gain after all: stop running it ahead; it runs whole when it ends.
                del self._open[window]
        if whole:
            starts = [window * FRAME_STEP - base for window in sorted(whole)]
            partials.append(self._encoder.forward(self._windows(self._mel, self._energy, starts, base)))
        if partials:
            self._sum += np.concatenate(partials).sum(axis=0, dtype=np.float64)
        ready = ended - self._count
        if ready > 0:
            self._count = ended
            self._mel = self._mel[ready * FRAME_STEP :].copy()
            self._energy = self._energy[ready * FRAME_STEP :].copy()

    def _loud(self, start: int, stop: int) -> bool:
        """Whether frames [start, stop) (relative to ``_mel``) are loud enough that the window they belong to
        will likely need no gain."""
        energy = float(self._energy[start:stop].sum())
        return energy >= RUN_AHEAD_LEVEL * TARGET_MEAN_SQUARE * (stop - start) * HOP

    def embedding(self) -> np.ndarray | None:
        if self._n == 0:
            return None
        if self._memo is not None and self._memo[0] == self._n:
            return self._memo[1].copy()
        base, done = self._count * FRAME_STEP, self._frames_done
        starts = [s for s in partial_starts(self._n) if s >= base]
        total = self._sum.copy()
        if starts:
            # Windows reaching past the final frames get the zeros batch resemblyzer pads the end with,
            # computed on copies so that later audio still takes their place.
            missing = starts[-1] + PARTIAL_FRAMES - done
            mel, energy = self._mel, self._energy
            if missing > 0:
                padded = np.concatenate([self._samples, np.zeros(missing * HOP + N_FFT, np.float32)])
                mel = np.concatenate([mel, _power_mel(padded, missing)])
                energy = np.concatenate([energy, _block_energy(padded[_PAD:], missing)])
            # An open window needs only its padded end run, if its gain did turn out to be 1.
            spans: dict[int, tuple[int, int]] = {}
            whole: list[int] = []
            for start in starts:
                window = start // FRAME_STEP
                if window in self._open and self._gain(energy, start - base, base) == 1.0:
                    spans[window] = (done, start + PARTIAL_FRAMES)
                else:
                    whole.append(start - base)
            partials = []
            if spans:
                advanced = _advance(self._encoder, self._open, spans, mel, base)
                partials.append(self._encoder.head(np.stack([advanced[w] for w in spans], axis=-1)))
            if whole:
                partials.append(self._encoder.forward(self._windows(mel, energy, whole, base)))
            total += np.concatenate(partials).sum(axis=0, dtype=np.float64)
        vector = _unit(total)
        self._memo = (self._n, vector)
        return vector.copy()

    def _gain(self, energy: np.ndarray, start: int, first: int) -> float:
        """The power gain of the window at frame ``start`` of ``energy`` (which starts at frame ``first``)."""
        begin = (first + start) * HOP
        n_real = min(self._n, begin + PARTIAL_FRAMES * HOP) - begin
        return _power_gain(float(energy[start : start + PARTIAL_FRAMES].sum()), n_real)

    def _windows(self, mel: np.ndarray, energy: np.ndarray, starts: list[int], first: int) -> np.ndarray:
        """The windows at ``starts`` (relative to frame ``first``), each scaled to -30 dBFS on its own."""
        out = np.empty((len(starts), PARTIAL_FRAMES, N_MELS), np.float32)
        for i, s in enumerate(starts):
            gain = self._gain(energy, s, first)
            np.multiply(mel[s : s + PARTIAL_FRAMES], np.float32(gain), out=out[i])
        return out

    def state(self) -> dict[str, np.ndarray]:
        windows = sorted(self._open)
        return {
            "model": np.array(self._encoder.name),
            "sum": self._sum.copy(),
            "count": np.array(self._count, np.int64),
            "n_samples": np.array(self._n, np.int64),
            "samples": self._samples.copy(),
            "mel": self._mel.copy(),
            "energy": self._energy.copy(),
            "open_windows": np.array(windows, np.int64),
            "open_states": (
                np.stack([self._open[w] for w in windows])
                if windows
                else np.zeros((0, LAYERS, 2, HIDDEN), np.float32)
            ),
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
        windows = np.asarray(state.get("open_windows", np.zeros(0, np.int64))).reshape(-1)
        states = np.array(state.get("open_states", np.zeros((0, LAYERS, 2, HIDDEN))), np.float32)
        done = stream._frames_done
        if (
            stream._count < 0
            or len(stream._energy) != len(stream._mel)
            or done != _final_frames(stream._n)
            or len(stream._samples) != stream._n - done * HOP + _PAD
            or states.shape != (len(windows), LAYERS, 2, HIDDEN)
            or any(
                not (stream._count <= w and w * FRAME_STEP < done < w * FRAME_STEP + PARTIAL_FRAMES)
                for w in windows.tolist()
            )
        ):
            raise ValueError("inconsistent stream state")
        stream._open = {int(w): s for w, s in zip(windows.tolist(), states, strict=True)}
        return stream


def _advance(
    encoder: GE2EEncoder,
    states: Mapping[int, np.ndarray],
    spans: Mapping[int, tuple[int, int]],
    mel: np.ndarray,
    first: int,
) -> dict[int, np.ndarray]:
    """Each window's state run on over its span of frames (absolute; ``mel`` starts at frame ``first``),
    at gain 1. Windows whose spans cover the same frames run as one batch: two cost little more than one."""
    after = {window: states[window] for window in spans}
    bounds = sorted({bound for span in spans.values() for bound in span})
    for lo, hi in itertools.pairwise(bounds):
        members = [window for window, (a, b) in spans.items() if a <= lo and hi <= b]
        if not members:
            continue
        frames = np.broadcast_to(mel[lo - first : hi - first], (len(members), hi - lo, N_MELS))
        batch = encoder.run(frames, np.stack([after[window] for window in members], axis=-1))
        for k, window in enumerate(members):
            after[window] = np.ascontiguousarray(batch[..., k])
    return after


def _block_energy(samples: np.ndarray, count: int) -> np.ndarray:
    """Sum of squares of each consecutive 160-sample block (one per mel frame), float64."""
    blocks = samples[: count * HOP].reshape(count, HOP).astype(np.float64)
    return np.einsum("ij,ij->i", blocks, blocks)


@functools.cache
def _load_cached(path: str) -> GE2EEncoder:
    return GE2EEncoder.from_file(path)


@functools.cache
def _load_configured(configured: str | None) -> GE2EEncoder:
    """The encoder :func:`weights.model_path` finds while ``VOICEID_MODEL_PATH`` is ``configured``: the
    argument is only the cache key, so that changing the variable finds the file afresh."""
    return _load_cached(os.path.realpath(weights.model_path()))


def load_encoder(path: str | os.PathLike[str] | None = None) -> GE2EEncoder:
    """The GE2E encoder, loaded once per process and file; ``None`` means :func:`weights.model_path`."""
    if path is None:
        # Every request of a live call asks for the encoder: find the file once per configured location
        # instead of checking and resolving its path each time.
        return _load_configured(os.environ.get(weights.MODEL_PATH_ENV))
    return _load_cached(os.path.realpath(os.fspath(path)))
