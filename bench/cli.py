"""The runner: for each database, seed each domain size, serve it with gunicorn, load it, then report."""

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
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from bench import load, report
from bench.prepare import PAGE_SIZE
from bench.results import SCENARIOS, BackendRun, LoadResult, Run, SizeRun
from bench.server import THREADS, WORKERS, Server
from bench.targets import ROOT, Skipped, Target, postgresql_target, prepare, sqlite_target

DEFAULT_SIZES = [1_000, 1_000_000]
DEFAULT_CONNECTIONS = [1, 4]
DEFAULT_POSTGRES = "postgres://postgres@127.0.0.1:5432"
HOST = "127.0.0.1"
_QUIET_CORES = 0.3  # background CPU below this counts as an idle machine


def _int_list(text: str) -> list[int]:
    try:
        values = sorted({int(part.replace("_", "")) for part in text.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or values[0] < 1:
        raise argparse.ArgumentTypeError("expected positive integers")
    return values


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Requests per second and p50/p99 latency of DescribeSpeaker and ListSpeakers "
        "(first, deep and last page) on SQLite and PostgreSQL, written to docs/benchmarks.md.",
    )
    parser.add_argument(
        "--sizes", type=_int_list, default=DEFAULT_SIZES, help="speakers per domain (1000,1000000)"
    )
    parser.add_argument(
        "--databases", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql (both)"
    )
    parser.add_argument(
        "--connections", type=_int_list, default=DEFAULT_CONNECTIONS, help="concurrent clients per run (1,4)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of every scenario (3)")
    parser.add_argument("--duration", type=float, default=4.0, help="measured seconds per round (4)")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds before each round (1)")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=60.0,
        help="seconds to wait, before each domain size, for other processes to free the CPU (60)",
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


def _say(message: str) -> None:
    print(message, flush=True)


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
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": memory,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "django": django.get_version(),
        "gunicorn": gunicorn.__version__,
        "sqlite": sqlite3.sqlite_version,
    }


def _busy_cores(seconds: float = 1.0) -> float | None:
    """Cores kept busy by other processes over `seconds`, while the bench itself is idle: anything well
    above zero (a test suite, a build) makes this run's numbers lower than the machine can do."""

    def sample() -> tuple[int, int]:
        fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + fields[4]  # idle + iowait
        return sum(fields[:8]) - idle, sum(fields[:8])

    try:
        busy_from, total_from = sample()
        time.sleep(seconds)
        busy_to, total_to = sample()
    except (OSError, ValueError, IndexError):
        return None  # not Linux
    total = total_to - total_from
    return (busy_to - busy_from) / total * (os.cpu_count() or 1) if total else 0.0


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


def _wait_quiet(limit_seconds: float) -> float | None:
    """Wait (up to a limit) for other processes to leave the CPU alone; the background load measured last."""
    deadline = time.monotonic() + limit_seconds
    busy = _busy_cores()
    while busy is not None and busy > _QUIET_CORES and time.monotonic() < deadline:
        _say(f"    other processes keep {busy:.1f} cores busy; waiting for the machine to quieten …")
        time.sleep(2)
        busy = _busy_cores()
    if busy is not None and busy > _QUIET_CORES:
        _say(f"    warning: measuring anyway with {busy:.1f} cores busy elsewhere; numbers will be low")
    return busy


def _run_size(
    target: Target, env: dict[str, str], credentials: dict[str, Any], size: int, args: argparse.Namespace
) -> SizeRun:
    _say(f"  seeding a domain of {size:,} speakers …")
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
        run.background_cores = _wait_quiet(args.quiet_wait)
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
                    _say(
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
    _say(f"{target.title}:")
    try:
        target.check_reachable()
        target.reset()
    except Skipped as reason:
        backend.skipped = str(reason)
        _say(f"  skipped: {reason}")
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


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    chosen = [name.strip() for name in args.databases.split(",") if name.strip()]
    unknown = set(chosen) - {"sqlite", "postgresql"}
    if unknown:
        _parser().error(f"unknown database(s): {', '.join(sorted(unknown))}")
    signal.signal(signal.SIGTERM, _interrupt)
    bench_dir: Path = args.bench_dir.resolve()
    targets = {"sqlite": sqlite_target(bench_dir), "postgresql": postgresql_target(bench_dir, args.postgres)}

    started_at, started = datetime.now(UTC), time.monotonic()
    try:
        backends = [_run_backend(targets[name], args) for name in chosen]
    except KeyboardInterrupt:
        _say("interrupted: servers stopped, bench databases removed; the report was left unchanged.")
        return 130
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
    bench_dir.mkdir(parents=True, exist_ok=True)
    (bench_dir / "results.json").write_text(json.dumps(dataclasses.asdict(run), default=str, indent=2))
    _say(f"done in {run.seconds / 60:.1f} min; raw results in {bench_dir / 'results.json'}")
    if not args.no_report:
        report.write(args.output, report.render(run, workers=WORKERS, threads=THREADS))
        _say(f"updated {args.output}")
    return 0 if any(backend.sizes for backend in backends) else 1


if __name__ == "__main__":
    sys.exit(main())
