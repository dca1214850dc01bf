"""The sweeper group: how long the retention sweepers take over big domains, and what they cost meanwhile.

For each database and size, a fresh database gets one domain of that many speakers, half of them idle for
longer than the expiry period; then, each in a process of its own, the expiry sweeper runs, runs again
with nothing left to do, and the erase sweeper removes the domain after it was suspended a month ago. The
purge sweeper runs once per database over small stored files (its cost follows the files, not the
speakers). Each step is a `bench.prepare` command: see bench/sweep_steps.py.
"""

from __future__ import annotations

import argparse
import secrets
from typing import Any

from bench.console import say, wait_quiet
from bench.results import SWEEP_SCENARIOS, SweepBackend, SweepMeasurement, SweepSize
from bench.targets import Skipped, Target, prepare


def _measure(env: dict[str, str], scenario: str, args: argparse.Namespace, *extra: str) -> SweepMeasurement:
    background = wait_quiet(args.quiet_wait)
    command = ["sweep", "--scenario", scenario, *extra]
    if args.trace_memory:
        command.append("--trace")
    measured = SweepMeasurement.of(prepare(env, *command), background)
    say(
        f"    {SWEEP_SCENARIOS.get(scenario, 'Purge'):<48} {measured.seconds:8.2f} s  "
        f"{measured.transactions:5} transactions (longest {measured.transaction_max_ms:6.1f} ms)  "
        f"RSS +{measured.rss_growth_mib:.1f} MiB  {measured.counts}"
    )
    return measured


def _fresh(target: Target, env: dict[str, str]) -> dict[str, Any]:
    """An empty, migrated database: each size starts without the dead rows of the last one's erase."""
    target.reset()
    return prepare(env, "setup")


def run_backend(target: Target, args: argparse.Namespace) -> SweepBackend:
    backend = SweepBackend(key=target.key, title=target.title)
    say(f"{target.title}:")
    try:
        target.check_reachable()
    except Skipped as reason:
        backend.skipped = str(reason)
        say(f"  skipped: {reason}")
        return backend
    env = target.env(secret_key=secrets.token_urlsafe(48))
    try:
        for size in args.sweep_sizes:
            backend.version = _fresh(target, env)["version"]
            say(f"  seeding a domain of {size:,} speakers …")
            seeded = prepare(env, "sweep-seed", "--size", str(size))
            sized = SweepSize(size=size, seed_seconds=seeded["seed_seconds"], due=seeded["due"])
            backend.sizes.append(sized)
            for scenario in SWEEP_SCENARIOS:
                extra = ("--domain-id", seeded["domain_id"]) if scenario == "erase" else ()
                sized.measurements[scenario] = _measure(env, scenario, args, *extra)
        if args.erasures:
            backend.version = _fresh(target, env)["version"]
            say(f"  storing {args.erasures:,} x {args.files_per_erasure} files to purge …")
            prepare(
                env, "purge-seed", "--erasures", str(args.erasures), "--files", str(args.files_per_erasure)
            )
            backend.purge = _measure(env, "purge", args)
    finally:
        if not args.keep:
            target.teardown()
    return backend
