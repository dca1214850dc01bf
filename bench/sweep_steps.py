"""The Django side of the sweeper bench, run through `python -m bench.prepare` with one database's environment.

Every measurement runs in a process of its own, started for it: the process's RSS high-water mark
(`ru_maxrss`) before the sweep is that of Django with the sweepers imported and a connection open, and
whatever the sweep adds to it is the sweep's. A sweeper that loaded a million ids or model instances would
add hundreds of MiB; one that walks in batches adds about a batch's worth.
"""

from __future__ import annotations

import gc
import random
import resource
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from bench.prepare import SpeakerRow, check_readable, load_speakers, speaker_rows

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper

    from jobs.models import SweepRun

# Scenario key → the sweeper it runs.
SWEEPERS = {"expire": "expire_speakers", "expire_idle": "expire_speakers", "erase": "erase_domains"}
PURGE_FILE_BYTES = 8 * 1024  # a few seconds of compressed audio


def _log(message: str) -> None:
    print(f"    {message}", file=sys.stderr, flush=True)


def seed_sweep(size: int) -> dict[str, Any]:
    """A domain of `size` ENROLLED speakers, every other one idle for longer than the expiry period.

    Interleaved, not in two halves: every batch the expiry sweeper reads then spans both kinds of row, as
    in a real domain where callers who stopped calling are spread over the whole enrolment history.
    """
    from django.conf import settings
    from django.db.models import Count
    from django.utils import timezone

    from domains import services as domain_services
    from jobs.sweepers import years_before
    from speakers.models import Speaker

    started = time.monotonic()
    domain = domain_services.domain_create(name=f"sweep-{size}", kms_key_id="alias/bench", region="us-east-1")
    now = timezone.now()
    # A month either side of the cutoff: the sweep runs seconds or minutes after this, and must judge
    # every row the same way whenever it runs.
    stale = years_before(now, settings.VOICEID_SPEAKER_EXPIRY_YEARS) - timedelta(days=30)
    recent = now - timedelta(days=30)
    first: tuple[str, str] | None = None

    def rows() -> Iterator[SpeakerRow]:
        nonlocal first
        for index, (generated_id, customer_id) in enumerate(speaker_rows(size, random.Random(size))):
            first = first or (generated_id, customer_id)
            yield generated_id, customer_id, stale if index % 2 == 0 else recent

    # Created before the expiry period too, so that only last_accessed_at decides.
    load_speakers(domain, rows(), created_at=years_before(now, settings.VOICEID_SPEAKER_EXPIRY_YEARS + 1))
    seed_seconds = time.monotonic() - started
    assert first is not None
    check_readable(domain, *first)
    _log(f"seeded {size:,} speakers ({(size + 1) // 2:,} idle) in {seed_seconds:.1f} s")
    return {
        "domain_id": domain.domain_id,
        "size": size,
        "due": (size + 1) // 2,
        "seed_seconds": seed_seconds,
        "table_rows": Speaker.objects.count(),
        "statuses": dict(Speaker.objects.values_list("status").annotate(n=Count("pk")).order_by()),
    }


def seed_erasures(count: int, files: int) -> dict[str, Any]:
    """`count` pending StorageErasures, each over a speaker folder holding `files` small sealed files.

    The way the services leave them: a speaker deleted or opted out schedules its folder for erasure.
    """
    from django.db import transaction

    from domains import blobstore
    from domains import services as domain_services
    from jobs.erasure import schedule_erasure, speaker_prefix
    from jobs.models import StorageErasure

    started = time.monotonic()
    domain = domain_services.domain_create(name="purge", kms_key_id="alias/bench", region="us-east-1")
    rng = random.Random(count)
    with transaction.atomic():
        for generated_id, _ in speaker_rows(count, rng):
            prefix = speaker_prefix(domain.domain_id, generated_id)
            for number in range(files):
                blobstore.save(domain, f"{prefix}enrollment-{number}.wav", rng.randbytes(PURGE_FILE_BYTES))
            schedule_erasure(prefix=prefix, reason="bench: speaker deleted")
    seconds = time.monotonic() - started
    _log(f"stored {count * files:,} files under {count:,} pending erasures in {seconds:.1f} s")
    return {"erasures": StorageErasure.objects.filter(erased_at__isnull=True).count(), "files": count * files}


def _suspend_for_erasure(domain_id: str) -> None:
    """SUSPENDED a day longer ago than the erase period: what DeleteDomain did, a month back."""
    from django.conf import settings
    from django.utils import timezone

    from domains.models import Domain

    suspended_at = timezone.now() - timedelta(days=settings.VOICEID_DOMAIN_ERASE_DAYS + 1)
    updated = Domain.objects.filter(domain_id=domain_id).update(
        status=Domain.Status.SUSPENDED, suspended_at=suspended_at, updated_at=suspended_at
    )
    if updated != 1:
        raise RuntimeError(f"no domain {domain_id} to suspend")


class _Watch:
    """Times every transaction and every statement on one connection.

    A transaction is timed from the moment `atomic()` turns autocommit off until it turns it back on, after
    COMMIT: the whole time the batch's locks can be held (an upper bound: PostgreSQL only begins at the
    first statement). Statements outside a transaction commit on their own and are timed alone.
    """

    def __init__(self, connection: BaseDatabaseWrapper) -> None:
        self.connection = connection
        self.transactions: list[float] = []
        self.statements: list[float] = []
        # What the longest statement was: its verb (SELECT, UPDATE, DELETE …) and whether a transaction
        # was open around it (a read outside one holds no locks).
        self.longest: tuple[float, str, bool] = (0.0, "", False)
        self._began: float | None = None

    def _set_autocommit(self, original: Callable[..., None]) -> Callable[..., None]:
        def wrapped(autocommit: bool, *args: Any, **kwargs: Any) -> None:
            if not autocommit and self._began is None:
                self._began = time.perf_counter()
            original(autocommit, *args, **kwargs)
            if autocommit and self._began is not None:
                self.transactions.append(time.perf_counter() - self._began)
                self._began = None

        return wrapped

    def _statement(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            took = time.perf_counter() - started
            self.statements.append(took)
            if took > self.longest[0]:
                self.longest = (took, sql.split(None, 1)[0].upper(), self._began is not None)

    @contextmanager
    def watching(self) -> Iterator[None]:
        original = self.connection.set_autocommit
        # On the instance: the class, and every other connection, stay as they are.
        self.connection.set_autocommit = self._set_autocommit(original)  # type: ignore[method-assign]
        try:
            with self.connection.execute_wrapper(self._statement):
                yield
        finally:
            del self.connection.set_autocommit  # uncovers the class's method again


def _max_rss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def _spread_ms(samples: list[float]) -> dict[str, float | int]:
    ordered = sorted(samples)
    return {
        "count": len(ordered),
        "p50_ms": statistics.median(ordered) * 1000 if ordered else 0.0,
        "max_ms": ordered[-1] * 1000 if ordered else 0.0,
        "total_ms": sum(ordered) * 1000,
    }


def measure_sweep(scenario: str, *, domain_id: str | None, trace: bool) -> dict[str, Any]:
    """Run one sweeper once, in this fresh process, and say how long it took, how much memory it added and
    how long its longest transaction was."""
    from django.conf import settings
    from django.db import connection

    from jobs import sweepers
    from speakers.models import Speaker

    if scenario == "erase":
        assert domain_id is not None
        _suspend_for_erasure(domain_id)
    sweep: Callable[[], SweepRun] = getattr(sweepers, SWEEPERS.get(scenario, "purge_audio"))
    rows_before = Speaker.objects.count()  # also opens the connection before the baseline is taken
    gc.collect()
    baseline_kib = _max_rss_kib()
    watch = _Watch(connection)
    if trace:
        tracemalloc.start()
    with watch.watching():
        started = time.perf_counter()
        run = sweep()
        seconds = time.perf_counter() - started
    traced_peak = tracemalloc.get_traced_memory()[1] if trace else None
    tracemalloc.stop()
    peak_kib = _max_rss_kib()
    if run.status != run.Status.SUCCEEDED:
        raise RuntimeError(f"{scenario}: the sweep ended {run.status}: {run.error}")
    # The SweepRun's own writes (an INSERT, an UPDATE) commit on their own, so every transaction is the
    # sweeper's: a batch, or (erase) the final delete of the domain row.
    batches = watch.transactions
    return {
        "scenario": scenario,
        "counts": run.counts,
        "seconds": seconds,
        "rows_before": rows_before,
        "rows_after": Speaker.objects.count(),
        "batch_size": settings.VOICEID_SWEEP_BATCH_SIZE,
        "rss_baseline_kib": baseline_kib,
        "rss_peak_kib": peak_kib,
        "traced_peak_bytes": traced_peak,
        "transactions": _spread_ms(batches),
        "statements": _spread_ms(watch.statements),
        "longest_statement": {"verb": watch.longest[1], "in_transaction": watch.longest[2]},
    }
