"""A speaker's calls: the keyed index of the speaker id a session names, its migration and key rotation."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps

from calls import selectors, services
from calls.models import Session
from domains import envelope, keyproviders, rotation
from domains import services as domain_services
from domains.models import Domain
from speakers import services as speaker_services
from speakers.models import Speaker

pytestmark = pytest.mark.django_db

index_migration = importlib.import_module("calls.migrations.0002_session_speaker_ref_index")


@pytest.fixture
def domain() -> Domain:
    return domain_services.domain_create(name="calls", kms_key_id="alias/speaker-calls", region="us-east-1")


def _speaker(domain: Domain, customer_id: str) -> Speaker:
    return speaker_services.speaker_get_or_create_pending(domain=domain, customer_speaker_id=customer_id)


def _call(domain: Domain, name: str, speaker_id: str | None) -> Session:
    return services.session_start(
        domain=domain, session_name=name, speaker_id=speaker_id, settings_=services.SessionSettings()
    )


def _names(domain: Domain, speaker: Speaker, **kwargs: int) -> list[str]:
    fresh = Domain.objects.get(pk=domain.pk)
    return [
        overview.session.session_name
        for overview in selectors.sessions_of_speaker(domain=fresh, speaker=speaker, **kwargs)
    ]


def test_a_speakers_sessions_are_found_by_either_id_newest_first(domain: Domain) -> None:
    speaker = _speaker(domain, "cust-1")
    _call(domain, "by-customer-id", "cust-1")
    _call(domain, "by-generated-id", speaker.generated_speaker_id)
    _call(domain, "another-speaker", "cust-2")
    _call(domain, "no-speaker", None)

    assert _names(domain, speaker) == ["by-generated-id", "by-customer-id"]
    assert _names(domain, speaker, limit=1) == ["by-generated-id"]


def test_the_overviews_carry_the_id_the_call_named_and_its_status(domain: Domain) -> None:
    speaker = _speaker(domain, "cust-1")
    _call(domain, "by-customer-id", "cust-1")
    fresh = Domain.objects.get(pk=domain.pk)
    (overview,) = selectors.sessions_of_speaker(domain=fresh, speaker=speaker)
    assert overview.speaker_id == "cust-1"
    assert overview.streaming_status == selectors.PENDING_CONFIGURATION
    assert overview.authentication_decision is None


def test_a_session_moved_to_another_speaker_leaves_the_first_ones_list(domain: Domain) -> None:
    first, second = _speaker(domain, "cust-1"), _speaker(domain, "cust-2")
    session = _call(domain, "contact-1", "cust-1")
    services.session_update(
        domain=domain,
        session_name_or_id=session.session_name,
        speaker_id="cust-2",
        settings_=services.SessionSettings(),
    )
    assert _names(domain, first) == []
    assert _names(domain, second) == ["contact-1"]


def test_the_index_is_a_keyed_hash_not_the_id(domain: Domain) -> None:
    _call(domain, "contact-1", "cust-1")
    stored = bytes(Session.objects.get(session_name="contact-1").speaker_ref_index)
    assert len(stored) == 32
    assert b"cust-1" not in stored
    assert stored == envelope.index_digest(domain, "cust-1")
    assert bytes(Session.objects.get(session_name="contact-1").speaker_ref_sealed) != b""


def test_sessions_without_a_speaker_have_no_index(domain: Domain) -> None:
    _call(domain, "contact-1", None)
    assert bytes(Session.objects.get(session_name="contact-1").speaker_ref_index) == b""


# --- the migration that fills the index of existing sessions ---------------------------------------------


def _forget_indexes() -> None:
    """Sessions as they were before the index existed: the column added empty."""
    Session.objects.update(speaker_ref_index=b"")


def test_the_migration_indexes_existing_sessions_in_batches(
    domain: Domain, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(index_migration, "BATCH_SIZE", 2)
    speaker = _speaker(domain, "cust-1")
    for number in range(3):
        _call(domain, f"customer-{number}", "cust-1")
    _call(domain, "generated", speaker.generated_speaker_id)
    _call(domain, "no-speaker", None)
    other = domain_services.domain_create(name="other", kms_key_id="alias/speaker-calls", region="us-east-1")
    _call(other, "elsewhere", "cust-1")
    expected = {row.pk: bytes(row.speaker_ref_index) for row in Session.objects.all()}
    _forget_indexes()
    assert _names(domain, speaker) == []

    index_migration.index_speaker_refs(apps, None)

    assert {row.pk: bytes(row.speaker_ref_index) for row in Session.objects.all()} == expected
    assert _names(domain, speaker) == ["generated", "customer-2", "customer-1", "customer-0"]


def test_the_migration_indexes_under_the_key_that_sealed_each_session(domain: Domain) -> None:
    speaker = _speaker(domain, "cust-1")
    _call(domain, "before-the-key-change", "cust-1")
    domain_services.domain_update(
        domain_id=domain.domain_id, name="calls", description="", kms_key_id="alias/speaker-calls-2"
    )  # the re-encryption job is left queued: the session stays sealed under the first key
    _forget_indexes()

    index_migration.index_speaker_refs(apps, None)

    session = Session.objects.get(session_name="before-the-key-change")
    assert session.sealed_with == 1
    assert bytes(session.speaker_ref_index) == envelope.index_digest(domain, "cust-1", generation=1)
    assert _names(domain, speaker) == ["before-the-key-change"]


def test_the_migration_skips_a_domain_whose_key_is_unavailable(domain: Domain) -> None:
    locked = domain_services.domain_create(name="locked", kms_key_id="alias/locked", region="us-east-1")
    _call(locked, "locked-call", "cust-1")
    _call(domain, "open-call", "cust-1")
    _forget_indexes()
    keyproviders.master_key_set_enabled(key_id="alias/locked", enabled=False)
    envelope.forget_data_keys()

    index_migration.index_speaker_refs(apps, None)

    assert bytes(Session.objects.get(session_name="locked-call").speaker_ref_index) == b""
    assert bytes(Session.objects.get(session_name="open-call").speaker_ref_index) != b""


# --- key rotation --------------------------------------------------------------------------------------


def test_key_rotation_recomputes_the_index_and_the_sessions_stay_found(domain: Domain) -> None:
    speaker = _speaker(domain, "cust-1")
    _call(domain, "by-customer-id", "cust-1")
    _call(domain, "by-generated-id", speaker.generated_speaker_id)
    before = set(Session.objects.values_list("speaker_ref_index", flat=True))
    domain_services.domain_update(
        domain_id=domain.domain_id, name="calls", description="", kms_key_id="alias/speaker-calls-2"
    )
    # While the update is pending, sessions sealed under either key are found.
    _call(domain, "during-the-change", "cust-1")
    assert _names(domain, speaker) == ["during-the-change", "by-generated-id", "by-customer-id"]

    assert rotation.reencrypt(domain.pk) == Domain.EncryptionUpdateStatus.COMPLETED

    keyproviders.master_key_set_enabled(key_id="alias/speaker-calls", enabled=False)
    envelope.forget_data_keys()
    after = set(Session.objects.values_list("speaker_ref_index", flat=True))
    assert not before & after  # every digest is now keyed by the new data key
    assert set(Session.objects.values_list("sealed_with", flat=True)) == {2}
    assert _names(domain, speaker) == ["during-the-change", "by-generated-id", "by-customer-id"]
