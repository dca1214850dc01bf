"""Shared fixtures: API credentials, boto3 clients against a live server, raw signed requests.

Every response a test client receives is checked against the voice-id model's output (or error) shape.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
import botocore.session
import pytest
import urllib3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from django.db import connection

from accounts import services as access_key_services
from domains import services as domain_services
from voiceid_site.awsjson import model
from voiceid_site.awsjson.validate import validator

pytest_plugins = ["tests.s3server"]  # the real S3 server fixture, `s3_server`

# For tests of writers racing each other from threads. The in-memory SQLite test database is a shared cache,
# whose table locks fail at once (SQLITE_LOCKED) instead of waiting out busy_timeout as the embedded mode's
# file database does; on it such a test would measure the lock, not the code.
racing_writers = pytest.mark.skipif(
    connection.vendor == "sqlite",
    reason="concurrent writers need PostgreSQL (DATABASE_URL): the in-memory SQLite test database's table "
    "locks fail at once (SQLITE_LOCKED) instead of waiting out busy_timeout",
)

# Errors answered in front of the model (authentication, protocol); their bodies carry only a message.
FRONT_DOOR_ERRORS = {
    "UnknownOperationException",
    "SerializationException",
    "MissingAuthenticationTokenException",
    "IncompleteSignatureException",
    "UnrecognizedClientException",
    "InvalidSignatureException",
}


@dataclass(frozen=True)
class RawResponse:
    status_code: int
    headers: Any
    content: bytes

    def json(self) -> Any:
        return json.loads(self.content)


@dataclass(frozen=True)
class ApiCredentials:
    access_key_id: str
    secret_access_key: str


def check_response_against_model(operation: str, status: int, body: bytes) -> None:
    """Fail the test if a response is not exactly what the model allows."""
    data = json.loads(body) if body else {}
    assert isinstance(data, dict), f"{operation}: response body is not a JSON object"
    if status < 300:
        shape = model.output_shape_name(operation)
        if shape is None:
            assert data == {}, f"{operation} has no output shape but answered {data}"
            return
        violations = validator().validate(shape, data)
    else:
        code = data.get("__type")
        assert isinstance(code, str), f"{operation}: error without __type: {data}"
        assert isinstance(data.get("Message"), str) and data["Message"], f"{operation}: error without Message"
        if code in FRONT_DOOR_ERRORS:
            return
        assert {"shape": code} in model.operation(operation)["errors"], f"{operation} cannot raise {code}"
        violations = validator().validate(code, {k: v for k, v in data.items() if k != "__type"})
    assert not violations, f"{operation} response breaks the model: {[v.describe() for v in violations]}"


def _check_hook(http_response: Any, model: Any, **_: Any) -> None:
    check_response_against_model(model.name, http_response.status_code, http_response.content)


def make_client(
    endpoint_url: str,
    credentials: ApiCredentials,
    *,
    region: str = "us-east-1",
    data_path: str | None = None,
    validate_params: bool = True,
) -> Any:
    session = botocore.session.get_session()
    # voiceid's own model copy, as the README tells integrations to use: it has the session operations.
    session.set_config_variable("data_path", data_path or str(model.DATA_PATH))
    client = boto3.Session(botocore_session=session).client(
        "voice-id",
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id=credentials.access_key_id,
        aws_secret_access_key=credentials.secret_access_key,
        config=Config(retries={"max_attempts": 1}, parameter_validation=validate_params),
    )
    client.meta.events.register("after-call.voice-id", _check_hook)
    return client


@pytest.fixture
def api_credentials(transactional_db: None) -> ApiCredentials:
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user("integration")
    key, secret = access_key_services.access_key_create(user=user, description="tests")
    return ApiCredentials(key.access_key_id, secret)


@pytest.fixture
def voiceid(live_server: Any, api_credentials: ApiCredentials) -> Any:
    """A boto3 voice-id client signed with a real access key, talking HTTP to a live server."""
    return make_client(live_server.url, api_credentials)


@pytest.fixture
def raw_client(voiceid: Any) -> Any:
    """The same, with boto3's client-side checks off, for sending what boto3 itself would refuse."""
    return make_client(voiceid.meta.endpoint_url, _credentials_of(voiceid), validate_params=False)


def _credentials_of(client: Any) -> ApiCredentials:
    creds = client._request_signer._credentials
    return ApiCredentials(creds.access_key, creds.secret_key)


@pytest.fixture
def signed_post(live_server: Any, api_credentials: ApiCredentials) -> Callable[..., RawResponse]:
    """POST any bytes to `/`, SigV4-signed like boto3 signs (for bodies boto3 would never produce)."""

    def post(
        target: str | None,
        body: bytes,
        *,
        credentials: ApiCredentials | None = None,
        at: datetime | None = None,
        extra_headers: dict[str, str] | None = None,
        sign: bool = True,
    ) -> RawResponse:
        headers = {"Content-Type": "application/x-amz-json-1.0"}
        if target:
            headers["X-Amz-Target"] = target
        request = AWSRequest(method="POST", url=live_server.url + "/", data=body, headers=headers)
        if sign:
            creds = credentials or api_credentials
            signer = SigV4Auth(
                Credentials(creds.access_key_id, creds.secret_access_key), "voiceid", "us-east-1"
            )
            if at is None:
                signer.add_auth(request)
            else:
                request.context["timestamp"] = at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
                request.headers["X-Amz-Date"] = request.context["timestamp"]
                signer._inject_signature_to_request(request, signer.signature(signer.string_to_sign(
                    request, signer.canonical_request(request)), request))  # fmt: skip
        prepared = dict(request.headers.items())
        prepared.update(extra_headers or {})
        response = urllib3.request(
            "POST", live_server.url + "/", body=body, headers=prepared, timeout=30, retries=False
        )
        return RawResponse(response.status, response.headers, response.data)

    return post


@pytest.fixture
def domain(voiceid: Any) -> dict[str, Any]:
    return voiceid.create_domain(
        Name="contact-centre", ServerSideEncryptionConfiguration={"KmsKeyId": "alias/cc"}
    )["Domain"]


@pytest.fixture
def domain_model(transactional_db: None) -> Iterator[Any]:
    yield domain_services.domain_create(name="unit", kms_key_id="alias/unit", region="us-east-1")


@pytest.fixture(autouse=True)
def _fresh_data_key_cache() -> Iterator[None]:
    """Unwrapped data keys are cached per process by (domain pk, generation), and rolled-back test
    databases reuse primary keys: start and end every test with an empty cache."""
    from domains import envelope

    envelope.forget_data_keys()
    yield
    envelope.forget_data_keys()


def role_client(django_user_model: Any, role: str | None, *, enforce_csrf_checks: bool = False) -> Any:
    """A test client signed in as a new user in the dashboard role `role` (None: no role at all)."""
    from django.contrib.auth.models import Group
    from django.test import Client

    from accounts import roles

    roles.ensure_roles()
    user = django_user_model.objects.create_user(f"user-{role}", password="pw")
    if role:
        user.groups.add(Group.objects.get(name=role))
    client = Client(enforce_csrf_checks=enforce_csrf_checks)
    client.force_login(user)
    return client


@pytest.fixture
def analyst(django_user_model: Any) -> Any:
    from accounts import roles

    return role_client(django_user_model, roles.ANALYSTS)


@pytest.fixture
def auditor(django_user_model: Any) -> Any:
    from accounts import roles

    return role_client(django_user_model, roles.AUDITORS)
