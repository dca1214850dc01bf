"""Voiceprints of the trial utterances, computed the way a streamed call computes them, and cached.

Each utterance's clips are decoded, optionally passed through a G.711 mu-law round trip (the telephone
channel, applied before anything else as a phone line would), and pushed in order into one
`engine.CallStream`, the production path, until its VAD has counted the utterance's net speech. Vectors
are cached under var/accuracy-cache/, keyed by the engine's behaviour on a probe clip and by the
utterance, so a re-run only embeds what changed.
"""

from __future__ import annotations

import functools
import hashlib
import json
import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.pool import Pool
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from scripts.accuracy.trials import Utterance

if TYPE_CHECKING:
    from voiceprints.engine import CallStream

REPO = Path(__file__).resolve().parents[2]
CACHE_DIR = REPO / "var" / "accuracy-cache"
CHUNK = 800  # 0.1 s at 8 kHz: the most net speech an utterance can overshoot its length by


@dataclass(frozen=True)
class Condition:
    name: str
    codec: str  # "pcm16" (as recorded) or "ulaw" (G.711 mu-law round trip of every clip)
    vad: str | None = None  # None: the engine's default detector


# Cache validity is judged by behaviour, not by source: the engine embeds this probe under the condition
# and the cache is kept while the result is unchanged, so edits that do not change voiceprints cost nothing.
PROBE = Utterance("probe", "test", 5.0, "librispeech/ls_367", -1, ("librispeech/ls_367/367-130732-0000.wav",))


@functools.cache
def engine_fingerprint(devset: Path, condition: Condition) -> str:
    """A digest of what the engine makes of the probe under this condition (rounded to 1e-3)."""
    vector, seconds = embed_utterance(devset, condition, PROBE)
    probe = json.dumps([condition.codec, condition.vad, round(seconds, 3), np.round(vector, 3).tolist()])
    return hashlib.sha256(probe.encode()).hexdigest()


def utterance_key(fingerprint: str, utterance: Utterance) -> str:
    """Cache key: the condition's engine fingerprint (which includes codec and VAD) plus the utterance."""
    text = json.dumps([fingerprint, utterance.seconds, utterance.clips])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def load_clip(devset: Path, clip: str, codec: str) -> np.ndarray:
    from voiceprints import audio

    samples = audio.to_canonical(audio.decode_wav((devset / clip).read_bytes()))
    return audio.mulaw_round_trip(samples) if codec == "ulaw" else samples


def _new_stream(vad_kind: str | None) -> CallStream:
    from voiceprints import audio, engine, vad
    from voiceprints.embedder import MODEL_RATE
    from voiceprints.resample import StreamResampler

    if vad_kind is None:
        return engine.CallStream.new()
    return engine.CallStream(
        vad.SpeechDetector(kind=vad_kind),
        StreamResampler(audio.CANONICAL_RATE, MODEL_RATE),
        engine.encoder().stream(),
    )


def _vector(stream: CallStream) -> np.ndarray | None:
    # CallStream.voiceprint() also computes cohort statistics, which need the committed cohort; the cohort
    # is built from these very vectors, so the raw vector is taken from the stream's embedding.
    if hasattr(stream, "vector"):
        return stream.vector()
    return stream.vector()


def embed_utterance(devset: Path, condition: Condition, utterance: Utterance) -> tuple[np.ndarray, float]:
    """(unit voiceprint, net speech seconds it holds) of one utterance."""
    stream = _new_stream(condition.vad)
    for clip in utterance.clips:
        samples = load_clip(devset, clip, condition.codec)
        if not utterance.seconds:
            stream.append(samples)
            continue
        if utterance.seconds - stream.speech_seconds > len(samples) / 8000 + 0.2:
            stream.append(samples)  # cannot reach the length within this clip: skip the chunking
            continue
        for start in range(0, len(samples), CHUNK):
            stream.append(samples[start : start + CHUNK])
            if stream.speech_seconds >= utterance.seconds:
                break
        if stream.speech_seconds >= utterance.seconds:
            break
    vector = _vector(stream)
    if vector is None:
        raise ValueError(f"{utterance.id}: no speech found in {utterance.clips}")
    return np.asarray(vector, np.float32), float(stream.speech_seconds)


def clip_speech_seconds(devset: Path, clip: str, vad_kind: str | None = None) -> float:
    """Net speech of one clip as recorded, by the engine's VAD (what the trial design counts)."""
    from voiceprints import vad

    detector = vad.SpeechDetector() if vad_kind is None else vad.SpeechDetector(kind=vad_kind)
    detector.push(load_clip(devset, clip, "pcm16"))
    return float(detector.speech_seconds)


def _job(args: tuple[Path, Condition, Utterance]) -> tuple[str, np.ndarray, float]:
    devset, condition, utterance = args
    vector, seconds = embed_utterance(devset, condition, utterance)
    return utterance.id, vector, seconds


def _speech_job(args: tuple[Path, str, str | None]) -> tuple[str, float]:
    devset, clip, vad_kind = args
    return clip, clip_speech_seconds(devset, clip, vad_kind)


def _pool_map[T](function: Callable[[Any], T], jobs: Sequence[Any], workers: int) -> Iterable[T]:
    """map() over two worker processes (fork: they inherit the loaded encoder); in-process when small."""
    if workers <= 1 or len(jobs) < 8:
        return map(function, jobs)
    pool = multiprocessing.get_context("fork").Pool(workers)
    return _closing(pool, pool.imap(function, jobs, chunksize=4))


def _closing[T](pool: Pool, results: Iterable[T]) -> Iterator[T]:
    try:
        yield from results
    finally:
        pool.close()
        pool.join()


def speech_seconds(
    devset: Path, clips: Sequence[str], vad_kind: str | None, workers: int
) -> dict[str, float]:
    """Net speech of every clip, cached like the vectors."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    fingerprint = engine_fingerprint(devset, Condition("speech", "pcm16", vad_kind))
    key = hashlib.sha256(json.dumps([fingerprint, vad_kind]).encode()).hexdigest()[:16]
    path = CACHE_DIR / f"speech-{key}.json"
    known: dict[str, float] = json.loads(path.read_text()) if path.exists() else {}
    todo = [c for c in clips if c not in known]
    known.update(_pool_map(_speech_job, [(devset, c, vad_kind) for c in todo], workers))
    if todo:
        path.write_text(json.dumps(known, sort_keys=True))
    return {c: known[c] for c in clips}


def embed_all(
    devset: Path,
    condition: Condition,
    utterances: Sequence[Utterance],
    workers: int,
    log: Callable[[str], None] = print,
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Vectors and net speech of every utterance under one condition, from the cache where possible."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    fingerprint = engine_fingerprint(devset, condition)
    path = CACHE_DIR / f"vectors-{condition.name}.npz"
    cached: dict[str, tuple[np.ndarray, float]] = {}
    if path.exists():
        with np.load(path, allow_pickle=False) as data:
            for key, vector, seconds in zip(data["keys"], data["vectors"], data["seconds"], strict=True):
                cached[str(key)] = (vector, float(seconds))
    keys = {u.id: utterance_key(fingerprint, u) for u in utterances}
    todo = [u for u in utterances if keys[u.id] not in cached]
    if todo:
        log(f"  {condition.name}: embedding {len(todo)} of {len(utterances)} utterances")
        for done, (uid, vector, seconds) in enumerate(
            _pool_map(_job, [(devset, condition, u) for u in todo], workers), 1
        ):
            cached[keys[uid]] = (vector, seconds)
            if done % 200 == 0:
                log(f"    {done}/{len(todo)}")
        wanted = {keys[u.id] for u in utterances}
        kept = sorted(k for k in cached if k in wanted)
        np.savez(
            path,
            keys=np.array(kept),
            vectors=np.stack([cached[k][0] for k in kept]),
            seconds=np.array([cached[k][1] for k in kept]),
        )
    vectors = {u.id: cached[keys[u.id]][0] for u in utterances}
    seconds = {u.id: cached[keys[u.id]][1] for u in utterances}
    return vectors, seconds


def default_workers() -> int:
    """Two processes at most: the machine this was written for has two cores."""
    return max(1, min(2, os.cpu_count() or 1))
