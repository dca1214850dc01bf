"""Django's SQLite backend, waiting for the write lock in short steps instead of SQLite's long sleeps.

SQLite lets one connection write at a time. A transaction here starts with BEGIN IMMEDIATE (settings:
``transaction_mode``), which takes the write lock or waits for it, and SQLite's own wait (its busy handler,
which the ``timeout`` option sets) sleeps 1, 2, 5, 10, 15, 20, 25 ms... between tries, however soon the lock
is free again. With 50 calls streaming (about 250 write transactions a second from two web workers' four
threads, some 8,000 a worker in a run) a transaction waited 1.3-1.5 ms at BEGIN on average and up to 80 ms,
9-11 s of each worker's run, much of it asleep with the lock already free. Waiting in short steps: 0.75-0.84
ms on average, 18 ms at most (docs/benchmarks.md; what that did to the 50-call run was within the VM's swings
from run to run).

So BEGIN IMMEDIATE (or EXCLUSIVE) waits here, in steps that start at 50 us and double up to 2 ms, for as
long as the connection's busy timeout, then fails as SQLite would ("database is locked"). Every other
statement keeps SQLite's own wait: inside such a transaction the connection already holds the lock, so only
autocommit writes outside ``transaction.atomic`` could wait, and none is on a hot path. A deferred BEGIN
(no ``transaction_mode``) takes no lock and is left to Django.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from typing import Any

from django.db.backends.sqlite3 import base
from django.db.backends.utils import debug_transaction

_FIRST_STEP_SECONDS = 0.00005
_LONGEST_STEP_SECONDS = 0.002
_sleep = time.sleep  # a name of this module's, for tests to watch


def _busy(error: sqlite3.OperationalError) -> bool:
    """SQLITE_BUSY, extended codes included; not SQLITE_LOCKED (a shared-cache table lock: no wait helps)."""
    return getattr(error, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_BUSY


class DatabaseWrapper(base.DatabaseWrapper):
    busy_timeout_ms = 5000  # each connection's own, read when it opens (the timeout option, an init_command)

    def get_new_connection(self, conn_params: dict[str, Any]) -> sqlite3.Connection:
        connection = super().get_new_connection(conn_params)
        self.busy_timeout_ms = int(connection.execute("PRAGMA busy_timeout").fetchone()[0])
        return connection

    def _start_transaction_under_autocommit(self) -> None:
        if self.transaction_mode is None:
            super()._start_transaction_under_autocommit()
            return
        self.validate_thread_sharing()
        begin = f"BEGIN {self.transaction_mode}"
        raw = self.connection
        with debug_transaction(self, begin), self.wrap_database_errors:
            # No busy handler for this statement: a busy lock fails at once and is tried again below.
            raw.execute("PRAGMA busy_timeout = 0")
            try:
                self._begin_waiting(raw, begin)
            finally:
                # On a broken connection this fails too: the error that broke it, raised above, says more.
                with contextlib.suppress(sqlite3.Error):
                    raw.execute(f"PRAGMA busy_timeout = {self.busy_timeout_ms}")

    def _begin_waiting(self, raw: sqlite3.Connection, begin: str) -> None:
        deadline = time.monotonic() + self.busy_timeout_ms / 1000
        step = _FIRST_STEP_SECONDS
        while True:
            try:
                raw.execute(begin)
                return
            except sqlite3.OperationalError as error:
                left = deadline - time.monotonic()
                if not _busy(error) or left <= 0:
                    raise
            _sleep(min(step, left))
            step = min(step * 2, _LONGEST_STEP_SECONDS)
