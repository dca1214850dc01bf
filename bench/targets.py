"""The databases the bench runs against, and the environment voiceid gets for each."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.prepare import RESULT_PREFIX

ROOT = Path(__file__).resolve().parent.parent
# Dedicated: the bench drops and recreates it, so it must never be a database anyone else uses.
BENCH_DATABASE = "voiceid_bench"
# Settings that would point the bench at shared services or another secret; the bench sets its own.
_INHERITED_OUT = (
    "DATABASE_URL",
    "REDIS_URL",
    "CELERY_BROKER_URL",
    "SECRET_KEY_FILE",
    "DJANGO_SETTINGS_MODULE",
    "CONN_MAX_AGE",
)


class Skipped(Exception):
    """This database cannot be benchmarked here (the message says why); the others still run."""


@dataclass(frozen=True)
class Target:
    key: str  # "sqlite" or "postgresql"
    title: str
    var_dir: Path
    database_url: str | None  # None: the embedded SQLite default
    postgres_server: str | None = None  # postgres://user@host:port, for creating and dropping the database

    def env(self, secret_key: str) -> dict[str, str]:
        env = {name: value for name, value in os.environ.items() if name not in _INHERITED_OUT}
        env.update(
            DJANGO_SETTINGS_MODULE="voiceid_site.settings",
            DEBUG="false",
            SECRET_KEY=secret_key,
            # The API logs one JSON line per request at INFO: at thousands of requests a second that is
            # a benchmark of the terminal, not of voiceid.
            LOG_LEVEL="WARNING",
            VOICEID_VAR_DIR=str(self.var_dir),
            # Bench domains name a throwaway KmsKeyId: the local keyring creates it on first use. This is off
            # by default whenever DATABASE_URL is set, so PostgreSQL needs it said.
            VOICEID_KMS_AUTO_CREATE="true",
            PYTHONUNBUFFERED="1",
        )
        if self.database_url:
            env["DATABASE_URL"] = self.database_url
        return env

    def reset(self) -> None:
        """Start from nothing: an empty var dir and, for PostgreSQL, a freshly created bench database."""
        shutil.rmtree(self.var_dir, ignore_errors=True)
        self.var_dir.mkdir(parents=True)
        if self.postgres_server:
            self._admin(
                f"DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)", f"CREATE DATABASE {BENCH_DATABASE}"
            )

    def teardown(self) -> None:
        # Keep the server log: it is the only trace of a failed run.
        for path in self.var_dir.iterdir() if self.var_dir.exists() else ():
            if path.name != "gunicorn.log":
                shutil.rmtree(path) if path.is_dir() else path.unlink()
        if self.postgres_server:
            self._admin(f"DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)")

    def check_reachable(self) -> None:
        if self.postgres_server:
            self._admin("SELECT 1")

    def _admin(self, *statements: str) -> None:
        import psycopg

        try:
            # The maintenance database: a database cannot be dropped from a connection to itself.
            with psycopg.connect(
                f"{self.postgres_server}/postgres", autocommit=True, connect_timeout=3
            ) as conn:
                for statement in statements:
                    conn.execute(statement)  # type: ignore[arg-type]  # constant SQL built above
        except psycopg.OperationalError as error:
            reason = " ".join(str(error).split())
            raise Skipped(f"PostgreSQL at {self.postgres_server} is unreachable ({reason}).") from None


def sqlite_target(bench_dir: Path) -> Target:
    return Target(
        key="sqlite", title="SQLite (embedded default)", var_dir=bench_dir / "sqlite", database_url=None
    )


def postgresql_target(bench_dir: Path, server: str) -> Target:
    server = server.rstrip("/")
    return Target(
        key="postgresql",
        title="PostgreSQL",
        var_dir=bench_dir / "postgresql",
        database_url=f"{server}/{BENCH_DATABASE}",
        postgres_server=server,
    )


def prepare(env: dict[str, str], *args: str) -> dict[str, Any]:
    """Run a `bench.prepare` command under `env` and return its result."""
    completed = subprocess.run(
        [sys.executable, "-m", "bench.prepare", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )  # stderr passes through: seeding progress and any traceback show in the bench's own output
    if completed.returncode != 0:
        raise RuntimeError(f"bench.prepare {' '.join(args)} failed with status {completed.returncode}")
    for line in completed.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            return json.loads(line.removeprefix(RESULT_PREFIX))
    raise RuntimeError(f"bench.prepare {' '.join(args)} printed no result")
