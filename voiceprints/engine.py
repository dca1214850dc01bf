"""The engine's front: audio in, voiceprints and 0-100 scores out. The only module the Django apps import.

Every path goes through the same pipeline, so a voiceprint built from a batch file, from a call streamed in
0.25 s chunks, or rebuilt from retained audio is the same voiceprint:

    bytes --decode--> samples at any rate --to_canonical--> 8 kHz float32
          --SpeechDetector--> speech only --StreamResampler--> 16 kHz --EmbeddingStream--> unit vector

A `CallStream` carries the state of all three streaming stages between requests (`to_bytes` / `from_bytes`);
its size stays bounded however long the call. Scores are cohort-normalised (voiceprints.scoring), so a
`Voiceprint` carries its own statistics against the cohort, computed once when it is built.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

import numpy as np

from voiceprints import audio, scoring, vad
from voiceprints.embedder import MODEL_RATE, SpeakerEncoder, load_encoder
from voiceprints.resample import StreamResampler

AUDIO_FORMATS = ("PCM_S16LE_8000", "WAV")
# The energy detector's state survives to_bytes/from_bytes exactly, so a call streamed in chunks and the
# same audio in one piece give the same voiceprint. WebRTC's cannot be saved (it is replayed from the
# last 2 s), which moves net speech by up to ~1% per request: an option, not the default.
DEFAULT_VAD = "energy"


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
                "ChannelId 1 was given for PCM_S16LE_8000 audio, which is mono: send ChannelId 0 or omit it."
            )
        return audio.to_canonical(audio.decode_pcm_s16le(data))
    if audio_format == "WAV":
        return audio.to_canonical(audio.decode_wav(data, channel=channel))
    raise audio.AudioError(
        f"AudioFormat {audio_format!r} is not supported: use one of {', '.join(AUDIO_FORMATS)}."
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
        with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
            parts: dict[str, dict[str, np.ndarray]] = {"vad": {}, "resampler": {}, "embedding": {}}
            for key in arrays.files:
                part, _, name = key.partition(".")
                parts[part][name] = arrays[key]
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
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        return buffer.getvalue()

    def append(self, samples: np.ndarray) -> None:
        """More canonical (8 kHz) audio of the call, in arrival order."""
        speech = self._detector.push(samples)
        if len(speech):
            self._embedding.append(self._resampler.process(speech))  # type: ignore[attr-defined]

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
    stream.append(samples)
    return stream.voiceprint()


def authentication_score(enrolled: Voiceprint, caller: Voiceprint) -> int:
    """0-100: how surely the caller is the enrolled speaker; ACCEPT at or above AcceptanceThreshold."""
    cosine = float(np.dot(enrolled.vector, caller.vector))
    return scoring.authentication_score(cosine, enrolled.cohort, caller.cohort)
