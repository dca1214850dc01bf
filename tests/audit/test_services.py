"""The log is append-only; the retention sweep is its only delete path; recording never fails a request."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import RequestFactory, override_settings
from django.utils import timezone

from audit import recording, services
from audit.models import AppendOnly, AuditEvent


def _event(**overrides) -> AuditEvent:
    fields = {"actor": "ann", "channel": "API", "action": "DescribeSpeaker", "status": 200} | overrides
    event = services.audit_event_record(**fields)
    assert event is not None
    return event


def test_an_event_cannot_be_changed_or_deleted(db):
    event = _event()
    event.actor = "someone else"
    with pytest.raises(AppendOnly):
        event.save()
    with pytest.raises(AppendOnly):
        event.delete()
    with pytest.raises(AppendOnly):
        AuditEvent.objects.filter(pk=event.pk).update(actor="x")
    with pytest.raises(AppendOnly):
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.get().actor == "ann"


@override_settings(VOICEID_AUDIT_RETENTION_DAYS=30)
def test_the_sweep_removes_only_events_older_than_the_retention(db):
    old, recent = _event(), _event()
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE audit_auditevent SET at = %s WHERE id = %s", [timezone.now() - timedelta(days=31), old.pk]
        )
    assert services.audit_events_purge_expired() == 1
    assert list(AuditEvent.objects.values_list("pk", flat=True)) == [recent.pk]


@override_settings(VOICEID_AUDIT_RETENTION_DAYS=0)
def test_a_retention_of_zero_keeps_everything(db):
    _event()
    assert services.audit_events_purge_expired() == 0
    assert AuditEvent.objects.count() == 1


def test_a_recording_error_is_logged_and_swallowed(db, caplog):
    assert services.audit_event_record(actor="ann", channel="API", action="X", status=-1) is None
    assert "could not record" in caplog.text


@pytest.mark.parametrize(
    ("behind_proxy", "forwarded", "expected"),
    [
        (False, "203.0.113.9", "10.0.0.1"),
        (True, "198.51.100.1, 203.0.113.9", "203.0.113.9"),  # the proxy's own entry, not the client's
        (True, "not-an-ip", "10.0.0.1"),
    ],
)
def test_the_source_ip_honours_x_forwarded_for_only_behind_a_proxy(behind_proxy, forwarded, expected):
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=forwarded)
    with override_settings(VOICEID_BEHIND_PROXY=behind_proxy):
        assert recording.client_ip(request) == expected


def test_an_event_recorded_outside_a_transaction_is_one_statement(transactional_db):
    # Every evaluation of a live call is recorded: BEGIN and COMMIT around the one INSERT would be two more
    # round trips to PostgreSQL for nothing, since a single statement is atomic by itself.
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        event = _event()
    assert [query["sql"].split()[0] for query in queries] == ["INSERT"]
    assert AuditEvent.objects.get().pk == event.pk


def test_a_recording_error_outside_a_transaction_leaves_the_connection_usable(transactional_db, caplog):
    assert services.audit_event_record(actor="ann", channel="API", action="X", status=-1) is None
    assert "could not record" in caplog.text
    assert _event().pk == AuditEvent.objects.get().pk
