"""Writes of the audit log: record one event, and the retention sweep. Nothing else changes an event."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.models import AuditEvent
from domains import envelope
from domains import selectors as domain_selectors
from voiceid_site import rows
from voiceid_site.ids import is_generated_id

logger = logging.getLogger("voiceid.audit")

PURGE_BATCH_SIZE = 5000
_MAX = {field.name: getattr(field, "max_length", None) for field in AuditEvent._meta.fields}


def _clip(field: str, value: str) -> str:
    limit = _MAX[field]
    return value[:limit] if limit else value


def customer_id_digest(*, domain_id: str, customer_speaker_id: str) -> bytes | None:
    """The domain's keyed digest of a customer id, as speakers are indexed; None when it cannot be made."""
    domain = domain_selectors.domain_find(domain_id=domain_id)
    if domain is None:
        return None
    try:
        return envelope.index_digest(domain, customer_speaker_id)
    except Exception:  # an unusable key must not stop the request being recorded
        logger.warning("audit: no digest for a customer id in domain %s", domain_id, exc_info=True)
        return None


def audit_event_record(
    *,
    actor: str,
    channel: str,
    action: str,
    status: int,
    access_key_id: str = "",
    domain_id: str = "",
    resource_type: str = "",
    resource_id: str = "",
    speaker_id: str = "",
    source_ip: str | None = None,
    error_code: str = "",
    request_id: str = "",
    requested_speaker_id: str = "",
    known_digest: bytes | None = None,
) -> AuditEvent | None:
    """Insert one event, never failing the caller: the request it describes has already been answered.

    `resource_id`, `speaker_id` and `requested_speaker_id` (the id a request named, when the resource id
    came from the answer) may be a generated id or a CustomerSpeakerId: a customer id is stored only as the
    domain's keyed digest. Runs after the handler's transaction, as one statement of its own (in a savepoint
    if a transaction is open).
    """
    # A speaker named by generated id comes with its digest, read before the request could delete it.
    digest: bytes | None = known_digest
    for value in (requested_speaker_id, speaker_id, resource_id if resource_type == "SPEAKER" else ""):
        if value and not is_generated_id(value):
            digest = customer_id_digest(domain_id=domain_id, customer_speaker_id=value)
            break
    if resource_type == "SPEAKER" and resource_id and not is_generated_id(resource_id):
        resource_id = ""
    if speaker_id and not is_generated_id(speaker_id):
        speaker_id = ""
    event = AuditEvent(
        actor=_clip("actor", actor),
        channel=channel,
        action=_clip("action", action),
        status=status,
        access_key_id=_clip("access_key_id", access_key_id),
        domain_id=_clip("domain_id", domain_id),
        resource_type=_clip("resource_type", resource_type),
        resource_id=_clip("resource_id", resource_id),
        speaker_id=_clip("speaker_id", speaker_id),
        customer_id_digest=digest,
        source_ip=source_ip,
        error_code=_clip("error_code", error_code),
        request_id=_clip("request_id", request_id),
    )
    try:
        if transaction.get_autocommit():
            # One statement in autocommit is atomic by itself; BEGIN and COMMIT would add two round trips to
            # PostgreSQL to every evaluation of a live call (whose insert is hand-written SQL for the same
            # reason: voiceid_site/rows.py).
            rows.insert(event)
        else:
            with transaction.atomic():  # a savepoint: a failed insert must not break the caller's transaction
                rows.insert(event)
    except Exception:
        logger.exception("audit: could not record %s by %s", action, actor)
        return None
    return event


def audit_events_purge_expired() -> int:
    """Remove events older than VOICEID_AUDIT_RETENTION_DAYS (0 keeps them forever), in short batches."""
    days = settings.VOICEID_AUDIT_RETENTION_DAYS
    if days <= 0:
        return 0
    cutoff = timezone.now() - timedelta(days=days)
    removed = 0
    while True:
        keys = list(
            AuditEvent.objects.filter(at__lt=cutoff)
            .order_by("pk")
            .values_list("pk", flat=True)[:PURGE_BATCH_SIZE]
        )
        if not keys:
            return removed
        with transaction.atomic():
            removed += AuditEvent.objects.purge(primary_keys=keys)
