"""SigV4 verification of API requests against access keys issued in the admin (spec §2.5).

The signature is recomputed with botocore's own signer from the headers the client says it signed, the raw
Host header and the raw body, so that whatever boto3, the AWS CLI or another SDK signed verifies here.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import regex
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, HTTPHeaders
from botocore.credentials import Credentials
from django.conf import settings
from django.http import HttpRequest

from accounts import selectors as access_keys
from accounts import services as access_key_services
from accounts.models import AccessKey
from voiceid_site.exceptions import (
    IncompleteSignature,
    InvalidSignature,
    MissingAuthenticationToken,
    UnrecognizedClient,
)

SERVICE = "voiceid"
ALGORITHM = "AWS4-HMAC-SHA256"
_AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
_REGION = regex.compile(r"^[a-z0-9][a-z0-9-]{0,31}\Z")


@dataclass(frozen=True)
class Authenticated:
    access_key: AccessKey
    region: str


def _header(request: HttpRequest, name: str) -> str | None:
    """A header exactly as received; Host is never rewritten from X-Forwarded-Host (the client signed Host)."""
    key = name.upper().replace("-", "_")
    meta_key = key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{key}"
    return request.META.get(meta_key)


def _parse_authorization(value: str) -> tuple[str, list[str], str]:
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise IncompleteSignature(
            f"Unsupported signing algorithm {algorithm[:40]!r}: voiceid accepts {ALGORITHM}."
        )
    fields: dict[str, str] = {}
    for part in rest.split(","):
        name, sep, field_value = part.strip().partition("=")
        if sep:
            fields[name] = field_value
    missing = [name for name in ("Credential", "SignedHeaders", "Signature") if name not in fields]
    if missing:
        raise IncompleteSignature(f"Authorization header is missing {', '.join(missing)}.")
    return fields["Credential"], fields["SignedHeaders"].split(";"), fields["Signature"]


def _request_time(amz_date: str | None) -> datetime:
    if not amz_date:
        raise IncompleteSignature("Signed requests need an X-Amz-Date header (format YYYYMMDDTHHMMSSZ).")
    try:
        return datetime.strptime(amz_date, _AMZ_DATE_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise IncompleteSignature(
            f"X-Amz-Date {amz_date[:40]!r} is not in the format YYYYMMDDTHHMMSSZ."
        ) from None


def _check_freshness(signed_at: datetime, amz_date: str, now: datetime) -> None:
    window = timedelta(seconds=settings.VOICEID_SIGV4_MAX_SKEW_SECONDS)
    minutes = settings.VOICEID_SIGV4_MAX_SKEW_SECONDS // 60
    now_text = now.strftime(_AMZ_DATE_FORMAT)
    if signed_at < now - window:
        raise InvalidSignature(
            f"Signature expired: {amz_date} is now earlier than {(now - window).strftime(_AMZ_DATE_FORMAT)} "
            f"({now_text} - {minutes} min.). Check the client's clock."
        )
    if signed_at > now + window:
        raise InvalidSignature(
            f"Signature not yet current: {amz_date} is still later than "
            f"{(now + window).strftime(_AMZ_DATE_FORMAT)} ({now_text} + {minutes} min.). Check the client's clock."
        )


def authenticate(request: HttpRequest, *, now: datetime | None = None) -> Authenticated:
    authorization = _header(request, "Authorization")
    if not authorization:
        if "X-Amz-Signature" in request.GET:
            raise MissingAuthenticationToken(
                "Presigned URLs are not supported: sign the Authorization header."
            )
        raise MissingAuthenticationToken(
            "Missing Authentication Token: sign requests with SigV4 using an access key issued by voiceid."
        )
    credential, signed_headers, signature = _parse_authorization(authorization)

    scope = credential.split("/")
    if len(scope) != 5:
        raise IncompleteSignature("Credential must be <AccessKeyId>/<date>/<region>/voiceid/aws4_request.")
    access_key_id, scope_date, region, service, terminator = scope
    if service != SERVICE or terminator != "aws4_request":
        raise InvalidSignature(f"Credential should be scoped to the correct service: '{SERVICE}'.")
    if not _REGION.match(region):
        raise InvalidSignature(f"Credential scope region {region[:40]!r} is not a valid region name.")

    amz_date = _header(request, "X-Amz-Date")
    signed_at = _request_time(amz_date)
    assert amz_date is not None
    if not amz_date.startswith(scope_date):
        raise InvalidSignature(f"Credential date {scope_date[:8]!r} does not match X-Amz-Date {amz_date!r}.")
    _check_freshness(signed_at, amz_date, now or datetime.now(UTC))

    if "host" not in signed_headers:
        raise InvalidSignature("The Host header must be signed.")
    headers = HTTPHeaders()
    for name in signed_headers:
        value = _header(request, name)
        if value is None:
            raise InvalidSignature(f"Header {name!r} is listed in SignedHeaders but is not in the request.")
        headers[name] = value
    if _header(request, "X-Amz-Security-Token"):
        raise UnrecognizedClient(
            "Temporary credentials (X-Amz-Security-Token) are not issued by voiceid: use an access key "
            "created in the admin or with `manage.py create_access_key`."
        )
    content_sha = _header(request, "X-Amz-Content-SHA256")
    if content_sha and content_sha.startswith("STREAMING-"):
        raise InvalidSignature("Streaming (chunked) payload signing is not supported for Voice ID requests.")

    found = access_keys.signing_key(access_key_id=access_key_id)
    if found is None:
        raise UnrecognizedClient("The security token included in the request is invalid: unknown access key.")
    access_key = found.access_key
    if not access_key.is_usable:
        raise UnrecognizedClient(f"The access key {access_key_id} is disabled.")

    body = request.body
    signer = SigV4Auth(Credentials(access_key_id, found.secret), SERVICE, region)
    path = quote(request.path, safe="/~")
    aws_request = AWSRequest(method=request.method, url=f"http://{headers['host']}{path}", data=body)
    aws_request.context["timestamp"] = amz_date
    query = request.META.get("QUERY_STRING", "")
    if query:
        aws_request.url += f"?{query}"
    # The signature covers the hash of the body as received, whatever the client says it is: a client's
    # X-Amz-Content-SHA256 (S3-style signers send it) may only repeat it. Trusting the header, even unsigned,
    # would let anyone replay a captured request with another body for as long as its signature is fresh.
    payload_hash = hashlib.sha256(body).hexdigest()
    if content_sha is not None and content_sha != payload_hash:
        raise InvalidSignature(
            "X-Amz-Content-SHA256 must be the SHA-256 of the body (unsigned payloads are not accepted): "
            "the header does not match the body received."
        )
    canonical_request = "\n".join(
        [
            (request.method or "").upper(),
            signer._normalize_url_path(path),
            signer.canonical_query_string(aws_request),
            signer.canonical_headers(headers) + "\n",
            ";".join(signed_headers),
            payload_hash,
        ]
    )
    expected = signer.signature(signer.string_to_sign(aws_request, canonical_request), aws_request)
    if not hmac.compare_digest(expected, signature):
        raise InvalidSignature(
            "The request signature we calculated does not match the signature you provided. "
            "Check your Secret Access Key and signing method."
        )
    access_key_services.access_key_mark_used(access_key=access_key)
    return Authenticated(access_key=access_key, region=region)
