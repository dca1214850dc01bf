"""voiceid_site.rows: the hand-written single-row statements read and write exactly what the ORM does."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection, transaction
from django.db.transaction import TransactionManagementError
from django.utils import timezone

from calls import services
from calls.models import Session, SessionAudio
from domains.models import Domain
from voiceid_site import rows

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def session(domain_model: Domain) -> Session:
    session = services.session_start(
        domain=domain_model, session_name="call-1", speaker_id="alice", settings_=services.SessionSettings()
    )
    # Every kind of column filled in: JSON, datetimes, floats, sealed bytes.
    Session.objects.filter(pk=session.pk).update(
        auth_result={"Decision": "ACCEPT", "Score": 97},
        evaluated_at=timezone.now(),
        audio_seconds=1.25,
        enrollment_status=Session.EnrollmentStatus.NOT_ENOUGH_SPEECH,
    )
    return Session.objects.get(pk=session.pk)


def _columns(instance: Any) -> dict[str, Any]:
    return {field.attname: getattr(instance, field.attname) for field in instance._meta.concrete_fields}


def test_a_row_read_by_key_equals_the_orm_s_field_by_field(session: Session) -> None:
    found = rows.row_by_key(
        Session, columns=["domain_id", "session_name"], values=[session.domain_id, "call-1"]
    )

    assert found is not None
    assert _columns(found) == _columns(Session.objects.get(pk=session.pk))
    assert found.auth_result == {"Decision": "ACCEPT", "Score": 97}


def test_a_missing_key_reads_as_none(session: Session) -> None:
    assert (
        rows.row_by_key(Session, columns=["domain_id", "session_name"], values=[session.domain_id, "nope"])
        is None
    )


def test_a_row_locked_for_update_is_read_inside_a_transaction(domain_model: Domain) -> None:
    with transaction.atomic():
        found = rows.row_by_key(
            Domain, columns=["domain_id"], values=[domain_model.domain_id], for_update=True
        )

    assert found is not None and found.pk == domain_model.pk


def test_an_unchanged_row_is_locked(session: Session) -> None:
    with transaction.atomic():
        assert rows.lock_if_unchanged(session, fields=["chunks_received", "updated_at", "enrollment_status"])


def test_a_row_another_write_moved_is_not_locked(session: Session) -> None:
    Session.objects.filter(pk=session.pk).update(updated_at=timezone.now())

    with transaction.atomic():
        assert not rows.lock_if_unchanged(session, fields=["chunks_received", "updated_at"])


def test_a_deleted_row_is_not_locked(session: Session) -> None:
    Session.objects.filter(pk=session.pk).delete()

    with transaction.atomic():
        assert not rows.lock_if_unchanged(session, fields=["chunks_received"])


def test_an_inserted_row_reads_back_through_the_orm(session: Session) -> None:
    chunk = SessionAudio(domain=session.domain, session=session, sequence=1, pcm=b"\x01\x02" * 100)

    with transaction.atomic():
        rows.insert(chunk)

    assert chunk.pk is not None and not chunk._state.adding
    stored = SessionAudio.objects.get(pk=chunk.pk)
    assert _columns(stored) == _columns(chunk)
    assert stored.pcm == b"\x01\x02" * 100  # sealed on the way in, opened on the way out


def test_an_update_writes_the_fields_named_and_no_other(session: Session) -> None:
    session.auth_result = {"Decision": "REJECT", "Score": 12}
    session.updated_at = timezone.now()
    session.audio_seconds = 99.0  # changed in memory, not named: stays as stored

    with transaction.atomic():
        rows.update(session, fields=["auth_result", "updated_at"])

    stored = Session.objects.get(pk=session.pk)
    assert stored.auth_result == {"Decision": "REJECT", "Score": 12}
    assert stored.updated_at == session.updated_at
    assert stored.audio_seconds == 1.25


def test_a_conditional_update_applies_while_its_conditions_hold(session: Session) -> None:
    session.auth_result_key = "key-2"

    with transaction.atomic():
        updated = rows.update(
            session,
            fields=["auth_result_key"],
            unchanged=["updated_at"],
            differing={"auth_result_key": "key-1"},
        )

    assert updated == 1
    assert Session.objects.get(pk=session.pk).auth_result_key == "key-2"


def test_a_conditional_update_of_a_row_that_moved_changes_nothing(session: Session) -> None:
    Session.objects.filter(pk=session.pk).update(updated_at=timezone.now())
    session.auth_result_key = "key-2"

    with transaction.atomic():
        assert rows.update(session, fields=["auth_result_key"], unchanged=["updated_at"]) == 0

    assert Session.objects.get(pk=session.pk).auth_result_key == ""


def test_a_conditional_update_of_a_row_holding_the_excluded_value_changes_nothing(session: Session) -> None:
    Session.objects.filter(pk=session.pk).update(auth_result_key="key-1")
    session.auth_result = {"Decision": "REJECT"}

    with transaction.atomic():
        assert rows.update(session, fields=["auth_result"], differing={"auth_result_key": "key-1"}) == 0

    assert Session.objects.get(pk=session.pk).auth_result == {"Decision": "ACCEPT", "Score": 97}


def test_a_null_column_still_holding_null_counts_as_unchanged(session: Session) -> None:
    assert session.ended_at is None

    with transaction.atomic():
        assert rows.lock_if_unchanged(session, fields=["ended_at"])


def test_a_null_column_differs_from_any_value_as_with_exclude(session: Session) -> None:
    session.auth_result_key = "key-3"
    moment = timezone.now()

    with transaction.atomic():
        updated = rows.update(session, fields=["auth_result_key"], differing={"ended_at": moment})

    assert updated == Session.objects.filter(pk=session.pk).exclude(ended_at=moment).count() == 1
    assert Session.objects.get(pk=session.pk).auth_result_key == "key-3"


@pytest.mark.skipif(connection.vendor == "sqlite", reason="SQLite has no row locks: FOR UPDATE is left out")
def test_locking_a_row_outside_a_transaction_is_refused_as_the_orm_refuses_it(domain_model: Domain) -> None:
    with pytest.raises(TransactionManagementError):
        rows.row_by_key(Domain, columns=["domain_id"], values=[domain_model.domain_id], for_update=True)
