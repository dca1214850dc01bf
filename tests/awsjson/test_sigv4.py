"""SigV4 verification, end to end: what boto3 and other clients sign must verify; nothing else may."""

from __future__ import annotations

import hashlib
import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError

from accounts import selectors as access_key_selectors
from accounts import services as access_key_services
from accounts.models import AccessKey
from tests.conftest import ApiCredentials, check_response_against_model, make_client

pytestmark = pytest.mark.django_db(transaction=True)
LIST = "VoiceID.ListDomains"


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    error = excinfo.value.response["Error"]
    return error["Code"], error["Message"]


def test_it_accepts_a_request_signed_with_an_issued_key(voiceid):
    assert voiceid.list_domains()["DomainSummaries"] == []


def test_it_refuses_a_wrong_secret(live_server, api_credentials):
    client = make_client(live_server.url, ApiCredentials(api_credentials.access_key_id, "not-the-secret"))
    with pytest.raises(ClientError) as excinfo:
        client.list_domains()
    code, message = error_of(excinfo)
    assert code == "InvalidSignatureException"
    assert "signature we calculated does not match" in message
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_it_refuses_an_unknown_access_key(live_server):
    client = make_client(live_server.url, ApiCredentials("VKIANOSUCHKEY0000000", "secret"))
    with pytest.raises(ClientError) as excinfo:
        client.list_domains()
    assert error_of(excinfo)[0] == "UnrecognizedClientException"


def test_it_refuses_a_disabled_key_and_accepts_it_again_once_enabled(voiceid, api_credentials):
    key = AccessKey.objects.get(access_key_id=api_credentials.access_key_id)
    access_key_services.access_key_set_active(access_key=key, active=False)
    with pytest.raises(ClientError) as excinfo:
        voiceid.list_domains()
    assert error_of(excinfo) == (
        "UnrecognizedClientException",
        f"The access key {key.access_key_id} is disabled.",
    )
    access_key_services.access_key_set_active(access_key=key, active=True)
    assert voiceid.list_domains()["DomainSummaries"] == []


def test_it_refuses_a_key_at_once_when_its_user_is_deactivated(voiceid, api_credentials):
    voiceid.list_domains()  # the key is now cached by the server's process
    user = AccessKey.objects.get(access_key_id=api_credentials.access_key_id).user
    user.is_active = False
    user.save()  # as the admin does
    with pytest.raises(ClientError) as excinfo:
        voiceid.list_domains()
    assert error_of(excinfo)[0] == "UnrecognizedClientException"


def test_a_key_disabled_by_another_process_stops_working_when_the_cache_lapses(
    voiceid, api_credentials, settings, monkeypatch
):
    settings.VOICEID_ACCESS_KEY_CACHE_SECONDS = 5
    voiceid.list_domains()
    # Another process disables it: an UPDATE this process hears nothing of.
    AccessKey.objects.filter(access_key_id=api_credentials.access_key_id).update(is_active=False)
    assert voiceid.list_domains()["DomainSummaries"] == []  # still within the 5 s this process keeps it
    later = time.monotonic() + 6
    monkeypatch.setattr(access_key_selectors.time, "monotonic", lambda: later)
    with pytest.raises(ClientError) as excinfo:
        voiceid.list_domains()
    assert error_of(excinfo)[0] == "UnrecognizedClientException"


def test_a_deleted_key_is_refused_at_once(live_server):
    key, secret = access_key_services.access_key_create_for_username(username="late")
    assert make_client(live_server.url, ApiCredentials(key.access_key_id, secret)).list_domains()
    key.delete()
    client = make_client(live_server.url, ApiCredentials(key.access_key_id, secret))
    with pytest.raises(ClientError) as excinfo:
        client.list_domains()  # deleted here: refused at once, not served from the cache
    assert error_of(excinfo)[0] == "UnrecognizedClientException"


def test_it_refuses_an_unsigned_request(signed_post):
    response = signed_post(LIST, b"{}", sign=False)
    assert response.status_code == 403
    assert response.json()["__type"] == "MissingAuthenticationTokenException"


@pytest.mark.parametrize("minutes", [-16, 16])
def test_it_refuses_a_request_signed_more_than_15_minutes_off(signed_post, minutes):
    response = signed_post(LIST, b"{}", at=datetime.now(UTC) + timedelta(minutes=minutes))
    assert response.status_code == 403
    body = response.json()
    assert body["__type"] == "InvalidSignatureException"
    assert body["Message"].startswith("Signature expired" if minutes < 0 else "Signature not yet current")


def test_it_accepts_a_request_signed_within_the_window(signed_post):
    response = signed_post(LIST, b"{}", at=datetime.now(UTC) - timedelta(minutes=14))
    assert response.status_code == 200


def test_it_refuses_a_body_changed_after_signing(signed_post, api_credentials, live_server):
    # Sign one body, send another: the payload hash is part of the signature.
    original = signed_post(LIST, b'{"MaxResults": 1}')
    assert original.status_code == 200
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method="POST", url=live_server.url + "/", data=b'{"MaxResults": 1}',
                         headers={"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": LIST})  # fmt: skip
    SigV4Auth(
        Credentials(api_credentials.access_key_id, api_credentials.secret_access_key), "voiceid", "us-east-1"
    ).add_auth(request)
    import urllib3

    response = urllib3.request(
        "POST", live_server.url + "/", body=b'{"MaxResults": 2}', headers=dict(request.headers)
    )
    assert response.status == 403
    assert json.loads(response.data)["__type"] == "InvalidSignatureException"


def _signed_headers(live_server, api_credentials, body: bytes, **headers: str) -> dict[str, str]:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method="POST", url=live_server.url + "/", data=body, headers={
        "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "VoiceID.ListDomains", **headers})  # fmt: skip
    SigV4Auth(
        Credentials(api_credentials.access_key_id, api_credentials.secret_access_key), "voiceid", "us-east-1"
    ).add_auth(request)
    return dict(request.headers)


def _post(live_server, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    import urllib3

    response = urllib3.request("POST", live_server.url + "/", body=body, headers=headers, retries=False)
    return response.status, json.loads(response.data)


def test_a_body_swapped_under_a_content_hash_header_added_after_signing_is_refused(
    live_server, api_credentials
):
    # The header is not signed: a captured request must not become a signed request for any body.
    signed = b'{"MaxResults": 1}'
    headers = _signed_headers(live_server, api_credentials, signed)
    headers["X-Amz-Content-SHA256"] = hashlib.sha256(signed).hexdigest()
    status, body = _post(live_server, b'{"MaxResults": 2}', headers)
    assert status == 403
    assert body["__type"] == "InvalidSignatureException"
    assert "X-Amz-Content-SHA256" in body["Message"]


def test_an_unsigned_payload_is_refused(live_server, api_credentials):
    body = b'{"MaxResults": 1}'
    headers = _signed_headers(
        live_server, api_credentials, body, **{"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"}
    )
    status, answer = _post(live_server, b'{"MaxResults": 2}', headers)
    assert (status, answer["__type"]) == (403, "InvalidSignatureException")
    assert "unsigned payloads are not accepted" in answer["Message"]


def test_a_signed_content_hash_that_matches_the_body_is_accepted(live_server, api_credentials):
    # S3-style signers send the body's hash as a signed header; it must agree with the body.
    body = b'{"MaxResults": 1}'
    digest = hashlib.sha256(body).hexdigest()
    headers = _signed_headers(live_server, api_credentials, body, **{"X-Amz-Content-SHA256": digest})
    status, answer = _post(live_server, body, headers)
    assert status == 200
    assert answer == {"DomainSummaries": []}


def test_it_ignores_headers_added_after_signing(signed_post):
    # Proxies and SDKs add unsigned headers (User-Agent, X-Forwarded-For, amz-sdk-request …).
    response = signed_post(
        LIST, b"{}", extra_headers={"X-Forwarded-For": "10.0.0.1", "User-Agent": "proxy/1.0"}
    )
    assert response.status_code == 200


def test_it_refuses_temporary_credentials(signed_post):
    response = signed_post(LIST, b"{}", extra_headers={"X-Amz-Security-Token": "token"})
    assert response.status_code == 403
    assert response.json()["__type"] == "UnrecognizedClientException"


def test_it_refuses_a_signature_scoped_to_another_service(live_server, api_credentials):
    import urllib3
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method="POST", url=live_server.url + "/", data=b"{}",
                         headers={"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": LIST})  # fmt: skip
    SigV4Auth(
        Credentials(api_credentials.access_key_id, api_credentials.secret_access_key), "dynamodb", "us-east-1"
    ).add_auth(request)
    response = urllib3.request("POST", live_server.url + "/", body=b"{}", headers=dict(request.headers))
    assert response.status == 403
    assert "scoped to the correct service" in json.loads(response.data)["Message"]


def test_it_records_the_signing_region_in_the_domain_arn(live_server, api_credentials):
    client = make_client(live_server.url, api_credentials, region="ap-southeast-2")
    domain = client.create_domain(Name="sydney", ServerSideEncryptionConfiguration={"KmsKeyId": "k"})[
        "Domain"
    ]
    assert domain["Arn"] == f"arn:aws:voiceid:ap-southeast-2:000000000000:domain/{domain['DomainId']}"


def test_it_records_when_a_key_was_last_used(voiceid, api_credentials):
    voiceid.list_domains()
    assert AccessKey.objects.get(access_key_id=api_credentials.access_key_id).last_used_at is not None


def test_error_bodies_of_the_front_door_still_parse(signed_post):
    response = signed_post(LIST, b"{}", sign=False)
    check_response_against_model("ListDomains", response.status_code, response.content)
