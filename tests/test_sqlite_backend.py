"""The SQLite backend waits for another connection's write lock itself (voiceid_site/sqlite_backend says why).

Each test opens its own database file and a second, plain sqlite3 connection that holds the write lock, as
another web worker does while it saves a chunk.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import OperationalError, connection, connections, transaction

from voiceid_site.sqlite_backend import base
from voiceid_site.sqlite_backend.base import DatabaseWrapper

ALIAS = "sqlite-lock-test"


@pytest.fixture
def database(tmp_path: Path, django_db_blocker: Any) -> Iterator[tuple[Path, DatabaseWrapper]]:
    path = tmp_path / "locks.sqlite3"
    with sqlite3.connect(path) as setup:
        setup.execute("PRAGMA journal_mode=WAL")
        setup.execute("CREATE TABLE chunks (n INTEGER)")
    settings_dict = {
        **connection.settings_dict,
        "ENGINE": "voiceid_site.sqlite_backend",
        "NAME": str(path),
        "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 2},
    }
    wrapper = DatabaseWrapper(settings_dict, alias=ALIAS)
    with django_db_blocker.unblock():
        connections[ALIAS] = wrapper
        try:
            yield path, wrapper
        finally:
            wrapper.close()
            del connections[ALIAS]


def _holder(path: Path) -> sqlite3.Connection:
    """Another connection, holding the write lock until it commits."""
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO chunks VALUES (1)")
    return holder


def _busy_timeout(wrapper: DatabaseWrapper) -> int:
    with wrapper.cursor() as cursor:
        cursor.execute("PRAGMA busy_timeout")
        return int(cursor.fetchone()[0])


def test_a_transaction_waits_for_another_connections_write_lock_then_writes(database):
    path, wrapper = database
    holder = _holder(path)
    release = threading.Timer(0.3, holder.execute, args=("COMMIT",))
    release.start()
    try:
        with transaction.atomic(using=ALIAS), wrapper.cursor() as cursor:
            cursor.execute("INSERT INTO chunks VALUES (2)")
    finally:
        release.join()
        holder.close()

    with sqlite3.connect(path) as reader:
        assert sorted(row[0] for row in reader.execute("SELECT n FROM chunks")) == [1, 2]
    # The other statements still wait with SQLite's own handler, for the configured timeout.
    assert _busy_timeout(wrapper) == 2000


def test_a_lock_held_past_the_timeout_fails_as_database_is_locked(database):
    path, wrapper = database
    wrapper.settings_dict["OPTIONS"]["timeout"] = 0.2
    holder = _holder(path)
    try:
        with pytest.raises(OperationalError, match="database is locked"), transaction.atomic(using=ALIAS):
            pass
    finally:
        holder.execute("ROLLBACK")
        holder.close()

    assert _busy_timeout(wrapper) == 200
    with transaction.atomic(using=ALIAS), wrapper.cursor() as cursor:  # the connection is still usable
        cursor.execute("INSERT INTO chunks VALUES (3)")


def test_the_wait_goes_in_steps_of_2_ms_at_most(database, monkeypatch):
    # SQLite's own handler sleeps 1, 2, 5, 10, 15, 20, 25 ms... whenever the lock turns out to be free.
    path, _wrapper = database
    steps: list[float] = []
    monkeypatch.setattr(base, "_sleep", lambda seconds: steps.append(seconds) or time.sleep(seconds))
    holder = _holder(path)
    release = threading.Timer(0.1, holder.execute, args=("COMMIT",))
    release.start()
    try:
        with transaction.atomic(using=ALIAS):
            pass
    finally:
        release.join()
        holder.close()

    assert len(steps) > 5
    assert max(steps) <= 0.002
