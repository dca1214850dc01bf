"""gunicorn settings that `make run` (manage.py runstack) serves with: `--config python:voiceid_site.gunicorn_conf`.

gunicorn's threaded worker stops waiting for a request that has not started within a few seconds, but once
a request's headers are in, a worker thread reads its body with no time limit: a client that announces a
Content-Length and then sends less holds that thread until it hangs up, and a few such clients hold them
all. Each request's socket therefore gives up on a body that stalls (no byte for `VOICEID_BODY_STALL_SECONDS`,
default 30). The read then fails, the request is answered 400 and the thread is free again. A slow upload
that keeps sending is not cut off: the limit is on silence, not on the whole body.

In production a reverse proxy that buffers request bodies (nginx does by default) in front of gunicorn does
the same and more; this keeps the server itself from being held when it is exposed directly.
"""

from __future__ import annotations

import os
from typing import Any

BODY_STALL_SECONDS = float(os.environ.get("VOICEID_BODY_STALL_SECONDS", "30"))


def pre_request(worker: Any, req: Any) -> None:
    """gunicorn's hook before each request: bound how long its body may stall (see the module docstring)."""
    worker.log.debug("%s %s", req.method, req.path)  # what gunicorn's default hook does
    sock = getattr(getattr(req, "unreader", None), "sock", None)
    if sock is not None:
        sock.settimeout(BODY_STALL_SECONDS)
