"""Reads of call sessions: by name or `id#…`, their streaming status, and how many are active."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from calls.models import Session
from domains.models import Domain
from voiceid_site.exceptions import ResourceNotFound
from voiceid_site.ids import is_generated_id
from voiceid_site.paging import Page, keyset_page_newest

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


# --- the dashboard's reads -------------------------------------------------------------------------


@dataclass(frozen=True)
class Gauge:
    """A 0-100 score against its threshold, and whether reaching the threshold is good news."""

    score: int | None
    threshold: int
    reaching_is_good: bool

    @property
    def reached(self) -> bool:
        return self.score is not None and self.score >= self.threshold

    @property
    def tone(self) -> str:
        if self.score is None:
            return "none"
        return "ok" if self.reached == self.reaching_is_good else "bad"


@dataclass(frozen=True)
class SessionOverview:
    """What the dashboard shows of a call: its streaming state and the results EvaluateSession last stored.

    Read from the session row only: a page never runs the engine, so a result is as fresh as the last
    EvaluateSession made it (`results_behind_audio` says when audio arrived after it).
    """

    session: Session
    streaming_status: str
    speaker_id: str
    net_speech_seconds: float
    audio_seconds: float
    authentication_decision: str | None
    authentication: Gauge
    fraud_decision: str | None
    fraud_reasons: list[str]
    risk: Gauge
    closest_fraudster_id: str | None
    evaluated_at: datetime | None
    results_behind_audio: bool

    @property
    def is_live(self) -> bool:
        """Still streaming or about to: the page keeps refreshing until the call ends."""
        return self.streaming_status != ENDED

    @property
    def authentication_tone(self) -> str:
        return {"ACCEPT": "ok", "REJECT": "bad"}.get(self.authentication_decision or "", "")

    @property
    def fraud_tone(self) -> str:
        return {"LOW_RISK": "ok", "HIGH_RISK": "bad"}.get(self.fraud_decision or "", "")


def session_overview(session: Session, *, now: datetime | None = None) -> SessionOverview:
    auth = session.auth_result or {}
    fraud = session.fraud_result or {}
    known = (fraud.get("RiskDetails") or {}).get("KnownFraudsterRisk") or {}
    heard_since = (
        session.evaluated_at is not None
        and session.audio_ended_at is not None
        and session.audio_ended_at > session.evaluated_at
    )
    return SessionOverview(
        session=session,
        streaming_status=streaming_status(session, now=now),
        speaker_id=session.speaker_ref,
        net_speech_seconds=round(session.speech_seconds, 1),
        audio_seconds=round(session.audio_seconds, 1),
        authentication_decision=auth.get("Decision"),
        authentication=Gauge(
            score=auth.get("Score"),
            threshold=(auth.get("Configuration") or {}).get(
                "AcceptanceThreshold", session.acceptance_threshold
            ),
            reaching_is_good=True,
        ),
        fraud_decision=fraud.get("Decision"),
        fraud_reasons=list(fraud.get("Reasons") or []),
        risk=Gauge(
            score=known.get("RiskScore"),
            threshold=(fraud.get("Configuration") or {}).get("RiskThreshold", session.risk_threshold),
            reaching_is_good=False,
        ),
        closest_fraudster_id=known.get("GeneratedFraudsterId"),
        evaluated_at=session.evaluated_at,
        results_behind_audio=heard_since,
    )


def session_find_by_id(*, session_id: str) -> Session:
    """A session by its `id#…` SessionId, unique across domains (the dashboard's session URLs)."""
    session = Session.objects.select_related("domain").filter(session_id=session_id).first()
    if session is None:
        raise ResourceNotFound(
            f"No session {session_id} exists: it may belong to a deleted domain, or the link is mistyped.",
            resource_type="SESSION",
        )
    return session


def session_recent_page(*, domain: Domain | None, before: int | None, limit: int) -> Page[Session]:
    """Sessions newest first, keyset-paged backwards (`before` is the last position shown)."""
    sessions = Session.objects.select_related("domain").defer("stream_state_sealed")
    if domain is not None:
        sessions = sessions.filter(domain=domain)
    return keyset_page_newest(sessions, before=before, limit=limit)
