"""The SQLite backend waits for another connection's write lock itself (voiceid_site/sqlite_backend says why).

Each test opens its own database file and a second, plain sqlite3 connection that holds the write lock, as
another web worker does while it saves a chunk. The lock is released from inside the backend's own wait
(after a number of its steps), not by a timer, so no test depends on how busy the machine is.
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
from django.test.utils import CaptureQueriesContext

from voiceid_site.sqlite_backend import base
from voiceid_site.sqlite_backend.base import DatabaseWrapper

ALIAS = "sqlite-lock-test"


@pytest.fixture
def path(tmp_path: Path) -> Path:
    path = tmp_path / "locks.sqlite3"
    with sqlite3.connect(path) as setup:
        setup.execute("PRAGMA journal_mode=WAL")
        setup.execute("CREATE TABLE chunks (n INTEGER)")
    return path


@pytest.fixture
def open_wrapper(path: Path, django_db_blocker: Any) -> Iterator[Any]:
    """Opens the backend on `path` with the given OPTIONS, registered as ALIAS for transaction.atomic."""
    opened: list[DatabaseWrapper] = []

    def open_with(**options: Any) -> DatabaseWrapper:
        settings_dict = {
            **connection.settings_dict,
            "ENGINE": "voiceid_site.sqlite_backend",
            "NAME": str(path),
            "OPTIONS": {"transaction_mode": "IMMEDIATE", **options},
        }
        wrapper = DatabaseWrapper(settings_dict, alias=ALIAS)
        connections[ALIAS] = wrapper
        opened.append(wrapper)
        return wrapper

    with django_db_blocker.unblock():
        try:
            yield open_with
        finally:
            for wrapper in opened:
                wrapper.close()
            del connections[ALIAS]


def _holder(path: Path) -> sqlite3.Connection:
    """Another connection, holding the write lock until it commits or rolls back."""
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO chunks VALUES (1)")
    return holder


def _watch_steps(monkeypatch: pytest.MonkeyPatch, *, release: sqlite3.Connection, after: int) -> list[float]:
    """Record the backend's steps; the holder commits once `after` of them are over."""
    steps: list[float] = []

    def step(seconds: float) -> None:
        steps.append(seconds)
        time.sleep(seconds)
        if len(steps) == after:
            release.execute("COMMIT")

    monkeypatch.setattr(base, "_sleep", step)
    return steps


def _busy_timeout(wrapper: DatabaseWrapper) -> int:
    with wrapper.cursor() as cursor:
        cursor.execute("PRAGMA busy_timeout")
        return int(cursor.fetchone()[0])


def test_a_transaction_waits_for_the_lock_in_short_steps_then_writes(
    path: Path, open_wrapper: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SQLite's own handler sleeps 1, 2, 5, 10, 15, 20, 25 ms... whenever the lock turns out to be free.
    wrapper = open_wrapper(timeout=2)
    holder = _holder(path)
    steps = _watch_steps(monkeypatch, release=holder, after=8)
    try:
        with transaction.atomic(using=ALIAS), wrapper.cursor() as cursor:
            cursor.execute("INSERT INTO chunks VALUES (2)")
    finally:
        holder.close()

    assert len(steps) == 8
    assert steps[0] == 0.00005 and max(steps) <= 0.002
    with sqlite3.connect(path) as reader:
        assert sorted(row[0] for row in reader.execute("SELECT n FROM chunks")) == [1, 2]
    # Other statements still wait with SQLite's own handler, for the configured timeout.
    assert _busy_timeout(wrapper) == 2000


def test_a_lock_held_past_the_timeout_fails_as_database_is_locked(path: Path, open_wrapper: Any) -> None:
    wrapper = open_wrapper(timeout=0.2)
    holder = _holder(path)
    # Should the wait never end, the lock goes after 5 s and the test fails instead of hanging.
    safety = threading.Timer(5, holder.execute, args=("ROLLBACK",))
    safety.start()
    started = time.monotonic()
    try:
        with pytest.raises(OperationalError, match="database is locked"), transaction.atomic(using=ALIAS):
            pass
    finally:
        waited = time.monotonic() - started
        safety.cancel()
        safety.join()
        if holder.in_transaction:
            holder.execute("ROLLBACK")
        holder.close()

    assert waited >= 0.2  # the whole timeout, not a first refusal
    assert _busy_timeout(wrapper) == 200
    with transaction.atomic(using=ALIAS), wrapper.cursor() as cursor:  # the connection is still usable
        cursor.execute("INSERT INTO chunks VALUES (3)")


def test_the_wait_lasts_the_busy_timeout_an_init_command_sets(
    path: Path, open_wrapper: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrapper = open_wrapper(init_command="PRAGMA busy_timeout = 7000")
    holder = _holder(path)
    _watch_steps(monkeypatch, release=holder, after=3)
    try:
        with transaction.atomic(using=ALIAS):
            pass
    finally:
        holder.close()

    assert _busy_timeout(wrapper) == 7000


def test_begin_is_logged_like_any_statement(open_wrapper: Any) -> None:
    wrapper = open_wrapper()
    with CaptureQueriesContext(wrapper) as captured, transaction.atomic(using=ALIAS):
        pass

    assert [query["sql"] for query in captured.captured_queries] == ["BEGIN IMMEDIATE", "COMMIT"]


def test_an_error_other_than_a_busy_lock_is_not_waited_out(
    open_wrapper: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrapper = open_wrapper(timeout=2)
    steps: list[float] = []
    monkeypatch.setattr(base, "_sleep", steps.append)
    wrapper.ensure_connection()
    wrapper.connection.execute("BEGIN")  # behind Django's back: BEGIN IMMEDIATE is then refused at once

    with pytest.raises(OperationalError, match="within a transaction"), transaction.atomic(using=ALIAS):
        pass

    assert steps == []
    wrapper.connection.execute("ROLLBACK")
