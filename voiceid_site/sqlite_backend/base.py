"""Django's SQLite backend, waiting for the write lock in short steps instead of SQLite's long sleeps.

SQLite lets one connection write at a time. A transaction here starts with BEGIN IMMEDIATE (settings:
``transaction_mode``), which takes the write lock or waits for it, and SQLite's own wait (its busy handler,
which the ``timeout`` option sets) sleeps 1, 2, 5, 10, 15, 20, 25 ms... between tries, however soon the lock
is free again. With 50 calls streaming (about 250 write transactions a second from two web workers' four
threads) a transaction waited 1.3-1.5 ms at BEGIN on average and up to 80 ms, 9-11 s of each worker's
90 s run, much of it asleep with the lock already free. Waiting in short steps: 0.75-0.84 ms on average, 18 ms
at most (docs/benchmarks.md; what that did to the 50-call run was within the VM's swings from run to run).

So BEGIN waits here, in steps that start at 50 us and double up to 2 ms, for as long as the ``timeout``
option allows, then fails as SQLite would ("database is locked"). Every other statement keeps SQLite's own
wait: inside a transaction the connection already holds the lock, so only autocommit writes outside
``transaction.atomic`` could wait, and none is on a hot path.
"""

from __future__ import annotations

import sqlite3
import time

from django.db.backends.sqlite3 import base

_FIRST_STEP_SECONDS = 0.00005
_LONGEST_STEP_SECONDS = 0.002
_sleep = time.sleep  # a name of this module's, for tests to watch


def _locked(error: sqlite3.OperationalError) -> bool:
    return getattr(error, "sqlite_errorcode", None) == sqlite3.SQLITE_BUSY or "locked" in str(error)


class DatabaseWrapper(base.DatabaseWrapper):
    def _start_transaction_under_autocommit(self) -> None:
        begin = "BEGIN" if self.transaction_mode is None else f"BEGIN {self.transaction_mode}"
        timeout = float(self.settings_dict["OPTIONS"].get("timeout", 5))
        raw = self.connection
        # No busy handler for this statement: a busy lock fails at once and is tried again below.
        raw.execute("PRAGMA busy_timeout = 0")
        try:
            deadline = time.monotonic() + timeout
            step = _FIRST_STEP_SECONDS
            while True:
                try:
                    raw.execute(begin)
                    return
                except sqlite3.OperationalError as error:
                    if not _locked(error) or time.monotonic() + step > deadline:
                        with self.wrap_database_errors:
                            raise
                _sleep(step)
                step = min(step * 2, _LONGEST_STEP_SECONDS)
        finally:
            raw.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
