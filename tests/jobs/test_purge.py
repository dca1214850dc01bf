"""Purge (spec §6): the audio of deleted or opted-out speakers and deleted fraudsters leaves storage."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.core.files.storage import default_storage
from django.db import transaction

from fraudsters import services as fraudster_services
from jobs.erasure import fraudster_prefix, schedule_erasure, speaker_prefix
from jobs.models import StorageErasure
from jobs.sweepers import purge_audio

from .conftest import make_domain, make_speaker, write_file

NOW = datetime(2029, 6, 1, 12, 0, tzinfo=UTC)

pytestmark = pytest.mark.django_db


def test_purge_deletes_every_file_under_a_speaker_and_leaves_other_speakers_files():
    domain = make_domain()
    leaving = make_speaker(domain, "leaving")
    staying = make_speaker(domain, "staying")
    leaving_prefix = speaker_prefix(domain.domain_id, leaving.generated_speaker_id)
    staying_prefix = speaker_prefix(domain.domain_id, staying.generated_speaker_id)
    gone = [
        write_file(f"{leaving_prefix}enrollment-1.wav"),
        write_file(f"{leaving_prefix}enrollment-2.wav"),
        write_file(f"{leaving_prefix}sessions/2029-05-01/call.wav"),
    ]
    kept = write_file(f"{staying_prefix}enrollment-1.wav")
    schedule_erasure(prefix=leaving_prefix, reason="speaker opted out")

    run = purge_audio(now=NOW)

    assert not any(default_storage.exists(name) for name in gone)
    assert not default_storage.exists(leaving_prefix)
    assert default_storage.exists(kept)
    assert run.counts == {
        "erasures": 1,
        "files_deleted": 3,
        "session_chunks_deleted": 0,
        "sessions_cleared": 0,
    }
    erasure = StorageErasure.objects.get()
    assert (erasure.erased_at, erasure.files_deleted) == (NOW, 3)


def test_deleting_a_fraudster_schedules_its_audio_for_the_next_purge():
    domain = make_domain()
    deleted = fraudster_services.fraudster_create(domain=domain)
    other = fraudster_services.fraudster_create(domain=domain)
    deleted_file = write_file(
        f"{fraudster_prefix(domain.domain_id, deleted.generated_fraudster_id)}voice.wav"
    )
    other_file = write_file(f"{fraudster_prefix(domain.domain_id, other.generated_fraudster_id)}voice.wav")

    fraudster_services.fraudster_delete(domain=domain, fraudster_id=deleted.generated_fraudster_id)
    assert default_storage.exists(deleted_file)  # storage is not transactional: the purge erases it
    purge_audio(now=NOW)

    assert not default_storage.exists(deleted_file)
    assert default_storage.exists(other_file)
    assert StorageErasure.objects.get().reason == "fraudster deleted"


def test_an_erasure_is_scheduled_only_if_the_deletion_commits():
    domain = make_domain()
    fraudster = fraudster_services.fraudster_create(domain=domain)

    with pytest.raises(RuntimeError), transaction.atomic():
        fraudster_services.fraudster_delete(domain=domain, fraudster_id=fraudster.generated_fraudster_id)
        raise RuntimeError("the request failed after the delete")

    assert not StorageErasure.objects.exists()


def test_scheduling_a_pending_prefix_again_changes_nothing_until_it_is_erased():
    prefix = speaker_prefix(make_domain().domain_id, "id#" + "a" * 22)

    schedule_erasure(prefix=prefix, reason="speaker deleted")
    schedule_erasure(prefix=prefix, reason="speaker deleted")
    assert StorageErasure.objects.filter(erased_at__isnull=True).count() == 1

    purge_audio(now=NOW)
    schedule_erasure(prefix=prefix, reason="speaker deleted")
    assert StorageErasure.objects.filter(erased_at__isnull=True).count() == 1
    assert StorageErasure.objects.count() == 2


def test_a_prefix_with_no_files_is_erased_with_nothing_deleted():
    prefix = speaker_prefix(make_domain().domain_id, "id#" + "b" * 22)
    schedule_erasure(prefix=prefix, reason="speaker deleted")

    run = purge_audio(now=NOW)

    assert run.counts == {
        "erasures": 1,
        "files_deleted": 0,
        "session_chunks_deleted": 0,
        "sessions_cleared": 0,
    }
    assert not StorageErasure.objects.filter(erased_at__isnull=True).exists()


def test_purge_works_through_every_pending_erasure_in_batches(settings):
    settings.VOICEID_SWEEP_BATCH_SIZE = 2
    domain_id = make_domain().domain_id
    names = []
    for n in range(5):
        prefix = speaker_prefix(domain_id, "id#" + str(n) * 22)
        names.append(write_file(f"{prefix}voice.wav"))
        schedule_erasure(prefix=prefix, reason="speaker deleted")

    run = purge_audio(now=NOW)

    assert run.counts == {
        "erasures": 5,
        "files_deleted": 5,
        "session_chunks_deleted": 0,
        "sessions_cleared": 0,
    }
    assert not any(default_storage.exists(name) for name in names)
    assert not StorageErasure.objects.filter(erased_at__isnull=True).exists()


def test_erased_erasures_are_not_done_again():
    prefix = speaker_prefix(make_domain().domain_id, "id#" + "c" * 22)
    schedule_erasure(prefix=prefix, reason="speaker deleted")
    purge_audio(now=NOW)

    run = purge_audio(now=NOW)

    assert run.counts == {
        "erasures": 0,
        "files_deleted": 0,
        "session_chunks_deleted": 0,
        "sessions_cleared": 0,
    }
