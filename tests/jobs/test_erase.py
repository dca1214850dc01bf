"""Erasure (spec §5): a domain deleted VOICEID_DOMAIN_ERASE_DAYS ago loses its rows and its stored files."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.files.storage import default_storage

from domains.models import Domain
from fraudsters import services as fraudster_services
from fraudsters.models import Fraudster, Watchlist, WatchlistMembership
from jobs import sweepers
from jobs.erasure import domain_prefix, fraudster_prefix, speaker_prefix
from jobs.models import SweepRun
from jobs.sweepers import erase_domains
from speakers.models import Speaker

from .conftest import make_domain, make_speaker, suspend, write_file

NOW = datetime(2029, 6, 1, 12, 0, tzinfo=UTC)
THIRTY_DAYS_AGO = NOW - timedelta(days=30)
SECOND = timedelta(seconds=1)

pytestmark = pytest.mark.django_db


def populated_domain(name: str, *, speakers: int = 2) -> tuple[Domain, list[str]]:
    """A domain with speakers, fraudsters in two watchlists, and stored audio for each."""
    domain = make_domain(name)
    files = []
    for n in range(speakers):
        speaker = make_speaker(domain, f"{name}-caller-{n}")
        files.append(write_file(f"{speaker_prefix(domain.domain_id, speaker.generated_speaker_id)}a.wav"))
    custom = fraudster_services.watchlist_create(domain=domain, name="known")
    for _ in range(2):
        fraudster = fraudster_services.fraudster_create(domain=domain)
        fraudster_services.fraudster_associate(
            domain=domain, fraudster_id=fraudster.generated_fraudster_id, watchlist_id=custom.watchlist_id
        )
        files.append(
            write_file(f"{fraudster_prefix(domain.domain_id, fraudster.generated_fraudster_id)}f.wav")
        )
    return domain, files


def is_erased(domain: Domain, files: list[str]) -> bool:
    rows_left = (
        Domain.objects.filter(pk=domain.pk).exists()
        or Speaker.objects.filter(domain_id=domain.pk).exists()
        or Fraudster.objects.filter(domain_id=domain.pk).exists()
        or Watchlist.objects.filter(domain_id=domain.pk).exists()
    )
    files_left = any(default_storage.exists(name) for name in files)
    return not rows_left and not files_left


def is_intact(domain: Domain, files: list[str], *, speakers: int = 2) -> bool:
    return (
        Domain.objects.filter(pk=domain.pk).exists()
        and Speaker.objects.filter(domain_id=domain.pk).count() == speakers
        and Fraudster.objects.filter(domain_id=domain.pk).count() == 2
        and all(default_storage.exists(name) for name in files)
    )


def test_erase_removes_only_the_long_suspended_domain():
    old, old_files = populated_domain("old")
    recent, recent_files = populated_domain("recent")
    active, active_files = populated_domain("active")
    suspend(old, at=NOW - timedelta(days=31))
    suspend(recent, at=NOW - timedelta(days=29))

    run = erase_domains(now=NOW)

    assert is_erased(old, old_files)
    assert not default_storage.exists(domain_prefix(old.domain_id))
    assert is_intact(recent, recent_files)
    assert is_intact(active, active_files)
    assert run.counts == {
        "domains_erased": 1,
        "files_deleted": 4,
        "speakers_deleted": 2,
        "fraudsters_deleted": 2,
    }


def test_a_domain_is_erased_just_after_thirty_days_and_not_just_before():
    due, due_files = populated_domain("due")
    not_yet, not_yet_files = populated_domain("not-yet")
    suspend(due, at=THIRTY_DAYS_AGO - SECOND)
    suspend(not_yet, at=THIRTY_DAYS_AGO + SECOND)

    erase_domains(now=NOW)

    assert is_erased(due, due_files)
    assert is_intact(not_yet, not_yet_files)


def test_the_erase_period_comes_from_the_setting(settings):
    settings.VOICEID_DOMAIN_ERASE_DAYS = 7
    domain, files = populated_domain("week")
    suspend(domain, at=NOW - timedelta(days=8))

    erase_domains(now=NOW)

    assert is_erased(domain, files)


def test_an_interrupted_erase_is_finished_by_the_next_run(settings, monkeypatch):
    settings.VOICEID_SWEEP_BATCH_SIZE = 2
    domain, files = populated_domain("big", speakers=5)
    suspend(domain, at=NOW - timedelta(days=31))
    real_delete_batch = sweepers._delete_batch
    calls = []

    def crash_after_the_first_batch(model, ids):
        calls.append(ids)
        if len(calls) > 1:
            raise ConnectionError("database went away")
        return real_delete_batch(model, ids)

    monkeypatch.setattr(sweepers, "_delete_batch", crash_after_the_first_batch)
    with pytest.raises(ConnectionError):
        erase_domains(now=NOW)

    # The first batch is gone for good; the rest, and the domain that leads back to them, remain.
    assert Speaker.objects.filter(domain_id=domain.pk).count() == 3
    assert Domain.objects.filter(pk=domain.pk).exists()
    failed = SweepRun.objects.get()
    assert failed.status == SweepRun.Status.FAILED
    assert "database went away" in failed.error
    assert failed.counts["speakers_deleted"] == 2

    monkeypatch.setattr(sweepers, "_delete_batch", real_delete_batch)
    run = erase_domains(now=NOW)

    assert is_erased(domain, files)
    assert run.status == SweepRun.Status.SUCCEEDED
    assert run.counts == {
        "domains_erased": 1,
        "files_deleted": 0,
        "speakers_deleted": 3,
        "fraudsters_deleted": 2,
    }


def test_erase_deletes_speakers_and_fraudsters_in_batches(settings):
    settings.VOICEID_SWEEP_BATCH_SIZE = 2
    domain, files = populated_domain("batched", speakers=5)
    suspend(domain, at=NOW - timedelta(days=31))

    run = erase_domains(now=NOW)

    assert is_erased(domain, files)
    assert not WatchlistMembership.objects.exists()
    assert run.counts["speakers_deleted"] == 5 and run.counts["fraudsters_deleted"] == 2


def test_an_active_domain_is_never_erased_however_old():
    domain, files = populated_domain("old-but-active")
    Domain.objects.filter(pk=domain.pk).update(created_at=NOW - timedelta(days=3650))

    run = erase_domains(now=NOW)

    assert is_intact(domain, files)
    assert run.counts["domains_erased"] == 0
