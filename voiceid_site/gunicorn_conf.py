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
"""

from __future__ import annotations

import os
from typing import Any


def _stall_seconds(raw: str) -> float:
    try:
        seconds = float(raw)
    except ValueError:
        seconds = 0.0
    # 0 would make every socket non-blocking (a body not yet in would be refused at once); below 0 is an error.
    if not 0 < seconds < float("inf"):
        raise SystemExit(f"VOICEID_BODY_STALL_SECONDS must be a number of seconds above 0, got {raw!r}.")
    return seconds


BODY_STALL_SECONDS = _stall_seconds(os.environ.get("VOICEID_BODY_STALL_SECONDS", "30"))


def pre_request(worker: Any, req: Any) -> None:
    """gunicorn's hook before each request: bound how long its body may stall (see the module docstring)."""
    worker.log.debug("%s %s", req.method, req.path)  # what gunicorn's default hook does
    sock = getattr(getattr(req, "unreader", None), "sock", None)
    if sock is not None:
        sock.settimeout(BODY_STALL_SECONDS)
