"""API calls through boto3 against a live server are recorded: actor, IP, operation, outcome, request id."""

from __future__ import annotations

import botocore.exceptions
import pytest
from django.db import connection

from audit.models import AuditEvent
from audit.selectors import AuditFilters, audit_event_search

CUSTOMER_ID = "customer-4711"


def test_a_successful_and_a_failed_call_are_recorded_with_actor_ip_operation_and_outcome(voiceid, domain):
    voiceid.list_speakers(DomainId=domain["DomainId"])
    with pytest.raises(botocore.exceptions.ClientError) as failure:
        voiceid.describe_speaker(DomainId=domain["DomainId"], SpeakerId="id#" + "a" * 22)

    listed, described = AuditEvent.objects.order_by("pk")
    assert (listed.action, listed.channel, listed.status, listed.error_code) == (
        "ListSpeakers",
        "API",
        200,
        "",
    )
    assert listed.actor == "integration"
    assert listed.access_key_id == voiceid._request_signer._credentials.access_key
    assert listed.source_ip == "127.0.0.1"
    assert listed.domain_id == domain["DomainId"]
    assert (described.status, described.error_code) == (404, "ResourceNotFoundException")
    assert described.resource_type == "SPEAKER" and described.resource_id == "id#" + "a" * 22
    assert described.request_id == failure.value.response["ResponseMetadata"]["RequestId"]


def test_operations_on_no_biometric_data_are_not_recorded(voiceid, domain):
    voiceid.list_domains()
    voiceid.describe_domain(DomainId=domain["DomainId"])
    assert not AuditEvent.objects.exists()  # CreateDomain (the fixture) is not recorded either


def test_a_customer_id_is_never_stored_in_clear_but_a_search_by_it_finds_the_event(voiceid, domain):
    # Opting out an unknown customer id records it as OPTED_OUT (Voice ID does the same).
    speaker = voiceid.opt_out_speaker(DomainId=domain["DomainId"], SpeakerId=CUSTOMER_ID)["Speaker"]
    with pytest.raises(botocore.exceptions.ClientError):
        voiceid.delete_speaker(DomainId=domain["DomainId"], SpeakerId="customer-unknown")
    opted_out, deleted = AuditEvent.objects.order_by("pk")
    assert opted_out.action == "OptOutSpeaker" and opted_out.customer_id_digest
    assert opted_out.resource_id == speaker["GeneratedSpeakerId"]  # the generated id, from the answer
    assert deleted.resource_id == "" and deleted.customer_id_digest

    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM audit_auditevent")
        raw = repr(cursor.fetchall())
    assert CUSTOMER_ID not in raw and "customer-unknown" not in raw
    assert CUSTOMER_ID.encode().hex() not in raw

    found = audit_event_search(filters=AuditFilters(resource=CUSTOMER_ID))
    assert list(found) == [opted_out]
    assert list(audit_event_search(filters=AuditFilters(resource="customer-unknown"))) == [deleted]
    assert not audit_event_search(filters=AuditFilters(resource="customer-4712")).exists()


def test_an_unauthenticated_call_is_not_recorded(raw_client, signed_post):
    response = signed_post("VoiceID.ListSpeakers", b"{}", sign=False)
    assert response.status_code == 403
    assert not AuditEvent.objects.exists()


def test_a_calls_events_are_recorded_under_its_session_id_however_the_call_was_named(voiceid, domain):
    domain_id = domain["DomainId"]
    session_id = voiceid.start_session(DomainId=domain_id, SessionName="contact-42")["Session"]["SessionId"]
    for call in (voiceid.describe_session, voiceid.evaluate_session, voiceid.end_session):
        call(DomainId=domain_id, SessionNameOrId="contact-42")  # by name, as Connect did
    voiceid.update_session(DomainId=domain_id, SessionNameOrId=session_id, SpeakerId="caller-1")  # by id

    recorded = list(AuditEvent.objects.order_by("pk").values_list("action", "resource_id"))
    assert recorded == [
        (operation, session_id)
        for operation in ("StartSession", "DescribeSession", "EvaluateSession", "EndSession", "UpdateSession")
    ]
