"""gunicorn settings that `make run` (manage.py runstack) serves with: `--config python:voiceid_site.gunicorn_conf`.

gunicorn's threaded worker stops waiting for a request that has not started within a few seconds, but once
a request's headers are in, a worker thread reads its body with no time limit: a client that announces a
Content-Length and then sends less holds that thread until it hangs up, and a few such clients hold them
all. Each request's socket therefore gives up on a body that stalls (no byte for `VOICEID_BODY_STALL_SECONDS`,
default 30). The read then fails, the request is answered 400 and the thread is free again. A slow upload
that keeps sending is not cut off: the limit is on silence, not on the whole body.

Only bodies: a client that stops half-way through its headers still holds a thread (gunicorn reads them
before any hook runs). In production a reverse proxy that buffers requests (nginx does by default) in front
of gunicorn covers both; this keeps the server itself from being held by a body when exposed directly.

Processes, not threads: one thread a worker (gunicorn's threaded worker, for keep-alive) and one worker more
than the cores (`WEB_CONCURRENCY` overrides). A request is mostly CPU-bound Python and numpy; numpy releases
the GIL around each small array operation of the speaker model, so two busy threads of one process hand the
GIL back and forth hundreds of times a chunk. Measured: the engine took 5.2-5.4 ms of CPU a chunk with two
threads of a process streaming against 3.5-3.9 ms with one, and no less wall time; a worker's threads only
compete. With 50 calls streaming on 2 cores, 3 workers of one thread kept EvaluateSession's p99 at 60-107 ms
where 2 workers of 2 threads gave 103-190 ms in the same interleaved runs (docs/benchmarks.md). The extra
process keeps both cores busy while one worker waits on the database or the network. The cores are those
this process may use: its CPU affinity, and a cgroup's CPU quota (a container's `--cpus`) when lower.

With one thread, a connection that opens and sends nothing (a browser's speculative preconnect) must not
hold it: gunicorn's threaded worker waits up to 5 s for a new connection's first byte before handing it to
its poller. Here it waits NEW_CONNECTION_WAIT_SECONDS, then the poller keeps the connection and a thread
takes it when its request arrives.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from gunicorn.workers import gthread

NEW_CONNECTION_WAIT_SECONDS = 0.02


def _stall_seconds(raw: str) -> float:
    try:
        seconds = float(raw)
    except ValueError:
        seconds = 0.0
    # 0 would make every socket non-blocking (a body not yet in would be refused at once); below 0 is an error.
    if not 0 < seconds < float("inf"):
        raise SystemExit(f"VOICEID_BODY_STALL_SECONDS must be a number of seconds above 0, got {raw!r}.")
    return seconds


def _usable_cores(cgroup_cpu_max: Path = Path("/sys/fs/cgroup/cpu.max")) -> int:
    """The cores this process may run on: its affinity (where the OS has it), capped by a cgroup v2 quota."""
    affinity = getattr(os, "sched_getaffinity", None)
    cores = len(affinity(0)) if affinity else (os.cpu_count() or 1)
    try:
        quota, period = cgroup_cpu_max.read_text().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass  # no cgroup v2 quota readable: the affinity stands
    return cores


def _worker_count(raw: str | None) -> int:
    if raw is None:
        return _usable_cores() + 1
    try:
        count = int(raw)
    except ValueError:
        count = 0  # gunicorn itself would stop on a non-number with only a traceback
    if count < 1:
        raise SystemExit(
            f"WEB_CONCURRENCY must be a whole number of worker processes, 1 or more, got {raw!r}."
        )
    return count


BODY_STALL_SECONDS = _stall_seconds(os.environ.get("VOICEID_BODY_STALL_SECONDS", "30"))

# gunicorn's own settings (a command-line --workers or --threads still overrides them).
worker_class = "gthread"  # keep-alive, and the stall hook below, even at one thread
threads = 1
workers = _worker_count(os.environ.get("WEB_CONCURRENCY"))

# Not a gunicorn setting: the threaded worker reads this module constant each time (gunicorn is pinned). It
# also bounds draining a body the app left unread before keeping a connection alive: past it, the connection
# is closed instead, which costs the client a reconnect.
gthread.DEFAULT_WORKER_DATA_TIMEOUT = NEW_CONNECTION_WAIT_SECONDS


def pre_request(worker: Any, req: Any) -> None:
    """gunicorn's hook before each request: bound how long its body may stall (see the module docstring)."""
    worker.log.debug("%s %s", req.method, req.path)  # what gunicorn's default hook does
    sock = getattr(getattr(req, "unreader", None), "sock", None)
    if sock is not None:
        sock.settimeout(BODY_STALL_SECONDS)
