"""Key rotation: UpdateDomain with a new KmsKeyId re-encrypts everything under it (spec §6)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from django.test import override_settings
from django.utils import timezone

from domains import envelope, keyproviders, rotation
from domains import services as domain_services
from domains import tasks as domain_tasks
from domains.models import DataKey, Domain
from domains.sealing import SEALED_ATTRIBUTES
from fraudsters import services as fraudster_services
from fraudsters.models import Watchlist
from speakers import selectors as speaker_selectors
from speakers import services as speaker_services
from speakers.models import Speaker

Status = Domain.EncryptionUpdateStatus


@pytest.fixture
def no_worker(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Keep re-encryption jobs queued instead of running them: tests then run them step by step."""
    queued: list[int] = []
    monkeypatch.setattr(domain_tasks.reencrypt_domain, "delay", queued.append)
    return queued


def update_key(domain: Domain, kms_key_id: str) -> Domain:
    return domain_services.domain_update(
        domain_id=domain.domain_id, name=domain.name, description=domain.description, kms_key_id=kms_key_id
    )


def assert_sealed_only_under_current_key(domain: Domain) -> None:
    """Every sealed value of the domain opens with its newest data key alone, and the old keys are gone."""
    domain.refresh_from_db()
    assert list(DataKey.objects.filter(domain=domain).values_list("generation", flat=True)) == [
        domain.key_generation
    ]
    for model, attributes in SEALED_ATTRIBUTES.items():
        scope = {"pk": domain.pk} if model is Domain else {"domain": domain}
        for row in model.objects.filter(**scope):
            assert row.sealed_with == domain.key_generation, row
            for attribute in attributes:
                blob = bytes(getattr(row, attribute.column))
                assert envelope.generation_of(blob) == domain.key_generation, (row, attribute.name)


def test_a_new_key_is_reported_in_progress_then_completed(voiceid: Any, domain: dict[str, Any]) -> None:
    domain_id = domain["DomainId"]
    voiceid.opt_out_speaker(DomainId=domain_id, SpeakerId="caller-1")

    updated = voiceid.update_domain(
        DomainId=domain_id, Name="renamed", ServerSideEncryptionConfiguration={"KmsKeyId": "alias/next"}
    )["Domain"]
    described = voiceid.describe_domain(DomainId=domain_id)["Domain"]

    assert updated["ServerSideEncryptionUpdateDetails"] == {
        "UpdateStatus": "IN_PROGRESS",
        "OldKmsKeyId": "alias/cc",
    }
    assert described["ServerSideEncryptionConfiguration"] == {"KmsKeyId": "alias/next"}
    assert described["ServerSideEncryptionUpdateDetails"] == {
        "UpdateStatus": "COMPLETED",
        "OldKmsKeyId": "alias/cc",
    }
    # The old key is no longer needed: disabling it changes nothing.
    keyproviders.master_key_set_enabled(key_id="alias/cc", enabled=False)
    speaker = voiceid.describe_speaker(DomainId=domain_id, SpeakerId="caller-1")["Speaker"]
    assert speaker["CustomerSpeakerId"] == "caller-1"
    assert voiceid.describe_domain(DomainId=domain_id)["Domain"]["Name"] == "renamed"


def test_a_domain_whose_key_never_changed_has_no_update_details(voiceid: Any, domain: dict[str, Any]) -> None:
    voiceid.update_domain(
        DomainId=domain["DomainId"],
        Name="same-key",
        ServerSideEncryptionConfiguration={"KmsKeyId": "alias/cc"},
    )

    assert (
        "ServerSideEncryptionUpdateDetails"
        not in voiceid.describe_domain(DomainId=domain["DomainId"])["Domain"]
    )


def test_another_key_change_is_refused_while_one_is_running(
    voiceid: Any, domain: dict[str, Any], no_worker: list[int]
) -> None:
    domain_id = domain["DomainId"]
    voiceid.update_domain(
        DomainId=domain_id, Name="n", ServerSideEncryptionConfiguration={"KmsKeyId": "alias/b"}
    )

    with pytest.raises(ClientError) as refused:
        voiceid.update_domain(
            DomainId=domain_id, Name="n", ServerSideEncryptionConfiguration={"KmsKeyId": "alias/c"}
        )
    # The same key again is an ordinary update: name and description still change.
    voiceid.update_domain(
        DomainId=domain_id, Name="n2", ServerSideEncryptionConfiguration={"KmsKeyId": "alias/b"}
    )

    assert refused.value.response["Error"]["Code"] == "ConflictException"
    assert refused.value.response["ConflictType"] == "DOMAIN_LOCKED_FROM_ENCRYPTION_UPDATES"
    described = voiceid.describe_domain(DomainId=domain_id)["Domain"]
    assert (described["Name"], described["ServerSideEncryptionConfiguration"]["KmsKeyId"]) == (
        "n2",
        "alias/b",
    )


def test_an_unusable_new_key_is_refused_and_nothing_changes(voiceid: Any, domain: dict[str, Any]) -> None:
    with override_settings(VOICEID_KMS_AUTO_CREATE=False), pytest.raises(ClientError) as refused:
        voiceid.update_domain(
            DomainId=domain["DomainId"],
            Name="n",
            ServerSideEncryptionConfiguration={"KmsKeyId": "alias/nope"},
        )

    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert "alias/nope" in refused.value.response["Error"]["Message"]
    described = voiceid.describe_domain(DomainId=domain["DomainId"])["Domain"]
    assert described["ServerSideEncryptionConfiguration"]["KmsKeyId"] == "alias/cc"
    assert DataKey.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_failed_update_names_the_old_key_and_the_same_request_retries_it(no_worker: list[int]) -> None:
    domain = domain_services.domain_create(name="d", kms_key_id="alias/old", region="us-east-1")
    speaker_services.speaker_get_or_create_pending(domain=domain, customer_speaker_id="c-1")
    update_key(domain, "alias/new")
    keyproviders.master_key_set_enabled(key_id="alias/old", enabled=False)

    assert rotation.reencrypt(domain.pk) == Status.FAILED
    failed = Domain.objects.get(pk=domain.pk)
    assert (failed.encryption_update_status, failed.old_kms_key_id) == (Status.FAILED, "alias/old")
    assert "alias/old" in failed.encryption_update_message
    assert "disabled" in failed.encryption_update_message

    keyproviders.master_key_set_enabled(key_id="alias/old", enabled=True)
    update_key(failed, "alias/new")  # the same configuration again
    assert Domain.objects.get(pk=domain.pk).encryption_update_status == Status.IN_PROGRESS
    assert no_worker == [domain.pk, domain.pk]
    assert rotation.reencrypt(domain.pk) == Status.COMPLETED
    assert_sealed_only_under_current_key(domain)


@pytest.mark.django_db(transaction=True)
def test_after_a_failed_update_a_third_key_takes_over_everything(no_worker: list[int]) -> None:
    domain = domain_services.domain_create(name="d", kms_key_id="alias/k1", region="us-east-1")
    speaker_services.speaker_get_or_create_pending(domain=domain, customer_speaker_id="c-1")
    update_key(domain, "alias/k2")
    keyproviders.master_key_set_enabled(key_id="alias/k1", enabled=False)
    rotation.reencrypt(domain.pk)
    keyproviders.master_key_set_enabled(key_id="alias/k1", enabled=True)

    update_key(Domain.objects.get(pk=domain.pk), "alias/k3")

    assert rotation.reencrypt(domain.pk) == Status.COMPLETED
    assert_sealed_only_under_current_key(domain)
    assert DataKey.objects.get(domain=domain).kms_key_id == "alias/k3"


@pytest.mark.django_db(transaction=True)
def test_rotation_under_concurrent_writes_completes_with_everything_readable(
    no_worker: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    domain = domain_services.domain_create(name="busy", kms_key_id="alias/before", region="us-east-1")
    for number in range(40):
        speaker_services.speaker_get_or_create_pending(domain=domain, customer_speaker_id=f"early-{number}")
    watchlist = fraudster_services.watchlist_create(domain=domain, name="w0")
    update_key(domain, "alias/after")
    live = Domain.objects.get(pk=domain.pk)

    # Between every two batches the API keeps writing: new callers, opt-outs, renames.
    writes = iter(range(1000))
    real_heartbeat = rotation._heartbeat

    def heartbeat_with_traffic(beating: Domain) -> None:
        real_heartbeat(beating)
        number = next(writes)
        speaker_services.speaker_get_or_create_pending(domain=live, customer_speaker_id=f"during-{number}")
        speaker_services.speaker_opt_out(domain=live, speaker_id=f"early-{number}")
        fraudster_services.watchlist_update(
            domain=live, watchlist_id=watchlist.watchlist_id, name=f"w{number}"
        )

    monkeypatch.setattr(rotation, "_heartbeat", heartbeat_with_traffic)

    with override_settings(VOICEID_ROTATION_BATCH_SIZE=7):
        assert rotation.reencrypt(domain.pk) == Status.COMPLETED

    written = next(writes)
    assert written > 5  # the traffic really interleaved with the batches
    keyproviders.master_key_set_enabled(key_id="alias/before", enabled=False)
    envelope.forget_data_keys()
    assert_sealed_only_under_current_key(domain)
    speakers = Speaker.objects.filter(domain=domain).select_related("domain")
    assert {speaker.customer_speaker_id for speaker in speakers} == {
        *(f"early-{n}" for n in range(40)),
        *(f"during-{n}" for n in range(written)),
    }
    assert speaker_selectors.speaker_get(domain=live, speaker_id="early-3").status == Speaker.Status.OPTED_OUT
    assert Watchlist.objects.get(pk=watchlist.pk).name == f"w{written - 1}"


@pytest.mark.django_db(transaction=True)
def test_a_row_changed_while_the_job_reads_it_keeps_the_new_value(
    no_worker: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    domain = domain_services.domain_create(name="d", kms_key_id="alias/one", region="us-east-1")
    watchlist = fraudster_services.watchlist_create(domain=domain, name="before")
    update_key(domain, "alias/two")
    live = Domain.objects.get(pk=domain.pk)
    real_open = envelope.open_sealed
    raced: list[bool] = []

    def open_then_race(owner: Domain, blob: bytes, *, context: str) -> bytes:
        plaintext = real_open(owner, blob, context=context)
        if context.endswith(f"{watchlist.watchlist_id}:name") and not raced:
            raced.append(True)  # a writer renames the watchlist after the job read the old name
            fraudster_services.watchlist_update(
                domain=live, watchlist_id=watchlist.watchlist_id, name="after"
            )
        return plaintext

    monkeypatch.setattr(rotation.envelope, "open_sealed", open_then_race)

    assert rotation.reencrypt(domain.pk) == Status.COMPLETED
    assert raced
    assert Watchlist.objects.select_related("domain").get(pk=watchlist.pk).name == "after"
    assert_sealed_only_under_current_key(domain)


@pytest.mark.django_db(transaction=True)
def test_a_stalled_update_is_started_again_and_a_live_one_is_left_alone(no_worker: list[int]) -> None:
    stalled = domain_services.domain_create(name="stalled", kms_key_id="alias/s1", region="us-east-1")
    live = domain_services.domain_create(name="live", kms_key_id="alias/l1", region="us-east-1")
    update_key(stalled, "alias/s2")
    update_key(live, "alias/l2")
    no_worker.clear()
    long_ago = timezone.now() - timedelta(hours=1)
    Domain.objects.filter(pk=stalled.pk).update(encryption_update_heartbeat=long_ago)

    restarted = rotation.resume_stalled()

    assert restarted == [stalled.pk]
    assert no_worker == [stalled.pk]
    assert rotation.resume_stalled() == []  # claimed: a second watchdog does not start it twice


@pytest.mark.django_db(transaction=True)
def test_the_task_retries_a_key_failure_before_reporting_it(no_worker: list[int]) -> None:
    domain = domain_services.domain_create(name="d", kms_key_id="alias/r1", region="us-east-1")
    update_key(domain, "alias/r2")
    keyproviders.master_key_set_enabled(key_id="alias/r1", enabled=False)

    with override_settings(CELERY_TASK_EAGER_PROPAGATES=False):
        domain_tasks.reencrypt_domain.apply(args=[domain.pk])

    # Eager mode runs the retries at once; the last attempt reports the failure.
    failed = Domain.objects.get(pk=domain.pk)
    assert failed.encryption_update_status == Status.FAILED
    assert "alias/r1" in failed.encryption_update_message


@pytest.mark.django_db(transaction=True)
def test_a_write_through_a_domain_loaded_before_the_key_change_uses_the_new_key(no_worker: list[int]) -> None:
    domain = domain_services.domain_create(name="d", kms_key_id="alias/v1", region="us-east-1")
    loaded_before = Domain.objects.get(pk=domain.pk)
    update_key(domain, "alias/v2")
    assert rotation.reencrypt(domain.pk) == Status.COMPLETED  # the generation-1 key is gone now

    speaker = speaker_services.speaker_get_or_create_pending(domain=loaded_before, customer_speaker_id="late")

    envelope.forget_data_keys()
    assert envelope.generation_of(bytes(speaker.customer_speaker_id_sealed)) == 2
    assert Speaker.objects.select_related("domain").get(pk=speaker.pk).customer_speaker_id == "late"
