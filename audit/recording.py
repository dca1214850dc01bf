"""Turning a request into an audit event: who (user or access key), from where, what, and how it ended.

Used by the API dispatcher (voiceid_site/awsjson/dispatch.py) and by audit.middleware for the dashboard and
the admin. Every entry point swallows its own errors: auditing must never fail or slow down the request
beyond its one INSERT.
"""

from __future__ import annotations

import ipaddress
import json
import logging
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from audit import catalogue, services
from audit.models import AuditEvent

if TYPE_CHECKING:
    from accounts.models import AccessKey

logger = logging.getLogger("voiceid.audit")


def client_ip(request: HttpRequest) -> str | None:
    """REMOTE_ADDR, or behind a trusted proxy (VOICEID_BEHIND_PROXY) the address that proxy appended last
    to X-Forwarded-For: the entries before it were written by the client and prove nothing."""
    candidates = [request.META.get("REMOTE_ADDR", "")]
    if settings.VOICEID_BEHIND_PROXY:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        if forwarded and forwarded[-1]:
            candidates.insert(0, forwarded[-1])
    for candidate in candidates:
        try:
            return str(ipaddress.ip_address(candidate))
        except ValueError:
            continue
    return None


def note_refused(request: HttpRequest, *, status: int, error_code: str) -> None:
    """Record the dashboard action `request` as refused (with the API's status and error name), whatever the
    page answers: a refusal is shown as a message on a 200 fragment or after a redirect, which would
    otherwise read as success in the audit log."""
    request._audit_refusal = (status, error_code)  # type: ignore[attr-defined]


def refusal_of(request: HttpRequest) -> tuple[int, str] | None:
    return getattr(request, "_audit_refusal", None)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _from_response(response: HttpResponse, members: tuple[str, ...]) -> str:
    if response.status_code != 200:
        return ""
    try:
        value: Any = json.loads(response.content)
    except ValueError:
        return ""
    for member in members:
        value = value.get(member) if isinstance(value, dict) else None
    return _text(value)


def record_api_call(
    request: HttpRequest,
    *,
    operation: str,
    access_key: AccessKey | None,
    params: dict[str, Any] | None,
    response: HttpResponse,
) -> None:
    """One event for an authenticated call of a catalogued operation, whatever its outcome."""
    spec = catalogue.API_OPERATIONS.get(operation)
    if spec is None or access_key is None:
        return  # not biometric data, or never authenticated (nothing was read or changed)
    try:
        params = params or {}  # None when validation failed: the request named nothing reliably
        requested = _text(params.get(spec.member)) if spec.member else ""
        resource_id = _from_response(response, spec.from_response) if spec.from_response else ""
        services.audit_event_record(
            actor=access_key.user.get_username(),
            access_key_id=access_key.access_key_id,
            channel=AuditEvent.Channel.API,
            action=operation,
            status=response.status_code,
            error_code=response.get("X-Amzn-ErrorType", ""),
            domain_id=_text(params.get("DomainId")),
            resource_type=spec.resource_type,
            resource_id=resource_id or requested,
            requested_speaker_id=requested if spec.resource_type == catalogue.SPEAKER else "",
            speaker_id=_text(params.get(spec.speaker_member)) if spec.speaker_member else "",
            source_ip=client_ip(request),
            request_id=getattr(request, "request_id", ""),
        )
    except Exception:
        logger.exception("audit: could not record API call %s", operation)
