"""Band-limited sample-rate conversion (polyphase, Kaiser-windowed sinc), batch and streaming.

One implementation serves both: `resample()` is a `StreamResampler` fed the whole signal and flushed, so the
streaming path cannot drift from the batch path. Every output sample n sits at input time n * src / dst; it is
a dot product of the 2W input samples around that time with one of L precomputed phases of the filter.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

# Passband edge at 88 % and stopband edge at 100 % of the lower Nyquist frequency: at 8 kHz the whole
# telephone band (300-3400 Hz) is flat, and nothing above 4 kHz can alias back into it.
_PASS_EDGE = 0.88
_STOPBAND_DB = 80.0  # Kaiser design target; leaves 20 dB of headroom over the 60 dB the engine needs


@lru_cache(maxsize=32)
def _design(up: int, down: int) -> tuple[np.ndarray, int]:
    """Filter phases for an up/down ratio in lowest terms: (weights of shape (up, 2 * half_taps), half_taps)."""
    nyquist = 0.5 * min(1.0, up / down)  # cycles per input sample
    cutoff = nyquist * (1 + _PASS_EDGE) / 2
    transition = nyquist * (1 - _PASS_EDGE)
    beta = 0.1102 * (_STOPBAND_DB - 8.7)
    # Kaiser's length formula, in input samples.
    half_length = (_STOPBAND_DB - 7.95) / (2.285 * 2 * math.pi * transition) / 2
    half_taps = math.ceil(half_length)
    taps = np.arange(-(half_taps - 1), half_taps + 1)
    tau = np.arange(up)[:, None] / up - taps[None, :]  # output time minus input time, per phase and tap
    inside = np.abs(tau) < half_length
    window = np.i0(beta * np.sqrt(np.clip(1 - (tau / half_length) ** 2, 0, None))) / np.i0(beta)
    weights = np.where(inside, 2 * cutoff * np.sinc(2 * cutoff * tau) * window, 0.0)
    # Exact unit DC gain in every phase, so a constant stays constant instead of picking up a ripple at up Hz.
    weights /= weights.sum(axis=1, keepdims=True)
    return weights.astype(np.float32), half_taps


# Filter phases a conversion may need at most: every usual rate to 8 kHz needs 320 or fewer (11025 Hz the
# most), and any multiple of 25 Hz does. A rate like 47981 Hz would need 8,000 phases: a 16 MB filter that
# takes a second to design, which a request carrying two bytes of audio must not be able to make us build.
MAX_PHASES = 320


def phases(src_rate: int, dst_rate: int) -> int:
    """The filter phases converting between these rates needs (the upsampling factor in lowest terms)."""
    return _ratio(src_rate, dst_rate)[0]


def _ratio(src_rate: int, dst_rate: int) -> tuple[int, int]:
    if int(src_rate) != src_rate or int(dst_rate) != dst_rate or src_rate <= 0 or dst_rate <= 0:
        raise ValueError(f"sample rates must be positive integers, got {src_rate} and {dst_rate}")
    g = math.gcd(int(src_rate), int(dst_rate))
    return int(dst_rate) // g, int(src_rate) // g


class StreamResampler:
    """Same output as resample() on the concatenation, chunk by chunk (except at most a short tail held back
    until flush()), with state that survives serialization."""

    def __init__(self, src_rate: int, dst_rate: int) -> None:
        self.src_rate, self.dst_rate = int(src_rate), int(dst_rate)
        self._up, self._down = _ratio(src_rate, dst_rate)
        if self._up > MAX_PHASES:
            raise ValueError(
                f"converting {src_rate} Hz to {dst_rate} Hz needs {self._up} filter phases, over {MAX_PHASES}"
            )
        self._weights, self._half = _design(self._up, self._down)
        # Input samples still needed, starting at absolute input index _start; the signal is zero before 0.
        self._buf = np.zeros(self._half - 1, dtype=np.float32)
        self._start = -(self._half - 1)
        self._n_in = 0
        self._n_out = 0

    @property
    def _identity(self) -> bool:
        return self._up == self._down

    def process(self, chunk: np.ndarray) -> np.ndarray:
        chunk = np.asarray(chunk, dtype=np.float32)
        if chunk.ndim != 1:
            raise ValueError(f"expected mono samples of shape (n,), got shape {chunk.shape}")
        if self._identity:
            self._n_in += len(chunk)
            self._n_out += len(chunk)
            return chunk.copy()
        self._buf = np.concatenate([self._buf, chunk])
        self._n_in += len(chunk)
        # Output n needs input up to floor(n * down / up) + half, which must already be here.
        return self._emit(self._n_in - 1 - self._half)

    def flush(self) -> np.ndarray:
        """Pad the end with zeros and return the remaining outputs (ceil(n_in * dst / src) in total)."""
        if self._identity:
            return np.zeros(0, dtype=np.float32)
        self._buf = np.concatenate([self._buf, np.zeros(self._half, dtype=np.float32)])
        return self._emit(self._n_in - 1)

    def _emit(self, last_input: int) -> np.ndarray:
        up, down, half = self._up, self._down, self._half
        end = (
            -(-((last_input + 1) * up) // down) if last_input >= 0 else 0
        )  # outputs n with n*down//up <= last
        first = self._n_out
        count = max(0, end - first)
        out = np.empty(count, dtype=np.float32)
        if count and count >= 8 * up:
            windows = sliding_window_view(self._buf, 2 * half)
            # Outputs first+r, first+r+up, ... share one filter phase and step through the input by `down`.
            for r in range(up):
                n0 = first + r
                phase_count = len(range(r, count, up))
                pos = (n0 * down) // up - (half - 1) - self._start
                rows = windows[pos : pos + down * (phase_count - 1) + 1 : down]
                out[r::up] = np.einsum("ij,j->i", rows, self._weights[(n0 * down) % up])
        elif count:
            # Many phases with few outputs each (e.g. 11025 -> 8000 has 320): gather instead of looping.
            n = np.arange(first, end, dtype=np.int64)
            pos = (n * down) // up - (half - 1) - self._start
            rows = self._buf[pos[:, None] + np.arange(2 * half)]
            out[:] = np.einsum("ij,ij->i", rows, self._weights[(n * down) % up])
        self._n_out = end
        keep_from = (self._n_out * down) // up - (half - 1)  # first input the next output needs
        if keep_from > self._start:
            self._buf = self._buf[keep_from - self._start :].copy()
            self._start = keep_from
        return out

    def state(self) -> dict[str, np.ndarray]:
        return {
            "src_rate": np.int64(self.src_rate),
            "dst_rate": np.int64(self.dst_rate),
            "buffer": self._buf.copy(),
            "buffer_start": np.int64(self._start),
            "n_in": np.int64(self._n_in),
            "n_out": np.int64(self._n_out),
        }

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray]) -> StreamResampler:
        obj = cls(int(state["src_rate"]), int(state["dst_rate"]))
        obj._buf = np.asarray(state["buffer"], dtype=np.float32).copy()
        obj._start = int(state["buffer_start"])
        obj._n_in = int(state["n_in"])
        obj._n_out = int(state["n_out"])
        return obj


def resample(samples: np.ndarray, src_rate: int, dst_rate: int) -> np.ndarray:
    """Anti-aliased conversion of mono float samples; returns ceil(n * dst / src) float32 samples."""
    stream = StreamResampler(src_rate, dst_rate)
    head = stream.process(samples)
    if stream._identity:
        return head
    return np.concatenate([head, stream.flush()])
