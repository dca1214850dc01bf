"""The runner: each group of benchmarks in turn, each writing its own section of docs/benchmarks.md.

api: for each database, seed each domain size, serve it with gunicorn, load it (this module).
sweepers: the retention sweepers over big domains (bench/sweeps.py).
crypto: what envelope encryption adds to each voiceprint read (bench/crypto_steps.py), on SQLite.
voice: the voice engine's speed, EvaluateSession latency, screening and 50 live calls (bench/voice.py).
jobs: a 1,000-speaker enrollment job with 1 and 2 workers against the pure embedding work (bench/jobs.py).
dashboard: the analysts' pages over a 1,000,000-speaker domain (bench/dashboard.py).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import secrets
import signal
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from bench import dashboard, jobs, load, report, sweeps, voice
from bench.console import say, wait_quiet
from bench.prepare import PAGE_SIZE
from bench.results import SCENARIOS, BackendRun, CryptoRun, LoadResult, Run, SizeRun, SweepRun
from bench.server import THREADS, WORKERS, Server
from bench.sweep_steps import PURGE_FILE_BYTES
from bench.targets import ROOT, Skipped, Target, postgresql_target, prepare, sqlite_target

DEFAULT_SIZES = [1_000, 1_000_000]
DEFAULT_SWEEP_SIZES = [100_000, 1_000_000]
DEFAULT_CONNECTIONS = [1, 4]
DEFAULT_POSTGRES = "postgres://postgres@127.0.0.1:5432"
GROUPS = ("api", "sweepers", "crypto", "voice", "jobs", "dashboard")
HOST = "127.0.0.1"


def _int_list(text: str) -> list[int]:
    try:
        values = sorted({int(part.replace("_", "")) for part in text.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or values[0] < 1:
        raise argparse.ArgumentTypeError("expected positive integers")
    return values


def _name_list(allowed: tuple[str, ...]) -> Callable[[str], list[str]]:
    def parse(text: str) -> list[str]:
        names = [part.strip() for part in text.split(",") if part.strip()]
        unknown = sorted(set(names) - set(allowed))
        if unknown or not names:
            raise argparse.ArgumentTypeError(
                f"expected a comma-separated choice of {', '.join(allowed)}, got {text!r}"
            )
        return [name for name in allowed if name in names]  # in run order, once each

    return parse


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmarks written to docs/benchmarks.md, one section per group. api: requests per "
        "second and p50/p99 latency of DescribeSpeaker and ListSpeakers (first, deep and last page). "
        "sweepers: wall time, peak memory and longest transaction of the retention sweepers over big "
        "domains. crypto: microseconds envelope encryption adds to each voiceprint read and write. voice: "
        "embedding speed, EvaluateSession latency, 1:N screening and 50 calls streaming in real time. jobs: "
        "a 1,000-speaker enrollment job with 1 and 2 workers. dashboard: the analysts' pages over a "
        "1,000,000-speaker domain. All but crypto run on SQLite and PostgreSQL, crypto on SQLite.",
    )
    parser.add_argument(
        "--only",
        type=_name_list(GROUPS),
        default=list(GROUPS),
        help=f"comma-separated groups to run: {', '.join(GROUPS)} (all)",
    )
    parser.add_argument(
        "--databases",
        type=_name_list(("sqlite", "postgresql")),
        default=["sqlite", "postgresql"],
        help="comma-separated: sqlite, postgresql (both)",
    )
    api = parser.add_argument_group("api")
    api.add_argument(
        "--sizes", type=_int_list, default=DEFAULT_SIZES, help="speakers per domain (1000,1000000)"
    )
    api.add_argument(
        "--connections", type=_int_list, default=DEFAULT_CONNECTIONS, help="concurrent clients per run (1,4)"
    )
    api.add_argument("--rounds", type=int, default=3, help="interleaved rounds of every scenario (3)")
    api.add_argument("--duration", type=float, default=4.0, help="measured seconds per round (4)")
    api.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds before each round (1)")
    sweepers = parser.add_argument_group("sweepers")
    sweepers.add_argument(
        "--sweep-sizes",
        type=_int_list,
        default=DEFAULT_SWEEP_SIZES,
        help="speakers in the swept domain (100000,1000000)",
    )
    sweepers.add_argument(
        "--erasures",
        type=int,
        default=1000,
        help="pending storage erasures the purge sweeper works through; 0 leaves it out (1000)",
    )
    sweepers.add_argument("--files-per-erasure", type=int, default=3, help="small files under each (3)")
    sweepers.add_argument(
        "--trace-memory",
        action="store_true",
        help="also report the Python heap's peak (tracemalloc); makes the sweeps 1.5-3x slower",
    )
    crypto = parser.add_argument_group("crypto")
    crypto.add_argument(
        "--crypto-reads", type=int, default=20_000, help="timed calls per cached operation (20000)"
    )
    crypto.add_argument(
        "--crypto-cold-reads",
        type=int,
        default=500,
        help="timed first reads, each after forgetting the data keys (500)",
    )
    voice.add_arguments(parser)
    jobs.add_arguments(parser)
    dashboard.add_arguments(parser)
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=60.0,
        help="seconds to wait, before each measurement, for other processes to free the CPU (60)",
    )
    parser.add_argument(
        "--postgres",
        default=DEFAULT_POSTGRES,
        help=f"PostgreSQL server URL, without a database; the bench creates and drops its own "
        f"database there ({DEFAULT_POSTGRES})",
    )
    parser.add_argument(
        "--bench-dir", type=Path, default=ROOT / "var" / "bench", help="scratch space (var/bench)"
    )
    parser.add_argument(
        "--output", type=Path, default=ROOT / "docs" / "benchmarks.md", help="report to update"
    )
    parser.add_argument("--no-report", action="store_true", help="measure and print, leave the report alone")
    parser.add_argument("--keep", action="store_true", help="keep the seeded databases afterwards")
    return parser


def _machine() -> dict[str, str]:
    import sqlite3

    import django
    import gunicorn

    cpu = "unknown CPU"
    memory = ""
    try:
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
        kib = next(
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
        memory = f"{kib / 1024 / 1024:.0f} GiB"
    except (OSError, StopIteration, ValueError):
        pass  # not Linux: the report says less
    from voiceprints.embedder import blas_kernels

    forced = os.environ.get("OPENBLAS_CORETYPE")
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        # The voice engine's speed depends on them: see voiceprints.embedder.blas_kernels.
        "blas_kernels": f"{blas_kernels() or 'unknown'}"
        + (f" (OPENBLAS_CORETYPE={forced})" if forced else " (OpenBLAS's own choice)"),
        "memory": memory,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "django": django.get_version(),
        "gunicorn": gunicorn.__version__,
        "sqlite": sqlite3.sqlite_version,
    }


def _pages(seeded: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    """Scenario key → (domain id, page) for every ListSpeakers scenario of this size."""
    pages = {key: (seeded["domain_id"], page) for key, page in seeded["pages"].items()}
    if seeded["neighbours"]:
        # The smallest domain seeded before this one (sizes run smallest first).
        neighbour = seeded["neighbours"][0]
        pages["neighbour_last_page"] = (neighbour["domain_id"], neighbour["last_page"])
    return pages


def _scenario_requests(
    seeded: dict[str, Any], credentials: dict[str, Any], host: str
) -> dict[str, list[load.SignedRequest]]:
    def signed(operation: str, params: dict[str, Any]) -> load.SignedRequest:
        return load.sign(
            host=host,
            access_key_id=credentials["access_key_id"],
            secret_access_key=credentials["secret_access_key"],
            operation=operation,
            params=params,
        )

    requests = {
        # Speakers spread over the whole domain, so the lookups are not all served from one hot page.
        "describe": [
            signed("DescribeSpeaker", {"DomainId": seeded["domain_id"], "SpeakerId": speaker_id})
            for speaker_id in seeded["describe_ids"]
        ]
    }
    for key, (domain_id, page) in _pages(seeded).items():
        params: dict[str, Any] = {"DomainId": domain_id, "MaxResults": PAGE_SIZE}
        if page["token"]:
            params["NextToken"] = page["token"]
        requests[key] = [signed("ListSpeakers", params)]
    return requests


def _check_answers(port: int, requests: dict[str, list[load.SignedRequest]], seeded: dict[str, Any]) -> None:
    """Measure only what was meant: the right speaker, and each page holding the speakers it should."""
    described = load.call(HOST, port, requests["describe"][0])
    if described["Speaker"]["GeneratedSpeakerId"] != seeded["describe_ids"][0]:
        raise load.BadResponse(f"DescribeSpeaker answered another speaker: {described}")
    for key, (_, page) in _pages(seeded).items():
        answer = load.call(HOST, port, requests[key][0])
        summaries = answer["SpeakerSummaries"]
        if len(summaries) != page["count"]:
            raise load.BadResponse(f"{key} returned {len(summaries)} speakers, expected {page['count']}")
        if summaries[0]["GeneratedSpeakerId"] != page["first_id"]:
            raise load.BadResponse(f"{key} did not start after its NextToken's position")
        if bool(answer.get("NextToken")) != page["more"]:
            raise load.BadResponse(f"{key} {'lacks' if page['more'] else 'has'} a NextToken")


def _run_size(
    target: Target, env: dict[str, str], credentials: dict[str, Any], size: int, args: argparse.Namespace
) -> SizeRun:
    say(f"  seeding a domain of {size:,} speakers …")
    seeded = prepare(env, "seed", "--size", str(size))
    pages = _pages(seeded)
    run = SizeRun(
        size=size,
        table_rows=seeded["table_rows"],
        seed_seconds=seeded["seed_seconds"],
        neighbour_size=seeded["neighbours"][0]["size"] if seeded["neighbours"] else None,
        probes={"describe": seeded["describe_probe"]}
        | {key: page["probe"] for key, (_, page) in pages.items()},
        plans={key: page["plan"] for key, (_, page) in pages.items()},
    )
    samples: dict[tuple[str, int], list[load.LoadSample]] = {}
    with Server(env, target.var_dir / "gunicorn.log") as server:
        host = f"{HOST}:{server.port}"
        _check_answers(server.port, _scenario_requests(seeded, credentials, host), seeded)
        run.background_cores = wait_quiet(args.quiet_wait)
        # Rounds interleave the scenarios, so a burst of outside load hits them all alike instead of
        # making one scenario look slow.
        for round_number in range(1, args.rounds + 1):
            # Signed each round: the 15-minute signature window then covers any run length.
            requests = _scenario_requests(seeded, credentials, host)
            for key, label in SCENARIOS.items():
                if key not in requests:
                    continue  # no smaller domain to measure beside the first size
                for connections in args.connections:
                    sample = load.run_load(
                        host=HOST,
                        port=server.port,
                        requests=requests[key],
                        connections=connections,
                        warmup_seconds=args.warmup,
                        duration_seconds=args.duration,
                        workers=server.workers,
                    )
                    samples.setdefault((key, connections), []).append(sample)
                    cpu = sample.cpu
                    usage = (
                        f"workers {'+'.join(f'{w:.2f}' for w in cpu.workers)}, db {cpu.database:.2f}, "
                        f"client {cpu.client:.2f}, other {cpu.other:.2f} cores"
                        if cpu
                        else "CPU not measured"
                    )
                    say(
                        f"    round {round_number}  {label:<24} {size:>9,}  {connections} conn: "
                        f"{sample.rps:6.0f} req/s  p50 {load.percentile(sample.latencies, 0.5) * 1000:6.1f} ms  "
                        f"p99 {load.percentile(sample.latencies, 0.99) * 1000:6.1f} ms  ({usage})"
                    )
    for key in SCENARIOS:
        if (key, args.connections[0]) in samples:
            run.loads[key] = [LoadResult.of(samples[key, connections]) for connections in args.connections]
    return run


def _run_backend(target: Target, args: argparse.Namespace) -> BackendRun:
    backend = BackendRun(key=target.key, title=target.title)
    say(f"{target.title}:")
    try:
        target.check_reachable()
        target.reset()
    except Skipped as reason:
        backend.skipped = str(reason)
        say(f"  skipped: {reason}")
        return backend
    # One key per database: the server needs it to open the sealed access-key secret and to sign NextTokens.
    env = target.env(secret_key=secrets.token_urlsafe(48))
    try:
        credentials = prepare(env, "setup")
        backend.version = credentials["version"]
        for size in args.sizes:
            backend.sizes.append(_run_size(target, env, credentials, size, args))
    finally:
        if not args.keep:
            target.teardown()
    return backend


def _interrupt(signum: int, frame: FrameType | None) -> None:
    # SIGTERM (a CI timeout, `kill`) unwinds like Ctrl-C, so gunicorn and the databases are cleaned up.
    raise KeyboardInterrupt


def _run_api(targets: list[Target], args: argparse.Namespace) -> tuple[Run, str]:
    started_at, started = datetime.now(UTC), time.monotonic()
    backends = [_run_backend(target, args) for target in targets]
    run = Run(
        started_at=started_at,
        seconds=time.monotonic() - started,
        sizes=args.sizes,
        connections=args.connections,
        rounds=args.rounds,
        warmup_seconds=args.warmup,
        duration_seconds=args.duration,
        backends=backends,
        machine=_machine(),
    )
    return run, report.render(run, workers=WORKERS, threads=THREADS)


def _run_sweepers(targets: list[Target], args: argparse.Namespace) -> tuple[SweepRun, str]:
    started_at, started = datetime.now(UTC), time.monotonic()
    backends = [sweeps.run_backend(target, args) for target in targets]
    run = SweepRun(
        started_at=started_at,
        seconds=time.monotonic() - started,
        sizes=args.sweep_sizes,
        erasures=args.erasures,
        files_per_erasure=args.files_per_erasure,
        file_bytes=PURGE_FILE_BYTES,
        trace_memory=args.trace_memory,
        backends=backends,
        machine=_machine(),
    )
    return run, report.render_sweepers(run)


def _run_crypto(target: Target, args: argparse.Namespace) -> tuple[CryptoRun, str]:
    """One SQLite database: the cipher's cost does not depend on it, and a cold read queries it twice."""
    started_at, started = datetime.now(UTC), time.monotonic()
    say(f"{target.title}:")
    target.reset()
    env = target.env(secret_key=secrets.token_urlsafe(48))
    try:
        version = prepare(env, "setup")["version"]
        background = wait_quiet(args.quiet_wait)
        measured = prepare(
            env, "crypto", "--reads", str(args.crypto_reads), "--cold-reads", str(args.crypto_cold_reads)
        )
    finally:
        if not args.keep:
            target.teardown()
    run = CryptoRun(
        started_at=started_at,
        seconds=time.monotonic() - started,
        reads=args.crypto_reads,
        cold_reads=args.crypto_cold_reads,
        version=version,
        cache_seconds=measured["cache_seconds"],
        timer_p50_us=measured["timer_p50_us"],
        sealed_overhead_bytes=measured["sealed_overhead_bytes"],
        rows=measured["rows"],
        machine=_machine(),
        background_cores=background,
    )
    return run, report.render_crypto(run)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    bench_dir: Path = args.bench_dir.resolve()
    targets = {"sqlite": sqlite_target(bench_dir), "postgresql": postgresql_target(bench_dir, args.postgres)}
    chosen = [targets[name] for name in args.databases]
    groups: dict[str, Callable[[], tuple[Any, str]]] = {
        "api": lambda: _run_api(chosen, args),
        "sweepers": lambda: _run_sweepers(chosen, args),
        "crypto": lambda: _run_crypto(targets["sqlite"], args),
        "voice": lambda: voice.run(chosen, args, machine=_machine()),
        "jobs": lambda: jobs.run(chosen, args, machine=_machine()),
        "dashboard": lambda: dashboard.run(chosen, args, machine=_machine()),
    }
    started = time.monotonic()
    measured_any = False
    for group in args.only:
        say(f"== {group} ==")
        try:
            run, section = groups[group]()
        except KeyboardInterrupt:
            say(
                f"interrupted: bench databases removed; the {group} section of the report was left unchanged."
            )
            return 130
        raw = bench_dir / f"results-{group}.json"
        raw.parent.mkdir(parents=True, exist_ok=True)
        raw.write_text(json.dumps(dataclasses.asdict(run), default=str, indent=2))
        say(f"{group} done in {run.seconds / 60:.1f} min; raw results in {raw}")
        backends = getattr(run, "backends", None)
        if backends is not None and not any(backend.sizes for backend in backends):
            continue  # every database skipped: keep the last real numbers
        measured_any = True
        if not args.no_report:
            report.write(args.output, section, name=f"{group}-bench")
            say(f"updated the {group} section of {args.output}")
    say(f"all done in {(time.monotonic() - started) / 60:.1f} min")
    return 0 if measured_any else 1


if __name__ == "__main__":
    sys.exit(main())
