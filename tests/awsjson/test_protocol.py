"""The AWS JSON 1.0 envelope: targets, bodies, headers, errors."""

from __future__ import annotations

import logging

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


def test_every_response_carries_a_request_id_and_the_version(voiceid):
    metadata = voiceid.list_domains()["ResponseMetadata"]
    assert len(metadata["RequestId"]) == 36
    assert metadata["HTTPHeaders"]["x-voiceid-version"]
    assert metadata["HTTPHeaders"]["content-type"] == "application/x-amz-json-1.0"


def test_api_calls_keep_the_security_headers_and_get_no_dashboard_cookies(signed_post):
    # API calls skip the dashboard's middleware (ApiMiddleware) but not SecurityMiddleware, placed before it.
    response = signed_post("VoiceID.ListDomains", b"{}")
    assert response.status_code == 200
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "Set-Cookie" not in response.headers


def test_an_api_call_naming_a_host_not_served_is_refused_before_its_signature_is_read(signed_post):
    response = signed_post("VoiceID.ListDomains", b"{}", extra_headers={"Host": "voiceid.evil.example"})
    assert response.status_code == 400
    assert b"InvalidSignature" not in response.content


def test_an_unknown_target_is_refused_by_name(signed_post):
    response = signed_post("VoiceID.MakeCoffee", b"{}")
    assert response.status_code == 400
    assert response.json()["__type"] == "UnknownOperationException"
    assert "VoiceID.MakeCoffee" in response.json()["Message"]


def test_another_services_target_is_refused(signed_post):
    response = signed_post("DynamoDB_20120810.ListTables", b"{}")
    assert response.json()["__type"] == "UnknownOperationException"


@pytest.mark.parametrize("body", [b"{not json", b"\xff\xfe", b"[1, 2]", b'"text"'])
def test_a_body_that_is_not_a_json_object_is_refused(signed_post, body):
    response = signed_post("VoiceID.ListDomains", body)
    assert response.status_code == 400
    assert response.json()["__type"] == "SerializationException"


def test_an_empty_body_means_no_arguments(signed_post):
    assert signed_post("VoiceID.ListDomains", b"").status_code == 200


def test_errors_carry_the_error_type_header(signed_post):
    response = signed_post("VoiceID.DescribeDomain", b'{"DomainId": "AAAAAAAAAAAAAAAAAAAAAA"}')
    assert response.status_code == 404
    assert response.headers["X-Amzn-ErrorType"] == "ResourceNotFoundException"
    assert response.json() == {
        "__type": "ResourceNotFoundException",
        "Message": "Domain AAAAAAAAAAAAAAAAAAAAAA does not exist.",
        "ResourceType": "DOMAIN",
    }


def test_an_unexpected_failure_is_a_500_without_a_traceback(signed_post, monkeypatch, caplog):
    from domains import api

    def explode(ctx, req):
        raise RuntimeError("secret internals")

    from voiceid_site.awsjson import registry

    monkeypatch.setitem(registry.handlers(), "ListDomains", explode)
    with caplog.at_level(logging.ERROR, logger="voiceid.api"):
        response = signed_post("VoiceID.ListDomains", b"{}")
    assert response.status_code == 500
    body = response.json()
    assert body["__type"] == "InternalServerException"
    assert "secret internals" not in body["Message"]
    assert response.headers["x-amzn-RequestId"] in body["Message"]
    assert any("secret internals" in (record.exc_text or "") for record in caplog.records)
    assert api  # the real handler module stays importable


def test_the_home_page_and_health_need_no_signature(client):
    assert client.get("/").status_code == 200
    health = client.get("/health")
    assert health.status_code == 200
    assert health.json()["checks"] == {"database": "ok", "broker": "ok"}


def test_api_logs_name_the_operation_and_never_the_secret_or_speaker(
    voiceid, domain, api_credentials, caplog
):
    with caplog.at_level(logging.INFO, logger="voiceid.api"):
        voiceid.opt_out_speaker(DomainId=domain["DomainId"], SpeakerId="customer-4711")
    lines = [record for record in caplog.records if getattr(record, "operation", None) == "OptOutSpeaker"]
    assert lines and lines[0].status == 200
    text = "\n".join(f"{record.getMessage()} {vars(record)}" for record in caplog.records)
    assert "customer-4711" not in text
    assert api_credentials.secret_access_key not in text
