"""The voice group: the voice engine's speed alone, behind the API, and under 50 live calls.

1. Embedding speed on one thread, in a child process (bench/voice_load.py `embed_step`).
2. EvaluateSession latency over HTTP against gunicorn: a cached result, and right after a new chunk.
3. 1:N screening over 1,000-100,000 fraudster voiceprints (voiceprints.index.bench_screening).
4. Calls streaming 0.25 s chunks in real time for 60 s, each polled once a second (voice_load.run_calls).
2 and 4 run on each database: an empty one is migrated and seeded with the demo's enrolled callers and
fraudster, then served by gunicorn as in production. This module runs them and writes the report section.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import secrets
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from bench import load, voice_load
from bench.console import say, wait_quiet
from bench.server import THREADS, WORKERS, Server
from bench.targets import Skipped, Target, prepare

DEFAULT_SCREENING_SIZES = [1_000, 10_000, 100_000]
RTF_TARGET = 0.01  # at least 100x faster than real time, on one thread
SCREENING_TARGET_MS = 25.0  # at 100,000 fraudsters
SCREENING_TARGET_SIZE = 100_000
EVALUATE_P99_TARGET_MS = 200.0  # under the streaming load
# The server for this group is what `make run` serves: one thread a worker and one worker more than the
# cores (voiceid_site/gunicorn_conf.py says why). One BLAS thread per worker: the workers already keep the
# cores busy, and OpenBLAS's own threads would only compete with them (`make run` sets 1 as well, unless the
# environment sets them; left unset, the server carried ~1/3 fewer calls in real time, measured with 2 workers
# of 2 threads).
VOICE_BLAS_THREADS = 1


def _at_least_one(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("at least 1")
    return value


def _sizes(text: str) -> list[int]:
    try:
        return sorted({int(part.replace("_", "")) for part in text.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    voice = parser.add_argument_group("voice")
    voice.add_argument("--voice-calls", type=int, default=50, help="calls streaming at once (50, the quota)")
    voice.add_argument(
        "--voice-seconds", type=int, default=60, help="seconds of audio each call streams (60)"
    )
    voice.add_argument(
        "--voice-poll", type=float, default=1.0, help="seconds between a call's evaluations (1)"
    )
    voice.add_argument(
        "--voice-give-up",
        type=float,
        default=30.0,
        help="seconds behind real time at which a call stops streaming, bounding an overloaded run (30)",
    )
    voice.add_argument(
        "--voice-workers",
        type=_at_least_one,
        default=WORKERS,
        help=f"gunicorn worker processes ({WORKERS} on this machine, as `make run` serves)",
    )
    voice.add_argument(
        "--voice-threads",
        type=_at_least_one,
        default=THREADS,
        help=f"gunicorn threads per worker ({THREADS}, as `make run` serves)",
    )
    voice.add_argument(
        "--voice-blas-threads",
        type=int,
        default=VOICE_BLAS_THREADS,
        help="BLAS threads in each gunicorn worker (OMP/OPENBLAS/MKL/BLIS_NUM_THREADS); 0 leaves them as "
        f"inherited, as `make run` does, and OpenBLAS then starts one per core ({VOICE_BLAS_THREADS})",
    )
    voice.add_argument(
        "--voice-evaluations", type=int, default=200, help="timed EvaluateSession calls of each kind (200)"
    )
    voice.add_argument(
        "--voice-screening-sizes",
        type=_sizes,
        default=DEFAULT_SCREENING_SIZES,
        help="fraudsters to screen against (1000,10000,100000)",
    )


# --- results ---------------------------------------------------------------------------------------------


def _ms(ordered: Sequence[float]) -> dict[str, float]:
    """p50 / p99 (nearest rank) / max / mean of ascending seconds, in ms."""
    if not ordered:
        nan = float("nan")
        return {"count": 0, "mean_ms": nan, "p50_ms": nan, "p99_ms": nan, "max_ms": nan}
    return {
        "count": len(ordered),
        "mean_ms": sum(ordered) / len(ordered) * 1000,
        "p50_ms": load.percentile(ordered, 0.50) * 1000,
        "p99_ms": load.percentile(ordered, 0.99) * 1000,
        "max_ms": ordered[-1] * 1000,
    }


@dataclass
class VoiceDatabase:
    key: str
    title: str
    version: str | None = None
    skipped: str | None = None
    background_cores: float | None = None
    evaluate: dict[str, Any] | None = None  # cached / after_audio latency, decisions
    streaming: dict[str, Any] | None = None  # the 50-call run, summarised
    server_ms: dict[str, dict[str, float]] = field(default_factory=dict)  # operation → its own time


@dataclass
class VoiceRun:
    started_at: datetime
    seconds: float
    machine: dict[str, str]
    workers: int
    threads: int
    blas_threads: dict[str, str]  # the BLAS thread variables the workers ran with ("" unset)
    calls: int
    call_seconds: int
    poll_seconds: float
    give_up_seconds: float
    evaluations: int
    embedding: dict[str, Any]
    screening: list[dict[str, Any]]
    databases: list[VoiceDatabase]
    background_cores: float | None = None


# --- the runner ------------------------------------------------------------------------------------------


def _embedding(measured: dict[str, Any]) -> dict[str, Any]:
    """The embed step's result with its per-chunk timings reduced to percentiles."""
    return measured | {key: _ms(measured[key]) for key in ("append", "put_engine", "finish")}


def _speech_problem(plan: voice_load.CallPlan, record: voice_load.CallRecord) -> str | None:
    """Why a call's final NetSpeechInSeconds is wrong, if it is. A call that gave up is held to the net
    speech of what it sent; one with refused or lost chunks is already counted as broken."""
    if record.refused or record.lost:
        return None
    if record.sent == len(plan.chunks):
        expected = plan.expected_speech
    else:
        expected = voice_load.expected_speech(plan.chunks[: record.sent], plan.vad_kind)
    if record.speech_seconds is not None and abs(record.speech_seconds - expected) <= 0.0051:
        return None  # the API rounds to 2 decimals
    return f"{plan.session_name}: {record.speech_seconds} s of net speech, expected {expected:.2f} s"


def _summarise(outcome: voice_load.StreamingOutcome, plans: list[voice_load.CallPlan]) -> dict[str, Any]:
    calls = list(zip(plans, outcome.calls, strict=True))
    records = outcome.calls
    refused = [message for record in records for message in record.refused]
    lost = [message for record in records for message in record.lost]
    audio_wrong = [
        f"{plan.session_name}: {record.audio_seconds} s received, {record.accepted * voice_load.CHUNK_SECONDS:g} s "
        "accepted"
        for plan, record in calls
        if record.audio_seconds != record.accepted * voice_load.CHUNK_SECONDS
    ]
    speech_wrong = [problem for plan, record in calls if (problem := _speech_problem(plan, record))]
    evaluate_errors = [message for record in records for message in record.evaluate_errors]
    lateness = sorted(late for record in records for late in record.put_lateness)
    cpu = outcome.cpu
    decisions = Counter(
        f"{record.last_decisions.get('authentication', '?')} / {record.last_decisions.get('fraud', '?')}"
        for record in records
    )
    return {
        "calls": len(records),
        "seconds": outcome.seconds,
        "chunks_planned": sum(len(plan.chunks) for plan in plans),
        "chunks_sent": sum(record.sent for record in records),
        "chunks_answered": sum(record.accepted for record in records),
        "gave_up": sum(1 for record in records if record.gave_up_at is not None),
        "refused": len(refused),
        "lost": len(lost),
        "audio_wrong": len(audio_wrong),
        "speech_wrong": len(speech_wrong),
        "examples": (refused + lost + audio_wrong + speech_wrong + evaluate_errors)[:5],
        "evaluate_errors": len(evaluate_errors),
        "put": _ms(sorted(latency for record in records for latency in record.put_latencies)),
        "evaluate": _ms(sorted(latency for record in records for latency in record.evaluate_latencies)),
        "lateness": _ms(lateness),
        "late_over_chunk": sum(1 for late in lateness if late > voice_load.CHUNK_SECONDS),
        # Throughput over the run: the chunks a second the server got through, beside the polls.
        "chunks_per_second": sum(record.accepted for record in records) / outcome.seconds,
        "evaluations_per_second": sum(len(record.evaluate_latencies) for record in records) / outcome.seconds,
        # Where the slowest call ended: how far behind the wall clock its last chunk went out.
        "slowest_final_lateness_ms": max(
            (record.put_lateness[-1] for record in records if record.put_lateness), default=0.0
        )
        * 1000,
        "cpu": None
        if cpu is None
        else {"workers": cpu.workers, "database": cpu.database, "client": cpu.client, "other": cpu.other},
        "balanced": outcome.balanced,
        "decisions": dict(decisions.most_common()),
    }


def _server_times(log_path: Path, offset: int) -> dict[str, dict[str, float]]:
    """Each operation's time inside voiceid (dispatch's duration_ms log field) from `offset` on: the client's
    latency minus this is the time a request waited for a worker thread, the GIL or the network."""
    durations: dict[str, list[float]] = {}
    with log_path.open("rb") as log:
        log.seek(offset)
        for line in log:
            if b'"duration_ms"' not in line:
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            durations.setdefault(entry["operation"], []).append(entry["duration_ms"] / 1000)
    return {operation: _ms(sorted(values)) for operation, values in sorted(durations.items())}


def _run_database(
    target: Target, args: argparse.Namespace, plans_cache: dict[str, list[voice_load.CallPlan]]
) -> VoiceDatabase:
    from voiceprints import audio, engine

    result = VoiceDatabase(key=target.key, title=target.title)
    say(f"{target.title}:")
    try:
        target.check_reachable()
        target.reset()
    except Skipped as reason:
        result.skipped = str(reason)
        say(f"  skipped: {reason}")
        return result
    env = target.env(secret_key=secrets.token_urlsafe(48))
    env["LOG_LEVEL"] = "INFO"  # one line per request with its duration_ms: the server's own share
    if args.voice_blas_threads:
        env.update(dict.fromkeys(voice_load.THREAD_VARS, str(args.voice_blas_threads)))
    log_path = target.var_dir / "gunicorn.log"
    try:
        credentials = prepare(env, "setup")
        result.version = credentials["version"]
        say("  seeding the demo's callers and fraudster …")
        seeded = voice_load.child(env, "seed")
        if "plans" not in plans_cache:
            say(f"  preparing {args.voice_calls} calls of {args.voice_seconds} s …")
            plans_cache["plans"] = voice_load.call_plans(
                seeded["claims"],
                calls=args.voice_calls,
                seconds=args.voice_seconds,
                # The detector the server runs: settings.VOICEID_VAD, whose default is the engine's.
                vad_kind=env.get("VOICEID_VAD", engine.DEFAULT_VAD),
            )
        plans = plans_cache["plans"]
        evaluate_audio = np.concatenate(
            [
                audio.to_canonical(audio.decode_wav(Path(path).read_bytes()))
                for path in seeded["evaluate_files"]
            ]
        )
        with Server(env, log_path, workers=args.voice_workers, threads=args.voice_threads) as server:
            api = voice_load.Api(
                host="127.0.0.1",
                port=server.port,
                access_key_id=credentials["access_key_id"],
                secret_access_key=credentials["secret_access_key"],
                domain_id=seeded["domain_id"],
            )
            result.background_cores = wait_quiet(args.quiet_wait)
            measured = voice_load.measure_evaluate(
                api,
                speaker_id=seeded["evaluate_speaker"],
                chunks=voice_load.pcm_chunks(evaluate_audio),
                count=args.voice_evaluations,
            )
            result.evaluate = {
                "cached": _ms(measured["cached"]),
                "after_audio": _ms(measured["after_audio"]),
                "put": _ms(measured["put"]),
                "speech_seconds": measured["speech_seconds"],
                "decisions": measured["decisions"],
            }
            say(
                f"  EvaluateSession, one client: cached p50 {result.evaluate['cached']['p50_ms']:.1f} / p99 "
                f"{result.evaluate['cached']['p99_ms']:.1f} ms; after a chunk p50 "
                f"{result.evaluate['after_audio']['p50_ms']:.1f} / p99 {result.evaluate['after_audio']['p99_ms']:.1f} ms"
            )
            say(f"  {len(plans)} calls streaming for {args.voice_seconds} s …")
            offset = log_path.stat().st_size
            outcome = voice_load.run_calls(
                api,
                plans,
                evaluate_every=args.voice_poll,
                give_up_after=args.voice_give_up,
                workers=server.workers,
            )
        result.streaming = _summarise(outcome, plans)
        result.server_ms = _server_times(log_path, offset)
        streaming = result.streaming
        say(
            f"  {streaming['chunks_answered']:,}/{streaming['chunks_planned']:,} chunks answered 200, "
            f"{streaming['refused']} refused, {streaming['lost']} lost, {streaming['audio_wrong']} calls with wrong "
            f"audio total, {streaming['speech_wrong']} with unexpected net speech; PutSessionAudio p50 "
            f"{streaming['put']['p50_ms']:.1f} / p99 {streaming['put']['p99_ms']:.1f} ms; EvaluateSession p50 "
            f"{streaming['evaluate']['p50_ms']:.1f} / p99 {streaming['evaluate']['p99_ms']:.1f} ms; pacing late by "
            f"up to {streaming['lateness']['max_ms']:.0f} ms"
        )
    finally:
        if not args.keep:
            target.teardown()
    return result


def run(targets: list[Target], args: argparse.Namespace, *, machine: dict[str, str]) -> tuple[VoiceRun, str]:
    started_at, started = datetime.now(UTC), time.monotonic()
    background = wait_quiet(args.quiet_wait)
    say("  embedding speed on one thread …")
    embedding = _embedding(voice_load.child(voice_load.one_thread_env(), "embed"))
    for row in embedding["rows"]:
        say(
            f"    {row['seconds']} s: embed {row['embed_cpu_s'] * 1000:.0f} ms CPU, whole voiceprint "
            f"{row['voiceprint_cpu_s'] * 1000:.0f} ms"
        )
    say(f"  screening {', '.join(f'{size:,}' for size in args.voice_screening_sizes)} fraudsters …")
    from voiceprints.index import bench_screening

    screening = bench_screening(sizes=args.voice_screening_sizes)
    for row in screening:
        say(
            f"    {row['size']:>9,}: p50 {row['p50_ms']} ms, p99 {row['p99_ms']} ms, bound {row['bound_ms']} ms"
        )
    plans_cache: dict[str, list[voice_load.CallPlan]] = {}
    databases = [_run_database(target, args, plans_cache) for target in targets]
    run_ = VoiceRun(
        started_at=started_at,
        seconds=time.monotonic() - started,
        machine=machine,
        workers=args.voice_workers,
        threads=args.voice_threads,
        blas_threads={
            var: str(args.voice_blas_threads) if args.voice_blas_threads else os.environ.get(var, "")
            for var in voice_load.THREAD_VARS
        },
        calls=args.voice_calls,
        call_seconds=args.voice_seconds,
        poll_seconds=args.voice_poll,
        give_up_seconds=args.voice_give_up,
        evaluations=args.voice_evaluations,
        embedding=embedding,
        screening=screening,
        databases=databases,
        background_cores=background,
    )
    return run_, render(run_)


# --- the report section ----------------------------------------------------------------------------------


def _served_by(workers: int, threads: int) -> str:
    return f"{workers} worker{'s' * (workers != 1)} x {threads} thread{'s' * (threads != 1)}"


def _f(value: float) -> str:
    if math.isnan(value):
        return "-"
    return f"{value:.2f}" if value < 10 else f"{value:.1f}" if value < 100 else f"{value:,.0f}"


def _pair(measured: dict[str, float]) -> str:
    return f"{_f(measured['p50_ms'])} / {_f(measured['p99_ms'])}"


def _triple(measured: dict[str, float]) -> str:
    return f"{_pair(measured)} / {_f(measured['max_ms'])}"


def _minutes(seconds: float) -> str:
    return f"{int(seconds // 60)} min {int(seconds % 60)} s"


def _verdict(met: bool) -> str:
    return "**met**" if met else "**missed**"


def _blas(variables: dict[str, str]) -> str:
    values = {value for value in variables.values() if value}
    if not values:
        return "BLAS threads per worker left unset (OpenBLAS then starts one per core)"
    return (
        "one BLAS thread per worker ("
        + ", ".join(f"{var}={value}" for var, value in variables.items() if value)
        + "; `make run` sets 1 too, unless the environment sets them: more would only compete with the other "
        "workers)"
    )


def _screening_verdict(row: dict[str, Any]) -> str:
    if row["p99_ms"] < SCREENING_TARGET_MS:
        return "**met** (p50 and p99)"
    if row["p50_ms"] < SCREENING_TARGET_MS:
        return "**met at p50, missed at p99**"
    return _verdict(False)


def _rtf_rows(embedding: dict[str, Any]) -> list[str]:
    lines = [
        "| What is timed | Audio | CPU ms (median) | RTF | x real time |",
        "|---|--:|--:|--:|--:|",
    ]
    for key, label in (
        ("embed_cpu_s", "GE2E network and its mel front end (`encoder.embed`, 16 kHz input)"),
        (
            "voiceprint_cpu_s",
            "Whole voiceprint from 8 kHz (`voiceprint_of`: detector, resampler, network, cohort statistics)",
        ),
    ):
        for row in embedding["rows"]:
            cpu = row[key]
            rtf = cpu / row["seconds"]
            lines.append(f"| {label} | {row['seconds']} s | {_f(cpu * 1000)} | {rtf:.4f} | {1 / rtf:,.0f}x |")
    return lines


def _chunk_rows(embedding: dict[str, Any]) -> list[str]:
    kib = embedding["state_bytes"] / 1024
    return [
        "| Per 0.25 s chunk | mean ms | p50 / p99 / max ms |",
        "|---|--:|--:|",
        f"| `CallStream.append` on a stream kept in memory | {_f(embedding['append']['mean_ms'])} | {_triple(embedding['append'])} |",
        f"| Restore the stream state, append, save it ({kib:.0f} KiB): the engine's share of a PutSessionAudio "
        f"| {_f(embedding['put_engine']['mean_ms'])} | {_triple(embedding['put_engine'])} |",
        "| Restore the state and finish the voiceprint: the engine's share of an EvaluateSession after new audio "
        f"| {_f(embedding['finish']['mean_ms'])} | {_triple(embedding['finish'])} |",
    ]


def _screening_rows(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| Fraudsters | Matrix MB | p50 ms | p99 ms | Bandwidth bound ms | p50 / bound |",
        "|--:|--:|--:|--:|--:|--:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['size']:,} | {row['matrix_mb']:.1f} | {_f(row['p50_ms'])} | {_f(row['p99_ms'])} | "
            f"{_f(row['bound_ms'])} | {row['p50_over_bound']:.2f} |"
        )
    return lines


def _cores(value: float | None) -> str:
    return "?" if value is None else f"{value:.2f}"


def _streaming_rows(databases: list[VoiceDatabase], calls: int, give_up: float) -> list[str]:
    measured = [db for db in databases if db.streaming]
    lines = ["| | " + " | ".join(db.title for db in measured) + " |", "|---|" + "--:|" * len(measured)]

    def row(label: str, cell: Any) -> None:
        lines.append(f"| {label} | " + " | ".join(cell(db.streaming, db) for db in measured) + " |")

    def inside(operation: str) -> Any:
        return lambda s, db: _pair(db.server_ms[operation]) if operation in db.server_ms else "-"

    row(
        "Chunks due / sent / answered 200",
        lambda s, db: f"{s['chunks_planned']:,} / {s['chunks_sent']:,} / {s['chunks_answered']:,}",
    )
    row(
        f"Calls that fell over {give_up:g} s behind and stopped sending (of {calls})",
        lambda s, db: str(s["gave_up"]),
    )
    row("Chunks refused (non-200) / lost (no answer)", lambda s, db: f"{s['refused']} / {s['lost']}")
    row(
        f"Calls whose AudioReceivedInSeconds is not what they sent (of {calls})",
        lambda s, db: str(s["audio_wrong"]),
    )
    row(
        f"Calls whose NetSpeechInSeconds is not the expected (of {calls})",
        lambda s, db: str(s["speech_wrong"]),
    )
    row("PutSessionAudio p50 / p99 / max ms, at the client", lambda s, db: _triple(s["put"]))
    row("… of which inside voiceid (duration_ms), p50 / p99", inside("PutSessionAudio"))
    row("EvaluateSession p50 / p99 / max ms, at the client", lambda s, db: _triple(s["evaluate"]))
    row("… of which inside voiceid (duration_ms), p50 / p99", inside("EvaluateSession"))
    row(
        "EvaluateSession calls answered / failed",
        lambda s, db: f"{s['evaluate']['count']:,} / {s['evaluate_errors']}",
    )
    row("Chunk sent late by, p50 / p99 / max ms", lambda s, db: _triple(s["lateness"]))
    row("Chunks sent more than one chunk (250 ms) late", lambda s, db: f"{s['late_over_chunk']:,}")
    row(
        "Throughput: chunks / evaluations answered per second (the calls that many chunks keep up with)",
        lambda s, db: (
            f"{_f(s['chunks_per_second'])} / {_f(s['evaluations_per_second'])} "
            f"({_f(s['chunks_per_second'] * voice_load.CHUNK_SECONDS)} calls)"
        ),
    )
    row("Slowest call's last chunk sent late by ms", lambda s, db: _f(s["slowest_final_lateness_ms"]))
    row(
        "Server CPU, cores: gunicorn workers (+ PostgreSQL)",
        lambda s, db: (
            "?"
            if s["cpu"] is None
            else " + ".join(_cores(w) for w in s["cpu"]["workers"])
            + (f" + {_cores(s['cpu']['database'])}" if db.key == "postgresql" else "")
        ),
    )
    row(
        "Load generator / anything else, cores",
        lambda s, db: (
            "?" if s["cpu"] is None else f"{_cores(s['cpu']['client'])} / {_cores(s['cpu']['other'])}"
        ),
    )
    row(
        "Last decisions (authentication / fraud: calls)",
        lambda s, db: "; ".join(f"{k}: {v}" for k, v in s["decisions"].items()),
    )
    return lines


def _streaming_verdict(db: VoiceDatabase, run: VoiceRun) -> list[str]:
    """The verdict on one database's streaming run, and where its time went, derived from the numbers."""
    s = db.streaming
    assert s is not None
    cores = float(run.machine.get("cores") or 2)
    evaluate_p99 = s["evaluate"]["p99_ms"]
    clean = s["refused"] == s["lost"] == s["audio_wrong"] == s["speech_wrong"] == s["evaluate_errors"] == 0
    verdict = (
        f"**{db.title}:** EvaluateSession p99 {_f(evaluate_p99)} ms under {run.calls} live calls, target < "
        f"{EVALUATE_P99_TARGET_MS:.0f} ms: {_verdict(evaluate_p99 < EVALUATE_P99_TARGET_MS)}. "
    )
    if clean:
        verdict += (
            "No chunk was refused or lost: every call's AudioReceivedInSeconds is what the server accepted "
            "and its NetSpeechInSeconds what the detector counts in it."
        )
    else:
        verdict += (
            f"Not everything arrived intact: {s['refused']} chunks refused, {s['lost']} lost, {s['audio_wrong']} "
            f"calls with the wrong audio total, {s['speech_wrong']} with unexpected net speech, "
            f"{s['evaluate_errors']} failed evaluations (first: {'; '.join(s['examples'][:2])})."
        )
    if s["lateness"]["max_ms"] <= voice_load.CHUNK_SECONDS * 1000:
        verdict += (
            f" Every chunk went out within {_f(s['lateness']['max_ms'])} ms of its time: the server kept up."
        )
    else:
        verdict += (
            f" **The server did not keep up with real time:** {s['late_over_chunk']:,} chunks went out more than "
            f"a chunk late and the slowest call fell {s['lateness']['max_ms'] / 1000:.1f} s behind"
            + (
                f"; {s['gave_up']} calls stopped on falling {run.give_up_seconds:g} s behind, so "
                f"{s['chunks_sent']:,} of {s['chunks_planned']:,} chunks were sent"
                if s["gave_up"]
                else ""
            )
            + f". It got through {_f(s['chunks_per_second'])} chunks a second beside the polls: the audio of "
            f"about {s['chunks_per_second'] * voice_load.CHUNK_SECONDS:.0f} calls in real time."
        )
    out = [verdict]
    evaluate, embedding, cpu = db.evaluate, run.embedding, s["cpu"]
    where = []
    chunks_per_second = run.calls / voice_load.CHUNK_SECONDS
    polls_per_second = run.calls / run.poll_seconds
    if evaluate:
        demand = (
            chunks_per_second * evaluate["put"]["mean_ms"]
            + polls_per_second * evaluate["after_audio"]["mean_ms"]
        )
        where.append(
            f"served one at a time (section 2) a chunk takes {_f(evaluate['put']['mean_ms'])} ms and an evaluation "
            f"after new audio {_f(evaluate['after_audio']['mean_ms'])} ms on average, so {run.calls} calls "
            f"({chunks_per_second:.0f} chunks and {polls_per_second:.0f} evaluations a second) ask for about "
            f"{demand / 1000:.1f} cores of server time against the {cores:g} this machine has: room for about "
            f"{cores * 1000 / demand * run.calls:.0f} calls at most, before the database and the load generator "
            "take their share."
        )
    # The engine's part of that demand, from section 1's per-chunk means.
    network = chunks_per_second * embedding["append"]["mean_ms"]
    state = chunks_per_second * max(0.0, embedding["put_engine"]["mean_ms"] - embedding["append"]["mean_ms"])
    finish = polls_per_second * embedding["finish"]["mean_ms"]
    engine = (network + state + finish) / 1000
    where.append(
        f"The voice engine alone accounts for {engine:.1f} cores of it"
        + (", more than the machine has" if engine > cores else "")
        + f": {network / 1000:.2f} to take in the audio (detector, resampler, mel and the network, which runs "
        "the 1.6 s windows of loud speech frame by frame as the audio comes, two or three windows at once, and "
        f"those of quiet speech whole when they end), {state / 1000:.2f} to restore and save each call's "
        f"stream state around every chunk, and {finish / 1000:.2f} to finish the voiceprint for each "
        "evaluation (section 1)."
    )
    if cpu:
        workers = sum(cpu["workers"])
        busy = workers + cpu["database"] + cpu["client"] + cpu["other"]
        line = (
            f"During the run the workers used {workers:.2f} cores"
            + (f" and PostgreSQL {cpu['database']:.2f}" if db.key == "postgresql" else "")
            + f", the load generator {cpu['client']:.2f}; the whole machine was {busy / cores * 100:.0f} % busy"
            + (f", {cpu['other']:.2f} cores of it other processes'" if cpu["other"] >= 0.2 else "")
            + "."
        )
        if busy < 0.75 * cores and s["late_over_chunk"]:
            line += " Calls fell behind while cores stood idle, so the limit was not the CPU but waiting" + (
                ": for SQLite's write lock (below)." if db.key == "sqlite" else "."
            )
        where.append(line)
    inside = [
        f"{operation} {_pair(db.server_ms[operation])} ms inside voiceid against {_pair(s[key])} ms at the client"
        for operation, key in (("PutSessionAudio", "put"), ("EvaluateSession", "evaluate"))
        if operation in db.server_ms
    ]
    if inside:
        where.append(
            "Latency p50 / p99: "
            + "; ".join(inside)
            + ". The client's extra time is queueing for a worker thread before voiceid saw the request; time "
            "inside voiceid beyond the one-at-a-time figures is waiting for a core"
            + (", and for the GIL, which a worker's threads share" if run.threads > 1 else "")
            + (
                ", and for SQLite's single write lock, which a PutSessionAudio (and an EvaluateSession with new "
                "results) takes only for its short write at the end: the engine works outside any transaction, "
                "but the writes of all calls still queue for that one lock."
                if db.key == "sqlite"
                else ", and for the call's own session row, which its chunks and evaluations lock only to save "
                "what they computed outside any transaction."
            )
        )
    out.append("Where the time goes: " + " ".join(where))
    return out


def _compute_bound(embedding: dict[str, Any], *, calls: int) -> list[str]:
    """What the network's arithmetic alone costs: the floor under section 1's times and section 4's load."""
    if "matmul_gflops" not in embedding:
        return []  # results written before the bound was measured
    gflop, rate = embedding["network_gflop_per_audio_second"], embedding["matmul_gflops"]
    floor_ms = gflop / rate * 1000
    measured_ms = embedding["append"]["mean_ms"] / voice_load.CHUNK_SECONDS
    return [
        f"**The compute bound.** The network's LSTM needs {gflop * 1000:.0f} MFLOP per second of audio (each "
        "10 ms frame goes through its three layers once for each of the ~2.08 overlapping 1.6 s windows it is "
        f"in). This core multiplies float32 matrices of the network's shape at {rate:.0f} GFLOP/s at best "
        f"(`np.matmul`, 1024 x 256 weights by 64 states, best of 7), so a call's audio cannot cost less than "
        f"{floor_ms:.1f} ms of CPU per second ({1000 / floor_ms:.0f}x real time) in this network, however it is "
        f"run. Streaming measured {measured_ms:.1f} ms per second of audio ({measured_ms / floor_ms:.1f}x the "
        f"bound: two or three windows at a time make small products). At the bound, {calls} calls would need "
        f"{calls * floor_ms / 1000:.2f} cores for the network alone, before finishing voiceprints for "
        "evaluations, HTTP, the API and the database.",
        "",
    ]


def render(run: VoiceRun) -> str:
    machine = run.machine
    embedding = run.embedding
    measured = [db for db in run.databases if db.version]
    versions = ", ".join(db.version for db in measured if db.version)
    # Judged on the whole voiceprint from call audio (what enrolling or rebuilding a recording costs); the
    # network alone is in section 1.
    rtfs = {row["seconds"]: row["voiceprint_cpu_s"] / row["seconds"] for row in embedding["rows"]}
    network_rtfs = {row["seconds"]: row["embed_cpu_s"] / row["seconds"] for row in embedding["rows"]}
    screening_at = next((row for row in run.screening if row["size"] == SCREENING_TARGET_SIZE), None)
    out = [
        "## Voice engine: embedding speed, EvaluateSession, 1:N screening and 50 live calls",
        "",
        f"_Written by `make bench` on {run.started_at:%Y-%m-%d %H:%M} UTC; the run took {_minutes(run.seconds)}._",
        "",
        "**How to run:** `.venv/bin/python -m bench --only voice` (both databases, about 4 minutes); "
        "`--databases sqlite` for one database; `--voice-calls`, `--voice-seconds`, `--voice-poll`, "
        "`--voice-give-up`, `--voice-workers`, `--voice-threads` and `--voice-blas-threads` change the streaming run (`--help`). It needs the speaker-model weights "
        "(`make install`), the engine's calibration files in `voiceprints/data/` and the demo recordings in "
        "`demo/librispeech/`.",
        "",
        "### Machine",
        "",
        f"- {machine.get('cpu')}, {machine.get('cores')} cores, {machine.get('memory')} memory, {machine.get('os')}.",
        f"- Python {machine.get('python')}, numpy {np.__version__}, Django {machine.get('django')}, gunicorn "
        f"{machine.get('gunicorn')} ({_served_by(run.workers, run.threads)}).",
        f"- OpenBLAS kernels: {machine.get('blas_kernels', 'not recorded')}.",
        f"- {versions}; PostgreSQL over TCP on 127.0.0.1 in its stock configuration.",
        f"- Model: {embedding['model']}. The load generator, gunicorn and PostgreSQL **share the same "
        f"{machine.get('cores')} cores**.",
        f"- Other processes kept {_cores(run.background_cores)} cores busy just before the run (/proc/stat).",
        "",
        "### Verdict",
        "",
        "| Target | Measured | Verdict |",
        "|---|---|---|",
        "| Embedding at least 100x faster than real time on one thread | Whole voiceprint from call audio: "
        + "; ".join(f"{seconds} s {1 / rtf:,.0f}x (RTF {rtf:.4f})" for seconds, rtf in rtfs.items())
        + ". The network and its mel front end alone: "
        + "; ".join(f"{seconds} s {1 / rtf:,.0f}x" for seconds, rtf in network_rtfs.items())
        + f" | {_verdict(max(rtfs.values()) <= RTF_TARGET)} |",
    ]
    if screening_at:
        out.append(
            f"| Screening {SCREENING_TARGET_SIZE:,} fraudsters under {SCREENING_TARGET_MS:.0f} ms | p50 "
            f"{_f(screening_at['p50_ms'])} ms, p99 {_f(screening_at['p99_ms'])} ms | "
            f"{_screening_verdict(screening_at)} |"
        )
    for db in run.databases:
        if db.streaming:
            s = db.streaming
            out.append(
                f"| EvaluateSession p99 under {EVALUATE_P99_TARGET_MS:.0f} ms with {run.calls} calls streaming, "
                f"{db.title} | p99 {_f(s['evaluate']['p99_ms'])} ms (p50 {_f(s['evaluate']['p50_ms'])}) | "
                f"{_verdict(s['evaluate']['p99_ms'] < EVALUATE_P99_TARGET_MS)} |"
            )
            lost = s["refused"] + s["lost"] + s["audio_wrong"] + s["speech_wrong"]
            out.append(
                f"| No chunk refused or lost, {db.title} | {s['refused']} refused, {s['lost']} lost of "
                f"{s['chunks_planned']:,}; {s['audio_wrong']} calls short of audio, {s['speech_wrong']} with "
                f"unexpected net speech | {_verdict(lost == 0)} |"
            )
        elif db.skipped:
            out.append(f"| {run.calls} calls streaming, {db.title} | skipped: {db.skipped} | - |")
    out += [
        "",
        "### 1. Embedding speed on one thread",
        "",
        "A child process with `OMP_NUM_THREADS`, `OPENBLAS_NUM_THREADS`, `MKL_NUM_THREADS` and "
        "`BLIS_NUM_THREADS` set to 1 before numpy loads. The audio is the first 10 s and 60 s of each of the "
        f"{len(embedding['voices'])} demo voices (LibriSpeech read speech, pauses included, 8 kHz); the CPU time "
        "(`time.process_time`) is the median over the voices after one warm-up. RTF is CPU seconds per second "
        "of audio.",
        "",
        *_rtf_rows(embedding),
        "",
        f"Per chunk: 60 s of each voice sent through the engine in 0.25 s chunks "
        f"({embedding['append']['count']:,} chunks; finishing the voiceprint timed on every other chunk past "
        "10 s), wall time.",
        "",
        *_chunk_rows(embedding),
        "",
        *_compute_bound(embedding, calls=run.calls),
        "### 2. EvaluateSession latency over HTTP",
        "",
        "One client on a keep-alive connection to gunicorn serving a freshly seeded domain (the demo's three "
        "enrolled callers and its fraudster in the default watchlist). One call claiming to be `alice` streams "
        "her unenrolled recordings until it has more net speech than the 10 s an evaluation needs; then "
        f"{run.evaluations} EvaluateSession calls with no new audio (*cached*: the stored result, with the same "
        f"result ids, comes back), then {run.evaluations} times a 0.25 s chunk followed by an "
        "EvaluateSession (timed apart; the result ids must change): the caller's voiceprint is finished from the "
        "stream state, scored against alice and screened against the watchlist. Latency is measured at the "
        "client, from sending the request to reading the whole answer.",
        "",
        "| Database | EvaluateSession, cached: p50 / p99 / max ms | EvaluateSession after a new chunk "
        "| The chunk's PutSessionAudio | Decisions (authentication / fraud) |",
        "|---|--:|--:|--:|---|",
    ]
    for db in run.databases:
        if db.evaluate:
            decisions = db.evaluate["decisions"]
            out.append(
                f"| {db.title} | {_triple(db.evaluate['cached'])} | {_triple(db.evaluate['after_audio'])} | "
                f"{_triple(db.evaluate['put'])} | {decisions['authentication']} / {decisions['fraud']} |"
            )
    out += [
        "",
        "### 3. 1:N screening",
        "",
        "`voiceprints.index.bench_screening` in a one-thread child process: random unit voiceprints of 256 "
        "float32s, 200 searches each (`VoiceprintIndex.search`: the matrix-vector product, the s-norm of every "
        "score and the argmax). A search reads the whole matrix once, so memory bandwidth sets its time; the "
        "table sets it against the matrix's size over the bandwidth one thread reaches summing 512 MiB with "
        f"numpy ({run.screening[0]['bandwidth_gbs'] if run.screening else '?'} GB/s here, best of 7). That "
        "bound is a yardstick, not a floor, and a search can come in under it (p50 / bound below 1): BLAS's "
        "matrix-vector product may stream faster than numpy's sum, and part of a matrix searched over and over "
        "may stay in the last-level cache.",
        "",
        *_screening_rows(run.screening),
        "",
    ]
    if screening_at:
        out += [
            f"At {SCREENING_TARGET_SIZE:,} fraudsters a search takes {_f(screening_at['p50_ms'])} ms (p50), "
            f"{screening_at['p50_over_bound']:.1f}x the bandwidth bound of {_f(screening_at['bound_ms'])} ms: "
            f"target < {SCREENING_TARGET_MS:.0f} ms {_screening_verdict(screening_at)}.",
            "",
        ]
    out += [
        f"### 4. {run.calls} calls streaming in real time",
        "",
        f"- {run.calls} sessions"
        + (" (the default quota of active sessions per domain)" if run.calls == 50 else "")
        + " each stream "
        f"{run.call_seconds} s of a demo voice's recordings as 0.25 s PCM_S16LE_8000 chunks, one every 250 ms "
        "by the wall clock (open loop, as a phone line sends: a chunk not sent when due because the last one "
        "is still being answered counts as late, and the next goes out at once). The calls start spread over "
        "one 250 ms period. The callers claim to be themselves; the fraudster claims to be bob and the "
        "stranger alice.",
        f"- A second client per call polls EvaluateSession every {run.poll_seconds:g} s from the first chunk "
        "on, as an agent application would; once a call has 10 s of net speech nearly every poll finds new "
        "audio, so it is the *after a new chunk* kind of section 2.",
        "- Every request was signed before the run and replayed over 2 keep-alive connections per call: the "
        "calls' audio connections spread evenly over the workers, and their polling connections likewise "
        "(spread as one set, one worker could end up with most of the audio and the other most of the "
        "polls). Latency is measured at the client; *inside voiceid* is the "
        "`duration_ms` the API logs for each request (from authentication to the response), so the "
        "difference is queueing for a worker thread and the GIL, HTTP, and the load generator's own threads.",
        "- Afterwards EndSession reports each call's AudioReceivedInSeconds, which must equal what it sent, "
        "and NetSpeechInSeconds, which must equal what the same speech detector counts on the same chunks "
        "with its state saved and restored after each, as the server does.",
        f"- gunicorn: {_served_by(run.workers, run.threads)}"
        + (
            " (as `make run` serves on this machine: one worker more than the cores, one thread each, "
            "voiceid_site/gunicorn_conf.py says why)"
            if (run.workers, run.threads) == (WORKERS, THREADS)
            else f" (`make run` serves {_served_by(WORKERS, THREADS)} here)"
        )
        + f"; {_blas(run.blas_threads)}.",
        "",
        *_streaming_rows(run.databases, run.calls, run.give_up_seconds),
        "",
    ]
    for db in run.databases:
        if db.streaming:
            for paragraph in _streaming_verdict(db, run):
                out += [paragraph, ""]
        elif db.skipped:
            out += [f"{db.title}: skipped ({db.skipped}).", ""]
    return "\n".join(out)
