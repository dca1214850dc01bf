from __future__ import annotations

import io

import numpy as np
import pytest

from voiceprints.resample import StreamResampler, resample

DOWN_RATES = (11025, 16000, 22050, 32000, 44100, 48000)


def tone(freq: float, rate: int, seconds: float = 1.0, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def middle(y: np.ndarray) -> np.ndarray:
    """Skip the filter's start-up and tail, where zero padding is in the window."""
    return y[len(y) // 4 : 3 * len(y) // 4].astype(np.float64)


def amplitude_at(y: np.ndarray, freq: float, rate: int) -> float:
    y = middle(y)
    return 2 * abs(np.mean(y * np.exp(-2j * np.pi * freq * np.arange(len(y)) / rate)))


def db(ratio: float) -> float:
    return 20 * np.log10(ratio)


def round_trip(stream: StreamResampler) -> StreamResampler:
    buffer = io.BytesIO()
    np.savez(buffer, **stream.state())
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as arrays:
        return StreamResampler.from_state({key: arrays[key] for key in arrays.files})


@pytest.mark.parametrize("src", DOWN_RATES)
def test_it_attenuates_everything_above_4_khz_by_60_db(src):
    for freq in (4100, 4500, 5000, 7000, src / 2 - 100):
        if freq >= src / 2:
            continue
        out = resample(tone(freq, src), src, 8000)
        rms = np.sqrt(np.mean(middle(out) ** 2))
        assert db(rms * np.sqrt(2) / 0.5) <= -60, (src, freq)


@pytest.mark.parametrize(("src", "dst"), [(s, 8000) for s in DOWN_RATES] + [(8000, 16000)])
def test_it_keeps_in_band_tones_within_a_tenth_of_a_db(src, dst):
    for freq in (300, 1000, 2500, 3400):
        out = resample(tone(freq, src), src, dst)
        assert abs(db(amplitude_at(out, freq, dst) / 0.5)) < 0.1, (src, dst, freq)


def test_upsampling_leaves_no_image_above_the_old_nyquist():
    out = resample(tone(3000, 8000), 8000, 16000)
    assert db(amplitude_at(out, 5000, 16000) / 0.5) < -60


def test_it_keeps_a_constant_constant():
    out = resample(np.full(8000, 0.25, dtype=np.float32), 8000, 16000)
    assert np.allclose(middle(out), 0.25, atol=1e-5)


@pytest.mark.parametrize(("src", "dst"), [(8000, 16000), (16000, 8000), (44100, 8000), (11025, 8000)])
def test_output_length_is_the_rounded_ratio_within_one(src, dst):
    for n in (1, 2, 3, 7, 160, 999, 4410, 12345):
        out = resample(np.ones(n, dtype=np.float32), src, dst)
        assert abs(len(out) - round(n * dst / src)) <= 1, (n, len(out))
        assert out.dtype == np.float32


def test_equal_rates_return_a_float32_copy():
    x = np.arange(5, dtype=np.float64)
    out = resample(x, 8000, 8000)
    assert out.dtype == np.float32
    assert np.array_equal(out, x)


def test_empty_input_gives_empty_output():
    assert len(resample(np.zeros(0, dtype=np.float32), 16000, 8000)) == 0


@pytest.mark.parametrize(
    ("src", "dst"), [(8000, 16000), (16000, 8000), (48000, 8000), (44100, 8000), (11025, 8000)]
)
def test_streaming_in_random_chunks_with_saved_state_matches_batch(src, dst):
    rng = np.random.default_rng(src + dst)
    x = rng.standard_normal(src * 2).astype(np.float32) * 0.3
    expected = resample(x, src, dst)
    stream, parts, pos = StreamResampler(src, dst), [], 0
    while pos < len(x):
        size = int(rng.choice([1, 7, 160, 2000, int(rng.integers(1, 5000))]))
        parts.append(stream.process(x[pos : pos + size]))
        pos += size
        stream = round_trip(stream)
    parts.append(stream.flush())
    got = np.concatenate(parts)
    assert len(got) == len(expected)
    assert np.allclose(got, expected, atol=1e-6)


def test_a_stream_holds_back_only_a_short_tail():
    stream = StreamResampler(8000, 16000)
    out = stream.process(np.zeros(2000, dtype=np.float32))
    held = 4000 - len(out)
    assert 0 < held <= 100  # under 7 ms at 16 kHz
    assert len(stream.flush()) == held


def test_it_rejects_bad_rates_and_shapes():
    with pytest.raises(ValueError, match="positive integers"):
        resample(np.zeros(4), 0, 8000)
    with pytest.raises(ValueError, match="positive integers"):
        StreamResampler(8000.5, 16000)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="mono"):
        resample(np.zeros((4, 2)), 16000, 8000)
    with pytest.raises(ValueError, match="needs 8000 filter phases, over 320"):
        StreamResampler(47981, 8000)  # a 16 MB filter: never designed
