"""The Django side of the bench, run as `python -m bench.prepare …` with the environment of one database.

It runs in its own process because settings are read once from the environment: the runner switches
between SQLite and PostgreSQL by starting this (and gunicorn) with a different DATABASE_URL. Each command
prints one `BENCH-RESULT {json}` line for the runner; anything else on stdout is ignored.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import string
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from itertools import batched
from typing import TYPE_CHECKING, Any

import django

if TYPE_CHECKING:
    from domains.models import Domain

RESULT_PREFIX = "BENCH-RESULT "
PAGE_SIZE = 100
DESCRIBE_SAMPLE = 64  # distinct speakers DescribeSpeaker cycles through, spread over the whole domain
_ALPHABET = string.ascii_letters + string.digits
_SQLITE_BATCH = 50_000  # rows per transaction: big enough to amortise commits, small enough to show progress
_COPY_CHUNK = 20_000  # lines per write() into COPY
_PROBE_WARMUP = 20
_PROBE_ITERATIONS = 300
_PROBE_MIN = 5
_PROBE_WARMUP_SECONDS = 1.0
_PROBE_SECONDS = 3.0
LAST_PAGE_ROWS = PAGE_SIZE // 2  # what the final page of a domain holds in the last-page scenarios
# Model fields the bulk load fills; the id comes from the table, last_accessed_at stays NULL.
_COLUMNS = ("generated_speaker_id", "customer_speaker_id", "status", "created_at", "updated_at", "domain")


def _emit(result: dict[str, Any]) -> None:
    print(RESULT_PREFIX + json.dumps(result), flush=True)


def _log(message: str) -> None:
    print(f"    {message}", file=sys.stderr, flush=True)


def setup() -> dict[str, Any]:
    """Migrate the empty database and issue the access key the load generator signs with."""
    from django.core.management import call_command
    from django.db import connection

    from accounts import services as access_key_services

    call_command("migrate", interactive=False, verbosity=0)
    access_key, secret = access_key_services.access_key_create_for_username(
        username="bench", description="make bench (throwaway)"
    )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            version = f"PostgreSQL {cursor.fetchone()[0]}"
    else:
        import sqlite3

        version = f"SQLite {sqlite3.sqlite_version}"
    return {"access_key_id": access_key.access_key_id, "secret_access_key": secret, "version": version}


def _speaker_rows(size: int, rng: random.Random) -> Iterator[tuple[str, str]]:
    """(GeneratedSpeakerId, CustomerSpeakerId) pairs in the shapes the API produces.

    A seeded Random instead of voiceid_site.ids: `secrets` costs ~20 s per million ids and uniqueness only
    needs 22 random alphanumerics, not unpredictable ones.
    """
    for index in range(size):
        yield "id#" + "".join(rng.choices(_ALPHABET, k=22)), f"bench-caller-{index:09d}"


def _insert_sqlite(rows: Iterator[tuple[str, str]], *, domain_pk: int, now: datetime) -> None:
    from django.db import connection, transaction

    from speakers.models import Speaker

    meta = Speaker._meta
    columns = [meta.get_field(name).column for name in _COLUMNS]
    sql = (
        f'INSERT INTO "{meta.db_table}" ({", ".join(f'"{c}"' for c in columns)}) '
        f"VALUES ({', '.join('?' * len(columns))})"
    )
    stamp = connection.ops.adapt_datetimefield_value(now)
    connection.ensure_connection()
    raw = connection.connection  # the sqlite3 connection: executemany without Django's per-row wrapping
    raw.execute("PRAGMA cache_size = -262144")  # 256 MiB, so random-order id index inserts stay in memory
    for batch in batched(rows, _SQLITE_BATCH):
        with transaction.atomic():
            raw.executemany(sql, [(g, c, "ENROLLED", stamp, stamp, domain_pk) for g, c in batch])
    with connection.cursor() as cursor:
        # Fold the WAL into the main file so the server does not start by replaying ~hundreds of MiB.
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _insert_postgresql(rows: Iterator[tuple[str, str]], *, domain_pk: int, now: datetime) -> None:
    from django.db import connection, transaction

    from speakers.models import Speaker

    meta = Speaker._meta
    columns = ", ".join(f'"{meta.get_field(name).column}"' for name in _COLUMNS)
    stamp = now.isoformat()
    connection.ensure_connection()
    with (
        transaction.atomic(),
        connection.connection.cursor() as cursor,
        cursor.copy(f'COPY "{meta.db_table}" ({columns}) FROM STDIN') as copy,
    ):
        # Text lines built by hand: ids and customer ids never hold tabs, newlines or backslashes.
        for batch in batched(rows, _COPY_CHUNK):
            copy.write("".join(f"{g}\t{c}\tENROLLED\t{stamp}\t{stamp}\t{domain_pk}\n" for g, c in batch))
    with connection.cursor() as cursor:
        # What autovacuum would do shortly after a bulk load: planner statistics and the visibility map.
        cursor.execute(f'VACUUM ANALYZE "{meta.db_table}"')


def _timed(call: Callable[[], object]) -> dict[str, float]:
    # Bounded by time as well as count: a pathological query must not stall the bench for minutes.
    deadline = time.monotonic() + _PROBE_WARMUP_SECONDS
    for _ in range(_PROBE_WARMUP):
        call()
        if time.monotonic() > deadline:
            break
    samples: list[float] = []
    deadline = time.monotonic() + _PROBE_SECONDS
    while len(samples) < _PROBE_ITERATIONS and (len(samples) < _PROBE_MIN or time.monotonic() < deadline):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return {
        "p50_ms": statistics.median(samples),
        "p99_ms": samples[max(0, math.ceil(0.99 * len(samples)) - 1)],
    }


def seed(size: int) -> dict[str, Any]:
    """A new domain holding `size` ENROLLED speakers, plus everything the runner needs to query it."""
    from django.db import connection
    from django.utils import timezone

    from domains import selectors as domain_selectors
    from domains import services as domain_services
    from domains.models import Domain
    from speakers import selectors as speaker_selectors
    from speakers.models import Speaker

    started = time.monotonic()
    domain = domain_services.domain_create(name=f"bench-{size}", kms_key_id="alias/bench", region="us-east-1")
    rng = random.Random(size)
    sample_at = {round(k * (size - 1) / (DESCRIBE_SAMPLE - 1)) for k in range(DESCRIBE_SAMPLE)}
    sampled: list[str] = []

    def rows() -> Iterator[tuple[str, str]]:
        for index, row in enumerate(_speaker_rows(size, rng)):
            if index in sample_at:
                sampled.append(row[0])
            yield row

    insert = _insert_postgresql if connection.vendor == "postgresql" else _insert_sqlite
    insert(rows(), domain_pk=domain.pk, now=timezone.now())
    # The services keep speaker_count for the quota check; a bulk load must keep it true as well.
    Domain.objects.filter(pk=domain.pk).update(speaker_count=size)
    seed_seconds = time.monotonic() - started
    _log(f"seeded {size:,} speakers in {seed_seconds:.1f} s")

    domain = domain_selectors.domain_get(domain_id=domain.domain_id)
    pages = {
        "first_page": _page(domain, size, skip=0),
        # Two pages before the end: far into the domain, yet a full page (and a NextToken) follows.
        "deep_page": _page(domain, size, skip=max(0, size - 2 * PAGE_SIZE)),
        # Half a page before the end: the final, short page, answered without a NextToken.
        "last_page": _page(domain, size, skip=max(0, size - LAST_PAGE_ROWS)),
    }
    # The domains seeded before this one now share the table with it: their pages may cost more when
    # the database walks this domain's rows to fill them (see the report).
    neighbours = []
    for other in Domain.objects.exclude(pk=domain.pk).filter(name__startswith="bench-").order_by("pk"):
        other_size = Speaker.objects.filter(domain=other).count()
        neighbours.append(
            {
                "domain_id": other.domain_id,
                "size": other_size,
                "last_page": _page(other, other_size, skip=max(0, other_size - LAST_PAGE_ROWS)),
            }
        )
    return {
        "domain_id": domain.domain_id,
        "size": size,
        "table_rows": Speaker.objects.count(),
        "seed_seconds": seed_seconds,
        "describe_ids": sampled,
        "describe_probe": _timed(
            lambda: speaker_selectors.speaker_get(domain=domain, speaker_id=sampled[len(sampled) // 2])
        ),
        "pages": pages,
        "neighbours": neighbours,
    }


def _page(domain: Domain, size: int, *, skip: int) -> dict[str, Any]:
    """What the runner needs to ask for, and check, the page after the first `skip` speakers of a domain,
    with the time its query takes alone (through the selector the API calls: no HTTP, auth or JSON)."""
    from django.db import connection

    from speakers import selectors as speaker_selectors
    from speakers.models import Speaker
    from voiceid_site.awsjson import pagination

    speakers = Speaker.objects.filter(domain=domain).order_by("pk")
    position = speakers.values_list("pk", flat=True)[skip - 1] if skip else None
    first = (speakers.filter(pk__gt=position) if position else speakers).first()
    assert first is not None
    params = {"DomainId": domain.domain_id, "MaxResults": PAGE_SIZE}
    # keyset_page's query, as the database plans (and, on PostgreSQL, runs) it.
    query = (speakers.filter(pk__gt=position) if position else speakers)[: PAGE_SIZE + 1]
    return {
        "skip": skip,
        "token": pagination.encode("ListSpeakers", params, position) if position else None,
        "first_id": first.generated_speaker_id,
        "count": min(PAGE_SIZE, size - skip),
        "more": size - skip > PAGE_SIZE,
        "probe": _timed(
            lambda: speaker_selectors.speaker_list(domain=domain, after=position, limit=PAGE_SIZE)
        ),
        "plan": query.explain(analyze=True, buffers=True)
        if connection.vendor == "postgresql"
        else query.explain(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.prepare")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("setup")
    seed_parser = commands.add_parser("seed")
    seed_parser.add_argument("--size", type=int, required=True)
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voiceid_site.settings")
    django.setup()
    _emit(setup() if args.command == "setup" else seed(args.size))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
