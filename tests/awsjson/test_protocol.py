"""The AWS JSON 1.0 envelope: targets, bodies, headers, errors."""

from __future__ import annotations

import json
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


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"MaxResults": 1' + b"9" * 5000 + b"}", "Exceeds the limit"),  # Python's 4,300 digits
        (b"[" * 5000 + b"]" * 5000, "nested too deeply"),
    ],
)
def test_a_body_json_cannot_hold_is_refused_as_such(signed_post, body, reason):
    response = signed_post("VoiceID.ListDomains", body)
    assert (response.status_code, response.json()["__type"]) == (400, "SerializationException")
    assert reason in response.json()["Message"]


def test_a_null_optional_member_counts_as_absent(signed_post, voiceid):
    body = b'{"Name": "nulls", "Description": null, "ServerSideEncryptionConfiguration": {"KmsKeyId": "alias/n"}}'
    response = signed_post("VoiceID.CreateDomain", body)
    assert response.status_code == 200, response.content
    domain = voiceid.describe_domain(DomainId=response.json()["Domain"]["DomainId"])["Domain"]
    assert "Description" not in domain
    response = signed_post(
        "VoiceID.CreateWatchlist",
        b'{"DomainId": "%s", "Name": "w", "Description": null}' % domain["DomainId"].encode(),
    )
    assert response.status_code == 200, response.content
    assert "Description" not in response.json()["Watchlist"]


def test_a_null_in_a_list_is_refused_by_name(signed_post, domain):
    body = b'{"ResourceArn": "%s", "Tags": [null]}' % domain["Arn"].encode()
    response = signed_post("VoiceID.TagResource", body)
    assert (response.status_code, response.json()["__type"]) == (400, "ValidationException")
    assert "at 'Tags[0]'" in response.json()["Message"]


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (b'{"DomainId": "\\udc00abc"}', "at 'DomainId'"),
        (b'{"DomainId": "AAAAAAAAAAAAAAAAAAAAAA", "\\ud800": 1}', "at '\\ud800'"),
    ],
)
def test_half_a_surrogate_pair_is_refused_by_name(signed_post, body, where):
    response = signed_post("VoiceID.DescribeDomain", body)
    assert (response.status_code, response.json()["__type"]) == (400, "ValidationException")
    assert where in response.json()["Message"]


def test_a_nul_character_is_refused_by_name(signed_post):
    body = b'{"Name": "d", "ServerSideEncryptionConfiguration": {"KmsKeyId": "alias/x\\u0000y"}}'
    response = signed_post("VoiceID.CreateDomain", body)
    assert (response.status_code, response.json()["__type"]) == (400, "ValidationException")
    assert "at 'ServerSideEncryptionConfiguration.KmsKeyId'" in response.json()["Message"]
    assert "NUL" in response.json()["Message"]


def test_a_letter_beyond_the_bmp_escaped_as_a_surrogate_pair_is_text(signed_post, domain):
    # botocore escapes non-ASCII text, and a character beyond the BMP as a pair: that is valid.
    body = (
        b'{"DomainId": "%s", "Name": "w", "Description": "fraud \\ud835\\udc9c"}'
        % domain["DomainId"].encode()
    )
    response = signed_post("VoiceID.CreateWatchlist", body)
    assert response.status_code == 200, response.content
    assert response.json()["Watchlist"]["Description"] == "fraud \U0001d49c"


def test_a_list_far_over_its_maximum_is_refused_without_reading_it(signed_post, domain):
    tags = b",".join([b"{}"] * 300_000)
    response = signed_post(
        "VoiceID.TagResource", b'{"ResourceArn": "%s", "Tags": [%s]}' % (domain["Arn"].encode(), tags)
    )
    assert (response.status_code, response.json()["__type"]) == (400, "ValidationException")
    message = response.json()["Message"]
    assert message.startswith("1 validation error detected: ")
    assert message.endswith(
        "at 'Tags' failed to satisfy constraint: Member must have length less than or equal to 200"
    )


def test_a_flood_of_bad_members_is_summed_up(signed_post):
    members = b",".join(b'"m%d": 1' % i for i in range(5000))
    response = signed_post("VoiceID.ListDomains", b"{%s}" % members)
    assert (response.status_code, response.json()["__type"]) == (400, "ValidationException")
    message = response.json()["Message"]
    assert message.startswith("100 or more validation errors detected: Value at 'm0' failed")
    assert message.endswith("; and more")


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_another_method_on_the_api_path_gets_an_aws_error(live_server, method):
    import urllib3

    response = urllib3.request(method, live_server.url + "/", body=b"{}", retries=False)
    assert response.status == 400
    assert response.headers["X-Amzn-ErrorType"] == "UnknownOperationException"
    assert (
        json.loads(response.data)["Message"] == f"Voice ID operations are called with POST /, not {method}."
    )


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


def test_the_favicon_a_browser_asks_for_is_no_content_rather_than_an_error(client):
    assert client.get("/favicon.ico").status_code == 204


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
