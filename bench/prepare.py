"""The Django side of the bench, run as `python -m bench.prepare …` with the environment of one database.

It runs in its own process because settings are read once from the environment: the runner switches
between SQLite and PostgreSQL by starting this (and gunicorn) with a different DATABASE_URL. Each command
prints one `BENCH-RESULT {json}` line for the runner; anything else on stdout is ignored. The sweeper and
encryption groups' steps live in bench/sweep_steps.py and bench/crypto_steps.py and run through `main` here.
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
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from itertools import batched
from types import SimpleNamespace
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
# Model fields the bulk load fills, in the order of SealedRow plus the constant ones; the id comes from the
# table. The customer id is stored only sealed, with its keyed hash for lookups, as the model does.
_COLUMNS = (
    "generated_speaker_id",
    "customer_speaker_id_sealed",
    "customer_speaker_index",
    "last_accessed_at",
    "sealed_with",
    "status",
    "created_at",
    "updated_at",
    "domain",
)
# (GeneratedSpeakerId, CustomerSpeakerId, last_accessed_at): a speaker as the bulk load is given it.
SpeakerRow = tuple[str, str, datetime | None]
# (GeneratedSpeakerId, sealed customer id, customer id index, last_accessed_at): as the bulk load writes it.
SealedRow = tuple[str, bytes, bytes, datetime | None]


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


def speaker_rows(size: int, rng: random.Random) -> Iterator[tuple[str, str]]:
    """(GeneratedSpeakerId, CustomerSpeakerId) pairs in the shapes the API produces.

    A seeded Random instead of voiceid_site.ids: `secrets` costs ~20 s per million ids and uniqueness only
    needs 22 random alphanumerics, not unpredictable ones.
    """
    for index in range(size):
        yield "id#" + "".join(rng.choices(_ALPHABET, k=22)), f"bench-caller-{index:09d}"


def _sealed(domain: Domain, rows: Iterable[SpeakerRow]) -> Iterator[SealedRow]:
    """Each row's customer id sealed and indexed exactly as assigning `Speaker.customer_speaker_id` does
    (~10 µs a row), so the API and the sweepers read rows they could have written themselves."""
    from domains import envelope
    from domains.sealing import Sealed
    from speakers.models import Speaker

    attribute = Speaker.customer_speaker_id
    assert isinstance(attribute, Sealed)
    # The descriptor builds the encryption context from the model's label and the record's id; a stand-in
    # record lets it do so without constructing a model instance per row.
    record = SimpleNamespace(_meta=Speaker._meta, generated_speaker_id="")
    # Named, not left to seal_text: by default it reads the domain's current generation afresh for every
    # value (a query per row), which guards against a concurrent key update that a bench cannot have.
    generation = domain.key_generation
    for generated_id, customer_id, last_accessed_at in rows:
        record.generated_speaker_id = generated_id
        sealed = envelope.seal_text(
            domain, customer_id, context=attribute.context(record), generation=generation
        )
        yield (
            generated_id,
            sealed,
            envelope.index_digest(domain, customer_id, generation=generation),
            last_accessed_at,
        )


def _insert_sqlite(rows: Iterator[SealedRow], *, domain: Domain, created_at: datetime) -> None:
    from django.db import connection, transaction

    from speakers.models import Speaker

    meta = Speaker._meta
    columns = [meta.get_field(name).column for name in _COLUMNS]
    sql = (
        f'INSERT INTO "{meta.db_table}" ({", ".join(f'"{c}"' for c in columns)}) '
        f"VALUES ({', '.join('?' * len(columns))})"
    )
    adapt = connection.ops.adapt_datetimefield_value
    stamp = adapt(created_at)
    constant = (domain.key_generation, "ENROLLED", stamp, stamp, domain.pk)
    connection.ensure_connection()
    raw = connection.connection  # the sqlite3 connection: executemany without Django's per-row wrapping
    raw.execute("PRAGMA cache_size = -262144")  # 256 MiB, so random-order id index inserts stay in memory
    for batch in batched(rows, _SQLITE_BATCH):
        with transaction.atomic():
            raw.executemany(sql, [(g, s, i, adapt(a), *constant) for g, s, i, a in batch])
    with connection.cursor() as cursor:
        # Fold the WAL into the main file so the server does not start by replaying ~hundreds of MiB.
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _insert_postgresql(rows: Iterator[SealedRow], *, domain: Domain, created_at: datetime) -> None:
    from django.db import connection, transaction

    from speakers.models import Speaker

    meta = Speaker._meta
    columns = ", ".join(f'"{meta.get_field(name).column}"' for name in _COLUMNS)
    stamp = created_at.isoformat()
    constant = f"{domain.key_generation}\tENROLLED\t{stamp}\t{stamp}\t{domain.pk}\n"
    connection.ensure_connection()
    with (
        transaction.atomic(),
        connection.connection.cursor() as cursor,
        cursor.copy(f'COPY "{meta.db_table}" ({columns}) FROM STDIN') as copy,
    ):
        # Text lines built by hand: ids never hold tabs, newlines or backslashes; bytea goes in hex, whose
        # leading backslash COPY's text format wants doubled; \N is NULL.
        for batch in batched(rows, _COPY_CHUNK):
            copy.write(
                "".join(
                    f"{g}\t\\\\x{s.hex()}\t\\\\x{i.hex()}\t{a.isoformat() if a else '\\N'}\t{constant}"
                    for g, s, i, a in batch
                )
            )
    with connection.cursor() as cursor:
        # What autovacuum would do shortly after a bulk load: planner statistics and the visibility map.
        cursor.execute(f'VACUUM ANALYZE "{meta.db_table}"')


def load_speakers(domain: Domain, rows: Iterable[SpeakerRow], *, created_at: datetime) -> None:
    """Bulk-load ENROLLED speakers into `domain`, far faster than the services could, and count them."""
    from django.db import connection
    from django.db.models import F

    from domains.models import Domain

    counted = 0

    def counting() -> Iterator[SpeakerRow]:
        nonlocal counted
        for row in rows:
            counted += 1
            yield row

    domain.refresh_from_db(fields=["key_generation"])  # what the rows are sealed under, and say so
    insert = _insert_postgresql if connection.vendor == "postgresql" else _insert_sqlite
    insert(_sealed(domain, counting()), domain=domain, created_at=created_at)
    # The services keep speaker_count for the quota check; a bulk load must keep it true as well.
    Domain.objects.filter(pk=domain.pk).update(speaker_count=F("speaker_count") + counted)


def check_readable(domain: Domain, generated_id: str, customer_id: str) -> None:
    """Fail the bench at once, not half-way through a measurement, if a loaded row does not open."""
    from speakers.models import Speaker

    speaker = Speaker.objects.get(domain=domain, generated_speaker_id=generated_id)
    if speaker.customer_speaker_id != customer_id:
        raise RuntimeError(f"{generated_id} opened as {speaker.customer_speaker_id!r}, not {customer_id!r}")


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

    first_customer_id = ""

    def rows() -> Iterator[SpeakerRow]:
        nonlocal first_customer_id
        for index, (generated_id, customer_id) in enumerate(speaker_rows(size, rng)):
            if index in sample_at:
                sampled.append(generated_id)
                first_customer_id = first_customer_id or customer_id
            yield generated_id, customer_id, None  # never accessed

    load_speakers(domain, rows(), created_at=timezone.now())
    seed_seconds = time.monotonic() - started
    check_readable(domain, sampled[0], first_customer_id)
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
    # the database walks this domain's rows to fill them (see the report). The bench database holds only
    # the bench's domains (and their names are sealed, so they could not be filtered on anyway).
    neighbours = []
    for other in Domain.objects.exclude(pk=domain.pk).order_by("pk"):
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
    sweep_seed = commands.add_parser("sweep-seed")
    sweep_seed.add_argument("--size", type=int, required=True)
    purge_seed = commands.add_parser("purge-seed")
    purge_seed.add_argument("--erasures", type=int, required=True)
    purge_seed.add_argument("--files", type=int, required=True)
    sweep = commands.add_parser("sweep")
    sweep.add_argument("--scenario", choices=["expire", "expire_idle", "erase", "purge"], required=True)
    sweep.add_argument("--domain-id")
    sweep.add_argument("--trace", action="store_true", help="also trace Python allocations (slower)")
    crypto = commands.add_parser("crypto")
    crypto.add_argument("--reads", type=int, required=True)
    crypto.add_argument("--cold-reads", type=int, required=True)
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voiceid_site.settings")
    django.setup()
    # Imported here: they import this module's bulk load, and need Django set up to be of use.
    from bench import crypto_steps, sweep_steps

    steps: dict[str, Callable[[], dict[str, Any]]] = {
        "setup": setup,
        "seed": lambda: seed(args.size),
        "sweep-seed": lambda: sweep_steps.seed_sweep(args.size),
        "purge-seed": lambda: sweep_steps.seed_erasures(args.erasures, args.files),
        "sweep": lambda: sweep_steps.measure_sweep(args.scenario, domain_id=args.domain_id, trace=args.trace),
        "crypto": lambda: crypto_steps.measure_crypto(args.reads, args.cold_reads),
    }
    _emit(steps[args.command]())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
