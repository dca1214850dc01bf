"""The engine's front: audio in, voiceprints and 0-100 scores out. The only module the Django apps import.

Every path goes through the same pipeline, so a voiceprint built from a batch file, from a call streamed in
0.25 s chunks, or rebuilt from retained audio is the same voiceprint:

    bytes --decode--> samples at any rate --to_canonical--> 8 kHz float32
          --SpeechDetector--> speech only --StreamResampler--> 16 kHz --EmbeddingStream--> unit vector

A `CallStream` carries the state of all three streaming stages between requests (`to_bytes` / `from_bytes`,
a plain binary layout: a call saves and restores it around every chunk); its size stays bounded however long
the call. Scores are cohort-normalised (voiceprints.scoring), so a
`Voiceprint` carries its own statistics against the cohort, computed once when it is built.
"""

from __future__ import annotations

import functools
import io
import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from voiceprints import audio, scoring, vad
from voiceprints.embedder import MODEL_RATE, SpeakerEncoder, load_encoder
from voiceprints.resample import StreamResampler

AUDIO_FORMATS = ("PCM_S16LE_8000", "WAV")
# The energy detector's state survives to_bytes/from_bytes exactly, so a call streamed in chunks and the
# same audio in one piece give the same voiceprint. WebRTC's cannot be saved (it is replayed from the
# last 2 s), which moves net speech by up to ~1% per request: an option, not the default.
DEFAULT_VAD = "energy"

# CallStream.to_bytes layout, version 1: magic and version, the number of arrays, then per array its name
# ("<stage>.<name>"), numpy dtype string, shape and raw bytes. np.savez wrote the same arrays as a zip of .npy
# files, which cost ~2 ms a save and a load; states saved that way (they start with b"PK") still load.
_STATE_MAGIC = b"VIDS"
_STATE_VERSION = 1
_STATE_HEADER = struct.Struct("<4sHH")  # magic, version, array count
_ARRAY_HEADER = struct.Struct("<BBB")  # name length, dtype string length, number of dimensions
_DIMENSION = struct.Struct("<Q")
# Plain numbers, booleans and strings only: nothing that could make loading run code (no objects).
_STATE_KINDS = frozenset("biufU")


@dataclass(frozen=True)
class Voiceprint:
    vector: np.ndarray  # float32 unit vector
    cohort: scoring.CohortStats
    model_name: str
    speech_seconds: float

    _HEADER = struct.Struct("<HffI")  # dimension, cohort mean, cohort std, model-name length

    def pack(self) -> bytes:
        name = self.model_name.encode()
        header = self._HEADER.pack(len(self.vector), self.cohort.mean, self.cohort.std, len(name))
        return header + name + struct.pack("<f", self.speech_seconds) + self.vector.astype("<f4").tobytes()

    @classmethod
    def unpack(cls, data: bytes) -> Voiceprint:
        dimension, mean, std, name_length = cls._HEADER.unpack_from(data)
        offset = cls._HEADER.size
        name = data[offset : offset + name_length].decode()
        offset += name_length
        (speech_seconds,) = struct.unpack_from("<f", data, offset)
        offset += 4
        vector = np.frombuffer(data, dtype="<f4", count=dimension, offset=offset).astype(np.float32)
        return cls(vector, scoring.CohortStats(mean, std), name, float(speech_seconds))


def encoder() -> SpeakerEncoder:
    return load_encoder()


def decode(data: bytes, audio_format: str, *, channel: int = 0) -> np.ndarray:
    """Bytes as a request carries them -> canonical 8 kHz mono float32; AudioError says what is wrong."""
    if audio_format == "PCM_S16LE_8000":
        if channel:
            raise audio.AudioError(
                "ChannelId 1 was given for PCM_S16LE_8000 audio, which is mono: send ChannelId 0 or omit it"
            )
        return audio.to_canonical(audio.decode_pcm_s16le(data))
    if audio_format == "WAV":
        return audio.to_canonical(audio.decode_wav(data, channel=channel))
    raise audio.AudioError(
        f"AudioFormat {audio_format!r} is not supported: use one of {', '.join(AUDIO_FORMATS)}"
    )


def _voiceprint(vector: np.ndarray, speech_seconds: float) -> Voiceprint:
    return Voiceprint(vector, scoring.cohort_stats(vector), encoder().name, speech_seconds)


class CallStream:
    """The running state of one call's audio: net speech so far and the voiceprint of it."""

    def __init__(self, detector: vad.SpeechDetector, resampler: StreamResampler, embedding: object) -> None:
        self._detector = detector
        self._resampler = resampler
        self._embedding = embedding

    @classmethod
    def new(cls, *, vad_kind: str = DEFAULT_VAD) -> CallStream:
        return cls(
            vad.SpeechDetector(kind=vad_kind),
            StreamResampler(audio.CANONICAL_RATE, MODEL_RATE),
            encoder().stream(),
        )

    @classmethod
    def from_bytes(cls, data: bytes, *, vad_kind: str = DEFAULT_VAD) -> CallStream:
        """The stream saved by `to_bytes`, or a new one (with `vad_kind`) for empty data."""
        if not data:
            return cls.new(vad_kind=vad_kind)
        arrays = _unpack_npz(data) if data[:2] == b"PK" else _unpack_arrays(data)
        parts: dict[str, dict[str, np.ndarray]] = {"vad": {}, "resampler": {}, "embedding": {}}
        for key, value in arrays.items():
            part, _, name = key.partition(".")
            if part not in parts:
                raise ValueError(f"stream state has an unknown part {part!r}")
            parts[part][name] = value
        return cls(
            vad.SpeechDetector.from_state(parts["vad"]),
            StreamResampler.from_state(parts["resampler"]),
            encoder().stream_from_state(parts["embedding"]),
        )

    def to_bytes(self) -> bytes:
        arrays: dict[str, np.ndarray] = {}
        for part, state in (
            ("vad", self._detector.state()),
            ("resampler", self._resampler.state()),
            ("embedding", self._embedding.state()),  # type: ignore[attr-defined]
        ):
            arrays.update({f"{part}.{name}": np.asarray(value) for name, value in state.items()})
        return _pack_arrays(arrays)

    def append(self, samples: np.ndarray) -> None:
        """More canonical (8 kHz) audio of the call, in arrival order."""
        speech = self._detector.push(samples)
        if len(speech):
            self._embedding.append(self._resampler.process(speech))  # type: ignore[attr-defined]

    def extend(self, samples: np.ndarray) -> None:
        """Like `append`, for audio whose voiceprint is wanted once, at the end (a whole recording): the
        network then runs every window in one batch when `voiceprint` is asked for, which costs less."""
        speech = self._detector.push(samples)
        if len(speech):
            self._embedding.extend(self._resampler.process(speech))  # type: ignore[attr-defined]

    @property
    def speech_seconds(self) -> float:
        return float(self._detector.speech_seconds)

    def vector(self) -> np.ndarray | None:
        """The running unit vector alone, without cohort statistics (the cohort is built from these)."""
        return self._embedding.embedding()  # type: ignore[attr-defined,no-any-return]

    def voiceprint(self) -> Voiceprint | None:
        vector = self.vector()
        return None if vector is None else _voiceprint(vector, self.speech_seconds)


def voiceprint_of(samples: np.ndarray, *, vad_kind: str = DEFAULT_VAD) -> Voiceprint | None:
    """The voiceprint of a whole recording (canonical 8 kHz), exactly as a call streaming it would get."""
    stream = CallStream.new(vad_kind=vad_kind)
    stream.extend(samples)
    return stream.voiceprint()


def authentication_score(enrolled: Voiceprint, caller: Voiceprint) -> int:
    """0-100: how surely the caller is the enrolled speaker; ACCEPT at or above AcceptanceThreshold."""
    cosine = float(np.dot(enrolled.vector, caller.vector))
    return scoring.authentication_score(cosine, enrolled.cohort, caller.cohort)


def _pack_arrays(arrays: Mapping[str, np.ndarray]) -> bytes:
    parts = [_STATE_HEADER.pack(_STATE_MAGIC, _STATE_VERSION, len(arrays))]
    for name, value in arrays.items():
        array = np.asarray(value)  # not ascontiguousarray, which makes 0-d values 1-d; tobytes is C order
        if array.dtype.kind not in _STATE_KINDS:
            raise ValueError(f"stream state {name} has dtype {array.dtype}, which is not saved")
        array = array.astype(array.dtype.newbyteorder("<"), copy=False)
        key, dtype = name.encode(), array.dtype.str.encode()
        parts += [_ARRAY_HEADER.pack(len(key), len(dtype), array.ndim), key, dtype]
        parts += [_DIMENSION.pack(size) for size in array.shape]
        parts.append(array.tobytes())
    return b"".join(parts)


def _unpack_arrays(data: bytes) -> dict[str, np.ndarray]:
    """The arrays `_pack_arrays` wrote; ValueError for anything else (a truncated or foreign blob)."""
    try:
        magic, version, count = _STATE_HEADER.unpack_from(data)
        if magic != _STATE_MAGIC or version != _STATE_VERSION:
            raise ValueError(f"not a stream state of version {_STATE_VERSION}")
        offset, arrays = _STATE_HEADER.size, {}
        for _ in range(count):
            key_length, dtype_length, ndim = _ARRAY_HEADER.unpack_from(data, offset)
            offset += _ARRAY_HEADER.size
            name = data[offset : offset + key_length].decode()
            offset += key_length
            dtype = _state_dtype(data[offset : offset + dtype_length])
            offset += dtype_length
            shape = tuple(_DIMENSION.unpack_from(data, offset + 8 * axis)[0] for axis in range(ndim))
            offset += 8 * ndim
            count = math.prod(shape)
            if offset + count * dtype.itemsize > len(data):
                raise ValueError("stream state is truncated")
            arrays[name] = np.frombuffer(data, dtype, count=count, offset=offset).reshape(shape)
            offset += count * dtype.itemsize
    except (struct.error, UnicodeDecodeError, TypeError) as error:
        raise ValueError(f"stream state is damaged: {error}") from None
    if offset != len(data):
        raise ValueError("stream state has trailing bytes")
    return arrays


@functools.lru_cache(maxsize=64)
def _state_dtype(text: bytes) -> np.dtype[Any]:
    dtype = np.dtype(text.decode())
    if dtype.kind not in _STATE_KINDS or not dtype.itemsize:
        raise ValueError(f"stream state holds a {dtype} array")
    return dtype


def _unpack_npz(data: bytes) -> dict[str, np.ndarray]:
    """A state saved before version 1, by np.savez."""
    with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
        return {key: arrays[key] for key in arrays.files}
