"""Serve the web app with a Celery worker and Celery beat beside it; Ctrl-C stops all three."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

_STOP_GRACE_SECONDS = 15


_BLAS_THREADS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def _processes(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1:
        raise argparse.ArgumentTypeError(f"a whole number of processes, 1 or more, not {text!r}")
    return count


class Command(BaseCommand):
    help = "Run gunicorn, a Celery worker and Celery beat together (what `make run` starts)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", default="8000")
        parser.add_argument(
            "--web-workers",
            type=_processes,
            help="gunicorn worker processes (default: WEB_CONCURRENCY, or one more than the cores; "
            "voiceid_site/gunicorn_conf.py says why processes and not threads).",
        )
        parser.add_argument("--job-workers", type=_processes, default=1, help="Celery worker processes.")

    def handle(self, *args: Any, **options: Any) -> None:
        # gunicorn reads the same settings; checked here first, a bad WEB_CONCURRENCY is named before anything
        # starts (gunicorn itself would stop on a non-number with only a traceback).
        from voiceid_site import gunicorn_conf  # noqa: F401

        python = sys.executable
        commands = {
            "web": [
                python, "-m", "gunicorn", "voiceid_site.wsgi",
                "--config", "python:voiceid_site.gunicorn_conf",
                "--bind", f"{options['host']}:{options['port']}",
                *(["--workers", str(options["web_workers"])] if options["web_workers"] else []),
                "--access-logfile", "-", "--graceful-timeout", "10",
                # The path without its query string: a dashboard search carries a customer id (personal
                # data, which voiceid keeps only encrypted) in the URL.
                "--access-logformat", '%(h)s %(t)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms',
            ],
            "worker": [
                python, "-m", "celery", "-A", "voiceid_site", "worker",
                "--concurrency", str(options["job_workers"]), "--loglevel", "INFO",
            ],
            "beat": [
                python, "-m", "celery", "-A", "voiceid_site", "beat",
                "--schedule", settings.CELERY_BEAT_SCHEDULE_FILENAME, "--loglevel", "INFO",
            ],
        }  # fmt: skip
        # Each request or task runs the speaker model on one core: a multi-threaded BLAS in every process
        # would only oversubscribe the cores the processes already share.
        env = {**os.environ, **{name: os.environ.get(name, "1") for name in _BLAS_THREADS}}
        processes = {name: subprocess.Popen(command, env=env) for name, command in commands.items()}
        url = f"http://{options['host']}:{options['port']}/"
        self.stdout.write(
            self.style.SUCCESS(f"voiceid is starting on {url} (web, worker, beat). Ctrl-C stops.")
        )
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        try:
            while True:
                for name, process in processes.items():
                    if process.poll() is not None:
                        self.stderr.write(
                            f"{name} exited with status {process.returncode}; stopping the others."
                        )
                        raise KeyboardInterrupt
                time.sleep(0.5)
        except KeyboardInterrupt:
            self._stop(processes)

    def _stop(self, processes: dict[str, subprocess.Popen[bytes]]) -> None:
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + _STOP_GRACE_SECONDS
        for process in processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
        self.stdout.write("voiceid stopped.")
