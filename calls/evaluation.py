"""EvaluateSession (spec §4.4-4.6): the latest authentication and fraud results of a call.

A result is cached on the session with the inputs that produced it (its *key*): the audio received, the
threshold and, for authentication, the speaker and the state of its voiceprint; for fraud, the watchlist
and the version of its screening matrix. While the key is unchanged the same result, with the same id,
comes back; any change yields a new result with a new id, as Voice ID's result ids promised.

An evaluation whose results are cached only reads. One that needs new results computes them (finishing the
caller's voiceprint, scoring, screening) outside any transaction, then stores them in a short one under the
session row's lock if the session's inputs are still those it read; if a chunk or an UpdateSession came in
between, it starts over on the newer session. Two evaluations racing for the same new key store one result:
the second finds it stored and returns it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from calls import notifications, selectors, services
from calls.models import Session
from domains import selectors as domain_selectors
from domains.models import Domain
from fraudsters import screening
from fraudsters.models import Watchlist
from speakers import selectors as speaker_selectors
from speakers import services as speaker_services
from speakers.models import Speaker, SpeakerVoiceprint
from voiceid_site import rows
from voiceid_site.ids import new_id
from voiceprints import engine
from voiceprints.engine import CallStream, Voiceprint


@dataclass(frozen=True)
class Evaluation:
    session: Session
    streaming_status: str
    authentication: dict[str, Any]
    fraud: dict[str, Any]
    speaker: Speaker | None


def _timestamp(value: datetime | None) -> float | None:
    return value.timestamp() if value else None


def _window(session: Session) -> dict[str, Any]:
    return {
        "AudioAggregationStartedAt": _timestamp(session.audio_started_at),
        "AudioAggregationEndedAt": _timestamp(session.audio_ended_at),
    }


class _CallVoiceprint:
    """The caller's voiceprint, computed at most once per evaluation and only if a result needs it."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._voiceprint: Voiceprint | None = None
        self._done = False

    def get(self) -> Voiceprint | None:
        if not self._done:
            self._voiceprint = CallStream.from_bytes(self._session.stream_state).voiceprint()
            self._done = True
        return self._voiceprint


def _enough_speech(session: Session) -> bool:
    return session.speech_seconds >= session.minimum_speech_seconds


@dataclass(frozen=True)
class _Claimed:
    """The speaker the session names, as found now, with its voiceprint row (None for either if absent)."""

    speaker: Speaker | None
    voiceprint: SpeakerVoiceprint | None

    def key(self) -> str:
        if self.speaker is None:
            return "-"
        voiceprint_id = self.voiceprint.voiceprint_id if self.voiceprint else "-"
        return f"{self.speaker.pk}:{self.speaker.status}:{voiceprint_id}"


@dataclass(frozen=True)
class Authentication:
    """An authentication decision, with the 0-100 score when the voices were compared (ACCEPT / REJECT)."""

    decision: str
    score: int | None = None


def authentication_decision(
    *,
    speaker: Speaker | None,
    voiceprint_of: Callable[[Speaker], SpeakerVoiceprint | None],
    caller_voiceprint: Callable[[], Voiceprint | None],
    enough_speech: bool,
    acceptance_threshold: int,
    speaker_named: bool = True,
) -> Authentication:
    """Voice ID's authentication rules (spec §4.5), for a call or a recording alike.

    `speaker` is the speaker the caller claims, as found now (None: not in the domain). The voiceprints are
    read only once a rule needs them: the speaker's row when its status allows a comparison (None: it has
    none), the caller's when there is enough speech (None: too little voice to make one). Computing the
    caller's is the costly part, so an early decision never pays for it.
    """
    if not speaker_named:
        return Authentication("SPEAKER_ID_NOT_PROVIDED")
    if speaker is None:
        return Authentication("SPEAKER_NOT_ENROLLED")
    if speaker.status == Speaker.Status.OPTED_OUT:
        return Authentication("SPEAKER_OPTED_OUT")
    if speaker.status == Speaker.Status.EXPIRED:
        return Authentication("SPEAKER_EXPIRED")
    enrolled = voiceprint_of(speaker) if speaker.status == Speaker.Status.ENROLLED else None
    if enrolled is None:
        return Authentication("SPEAKER_NOT_ENROLLED")
    if not enough_speech or (caller := caller_voiceprint()) is None:
        return Authentication("NOT_ENOUGH_SPEECH")
    score = engine.authentication_score(Voiceprint.unpack(enrolled.packed), caller)
    return Authentication("ACCEPT" if score >= acceptance_threshold else "REJECT", score)


@dataclass(frozen=True)
class FraudScreening:
    """A fraud decision, with the risk that the caller is the watchlist's closest fraudster (None when
    there was too little speech to screen) and that fraudster's id when the risk is above zero."""

    decision: str
    risk_score: int | None = None
    closest_fraudster_id: str | None = None

    @property
    def high_risk(self) -> bool:
        return self.decision == "HIGH_RISK"


def fraud_screening(
    *,
    watchlist: Watchlist | None,
    caller_voiceprint: Callable[[], Voiceprint | None],
    enough_speech: bool,
    risk_threshold: int,
) -> FraudScreening:
    """Voice ID's known-fraudster screening (spec §4.6), for a call or a recording alike: the caller's
    voiceprint against the watchlist's fraudsters. A watchlist deleted since it was chosen was empty (only
    empty ones can be deleted): pass None, and nothing matches."""
    if not enough_speech or (caller := caller_voiceprint()) is None:
        return FraudScreening("NOT_ENOUGH_SPEECH")
    match = screening.watchlist_index(watchlist).search(caller.vector, caller.cohort) if watchlist else None
    risk_score = match.risk_score if match else 0
    closest = match.id if match is not None and match.risk_score > 0 else None
    return FraudScreening("HIGH_RISK" if risk_score >= risk_threshold else "LOW_RISK", risk_score, closest)


def _authenticate(session: Session, claimed: _Claimed, caller: _CallVoiceprint) -> dict[str, Any]:
    authentication = authentication_decision(
        speaker=claimed.speaker,
        voiceprint_of=lambda _: claimed.voiceprint,
        caller_voiceprint=caller.get,
        enough_speech=_enough_speech(session),
        acceptance_threshold=session.acceptance_threshold,
        speaker_named=bool(session.speaker_ref),
    )
    result: dict[str, Any] = {"Configuration": {"AcceptanceThreshold": session.acceptance_threshold}}
    if authentication.score is not None:
        result["Score"] = authentication.score
    result["Decision"] = authentication.decision
    return result


def _screen(session: Session, watchlist: Watchlist | None, caller: _CallVoiceprint) -> dict[str, Any]:
    configuration = {"RiskThreshold": session.risk_threshold, "WatchlistId": session.watchlist_id}
    result: dict[str, Any] = {"Configuration": configuration}
    screened = fraud_screening(
        watchlist=watchlist,
        caller_voiceprint=caller.get,
        enough_speech=_enough_speech(session),
        risk_threshold=session.risk_threshold,
    )
    result["Decision"] = screened.decision
    if screened.risk_score is None:
        return result
    known_fraudster: dict[str, Any] = {"RiskScore": screened.risk_score}
    if screened.closest_fraudster_id is not None:
        known_fraudster["GeneratedFraudsterId"] = screened.closest_fraudster_id
    if screened.high_risk:
        result["Reasons"] = ["KNOWN_FRAUDSTER"]
    # VoiceSpoofingRisk is left out until spoofing detection exists (README status table).
    result["RiskDetails"] = {"KnownFraudsterRisk": known_fraudster}
    return result


def _auth_key(session: Session, claimed: _Claimed) -> str:
    ref = "set" if session.speaker_ref else "unset"
    return (
        f"{session.chunks_received}|{session.acceptance_threshold}|{session.minimum_speech_seconds}|"
        f"{ref}|{claimed.key()}"
    )


def _fraud_key(session: Session, watchlist: Watchlist | None) -> str:
    version = watchlist.screening_version if watchlist else "-"
    return (
        f"{session.chunks_received}|{session.risk_threshold}|{session.minimum_speech_seconds}|"
        f"{session.watchlist_id}|{version}"
    )


def _claimed(session: Session) -> _Claimed:
    if not session.speaker_ref:
        return _Claimed(None, None)
    speaker = speaker_selectors.speaker_find(
        domain=session.domain, speaker_id=session.speaker_ref, with_voiceprint=True
    )
    if speaker is None:
        return _Claimed(None, None)
    return _Claimed(speaker, speaker_selectors.speaker_voiceprint(speaker))


def session_evaluate(*, domain: Domain, session_name_or_id: str) -> Evaluation:
    """The call's latest results: the cached ones while their keys hold, else new ones (see the module)."""
    domain_selectors.ensure_active(domain)
    for _ in range(services.UNLOCKED_TRIES):
        session = selectors.session_get(domain=domain, session_name_or_id=session_name_or_id)
        evaluation = _evaluate(session, domain=domain, session_name_or_id=session_name_or_id)
        if evaluation is not None:
            return evaluation
    # The session kept changing under the unlocked tries: evaluate it under its row lock.
    with transaction.atomic():
        session = selectors.session_get(domain=domain, session_name_or_id=session_name_or_id, for_update=True)
        evaluation = _evaluate(session, domain=domain, session_name_or_id=session_name_or_id)
        assert evaluation is not None  # nothing can change a locked row
        return evaluation


def _evaluate(session: Session, *, domain: Domain, session_name_or_id: str) -> Evaluation | None:
    """The evaluation of `session` as read: None if it changed before new results could be stored."""
    claimed = _claimed(session)
    watchlist = _watchlist(session)
    auth_key, fraud_key = _auth_key(session, claimed), _fraud_key(session, watchlist)
    stale = _stale(session, auth_key=auth_key, fraud_key=fraud_key)
    if not stale:
        return _evaluation(session, claimed)
    caller = _CallVoiceprint(session)
    results = {
        "auth": (auth_key, _authenticate(session, claimed, caller)) if "auth" in stale else None,
        "fraud": (fraud_key, _screen(session, watchlist, caller)) if "fraud" in stale else None,
    }
    window = _window(session)
    if _results_swap(session, claimed=claimed, results=results, window=window):
        return _evaluation(session, claimed)
    stored = _results_save(
        domain=domain,
        session_name_or_id=session_name_or_id,
        seen=_inputs(session),
        claimed=claimed,
        results=results,
        window=window,
    )
    return None if stored is None else _evaluation(stored, claimed)


def _watchlist(session: Session) -> Watchlist | None:
    # Hand-written SQL (voiceid_site.rows): every evaluation reads it.
    watchlist = rows.row_by_key(
        Watchlist, columns=["domain_id", "watchlist_id"], values=[session.domain.pk, session.watchlist_id]
    )
    if watchlist is not None:
        watchlist.domain = session.domain  # already loaded: spare a query
    return watchlist


def _stale(session: Session, *, auth_key: str, fraud_key: str) -> set[str]:
    """Which cached results (of "auth", "fraud") no longer answer for the session's inputs."""
    stale = set()
    if session.auth_result_key != auth_key or session.auth_result is None:
        stale.add("auth")
    if session.fraud_result_key != fraud_key or session.fraud_result is None:
        stale.add("fraud")
    return stale


def _inputs(session: Session) -> tuple[object, ...]:
    """The session's own columns the result keys depend on (the sealed speaker ref compared as stored)."""
    return (
        session.pk,
        session.chunks_received,
        session.acceptance_threshold,
        session.minimum_speech_seconds,
        session.risk_threshold,
        session.watchlist_id,
        bytes(session.speaker_ref_sealed),
    )


# What storing results writes to the session row.
_RESULT_FIELDS = (
    "auth_result",
    "auth_result_id",
    "auth_result_key",
    "fraud_result",
    "fraud_result_id",
    "fraud_result_key",
    "evaluated_at",
)


def _results_swap(
    session: Session,
    *,
    claimed: _Claimed,
    results: dict[str, tuple[str, dict[str, Any]] | None],
    window: dict[str, Any],
) -> bool:
    """Store new results on `session` with one conditional UPDATE, if the row is as it was read (every write
    that changes a key's inputs moves `updated_at`) and no evaluation that raced this one stored one of
    these keys first. False: `_results_save` sorts out which of the two happened."""
    keys = {f"{kind}_result_key": result[0] for kind, result in results.items() if result is not None}
    original = {field: getattr(session, field) for field in _RESULT_FIELDS}
    decided = _decisions(session)
    changed = _results_set(session, results=results, window=window)
    if not changed:
        return True  # the session holds these keys' results already
    with transaction.atomic():
        # Hand-written SQL (voiceid_site.rows): most evaluations of a live call store new results.
        if rows.update(session, fields=changed, unchanged=["chunks_received", "updated_at"], differing=keys):
            _results_stored(session, claimed, decided=decided)
            return True
    for field, value in original.items():  # not stored: leave the session as it was read
        setattr(session, field, value)
    return False


def _results_set(
    session: Session, *, results: dict[str, tuple[str, dict[str, Any]] | None], window: dict[str, Any]
) -> list[str]:
    """Put the results whose key `session` does not hold yet on it (in memory); the fields changed."""
    changed: list[str] = []
    for kind, result in results.items():
        if result is None or getattr(session, f"{kind}_result_key") == result[0]:
            continue  # stored already, by an evaluation that raced this one: its result and id stay
        setattr(session, f"{kind}_result", {**result[1], **window})
        setattr(session, f"{kind}_result_id", new_id())
        setattr(session, f"{kind}_result_key", result[0])
        changed += [f"{kind}_result", f"{kind}_result_id", f"{kind}_result_key"]
    if changed:
        session.evaluated_at = timezone.now()
        changed.append("evaluated_at")
    return changed


def _decisions(session: Session) -> tuple[str | None, str | None]:
    """The session's stored (authentication, fraud) decisions; None where it has no result yet."""
    auth, fraud = session.auth_result, session.fraud_result
    return (auth["Decision"] if auth else None, fraud["Decision"] if fraud else None)


def _results_stored(
    session: Session, claimed: _Claimed, *, decided: tuple[str | None, str | None], auth_changed: bool = True
) -> None:
    """What follows new results, in their transaction: the speaker's access, and an Evaluate Session Action
    when a decision is reached or changes (`decided`: the decisions before). A live call's results change
    with every poll (new audio), its decisions a few times a call: an event per poll would flood the
    outbox and every webhook, and cost the poll a write (15 % fewer chunks in the 50-call run)."""
    assert session.auth_result is not None
    if auth_changed and session.auth_result["Decision"] == "ACCEPT" and claimed.speaker is not None:
        # A new ACCEPT is an access of the speaker (spec: LastAccessedAt).
        speaker_services.speaker_record_access(speaker=claimed.speaker)
    if _decisions(session) != decided:
        notifications.session_evaluated(session, speaker=claimed.speaker)


@transaction.atomic
def _results_save(
    *,
    domain: Domain,
    session_name_or_id: str,
    seen: tuple[object, ...],
    claimed: _Claimed,
    results: dict[str, tuple[str, dict[str, Any]] | None],
    window: dict[str, Any],
) -> Session | None:
    """Store results computed from the session as `seen`, unless its inputs changed since (None), under the
    row lock: the way out when `_results_swap` did not match (often because a racing evaluation stored the
    same keys first, whose results and ids then stay)."""
    session = selectors.session_get(domain=domain, session_name_or_id=session_name_or_id, for_update=True)
    if _inputs(session) != seen:
        return None
    decided = _decisions(session)
    changed = _results_set(session, results=results, window=window)
    if changed:
        session.save(update_fields=changed)
        _results_stored(session, claimed, decided=decided, auth_changed="auth_result" in changed)
    return session


def _evaluation(session: Session, claimed: _Claimed) -> Evaluation:
    assert session.auth_result is not None and session.fraud_result is not None
    return Evaluation(
        session=session,
        streaming_status=selectors.streaming_status(session),
        authentication={**session.auth_result, "AuthenticationResultId": session.auth_result_id},
        fraud={**session.fraud_result, "FraudDetectionResultId": session.fraud_result_id},
        speaker=claimed.speaker,
    )
