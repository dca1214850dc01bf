"""Reads of call sessions: by name or `id#…`, their streaming status, and how many are active."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db.models import Count, IntegerField, Q, QuerySet, Subquery, Value
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce, TruncDate
from django.utils import timezone

from calls.models import Session
from domains import envelope
from domains.models import Domain
from voiceid_site import rows
from voiceid_site.exceptions import ResourceNotFound
from voiceid_site.ids import is_generated_id
from voiceid_site.paging import Page, keyset_page_newest

if TYPE_CHECKING:
    from speakers.models import Speaker

PENDING_CONFIGURATION, ONGOING, ENDED = "PENDING_CONFIGURATION", "ONGOING", "ENDED"


def session_find(*, domain: Domain, session_name_or_id: str, for_update: bool = False) -> Session | None:
    # Hand-written SQL (voiceid_site.rows): every request of a live call reads its session.
    key = "session_id" if is_generated_id(session_name_or_id) else "session_name"
    session = rows.row_by_key(
        Session, columns=["domain_id", key], values=[domain.pk, session_name_or_id], for_update=for_update
    )
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


def ended_at(session: Session, *, now: datetime | None = None) -> datetime | None:
    """When streaming stopped: EndSession's time, or when the call went silent for the idle limit (recorded
    by the idle sweep, `services.sessions_end_idle`, and worked out here until it runs)."""
    if session.ended_at is not None:
        return session.ended_at
    went_idle = last_activity(session) + _idle_limit()
    return went_idle if went_idle <= (now or timezone.now()) else None


def collecting_message(session: Session, *, ended: bool) -> str:
    """An enrollment's message while it is short of speech (NOT_ENOUGH_SPEECH)."""
    collected = (
        f"{session.speech_seconds:.1f} s of net speech collected; enrollment needs "
        f"{settings.VOICEID_ENROLLMENT_SPEECH_SECONDS:g} s"
    )
    if ended:
        return f"{collected}, and the call has ended, so no more will come: start a new session to enroll."
    return f"{collected}."


def enrollment_message(session: Session, *, now: datetime | None = None) -> str:
    """What DescribeSession and the call page say of the enrollment. A call that went silent is ENDED
    before the sweep writes its end down (and the stored message with it), so that is worked out here."""
    if session.enrollment_status == Session.EnrollmentStatus.NOT_ENOUGH_SPEECH:
        return collecting_message(session, ended=streaming_status(session, now=now) == ENDED)
    return session.enrollment_message


def _heard_within_idle_limit(now: datetime | None) -> Q:
    """Sessions heard from (audio, or any change) within the idle limit: `last_activity` in SQL. Creating a
    session sets its updated_at too, so created_at needs no term of its own."""
    cutoff = (now or timezone.now()) - _idle_limit()
    return Q(updated_at__gt=cutoff) | Q(audio_ended_at__gt=cutoff)


def idle_unended_session_pks(*, now: datetime | None = None) -> list[int]:
    """Sessions ENDED by silence whose end is not recorded yet, oldest activity first."""
    return list(
        Session.objects.filter(ended_at__isnull=True)
        .exclude(_heard_within_idle_limit(now))
        .order_by("updated_at", "pk")
        .values_list("pk", flat=True)
    )


def active_session_count(*, domain: Domain, now: datetime | None = None) -> int:
    """Sessions still PENDING_CONFIGURATION or ONGOING (the concurrent-sessions quota counts these)."""
    return Session.objects.filter(_heard_within_idle_limit(now), domain=domain, ended_at__isnull=True).count()


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
    enrollment_message: str

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
        enrollment_message=enrollment_message(session, now=now),
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


def sessions_of_speaker(
    *, domain: Domain, speaker: Speaker, limit: int = 20, now: datetime | None = None
) -> list[SessionOverview]:
    """The speaker's most recent calls, newest first: those naming it by customer id or by generated id.

    Sessions keep the id sealed, so they are found through its keyed hash (`speaker_ref_index`): one probe
    of the (domain, speaker_ref_index) index for the few digests the two ids may be stored under, whatever
    the number of sessions in the domain. Raises AccessDenied when the domain's key is unavailable.
    """
    ids = {speaker.generated_speaker_id, speaker.customer_speaker_id} - {""}
    digests = [digest for speaker_id in sorted(ids) for digest in envelope.lookup_digests(domain, speaker_id)]
    sessions = list(
        Session.objects.filter(domain=domain, speaker_ref_index__in=digests)
        .defer("stream_state_sealed")
        .order_by("-pk")[:limit]
    )
    for session in sessions:
        session.domain = domain  # already loaded: spare the query unsealing the speaker id would make
    return [session_overview(session, now=now) for session in sessions]


# --- the domain overview's charts ----------------------------------------------------------------

OVERVIEW_DAYS = 14
SCORE_BIN_WIDTH = 10  # points of the 0-100 authentication score per histogram bar


@dataclass(frozen=True)
class DecisionDay:
    """One day of a domain's calls, by the authentication and fraud decisions they last got."""

    day: date
    accepted: int = 0
    rejected: int = 0
    other: int = 0  # NOT_ENOUGH_SPEECH, SPEAKER_NOT_ENROLLED, SPEAKER_OPTED_OUT ...
    high_risk: int = 0

    @property
    def evaluated(self) -> int:
        return self.accepted + self.rejected + self.other


@dataclass(frozen=True)
class ScoreBin:
    """Calls whose authentication score fell in [low, high]: the accepted and the rejected ones."""

    low: int
    high: int
    accepted: int
    rejected: int


@dataclass(frozen=True)
class CallActivity:
    days: list[DecisionDay]  # oldest first, every day of the window, empty days included
    score_bins: list[ScoreBin]  # 0-9, 10-19, ... 90-100

    @property
    def evaluated(self) -> int:
        return sum(day.evaluated for day in self.days)


def _window_sessions(domain: Domain, since: datetime) -> QuerySet[Session]:
    """The domain's evaluated sessions created since `since`, found by a range of the (domain, id) index.

    Sessions get their primary key and `created_at` together and are never re-dated, so the newest session
    created before `since` bounds the window from below. Finding that bound walks the index backwards over
    the window's sessions (plus one); the aggregate then reads the same range. Both cost what the window
    holds, not what the domain has accumulated over the years.
    """
    before_window = (
        Session.objects.filter(domain=domain, created_at__lt=since).order_by("-pk").values("pk")[:1]
    )
    return Session.objects.filter(
        domain=domain,
        pk__gt=Coalesce(Subquery(before_window), Value(0)),
        created_at__gte=since,
        auth_result__isnull=False,
    ).order_by()


def session_activity(
    *, domain: Domain, days: int = OVERVIEW_DAYS, now: datetime | None = None
) -> CallActivity:
    """Decisions per day and the score distribution of accepted vs rejected calls, over the last `days` days
    (today included), from the results EvaluateSession last stored on each session.

    Two GROUP BY queries over the window's sessions (see `_window_sessions`): one row per day and decision
    (a few dozen) and one per score and decision (at most 202) come back, whatever the number of calls. A
    call counts on the day it started (UTC), with the decision it last got.
    """
    today = timezone.localdate(now or timezone.now())
    first_day = today - timedelta(days=days - 1)
    since = datetime.combine(first_day, time.min, tzinfo=timezone.get_current_timezone())
    sessions = _window_sessions(domain, since)

    per_day = (
        sessions.annotate(day=TruncDate("created_at"), decision=KT("auth_result__Decision"))
        .values("day", "decision")
        .annotate(calls=Count("pk"), high_risk=Count("pk", filter=Q(fraud_result__Decision="HIGH_RISK")))
    )
    counts: dict[date, dict[str, int]] = {}
    for row in per_day:
        day = counts.setdefault(row["day"], {"accepted": 0, "rejected": 0, "other": 0, "high_risk": 0})
        kind = {"ACCEPT": "accepted", "REJECT": "rejected"}.get(row["decision"], "other")
        day[kind] += row["calls"]
        day["high_risk"] += row["high_risk"]
    window = [first_day + timedelta(days=offset) for offset in range(days)]

    # Scores are whole numbers 0-100; 100 joins the 90s so every bar is ten points wide.
    score = Cast(KT("auth_result__Score"), IntegerField())
    per_bin = (
        sessions.filter(auth_result__Decision__in=["ACCEPT", "REJECT"], auth_result__has_key="Score")
        .annotate(decision=KT("auth_result__Decision"), score=score)
        .values("decision", "score")
        .annotate(calls=Count("pk"))
    )
    bins = {low: {"ACCEPT": 0, "REJECT": 0} for low in range(0, 100, SCORE_BIN_WIDTH)}
    for row in per_bin:
        low = min(max(int(row["score"]), 0) // SCORE_BIN_WIDTH * SCORE_BIN_WIDTH, 100 - SCORE_BIN_WIDTH)
        bins[low][row["decision"]] += row["calls"]
    return CallActivity(
        days=[DecisionDay(day=day, **counts.get(day, {})) for day in window],
        score_bins=[
            ScoreBin(
                low=low,
                high=low + SCORE_BIN_WIDTH - (1 if low + SCORE_BIN_WIDTH < 100 else 0),
                accepted=tally["ACCEPT"],
                rejected=tally["REJECT"],
            )
            for low, tally in bins.items()
        ],
    )
