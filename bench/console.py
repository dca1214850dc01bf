"""What every bench group shares at the terminal: progress lines, and waiting for a quiet machine."""

from __future__ import annotations

import os
import time
from pathlib import Path

QUIET_CORES = 0.3  # background CPU below this counts as an idle machine


def say(message: str) -> None:
    print(message, flush=True)


def busy_cores(seconds: float = 1.0) -> float | None:
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


def wait_quiet(limit_seconds: float) -> float | None:
    """Wait (up to a limit) for other processes to leave the CPU alone; the background load measured last."""
    deadline = time.monotonic() + limit_seconds
    busy = busy_cores()
    while busy is not None and busy > QUIET_CORES and time.monotonic() < deadline:
        say(f"    other processes keep {busy:.1f} cores busy; waiting for the machine to quieten …")
        time.sleep(2)
        busy = busy_cores()
    if busy is not None and busy > QUIET_CORES:
        say(f"    warning: measuring anyway with {busy:.1f} cores busy elsewhere; numbers will be low")
    return busy
