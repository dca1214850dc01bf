from __future__ import annotations

import hashlib
import struct
import warnings
from pathlib import Path

import numpy as np
import pytest

from voiceprints.audio import (
    ACCEPTED,
    ALAW_DECODE,
    CANONICAL_RATE,
    MAX_AUDIO_BYTES,
    ULAW_DECODE,
    Audio,
    AudioError,
    decode_pcm_s16le,
    decode_wav,
    encode_wav,
    mulaw_round_trip,
    to_canonical,
)

ROOT = Path(__file__).resolve().parents[2]
LIBRISPEECH = next(
    (
        p
        for p in (ROOT / "demo" / "librispeech", ROOT.parent / "shared" / "audio" / "devset" / "librispeech")
        if p.is_dir()
    ),
    None,
)


def fmt_chunk(codec=1, channels=1, rate=8000, bits=16, block_align=None, extra=b""):
    block_align = channels * bits // 8 if block_align is None else block_align
    body = struct.pack("<HHIIHH", codec, channels, rate, rate * block_align, block_align, bits) + extra
    return b"fmt " + struct.pack("<I", len(body)) + body


def wav(*chunks: bytes) -> bytes:
    body = b"WAVE" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def data_chunk(payload: bytes, size: int | None = None) -> bytes:
    return b"data" + struct.pack("<I", len(payload) if size is None else size) + payload


def pcm16(values) -> bytes:
    return np.asarray(values, dtype="<i2").tobytes()


def problem(data: bytes, **kwargs) -> str:
    with pytest.raises(AudioError) as info:
        decode_wav(data, **kwargs)
    message = str(info.value)
    assert message.endswith(f"; {ACCEPTED}.")  # every error also says what is accepted
    return info.value.problem


# ---------------------------------------------------------------- reading what is accepted


def test_it_decodes_pcm16_mono_to_float():
    audio = decode_wav(wav(fmt_chunk(), data_chunk(pcm16([0, 16384, -32768, 32767]))))
    assert audio.sample_rate == 8000
    assert audio.samples.dtype == np.float32
    assert np.allclose(audio.samples, [0, 0.5, -1, 32767 / 32768])
    assert audio.seconds == 4 / 8000


def test_it_picks_one_channel_of_a_stereo_file():
    data = wav(fmt_chunk(channels=2), data_chunk(pcm16([100, -200, 300, -400])))
    assert np.allclose(decode_wav(data).samples * 32768, [100, 300])
    assert np.allclose(decode_wav(data, channel=1).samples * 32768, [-200, -400])


@pytest.mark.parametrize("encoding", ["pcm16", "ulaw", "alaw"])
@pytest.mark.parametrize("channels", [1, 2])
def test_encode_and_decode_round_trip(encoding, channels):
    rng = np.random.default_rng(1)
    x = np.clip(rng.standard_normal((800, channels)) * 0.2, -1, 1)
    data = encode_wav(x if channels == 2 else x[:, 0], 16000, encoding=encoding, channels=channels)
    for channel in range(channels):
        audio = decode_wav(data, channel=channel)
        assert audio.sample_rate == 16000
        tolerance = 1 / 32768 if encoding == "pcm16" else 0.02  # G.711 steps are ~3 % of the value
        assert np.allclose(audio.samples, x[:, channel], atol=tolerance, rtol=0.04)


def test_g711_tables_are_the_itu_reference():
    # Digests of the tables, checked once against CPython's audioop (the ITU/Sun reference code).
    x = np.arange(-32768, 32768) / 32768
    for encoding, digest in (
        ("ulaw", "81d633c9e6972a18c74a58720b96cb8ca0bdd096d4060b646dd708c3b846019a"),
        ("alaw", "38488f6fd710f4686360edc4d38639f96c491595ef93f8eb8d62d5e07ca6ce7b"),
    ):
        data = encode_wav(x, 8000, encoding=encoding)
        assert hashlib.sha256(data[data.index(b"data") + 8 :]).hexdigest() == digest
    assert ULAW_DECODE[0x00] == -32124 and ULAW_DECODE[0x80] == 32124 and ULAW_DECODE[0xFF] == 0
    assert ALAW_DECODE[0xD5] == 8 and ALAW_DECODE[0x55] == -8 and ALAW_DECODE[0xAA] == 32256


def test_g711_matches_audioop_where_python_still_has_it():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        audioop = pytest.importorskip("audioop", reason="audioop left Python in 3.13")
    codes = bytes(range(256))
    assert np.array_equal(np.frombuffer(audioop.ulaw2lin(codes, 2), "<i2"), ULAW_DECODE)
    assert np.array_equal(np.frombuffer(audioop.alaw2lin(codes, 2), "<i2"), ALAW_DECODE)
    pcm = np.arange(-32768, 32768, dtype="<i2")
    for encoding, lin2 in (("ulaw", audioop.lin2ulaw), ("alaw", audioop.lin2alaw)):
        data = encode_wav(pcm / 32768, 8000, encoding=encoding)
        assert data[data.index(b"data") + 8 :] == lin2(pcm.tobytes(), 2)


def test_it_decodes_g711_codes_through_the_tables():
    codes = bytes(range(256))
    ulaw = decode_wav(wav(fmt_chunk(codec=7, bits=8), data_chunk(codes))).samples
    alaw = decode_wav(wav(fmt_chunk(codec=6, bits=8), data_chunk(codes))).samples
    assert np.array_equal(ulaw * 32768, ULAW_DECODE)
    assert np.array_equal(alaw * 32768, ALAW_DECODE)


def test_mulaw_round_trip_is_the_telephone_channel():
    rng = np.random.default_rng(2)
    x = (rng.standard_normal(8000) * 0.1).astype(np.float32)
    y = mulaw_round_trip(x)
    assert y.dtype == np.float32 and y.shape == x.shape
    snr = 10 * np.log10(np.sum(x**2) / np.sum((x - y) ** 2))
    assert 30 < snr < 45  # G.711's ~38 dB, not lossless
    assert np.array_equal(mulaw_round_trip(y), y)  # decoded values are fixed points


@pytest.mark.parametrize(
    ("codec", "bits", "payload", "expected"),
    [
        (1, 8, bytes([128, 255, 0]), [0, 127 / 128, -1]),
        (1, 24, b"\x00\x00\x40" + b"\x00\x00\x80", [0.5, -1]),
        (1, 32, np.array([2**30, -(2**31)], dtype="<i4").tobytes(), [0.5, -1]),
        (3, 32, np.array([0.25, -2.0], dtype="<f4").tobytes(), [0.25, -1]),
        (3, 64, np.array([0.25, -0.5], dtype="<f8").tobytes(), [0.25, -0.5]),
    ],
)
def test_it_accepts_other_pcm_widths_and_float(codec, bits, payload, expected):
    audio = decode_wav(wav(fmt_chunk(codec=codec, bits=bits), data_chunk(payload)))
    assert np.allclose(audio.samples, expected)


def test_it_reads_wave_format_extensible():
    subformat = struct.pack("<H", 1) + b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
    extra = struct.pack("<HHI", 22, 16, 0x3) + subformat
    data = wav(fmt_chunk(codec=0xFFFE, channels=2, extra=extra), data_chunk(pcm16([1, 2, 3, 4])))
    assert np.allclose(decode_wav(data, channel=1).samples * 32768, [2, 4])


def test_it_skips_other_chunks_and_their_padding():
    data = wav(b"LIST" + struct.pack("<I", 3) + b"abc\x00", fmt_chunk(), data_chunk(pcm16([5, 6])))
    assert np.allclose(decode_wav(data).samples * 32768, [5, 6])


@pytest.mark.parametrize("size", [0, 0xFFFFFFFF])
def test_a_streamed_wav_with_unknown_length_runs_to_the_end_of_the_file(size):
    payload = pcm16([1, 2, 3]) + b"\x07"  # a recorder cut off mid-sample
    audio = decode_wav(wav(fmt_chunk(), data_chunk(payload, size=size)))
    assert np.allclose(audio.samples * 32768, [1, 2, 3])


@pytest.mark.parametrize("rate", [8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 47975, 48000])
def test_to_canonical_gives_8_khz(rate):
    x = np.sin(2 * np.pi * 440 * np.arange(rate) / rate) * 0.5
    canonical = to_canonical(decode_wav(encode_wav(x, rate)))
    assert canonical.dtype == np.float32
    assert abs(len(canonical) - CANONICAL_RATE) <= 1
    assert abs(np.max(np.abs(canonical[1000:-1000])) - 0.5) < 0.01


def test_to_canonical_leaves_8_khz_alone():
    samples = np.linspace(-1, 1, 50, dtype=np.float32)
    assert np.array_equal(to_canonical(Audio(samples, 8000)), samples)


def test_raw_pcm_chunks():
    audio = decode_pcm_s16le(pcm16([0, -16384, 32767]))
    assert audio.sample_rate == 8000
    assert np.allclose(audio.samples, [0, -0.5, 32767 / 32768])
    assert decode_pcm_s16le(pcm16([1]), sample_rate=16000).sample_rate == 16000


@pytest.mark.parametrize(
    ("data", "kwargs", "words"),
    [
        (b"", {}, "empty"),
        (b"\x00\x01\x02", {}, "even number of bytes"),
        (b"\x00" * 10, {"max_bytes": 8}, "over the 8-byte limit"),
        (b"\x00\x00", {"sample_rate": 4000}, "4000 Hz"),
    ],
)
def test_raw_pcm_errors(data, kwargs, words):
    with pytest.raises(AudioError, match=words):
        decode_pcm_s16le(data, **kwargs)


def test_it_reads_real_devset_speech():
    if LIBRISPEECH is None:
        pytest.skip("../shared/audio/devset is absent: no librispeech WAV to read")
    path = sorted(LIBRISPEECH.glob("*/*.wav"))[0]
    audio = decode_wav(path.read_bytes())
    assert audio.sample_rate == 8000
    assert 2 < audio.seconds < 40
    assert 0.01 < np.sqrt(np.mean(audio.samples**2)) < 0.5


# ---------------------------------------------------------------- refusing the rest, saying why


def test_errors_are_one_sentence_naming_what_is_accepted():
    with pytest.raises(AudioError) as info:
        decode_wav(b"")
    assert str(info.value) == f"the audio is empty; {ACCEPTED}."
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"ID3\x04\x00" + b"\x00" * 40, "MP3"),
        (b"\xff\xfb\x90\x64" + b"\x00" * 40, "MP3"),
        (b"fLaC" + b"\x00" * 40, "FLAC"),
        (b"OggS" + b"\x00" * 40, "Ogg"),
        (b"\x00\x00\x00\x20ftypM4A " + b"\x00" * 40, "MP4"),
        (b"RIFF\x10\x00\x00\x00AVI LIST" + b"\x00" * 40, "not WAVE"),
        (b"hello, this is text" * 3, "not a WAV file"),
    ],
)
def test_it_names_what_a_non_wav_upload_looks_like(data, words):
    assert words in problem(data)


def test_empty_and_oversized_files():
    assert problem(b"") == "the audio is empty"
    data = encode_wav(np.zeros(100), 8000)
    assert "over the 100-byte limit" in problem(data, max_bytes=100)
    assert MAX_AUDIO_BYTES == 20 * 1024 * 1024


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"RIFF", "truncated"),
        (b"RIFF\x24\x00\x00\x00WAVE", "no fmt chunk"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00", "truncated inside its 'fmt '"),
        (wav(fmt_chunk()), "no data chunk"),
        (wav(data_chunk(pcm16([1])), fmt_chunk()), "data chunk comes before its fmt chunk"),
        (wav(fmt_chunk(), data_chunk(pcm16([1, 2]), size=400)), "claims 400 bytes but only 4 are present"),
        (wav(fmt_chunk(), data_chunk(b"\x00\x00\x00", size=3)), "not a whole number of 2-byte sample frames"),
        (wav(fmt_chunk(), data_chunk(b"")), "zero samples"),
        (wav(b"fmt \x08\x00\x00\x00" + b"\x00" * 8, data_chunk(pcm16([1]))), "shorter than the 16"),
    ],
)
def test_it_refuses_truncated_or_lying_headers(data, words):
    assert words in problem(data)


@pytest.mark.parametrize(
    ("fmt", "words"),
    [
        (fmt_chunk(codec=2, bits=4, block_align=256), "Microsoft ADPCM codec"),
        (fmt_chunk(codec=0x31, bits=0, block_align=65), "GSM 6.10 codec"),
        (fmt_chunk(codec=0x55, bits=0, block_align=1), "MP3 codec"),
        (fmt_chunk(codec=0x1234), "WAV format tag 0x1234 codec"),
        (fmt_chunk(bits=12), "12-bit PCM"),
        (fmt_chunk(codec=7, bits=16), "16-bit mu-law"),
        (fmt_chunk(channels=3), "3 channels"),
        (fmt_chunk(channels=0, block_align=0), "0 channels"),
        (fmt_chunk(rate=4000), "4000 Hz"),
        (fmt_chunk(rate=96000), "96000 Hz"),
        (fmt_chunk(rate=47981), "47981 Hz, which does not convert to 8000 Hz in a small ratio"),
        (fmt_chunk(block_align=4), "block align 4"),
    ],
)
def test_it_refuses_formats_it_cannot_decode_and_names_them(fmt, words):
    assert words in problem(wav(fmt, data_chunk(pcm16([1, 2, 3, 4]))))


def test_it_refuses_a_channel_the_file_does_not_have():
    mono = encode_wav(np.zeros(10), 8000)
    assert "channel 1 was requested but the WAV has 1 channel(s)" in problem(mono, channel=1)
    stereo = encode_wav(np.zeros((10, 2)), 8000, channels=2)
    assert "channel 2" in problem(stereo, channel=2)


def test_encode_wav_rejects_what_it_cannot_write():
    with pytest.raises(ValueError, match="encoding"):
        encode_wav(np.zeros(4), 8000, encoding="mp3")
    with pytest.raises(ValueError, match="channels"):
        encode_wav(np.zeros((4, 2)), 8000)
