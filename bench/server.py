"""gunicorn, started as in production, for the length of one measurement."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

from bench import procfs
from bench.targets import ROOT
from voiceid_site import gunicorn_conf

# What `make run` serves with: gunicorn_conf's processes and threads for this machine.
WORKERS: int = gunicorn_conf.workers
THREADS: int = gunicorn_conf.threads
_START_TIMEOUT_SECONDS = 60
_STOP_GRACE_SECONDS = 15


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """`with Server(env, log) as server:` serves voiceid on server.port and stops it (and its workers) after.

    `workers` and `threads` are gunicorn's; the defaults are what `make run` serves with.
    """

    def __init__(
        self, env: dict[str, str], log_path: Path, *, workers: int = WORKERS, threads: int = THREADS
    ) -> None:
        self.env = env
        self.log_path = log_path
        self.worker_count = workers
        self.threads = threads
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "gunicorn", "voiceid_site.wsgi",
            "--config", "python:voiceid_site.gunicorn_conf",
            "--bind", f"127.0.0.1:{self.port}",
            "--workers", str(self.worker_count), "--threads", str(self.threads),
        ]  # fmt: skip

    def __enter__(self) -> Server:
        log = self.log_path.open("ab")
        # A session of its own: Ctrl-C reaches only the bench, which then stops gunicorn in order
        # (SIGTERM to the arbiter, which stops its workers) instead of racing it.
        self.process = subprocess.Popen(
            self.command, cwd=ROOT, env=self.env, stdout=log, stderr=log, start_new_session=True
        )
        log.close()
        try:
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def workers(self) -> list[int]:
        """The worker pids (the arbiter only supervises; the workers serve and use the CPU)."""
        return procfs.children(self.process.pid) if self.process else []

    def _wait_healthy(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + _START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"gunicorn exited with status {self.process.returncode}: see {self.log_path}"
                )
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/health")
                status = conn.getresponse().status
                conn.close()
                if status == 200 and len(self.workers) == self.worker_count:
                    return
            except OSError:
                pass  # not listening yet
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer GET /health with 200 in {_START_TIMEOUT_SECONDS} s")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=_STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            # The arbiter's own group: workers it could not stop go with it.
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
