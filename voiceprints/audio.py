"""Audio input: WAV (PCM, G.711 mu-law/A-law) and raw PCM-16LE in, 8 kHz mono float32 out.

Voice ID took 8 kHz telephone audio, so that is the canonical form every other part of the engine sees.
Anything we cannot decode is refused with one sentence that says what was wrong and what is accepted, because
the caller is usually a contact-centre integration that can only act on the message text.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from voiceprints import resample as resampling
from voiceprints.resample import resample

CANONICAL_RATE = 8000  # telephone band, Voice ID's format
MAX_AUDIO_BYTES = 20 * 1024 * 1024  # Voice ID's per-file limit
MIN_RATE, MAX_RATE = 8000, 48000

# Raw PCM is not in it: only a live call's PutSessionAudio takes that, and says so itself (calls/services.py).
ACCEPTED = (
    "accepted: WAV (RIFF/WAVE) with 16-bit PCM (also 8/24/32-bit PCM and 32-bit float), "
    "G.711 mu-law or A-law, mono or stereo, 8000-48000 Hz (the usual rates, or any multiple of 25 Hz)"
)

_PCM, _FLOAT, _ALAW, _MULAW, _EXTENSIBLE = 0x0001, 0x0003, 0x0006, 0x0007, 0xFFFE
# Codecs people actually send, so the error can name them instead of printing a number.
_CODEC_NAMES = {
    0x0002: "Microsoft ADPCM",
    0x0011: "IMA ADPCM",
    0x0031: "GSM 6.10",
    0x0040: "G.721 ADPCM",
    0x0042: "G.723.1",
    0x0045: "G.726 ADPCM",
    0x0050: "MPEG audio",
    0x0055: "MP3",
    0x0064: "G.726 ADPCM",
    0x0065: "G.722 ADPCM",
    0x00FF: "AAC",
    0x1610: "AAC",
    0x6750: "Vorbis",
    0xF1AC: "FLAC",
}
_STREAMING_SIZES = (0, 0xFFFFFFFF)  # data size a live recorder writes before it knows the length


class AudioError(ValueError):
    """str(err) is one sentence: what was wrong with the audio and what is accepted."""

    def __init__(self, problem: str) -> None:
        super().__init__(f"{problem}; {ACCEPTED}.")
        self.problem = problem


# Frozen for safety; eq=False because comparing or hashing numpy arrays field-wise is meaningless.
@dataclass(frozen=True, eq=False)
class Audio:
    samples: np.ndarray  # float32, mono, in [-1, 1]
    sample_rate: int

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.sample_rate


# ---------------------------------------------------------------- G.711 (ITU-T G.711; Sun's reference code)


def _ulaw_decode_table() -> np.ndarray:
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    t = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4)
    return np.where(u & 0x80, 0x84 - t, t - 0x84).astype(np.int16)


def _alaw_decode_table() -> np.ndarray:
    a = np.arange(256, dtype=np.int32) ^ 0x55
    seg = (a & 0x70) >> 4
    t = (a & 0x0F) << 4
    t = np.where(seg == 0, t + 8, (t + 0x108) << np.maximum(seg - 1, 0))
    return np.where(a & 0x80, t, -t).astype(np.int16)


def _segment(value: np.ndarray, ends: list[int]) -> np.ndarray:
    return np.searchsorted(np.asarray(ends), value, side="left")


def _ulaw_encode_table() -> np.ndarray:
    """Code for every int16 value (index = value + 32768)."""
    pcm = np.arange(-32768, 32768, dtype=np.int32) >> 2  # 14-bit
    mask = np.where(pcm < 0, 0x7F, 0xFF)
    mag = np.minimum(np.abs(pcm), 8159) + 0x21
    seg = _segment(mag, [0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
    code = (seg << 4) | ((mag >> (seg + 1)) & 0x0F)
    return (np.where(seg >= 8, 0x7F, code) ^ mask).astype(np.uint8)


def _alaw_encode_table() -> np.ndarray:
    pcm = np.arange(-32768, 32768, dtype=np.int32) >> 3  # 13-bit
    mask = np.where(pcm >= 0, 0xD5, 0x55)
    mag = np.where(pcm >= 0, pcm, -pcm - 1)
    seg = _segment(mag, [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])
    code = (seg << 4) | np.where(seg < 2, (mag >> 1) & 0x0F, (mag >> np.maximum(seg, 1)) & 0x0F)
    return (np.where(seg >= 8, 0x7F, code) ^ mask).astype(np.uint8)


ULAW_DECODE = _ulaw_decode_table()
ALAW_DECODE = _alaw_decode_table()
_ULAW_ENCODE = _ulaw_encode_table()
_ALAW_ENCODE = _alaw_encode_table()
_ULAW_FLOAT = (ULAW_DECODE / 32768.0).astype(np.float32)
_ALAW_FLOAT = (ALAW_DECODE / 32768.0).astype(np.float32)


def _to_int16(samples: np.ndarray) -> np.ndarray:
    return np.clip(np.round(np.asarray(samples, dtype=np.float64) * 32768.0), -32768, 32767).astype(np.int16)


def pcm16_bytes(samples: np.ndarray) -> bytes:
    """Float samples as 16-bit little-endian PCM: how audio is stored, and what PCM_S16LE_8000 carries."""
    return _to_int16(samples).astype("<i2").tobytes()


def pcm16_samples(data: bytes) -> np.ndarray:
    """The inverse of `pcm16_bytes` for audio voiceid stored itself (no size limit: a call may be long)."""
    return np.frombuffer(data, dtype="<i2").astype(np.float32) / np.float32(32768.0)


def mulaw_round_trip(samples: np.ndarray) -> np.ndarray:
    """float -> G.711 mu-law bytes -> float: a first approximation of the telephone channel."""
    codes = _ULAW_ENCODE[_to_int16(samples).astype(np.int32) + 32768]
    return _ULAW_FLOAT[codes]


# ---------------------------------------------------------------- decoding


def _sniff(data: bytes) -> str:
    """Name what a non-WAV upload looks like, for the error message."""
    if data[:3] == b"ID3" or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0):
        return "this looks like MP3, not WAV"
    for magic, name in (
        (b"fLaC", "FLAC"),
        (b"OggS", "Ogg"),
        (b"RIFX", "big-endian WAV (RIFX)"),
        (b"RF64", "RF64 WAV"),
        (b"FORM", "AIFF"),
        (b".snd", "Sun/NeXT AU"),
    ):
        if data.startswith(magic):
            return f"this looks like {name}, not WAV"
    if data[4:8] == b"ftyp":
        return "this looks like MP4/M4A, not WAV"
    if data.startswith(b"RIFF"):
        return f"this is a RIFF file of type {data[8:12]!r}, not WAVE"
    return "this is not a WAV file (no RIFF/WAVE header)"


def _check_size(data: bytes, max_bytes: int) -> None:
    if not data:
        raise AudioError("the audio is empty")
    if len(data) > max_bytes:
        raise AudioError(f"the audio is {len(data):,} bytes, over the {max_bytes:,}-byte limit")


def _check_rate(rate: int) -> None:
    if not MIN_RATE <= rate <= MAX_RATE:
        raise AudioError(f"the sample rate is {rate} Hz, outside {MIN_RATE}-{MAX_RATE} Hz")
    if resampling.phases(rate, CANONICAL_RATE) > resampling.MAX_PHASES:
        raise AudioError(
            f"the sample rate is {rate} Hz, which does not convert to {CANONICAL_RATE} Hz in a small ratio: "
            "use a usual rate (8000, 11025, 16000, 22050, 32000, 44100, 48000 Hz ...) or any multiple of 25 Hz"
        )


@dataclass(frozen=True)
class _Format:
    codec: int
    channels: int
    rate: int
    block_align: int
    bits: int


def _parse_fmt(body: bytes) -> _Format:
    if len(body) < 16:
        raise AudioError(f"the WAV fmt chunk is {len(body)} bytes, shorter than the 16 it must have")
    codec, channels, rate, _byte_rate, block_align, bits = struct.unpack("<HHIIHH", body[:16])
    if codec == _EXTENSIBLE:
        if len(body) < 40:
            raise AudioError(
                "the WAV fmt chunk says WAVE_FORMAT_EXTENSIBLE but is too short to name the codec"
            )
        codec = struct.unpack("<H", body[24:26])[0]  # first two bytes of the SubFormat GUID
    return _Format(codec, channels, rate, block_align, bits)


def _codec_name(fmt: _Format) -> str:
    return _CODEC_NAMES.get(fmt.codec, f"WAV format tag 0x{fmt.codec:04X}")


def _check_format(fmt: _Format) -> None:
    supported = {_PCM: (8, 16, 24, 32), _FLOAT: (32, 64), _MULAW: (8,), _ALAW: (8,)}
    if fmt.codec not in supported:
        raise AudioError(f"the WAV uses the {_codec_name(fmt)} codec, which is not supported")
    if fmt.bits not in supported[fmt.codec]:
        kind = {_PCM: "PCM", _FLOAT: "float", _MULAW: "mu-law", _ALAW: "A-law"}[fmt.codec]
        raise AudioError(f"the WAV is {fmt.bits}-bit {kind}, which is not supported")
    if fmt.channels == 0 or fmt.channels > 2:
        raise AudioError(f"the WAV has {fmt.channels} channels, not 1 or 2")
    _check_rate(fmt.rate)
    if fmt.block_align != fmt.channels * fmt.bits // 8:
        raise AudioError(
            f"the WAV header is inconsistent: block align {fmt.block_align} for "
            f"{fmt.channels} channel(s) of {fmt.bits}-bit samples"
        )


def _samples(payload: bytes, fmt: _Format, channel: int) -> np.ndarray:
    width = fmt.bits // 8
    frames = len(payload) // fmt.block_align
    raw = np.frombuffer(payload, dtype=np.uint8, count=frames * fmt.block_align)
    raw = raw.reshape(frames, fmt.channels, width)[:, channel, :]
    if fmt.codec == _MULAW:
        return _ULAW_FLOAT[raw[:, 0]]
    if fmt.codec == _ALAW:
        return _ALAW_FLOAT[raw[:, 0]]
    if fmt.codec == _FLOAT:
        values = np.ascontiguousarray(raw).view("<f4" if width == 4 else "<f8")[:, 0]
        return np.clip(np.nan_to_num(values), -1.0, 1.0).astype(np.float32)
    if width == 1:  # 8-bit WAV is unsigned
        return ((raw[:, 0].astype(np.float32) - 128.0) / 128.0).astype(np.float32)
    if width == 2:
        return np.ascontiguousarray(raw).view("<i2")[:, 0].astype(np.float32) / np.float32(32768.0)
    if width == 3:
        padded = np.zeros((frames, 4), dtype=np.uint8)
        padded[:, 1:] = raw  # place 24 bits in the top of an int32 so the sign comes along
        return (padded.view("<i4")[:, 0] / 2147483648.0).astype(np.float32)
    return (np.ascontiguousarray(raw).view("<i4")[:, 0] / 2147483648.0).astype(np.float32)


def decode_wav(data: bytes, *, channel: int = 0, max_bytes: int = MAX_AUDIO_BYTES) -> Audio:
    """Decode one WAV file to float32 mono at its own rate; channel 0/1 picks one side of a stereo call."""
    _check_size(data, max_bytes)
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        if len(data) < 12 and b"RIFF".startswith(data[:4]):
            raise AudioError(f"the WAV header is truncated ({len(data)} bytes)")
        raise AudioError(_sniff(data))
    fmt: _Format | None = None
    payload: bytes | None = None
    pos = 12
    while pos + 8 <= len(data):
        chunk_id, size = struct.unpack("<4sI", data[pos : pos + 8])
        body_start = pos + 8
        if chunk_id == b"data":
            if fmt is None:
                raise AudioError("the WAV data chunk comes before its fmt chunk")
            if size in _STREAMING_SIZES:
                # A recorder that never went back to fill in the size: the samples run to the end of the file,
                # and a cut-off last frame is expected, so keep only whole frames.
                body = data[body_start:]
                payload = body[: len(body) - len(body) % fmt.block_align]
            else:
                if body_start + size > len(data):
                    raise AudioError(
                        f"the WAV is truncated: its data chunk claims {size:,} bytes "
                        f"but only {len(data) - body_start:,} are present"
                    )
                if size % fmt.block_align:
                    raise AudioError(
                        f"the WAV data chunk is {size:,} bytes, not a whole number of "
                        f"{fmt.block_align}-byte sample frames"
                    )
                payload = data[body_start : body_start + size]
            break
        if body_start + size > len(data):
            raise AudioError(f"the WAV is truncated inside its {chunk_id.decode('latin-1')!r} chunk")
        if chunk_id == b"fmt ":
            fmt = _parse_fmt(data[body_start : body_start + size])
            _check_format(fmt)
        pos = body_start + size + (size & 1)  # chunks are padded to an even length
    if fmt is None:
        raise AudioError("the WAV has no fmt chunk (the header is truncated or damaged)")
    if payload is None:
        raise AudioError("the WAV has no data chunk (the file is truncated or damaged)")
    if channel not in (0, 1) or channel >= fmt.channels:
        raise AudioError(
            f"channel {channel} was requested but the WAV has {fmt.channels} channel(s) (use 0 or, for stereo, 1)"
        )
    if not payload:
        raise AudioError("the WAV contains zero samples")
    return Audio(_samples(payload, fmt, channel), fmt.rate)


def decode_pcm_s16le(data: bytes, *, sample_rate: int = 8000, max_bytes: int = MAX_AUDIO_BYTES) -> Audio:
    """Decode headerless 16-bit little-endian mono PCM (the live-stream chunk format)."""
    _check_size(data, max_bytes)
    _check_rate(sample_rate)
    if len(data) % 2:
        raise AudioError(f"raw PCM-16 audio must have an even number of bytes, got {len(data):,}")
    return Audio(pcm16_samples(data), sample_rate)


def to_canonical(audio: Audio) -> np.ndarray:
    """float32 mono at CANONICAL_RATE."""
    if audio.sample_rate == CANONICAL_RATE:
        return np.asarray(audio.samples, dtype=np.float32)
    return resample(audio.samples, audio.sample_rate, CANONICAL_RATE)


# ---------------------------------------------------------------- encoding


def encode_wav(samples: np.ndarray, sample_rate: int, *, encoding: str = "pcm16", channels: int = 1) -> bytes:
    """Write float samples in [-1, 1], shape (n,) or (n, channels), as a WAV file."""
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[1] != channels or channels not in (1, 2):
        raise ValueError(f"samples of shape {np.shape(samples)} do not match channels={channels} (1 or 2)")
    pcm = _to_int16(x).reshape(-1)  # interleaved
    if encoding == "pcm16":
        codec, bits, payload = _PCM, 16, pcm.astype("<i2").tobytes()
    elif encoding in ("ulaw", "alaw"):
        table = _ULAW_ENCODE if encoding == "ulaw" else _ALAW_ENCODE
        codec, bits, payload = (
            (_MULAW if encoding == "ulaw" else _ALAW),
            8,
            table[pcm.astype(np.int32) + 32768].tobytes(),
        )
    else:
        raise ValueError(f"encoding must be 'pcm16', 'ulaw' or 'alaw', got {encoding!r}")
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", codec, channels, sample_rate, sample_rate * block, block, bits)
    chunks = b"fmt " + struct.pack("<I", 16) + fmt
    if codec != _PCM:
        # Non-PCM WAVs carry cbSize and a fact chunk (sample count), as sox and Windows write them.
        chunks = b"fmt " + struct.pack("<I", 18) + fmt + b"\0\0"
        chunks += b"fact" + struct.pack("<II", 4, len(x))
    chunks += b"data" + struct.pack("<I", len(payload)) + payload + (b"\0" if len(payload) & 1 else b"")
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks
