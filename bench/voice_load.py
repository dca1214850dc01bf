"""What the voice group measures, apart from screening (voiceprints.index.bench_screening):

- `embed_step`: the engine's speed on one thread, run as `python -m bench.voice_load embed` with the BLAS
  thread variables set, since BLAS reads them once, when numpy is imported;
- `seed_step`: a domain holding the demo's enrolled callers and fraudster (voiceid_site.demo), run as
  `python -m bench.voice_load seed` with the environment of one database;
- `measure_evaluate`: EvaluateSession latency on one call over HTTP, cached and right after a new chunk;
- `run_calls`: many calls streaming in real time against the server, each polled for its results.

Every request is SigV4-signed once, before any timing starts, and replayed over keep-alive http.client
connections (bench/load.py says why: signing and boto3 would take the client's share of the 2 cores from
the server). A PutSessionAudio request carries its chunk in the signed body, so each chunk of each call is
signed ahead; an EvaluateSession request is the same every time and is signed once per call.

The streaming run is open-loop, like a phone line: each call sends a 0.25 s chunk every 250 ms by the wall
clock, whatever the server is doing, and a second client per call polls EvaluateSession once a second, as
Connect's streaming side and an agent application did. A slow server therefore shows up as lateness (the
client could not send a chunk when it was due because the previous one was still being answered), not as
fewer requests.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench import load, procfs
from bench.prepare import RESULT_PREFIX
from bench.targets import ROOT

DEMO_AUDIO = ROOT / "demo" / "librispeech"
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS")
# Calls of one voice start this far apart in its recordings, so they do not send the same audio in step;
# two offsets make 10 distinct streams, whose expected net speech the runner works out beforehand.
CALL_OFFSETS_SECONDS = (0.0, 30.0)
CHUNK_SECONDS = 0.25
CHUNK_SAMPLES = 2000  # 0.25 s at 8 kHz
AUDIO_FORMAT = "PCM_S16LE_8000"
_TIMEOUT_SECONDS = 30
_START_DELAY_SECONDS = 1.0  # between the last StartSession and the first chunk: every thread is waiting
_GONE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


@dataclass(frozen=True)
class Api:
    """One domain on one server, and the key requests are signed with."""

    host: str
    port: int
    access_key_id: str
    secret_access_key: str
    domain_id: str

    def sign(self, operation: str, **params: Any) -> load.SignedRequest:
        return load.sign(
            host=f"{self.host}:{self.port}",
            access_key_id=self.access_key_id,
            secret_access_key=self.secret_access_key,
            operation=operation,
            params={"DomainId": self.domain_id, **params},
        )

    def connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=_TIMEOUT_SECONDS)

    def put_audio(self, session_name: str, chunk: bytes) -> load.SignedRequest:
        audio = base64.b64encode(chunk).decode()
        return self.sign(
            "PutSessionAudio", SessionNameOrId=session_name, Audio=audio, AudioFormat=AUDIO_FORMAT
        )


def pcm_chunks(samples: np.ndarray) -> list[bytes]:
    """Canonical 8 kHz float samples as the 0.25 s PCM-16 chunks a call sends (a partial last chunk dropped)."""
    from voiceprints import audio

    pcm = audio.pcm16_bytes(samples)
    step = CHUNK_SAMPLES * 2
    return [pcm[start : start + step] for start in range(0, len(pcm) - step + 1, step)]


def send(conn: http.client.HTTPConnection, request: load.SignedRequest) -> tuple[int, bytes]:
    """(status, body) of one request on a keep-alive connection.

    gunicorn closes a connection idle past its keep-alive time before reading anything from it, so a
    request that meets a closed connection was never seen and is sent again on a new one (http.client
    reconnects by itself); a duplicated chunk would still show in the final AudioReceivedInSeconds.
    """
    for attempt in range(2):
        try:
            conn.request("POST", "/", body=request.body, headers=request.headers)
            response = conn.getresponse()
            return response.status, response.read()
        except _GONE:
            conn.close()
            if attempt:
                raise
    raise AssertionError("unreachable")


def call_ok(conn: http.client.HTTPConnection, request: load.SignedRequest) -> dict[str, Any]:
    status, data = send(conn, request)
    if status != 200:
        raise load.BadResponse(f"{request.operation} answered {status}: {data[:500]!r}")
    return json.loads(data)


def _timed(conn: http.client.HTTPConnection, request: load.SignedRequest) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    answer = call_ok(conn, request)
    return time.perf_counter() - started, answer


def _result_ids(answer: dict[str, Any]) -> tuple[str, str]:
    return (
        answer["AuthenticationResult"]["AuthenticationResultId"],
        answer["FraudDetectionResult"]["FraudDetectionResultId"],
    )


def measure_evaluate(api: Api, *, speaker_id: str, chunks: Sequence[bytes], count: int) -> dict[str, Any]:
    """EvaluateSession latencies (seconds) on one call, one client at a time.

    The call first streams until it has more net speech than an evaluation needs, so every evaluation
    below authenticates and screens for real. *cached*: evaluate again with no audio since the last
    evaluation (the stored result comes back). *after_audio*: put a 0.25 s chunk (timed as *put*), then evaluate
    (timed): the caller's voiceprint is finished from the call's stream state, scored against the
    claimed speaker and screened against the watchlist.
    """
    name = "bench-evaluate"
    conn = api.connect()
    try:
        started = call_ok(conn, api.sign("StartSession", SessionName=name, SpeakerId=speaker_id))
        minimum_speech = started["Session"]["AuthenticationConfiguration"]["MinimumSpeechInSeconds"]
        puts = [api.put_audio(name, chunk) for chunk in chunks]
        evaluate = api.sign("EvaluateSession", SessionNameOrId=name)
        sent, speech = 0, 0.0
        while speech <= minimum_speech:
            if sent == len(puts):
                raise RuntimeError(
                    f"{len(puts) * CHUNK_SECONDS:g} s of audio hold under {minimum_speech} s of speech"
                )
            speech = call_ok(conn, puts[sent])["NetSpeechInSeconds"]
            sent += 1
        first = call_ok(conn, evaluate)
        decisions = {
            "authentication": first["AuthenticationResult"]["Decision"],
            "fraud": first["FraudDetectionResult"]["Decision"],
        }
        if decisions["authentication"] == "NOT_ENOUGH_SPEECH" or decisions["fraud"] == "NOT_ENOUGH_SPEECH":
            raise load.BadResponse(f"EvaluateSession found too little speech after {speech} s: {first}")
        cached = []
        for _ in range(count):
            seconds, answer = _timed(conn, evaluate)
            if _result_ids(answer) != _result_ids(first):
                raise load.BadResponse("a repeated EvaluateSession with no new audio returned a new result")
            cached.append(seconds)
        after_audio, put = [], []
        previous = _result_ids(first)
        for index in range(count):
            # Replayed from the start when they run out: the server takes any audio as the call's next.
            put.append(_timed(conn, puts[(sent + index) % len(puts)])[0])
            seconds, answer = _timed(conn, evaluate)
            if set(_result_ids(answer)) & set(previous):
                raise load.BadResponse("EvaluateSession after new audio returned the previous result")
            previous = _result_ids(answer)
            after_audio.append(seconds)
        call_ok(conn, api.sign("EndSession", SessionNameOrId=name))
    finally:
        conn.close()
    return {
        "cached": sorted(cached),
        "after_audio": sorted(after_audio),
        "put": sorted(put),
        "speech_seconds": speech,
        "decisions": decisions,
    }


@dataclass(frozen=True)
class CallPlan:
    """One call of the streaming run: what it sends, who it claims to be and the net speech that makes."""

    session_name: str
    speaker_id: str
    chunks: list[bytes]
    expected_speech: float  # what the engine hears in these chunks, chunk by chunk, as the server runs it
    vad_kind: str  # the speech detector that count assumes (the server's VOICEID_VAD)


@dataclass
class CallRecord:
    """What one call saw: per-request timings (seconds) and anything that went wrong."""

    put_latencies: list[float] = field(default_factory=list)
    put_lateness: list[float] = field(default_factory=list)  # sent minus due, per chunk
    evaluate_latencies: list[float] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # non-200 answers to PutSessionAudio
    lost: list[str] = field(default_factory=list)  # chunks whose request failed without an answer
    evaluate_errors: list[str] = field(default_factory=list)
    sent: int = 0  # chunks sent (all of them, unless the call gave up)
    accepted: int = 0  # chunks answered 200
    gave_up_at: int | None = None  # the chunk the call stopped at, having fallen too far behind
    audio_seconds: float | None = None  # AudioReceivedInSeconds after the last chunk (EndSession)
    speech_seconds: float | None = None  # NetSpeechInSeconds, likewise
    last_decisions: dict[str, str] = field(default_factory=dict)


@dataclass
class StreamingOutcome:
    calls: list[CallRecord]
    seconds: float  # from the first chunk due to the last answer
    cpu: procfs.CpuUse | None
    balanced: bool | None


def _stream(
    conn: http.client.HTTPConnection,
    requests: list[load.SignedRequest],
    record: CallRecord,
    first_due: float,
    give_up_after: float,
    done: threading.Event,
) -> None:
    try:
        for index, request in enumerate(requests):
            due = first_due + index * CHUNK_SECONDS
            now = time.perf_counter()
            if now - due > give_up_after:
                record.gave_up_at = index
                return
            if due > now:
                time.sleep(due - now)
            sent = time.perf_counter()
            record.sent += 1
            try:
                status, data = send(conn, request)
            except (OSError, http.client.HTTPException) as error:
                record.lost.append(f"chunk {index + 1}: {error!r}")
                conn.close()
                continue
            record.put_latencies.append(time.perf_counter() - sent)
            record.put_lateness.append(sent - due)
            if status == 200:
                record.accepted += 1
            else:
                record.refused.append(f"chunk {index + 1}: {status} {data[:200]!r}")
    finally:
        done.set()


def _poll(
    conn: http.client.HTTPConnection,
    request: load.SignedRequest,
    record: CallRecord,
    first_due: float,
    every: float,
    done: threading.Event,
) -> None:
    """Evaluate every `every` seconds by the clock for as long as the call streams. Like a polling client,
    and unlike the audio, it skips polls it missed: after a slow answer the next poll goes out at once."""
    due = first_due
    while not done.wait(max(0.0, due - time.perf_counter())):
        sent = time.perf_counter()
        due = max(due + every, sent)
        try:
            status, data = send(conn, request)
        except (OSError, http.client.HTTPException) as error:
            record.evaluate_errors.append(repr(error))
            conn.close()
            continue
        record.evaluate_latencies.append(time.perf_counter() - sent)
        if status != 200:
            record.evaluate_errors.append(f"{status} {data[:200]!r}")
            continue
        answer = json.loads(data)
        record.last_decisions = {
            "authentication": answer["AuthenticationResult"]["Decision"],
            "fraud": answer["FraudDetectionResult"]["Decision"],
        }


def run_calls(
    api: Api, plans: Sequence[CallPlan], *, evaluate_every: float, give_up_after: float, workers: list[int]
) -> StreamingOutcome:
    """Stream every call at once in real time, each polled every `evaluate_every` seconds, then end them.

    A call that falls more than `give_up_after` seconds behind real time stops sending (its remaining
    chunks are reported as not sent), so an overloaded server bounds the run instead of stretching it.
    """
    records = [CallRecord() for _ in plans]
    setup = api.connect()
    try:
        for plan in plans:
            call_ok(setup, api.sign("StartSession", SessionName=plan.session_name, SpeakerId=plan.speaker_id))
    finally:
        setup.close()
    puts = [[api.put_audio(plan.session_name, chunk) for chunk in plan.chunks] for plan in plans]
    evaluates = [api.sign("EvaluateSession", SessionNameOrId=plan.session_name) for plan in plans]
    # Two connections per call, the calls' audio connections spread evenly over the workers and so are their
    # polling ones, as many independent clients end up (bench/load.py: left alone, one worker may hold most
    # connections and serve them on one core). Spread as one set, how the audio (four requests a second per
    # call) and the polls (one a second) split between the workers was left to chance. (The workers' CPU
    # still differs, ~0.93 against ~0.8 cores at 50 calls on SQLite, for reasons not yet known.)
    probe = api.sign("DescribeDomain")
    audio_conns, audio_balanced = load.open_balanced(api.host, api.port, probe, len(plans), workers)
    poll_conns, poll_balanced = load.open_balanced(api.host, api.port, probe, len(plans), workers)
    conns = audio_conns + poll_conns
    balanced = None if None in (audio_balanced, poll_balanced) else bool(audio_balanced and poll_balanced)
    start = time.perf_counter() + _START_DELAY_SECONDS
    threads = []
    for slot in range(len(plans)):
        # Calls start spread over one chunk period, and their polls over one polling period, as
        # independent calls would be, instead of all hitting the server in the same millisecond.
        phase = slot / len(plans)
        done = threading.Event()
        stream_args = (
            audio_conns[slot],
            puts[slot],
            records[slot],
            start + phase * CHUNK_SECONDS,
            give_up_after,
            done,
        )
        poll_args = (
            poll_conns[slot],
            evaluates[slot],
            records[slot],
            start + (0.5 + phase) * evaluate_every,
            evaluate_every,
            done,
        )
        threads.append(threading.Thread(target=_stream, args=stream_args, daemon=True))
        threads.append(threading.Thread(target=_poll, args=poll_args, daemon=True))
    for thread in threads:
        thread.start()
    time.sleep(max(0.0, start - time.perf_counter()))
    cpu_before = procfs.snapshot()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - start
    cpu = procfs.cpu_use(cpu_before, procfs.snapshot(), seconds, client=os.getpid(), workers=workers)
    for conn in conns:
        conn.close()
    finish = api.connect()
    try:
        for plan, record in zip(plans, records, strict=True):
            session = call_ok(finish, api.sign("EndSession", SessionNameOrId=plan.session_name))["Session"]
            record.audio_seconds = session["AudioReceivedInSeconds"]
            record.speech_seconds = session["NetSpeechInSeconds"]
    finally:
        finish.close()
    return StreamingOutcome(calls=records, seconds=seconds, cpu=cpu, balanced=balanced)


# --- audio and plans --------------------------------------------------------------------------------------


def recordings(folder: str) -> np.ndarray:
    """One demo voice's recordings, in order, as canonical 8 kHz samples."""
    from voiceprints import audio

    paths = sorted((DEMO_AUDIO / folder).glob("*.wav"))
    if not paths:
        raise RuntimeError(f"no recordings in {DEMO_AUDIO / folder}")
    return np.concatenate([audio.to_canonical(audio.decode_wav(path.read_bytes())) for path in paths])


def expected_speech(chunks: Sequence[bytes], vad_kind: str) -> float:
    """Net speech the server will count for these chunks: the same detector, restored from its state after
    every chunk exactly as a session's stream state is (the energy detector restores exactly; the WebRTC one
    only approximately, so for it only this replay gives the server's count). The saved form (the engine's
    binary layout) keeps the arrays bit for bit, so the state dict itself stands in for it here."""
    from voiceprints import engine, vad

    detector = vad.SpeechDetector(kind=vad_kind)
    for chunk in chunks:
        detector = vad.SpeechDetector.from_state(detector.state())
        detector.push(engine.decode(chunk, AUDIO_FORMAT))
    return float(detector.speech_seconds)


def call_plans(claims: Sequence[Sequence[str]], *, calls: int, seconds: int, vad_kind: str) -> list[CallPlan]:
    """`calls` calls of `seconds` each, voice by voice (looping a voice's recordings when they run out)."""
    streams: dict[tuple[str, float], tuple[list[bytes], float]] = {}
    plans = []
    for index in range(calls):
        folder, speaker_id = claims[index % len(claims)]
        offset = CALL_OFFSETS_SECONDS[(index // len(claims)) % len(CALL_OFFSETS_SECONDS)]
        if (folder, offset) not in streams:
            samples = recordings(folder)
            start = int(offset * 8000) % len(samples)
            needed = seconds * 8000
            looped = np.tile(samples, needed // len(samples) + 2)[start : start + needed]
            chunks = pcm_chunks(looped)
            streams[folder, offset] = (chunks, expected_speech(chunks, vad_kind))
        chunks, speech = streams[folder, offset]
        plans.append(CallPlan(f"bench-call-{index:03d}", speaker_id, chunks, speech, vad_kind))
    return plans


# --- child steps ------------------------------------------------------------------------------------------


def child(env: dict[str, str], step: str) -> dict[str, Any]:
    """Run a step of this module in a process of its own and return its result (as targets.prepare does)."""
    completed = subprocess.run(
        [sys.executable, "-m", "bench.voice_load", step],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )  # stderr passes through: a traceback shows in the bench's own output
    if completed.returncode != 0:
        raise RuntimeError(f"bench.voice_load {step} failed with status {completed.returncode}")
    for line in completed.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            return json.loads(line.removeprefix(RESULT_PREFIX))
    raise RuntimeError(f"bench.voice_load {step} printed no result")


def one_thread_env() -> dict[str, str]:
    return dict(os.environ, **dict.fromkeys(THREAD_VARS, "1"))


def _cpu_median(call: Callable[[np.ndarray], object], inputs: Sequence[np.ndarray]) -> float:
    """Median CPU seconds of `call` over `inputs`, after one unmeasured warm-up."""
    call(inputs[0])
    times = []
    for samples in inputs:
        started = time.process_time()
        call(samples)
        times.append(time.process_time() - started)
    return statistics.median(times)


def network_flops_per_audio_second() -> float:
    """Floating-point operations the GE2E network needs per second of audio, counting only its LSTM's matrix
    products (the rest is under 1 %): every 10 ms frame is stepped through all three layers once for each
    1.6 s window it falls in, and windows start every 0.77 s, so a frame is in about 2.08 of them."""
    from voiceprints.embedder import FRAME_STEP, HIDDEN, HOP, LAYERS, MODEL_RATE, N_MELS, PARTIAL_FRAMES

    gates = 4 * HIDDEN
    per_window_step = sum(
        2 * gates * ((N_MELS if layer == 0 else HIDDEN) + HIDDEN) for layer in range(LAYERS)
    )
    frames_per_second = MODEL_RATE / HOP
    window_steps_per_second = frames_per_second / FRAME_STEP * PARTIAL_FRAMES
    return float(per_window_step * window_steps_per_second)


def matmul_gflops(*, columns: int = 64, repeats: int = 200, rounds: int = 7) -> float:
    """The best float32 matrix-product rate of this thread, in GFLOP/s, on the LSTM's own (1024 x 256) weights
    times `columns` states: what the network could reach if nothing but its products cost anything."""
    from voiceprints.embedder import HIDDEN

    rng = np.random.default_rng(0)
    weights = rng.standard_normal((4 * HIDDEN, HIDDEN)).astype(np.float32)
    states = rng.standard_normal((HIDDEN, columns)).astype(np.float32)
    out = np.empty((4 * HIDDEN, columns), np.float32)
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(repeats):
            np.matmul(weights, states, out=out)
        best = min(best, time.perf_counter() - started)
    return 2 * weights.shape[0] * weights.shape[1] * columns * repeats / best / 1e9


def embed_step() -> dict[str, Any]:
    """The engine's speed on real speech; the caller sets the BLAS thread variables (one_thread_env)."""
    from voiceprints import engine
    from voiceprints.embedder import MODEL_RATE, load_encoder
    from voiceprints.resample import StreamResampler

    folders = sorted(path.name for path in DEMO_AUDIO.glob("ls_*"))
    speech = {folder: recordings(folder) for folder in folders}
    encoder = load_encoder()
    rows = []
    for seconds in (10, 60):
        excerpts = [samples[: seconds * 8000] for samples in speech.values()]
        if any(len(excerpt) < seconds * 8000 for excerpt in excerpts):
            raise RuntimeError(f"a demo voice has under {seconds} s of recordings")
        upsampled = [StreamResampler(8000, MODEL_RATE).process(excerpt) for excerpt in excerpts]
        rows.append(
            {
                "seconds": seconds,
                "runs": len(excerpts),
                # The network and its mel front end, on 16 kHz audio (what docs/embedding-eval timed).
                "embed_cpu_s": _cpu_median(encoder.embed, upsampled),
                # Everything a voiceprint of a recording costs: detector, resampler, network, cohort stats.
                "voiceprint_cpu_s": _cpu_median(engine.voiceprint_of, excerpts),
            }
        )
    # Per 0.25 s chunk, over 60 s of each voice: CallStream.append on a stream kept in memory; the engine's
    # whole share of a PutSessionAudio (restore the stream state, append, save it again); and what an
    # EvaluateSession after new audio adds (restore and finish the voiceprint), past 10 s of audio.
    append, put, finish = [], [], []
    state = b""
    for samples in speech.values():
        stream, state = engine.CallStream.new(), b""
        for index, chunk in enumerate(pcm_chunks(samples[: 60 * 8000])):
            piece = engine.decode(chunk, AUDIO_FORMAT)  # the samples the server would get
            started = time.perf_counter()
            stream.append(piece)
            append.append(time.perf_counter() - started)
            started = time.perf_counter()
            restored = engine.CallStream.from_bytes(state)
            restored.append(piece)
            state = restored.to_bytes()
            put.append(time.perf_counter() - started)
            if index >= 40 and index % 2 == 0:  # every other chunk past 10 s: enough samples, half the time
                started = time.perf_counter()
                engine.CallStream.from_bytes(state).voiceprint()
                finish.append(time.perf_counter() - started)
    return {
        "threads": {var: os.environ.get(var, "") for var in THREAD_VARS},
        "model": encoder.name,
        "voices": folders,
        "rows": rows,
        "append": sorted(append),
        "put_engine": sorted(put),
        "finish": sorted(finish),
        "state_bytes": len(state),
        "network_gflop_per_audio_second": network_flops_per_audio_second() / 1e9,
        "matmul_gflops": matmul_gflops(),
    }


def seed_step() -> dict[str, Any]:
    """A domain with the demo's callers enrolled and its fraudster in the default watchlist."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voiceid_site.settings")
    django.setup()
    from domains import services as domain_services
    from voiceid_site import demo

    started = time.monotonic()
    domain = domain_services.domain_create(name="bench-voice", kms_key_id="alias/bench", region="us-east-1")
    done = demo.seed_voices(domain)
    alice, bob = demo.CALLERS[0], demo.CALLERS[1]
    # Who each voice claims to be on a call: the callers themselves; the fraudster and the stranger claim
    # to be enrolled callers, as in the demo's own example calls.
    claims = [(voice.folder, voice.name) for voice in demo.CALLERS]
    claims += [(demo.FRAUDSTER.folder, bob.name), (demo.STRANGER.folder, alice.name)]
    return {
        "domain_id": domain.domain_id,
        "seed_seconds": time.monotonic() - started,
        "seeded": done,
        "claims": claims,
        "evaluate_speaker": alice.name,
        "evaluate_files": [str(path) for path in alice.call_recordings()],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.voice_load")
    parser.add_argument("step", choices=["embed", "seed"])
    args = parser.parse_args(argv)
    result = embed_step() if args.step == "embed" else seed_step()
    print(RESULT_PREFIX + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
