"""Reads of call sessions: by name or `id#…`, their streaming status, and how many are active."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from calls.models import Session
from domains.models import Domain
from voiceid_site.exceptions import ResourceNotFound
from voiceid_site.ids import is_generated_id

PENDING_CONFIGURATION, ONGOING, ENDED = "PENDING_CONFIGURATION", "ONGOING", "ENDED"


def session_find(*, domain: Domain, session_name_or_id: str, for_update: bool = False) -> Session | None:
    sessions = Session.objects.filter(domain=domain)
    if for_update:
        sessions = sessions.select_for_update()
    if is_generated_id(session_name_or_id):
        session = sessions.filter(session_id=session_name_or_id).first()
    else:
        session = sessions.filter(session_name=session_name_or_id).first()
    if session is not None:
        session.domain = domain  # already loaded: spare the query sealing would make
    return session


def session_get(*, domain: Domain, session_name_or_id: str, for_update: bool = False) -> Session:
    session = session_find(domain=domain, session_name_or_id=session_name_or_id, for_update=for_update)
    if session is None:
        raise ResourceNotFound(
            f"Session {session_name_or_id} does not exist in domain {domain.domain_id}: start it with "
            "StartSession first.",
            resource_type="SESSION",
        )
    return session


def _idle_limit() -> timedelta:
    return timedelta(seconds=settings.VOICEID_SESSION_IDLE_SECONDS)


def last_activity(session: Session) -> datetime:
    return max(filter(None, (session.created_at, session.updated_at, session.audio_ended_at)))


def streaming_status(session: Session, *, now: datetime | None = None) -> str:
    """ENDED after EndSession, or once the call has been silent (no audio, no change) for the idle limit.

    Connect ended the stream when the call ended; a client that never calls EndSession still gets an
    ENDED session, so polling stops and the concurrent-session quota frees up.
    """
    now = now or timezone.now()
    if session.ended_at is not None or now - last_activity(session) >= _idle_limit():
        return ENDED
    return ONGOING if session.chunks_received else PENDING_CONFIGURATION


def active_session_count(*, domain: Domain, now: datetime | None = None) -> int:
    """Sessions still PENDING_CONFIGURATION or ONGOING (the concurrent-sessions quota counts these)."""
    cutoff = (now or timezone.now()) - _idle_limit()
    return (
        Session.objects.filter(domain=domain, ended_at__isnull=True)
        .filter(Q(updated_at__gt=cutoff) | Q(audio_ended_at__gt=cutoff))
        .count()
    )
