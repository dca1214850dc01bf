"""A whole voiceid in real processes for worker tests: web server, Celery workers, database, broker.

On the embedded default it runs on SQLite and the filesystem broker in a temporary folder; when the test
run has DATABASE_URL / CELERY_BROKER_URL (PostgreSQL + Redis in CI) it creates a database of its own on that
server and a Redis database of its own, so the processes share exactly what production processes share.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from tests.conftest import ApiCredentials, make_client
from voiceid_site.awsjson.model import DATA_PATH

ROOT = Path(__file__).resolve().parents[2]
STACK_REDIS_DB = 13  # tests of the PostgreSQL + Redis run use 14 and 15


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(condition: Callable[[], Any], *, seconds: float, what: str, every: float = 0.2) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {seconds} s waiting for {what}")


class Stack:
    def __init__(self, folder: Path, *, broker_url: str | None = None, **settings: str) -> None:
        self.folder = folder
        self.processes: list[subprocess.Popen[bytes]] = []
        self.database: str | None = None
        self.env = {
            key: value
            for key, value in os.environ.items()
            if key not in {"DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE"}
        }
        self.env.update(
            DJANGO_SETTINGS_MODULE="voiceid_site.settings",
            DEBUG="true",
            VOICEID_VAR_DIR=str(folder / "var"),
            VOICEID_LOCAL_S3_ROOT=str(folder / "s3"),
            VOICEID_KMS_AUTO_CREATE="true",
            LOG_LEVEL="WARNING",
            **settings,
        )
        if base := os.environ.get("DATABASE_URL"):
            self.database = f"voiceid_stack_{secrets.token_hex(4)}"
            self._admin_sql(base, f'CREATE DATABASE "{self.database}"')
            self.env["DATABASE_URL"] = urlunsplit(urlsplit(base)._replace(path=f"/{self.database}"))
        broker = broker_url or os.environ.get("CELERY_BROKER_URL")
        if broker and broker.startswith("redis://"):
            if not broker_url:
                broker = urlunsplit(urlsplit(broker)._replace(path=f"/{STACK_REDIS_DB}"))
                _flush_redis(broker)
            self.env["CELERY_BROKER_URL"] = broker
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    # --- processes ---------------------------------------------------------------------------------

    def manage(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def shell(self, code: str) -> Any:
        """Run Python in a Django shell of the stack; it prints one JSON value, returned decoded."""
        return json.loads(self.manage("shell", "-c", code).strip().splitlines()[-1])

    def start(self) -> None:
        self.manage("migrate", "--noinput")
        self._spawn([sys.executable, "manage.py", "runserver", f"127.0.0.1:{self.port}", "--noreload"])
        wait_for(self._answers, seconds=60, what="the web server")

    def worker(self, *, beat: bool = False, name: str = "worker") -> subprocess.Popen[bytes]:
        # The solo pool runs tasks in the worker process itself, so a SIGKILL stops it mid-entry.
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "voiceid_site",
            "worker",
            "--pool=solo",
            "-l",
            "WARNING",
        ]
        command += ["-n", f"{name}-{secrets.token_hex(3)}@%h"]
        if beat:
            command += ["-B", "-s", str(self.folder / f"beat-{secrets.token_hex(3)}")]
        return self._spawn(command)

    def wait_for_workers(self, count: int, *, seconds: float = 90) -> None:
        """Until `count` workers answer a ping through the broker: started, connected and consuming. On a
        timeout the error carries the last ping's output and the processes' logs (seen once, unexplained)."""
        last_ping = [""]

        def answering() -> bool:
            done = subprocess.run(
                [sys.executable, "-m", "celery", "-A", "voiceid_site", "inspect", "ping", "--json", "-t", "2"],
                cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            last_ping[0] = (done.stdout + done.stderr)[-2000:]
            try:
                return len(json.loads(done.stdout.strip().splitlines()[-1])) >= count
            except (IndexError, ValueError):
                return False

        try:
            wait_for(answering, seconds=seconds, what=f"{count} workers to answer a ping", every=1.0)
        except AssertionError as error:
            raise AssertionError(
                f"{error}\nthe last ping said:\n{last_ping[0]}\nlogs:\n{self.logs()}"
            ) from None

    def _spawn(self, command: list[str]) -> subprocess.Popen[bytes]:
        log = open(self.folder / f"process-{len(self.processes)}.log", "wb")  # noqa: SIM115 - kept open by the child
        process = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        self.processes.append(process)
        return process

    @staticmethod
    def kill(process: subprocess.Popen[bytes]) -> None:
        process.send_signal(signal.SIGKILL)
        process.wait()

    def _answers(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), 0.5).close()
            return True
        except OSError:
            return False

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self.database:
            self._admin_sql(
                os.environ["DATABASE_URL"], f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)'
            )

    def logs(self) -> str:
        return "\n".join(
            path.read_text(errors="replace")[-3000:] for path in sorted(self.folder.glob("process-*.log"))
        )

    # --- API ---------------------------------------------------------------------------------------

    def client(self) -> Any:
        keys = json.loads(self.manage("create_access_key", "integration", "--json"))
        credentials = ApiCredentials(keys["AccessKeyId"], keys["SecretAccessKey"])
        return make_client(self.url, credentials, data_path=str(DATA_PATH))

    @staticmethod
    def _admin_sql(url: str, statement: str) -> None:
        import psycopg

        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute(statement)  # type: ignore[arg-type]


def _flush_redis(url: str) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()
