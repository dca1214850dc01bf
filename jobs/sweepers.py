"""The retention sweepers (spec §5/§6): expire idle speakers, purge erased audio, erase deleted domains.

Each one walks its rows by primary key in batches of VOICEID_SWEEP_BATCH_SIZE, reading only ids and
writing by id list, each batch in its own short transaction: a run over a million speakers neither
holds them in memory nor locks them for long, and a run interrupted anywhere is finished by the next
(every step is safe to repeat). Each run is recorded as a SweepRun.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from domains.models import Domain
from fraudsters.models import Fraudster, WatchlistMembership
from jobs.erasure import domain_prefix, erase_prefix
from jobs.models import StorageErasure, SweepRun
from speakers.models import Speaker

logger = logging.getLogger(__name__)


@contextmanager
def record_run(*, sweeper: str, now: datetime) -> Iterator[SweepRun]:
    """A SweepRun for the body, which fills in `run.counts`; it ends SUCCEEDED, or FAILED and re-raises.

    The row is written before the work starts, so a run killed outright is still visible (as RUNNING).
    """
    run = SweepRun.objects.create(sweeper=sweeper, as_of=now)
    began = time.monotonic()
    try:
        yield run
    except BaseException as error:
        # BaseException too: a Ctrl-C on `manage.py sweep` or a worker shutdown should leave a record.
        run.status = SweepRun.Status.FAILED
        run.error = f"{type(error).__name__}: {error}"
        raise
    else:
        run.status = SweepRun.Status.SUCCEEDED
    finally:
        run.finished_at = timezone.now()
        run.duration = timedelta(seconds=time.monotonic() - began)
        run.save(update_fields=["status", "error", "finished_at", "duration", "counts"])
        logger.info(
            "sweep %s %s",
            run.sweeper,
            run.status,
            extra={"sweeper": run.sweeper, "status": run.status, "counts": run.counts, "run_id": run.pk},
        )


def _batch_size() -> int:
    return int(settings.VOICEID_SWEEP_BATCH_SIZE)


def _id_batches(queryset: QuerySet[Any]) -> Iterator[list[int]]:
    """The primary keys of `queryset`, ascending, one batch per query.

    Each query starts after the last key handed out, so nothing is materialised whole, no cursor stays
    open between batches, and the caller may update or delete each batch before asking for the next.
    """
    size = _batch_size()
    last = 0
    while True:
        ids = list(queryset.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:size])
        if not ids:
            return
        yield ids
        last = ids[-1]


def years_before(moment: datetime, years: int) -> datetime:
    """`moment` minus whole calendar years; 29 February becomes 28 February in a common year."""
    try:
        return moment.replace(year=moment.year - years)
    except ValueError:
        return moment.replace(year=moment.year - years, day=28)


# Expiry (spec §5): an enrolled speaker not accessed for the expiry period becomes EXPIRED.


def _expiry_due(cutoff: datetime) -> Q:
    # A speaker never accessed since it was created ages from its creation.
    return Q(status=Speaker.Status.ENROLLED) & (
        Q(last_accessed_at__lt=cutoff) | Q(last_accessed_at__isnull=True, created_at__lt=cutoff)
    )


def expire_speakers(*, now: datetime | None = None) -> SweepRun:
    """Mark EXPIRED every ENROLLED speaker last accessed (or created) more than the expiry period ago."""
    now = now or timezone.now()
    cutoff = years_before(now, settings.VOICEID_SPEAKER_EXPIRY_YEARS)
    with record_run(sweeper=SweepRun.Sweeper.EXPIRE, now=now) as run:
        run.counts = {"speakers_expired": 0}
        for ids in _id_batches(Speaker.objects.filter(_expiry_due(cutoff))):
            # The condition is checked again by the update: a speaker accessed since the batch was read
            # (an authentication a moment ago) must stay ENROLLED.
            with transaction.atomic():
                expired = Speaker.objects.filter(_expiry_due(cutoff), pk__in=ids).update(
                    status=Speaker.Status.EXPIRED, updated_at=now
                )
            run.counts["speakers_expired"] += expired
    return run


# Purge (spec §6): audio of deleted or opted-out speakers and deleted fraudsters goes within 24 hours.


def _purge_session_audio(*, now: datetime, counts: dict[str, int]) -> None:
    """Call audio is kept VOICEID_SESSION_AUDIO_RETENTION_HOURS (spec §5: 24 h); enrollment audio was
    copied to the speaker's folder when the enrollment completed, so nothing it needs is lost here.

    A session's running state holds speech too, so it goes with the audio of a call that has gone quiet;
    the results stay (they hold scores and decisions, not voice). An enrollment still in progress keeps
    its audio until its worker has finished with it.
    """
    from calls.models import Session, SessionAudio

    cutoff = now - timedelta(hours=settings.VOICEID_SESSION_AUDIO_RETENTION_HOURS)
    building = Session.objects.filter(enrollment_status=Session.EnrollmentStatus.IN_PROGRESS)
    for ids in _id_batches(SessionAudio.objects.filter(received_at__lt=cutoff).exclude(session__in=building)):
        counts["session_chunks_deleted"] += _delete_batch(SessionAudio, ids)
    quiet = (
        Session.objects.filter(audio_erased_at__isnull=True, created_at__lt=cutoff)
        .filter(Q(audio_ended_at__isnull=True) | Q(audio_ended_at__lt=cutoff))
        .exclude(enrollment_status=Session.EnrollmentStatus.IN_PROGRESS)
    )
    for ids in _id_batches(quiet):
        with transaction.atomic():
            counts["sessions_cleared"] += Session.objects.filter(pk__in=ids).update(
                stream_state_sealed=b"", audio_erased_at=now
            )


def purge_audio(*, now: datetime | None = None) -> SweepRun:
    """Erase the stored files of every pending StorageErasure and mark it erased; drop old call audio."""
    now = now or timezone.now()
    with record_run(sweeper=SweepRun.Sweeper.PURGE, now=now) as run:
        run.counts = {"erasures": 0, "files_deleted": 0, "session_chunks_deleted": 0, "sessions_cleared": 0}
        _purge_session_audio(now=now, counts=run.counts)
        for ids in _id_batches(StorageErasure.objects.filter(erased_at__isnull=True)):
            for pk, prefix in StorageErasure.objects.filter(pk__in=ids).values_list("pk", "prefix"):
                files = erase_prefix(prefix)
                # Marked one by one, after its files are gone: an interruption repeats at most one
                # prefix, and erasing an already empty prefix is harmless.
                StorageErasure.objects.filter(pk=pk, erased_at__isnull=True).update(
                    erased_at=now, files_deleted=files
                )
                run.counts["erasures"] += 1
                run.counts["files_deleted"] += files
    return run


# Erasure (spec §5): a deleted (SUSPENDED) domain is erased for good after VOICEID_DOMAIN_ERASE_DAYS.


def _delete_batch(model: type[models.Model], ids: list[int]) -> int:
    with transaction.atomic():
        _total, per_model = model._default_manager.filter(pk__in=ids).delete()
    return per_model.get(model._meta.label, 0)


def _delete_fraudster_batch(ids: list[int]) -> int:
    # Memberships first: their watchlist foreign key is RESTRICT, and deleting them explicitly keeps the
    # fraudster delete from collecting them row by row.
    with transaction.atomic():
        WatchlistMembership.objects.filter(fraudster_id__in=ids).delete()
        _total, per_model = Fraudster.objects.filter(pk__in=ids).delete()
    return per_model.get(Fraudster._meta.label, 0)


def _erase_domain(*, pk: int, domain_id: str, counts: dict[str, int]) -> None:
    # Storage first: should the run stop here, the rows that lead the next run back to the domain remain.
    counts["files_deleted"] += erase_prefix(domain_prefix(domain_id))
    # The domain's speaker_count is left as it is: the row goes at the end, and until then the domain is
    # SUSPENDED, so nothing relies on the count.
    for ids in _id_batches(Speaker.objects.filter(domain_id=pk)):
        counts["speakers_deleted"] += _delete_batch(Speaker, ids)
    for ids in _id_batches(Fraudster.objects.filter(domain_id=pk)):
        counts["fraudsters_deleted"] += _delete_fraudster_batch(ids)
    # What is left (watchlists, tags, keys) is small and cascades with the row.
    with transaction.atomic():
        _total, per_model = Domain.objects.filter(pk=pk, status=Domain.Status.SUSPENDED).delete()
    counts["domains_erased"] += per_model.get(Domain._meta.label, 0)


def erase_domains(*, now: datetime | None = None) -> SweepRun:
    """Erase the storage and every row of each domain SUSPENDED more than the erase period ago."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.VOICEID_DOMAIN_ERASE_DAYS)
    with record_run(sweeper=SweepRun.Sweeper.ERASE, now=now) as run:
        run.counts = {"domains_erased": 0, "files_deleted": 0, "speakers_deleted": 0, "fraudsters_deleted": 0}
        due = Domain.objects.filter(status=Domain.Status.SUSPENDED, suspended_at__lt=cutoff)
        for ids in _id_batches(due):
            for pk, domain_id in Domain.objects.filter(pk__in=ids).values_list("pk", "domain_id"):
                _erase_domain(pk=pk, domain_id=domain_id, counts=run.counts)
    return run
