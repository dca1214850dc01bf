"""EvaluateSession (spec §4.4-4.6): the latest authentication and fraud results of a call.

A result is cached on the session with the inputs that produced it (its *key*): the audio received, the
threshold and, for authentication, the speaker and the state of its voiceprint; for fraud, the watchlist
and the version of its screening matrix. While the key is unchanged the same result, with the same id,
comes back; any change yields a new result with a new id, as Voice ID's result ids promised.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from calls import selectors
from calls.models import Session
from domains import selectors as domain_selectors
from domains.models import Domain
from fraudsters import screening
from fraudsters.models import Watchlist
from speakers import selectors as speaker_selectors
from speakers import services as speaker_services
from speakers.models import Speaker, SpeakerVoiceprint
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


def _authenticate(session: Session, claimed: _Claimed, caller: _CallVoiceprint) -> dict[str, Any]:
    result: dict[str, Any] = {"Configuration": {"AcceptanceThreshold": session.acceptance_threshold}}
    speaker, voiceprint = claimed.speaker, claimed.voiceprint
    if not session.speaker_ref:
        decision = "SPEAKER_ID_NOT_PROVIDED"
    elif speaker is None:
        decision = "SPEAKER_NOT_ENROLLED"
    elif speaker.status == Speaker.Status.OPTED_OUT:
        decision = "SPEAKER_OPTED_OUT"
    elif speaker.status == Speaker.Status.EXPIRED:
        decision = "SPEAKER_EXPIRED"
    elif speaker.status != Speaker.Status.ENROLLED or voiceprint is None:
        decision = "SPEAKER_NOT_ENROLLED"
    elif not _enough_speech(session) or (call := caller.get()) is None:
        decision = "NOT_ENOUGH_SPEECH"
    else:
        enrolled = Voiceprint.unpack(voiceprint.packed)
        score = engine.authentication_score(enrolled, call)
        decision = "ACCEPT" if score >= session.acceptance_threshold else "REJECT"
        result["Score"] = score
    result["Decision"] = decision
    return result


def _screen(session: Session, watchlist: Watchlist | None, caller: _CallVoiceprint) -> dict[str, Any]:
    configuration = {"RiskThreshold": session.risk_threshold, "WatchlistId": session.watchlist_id}
    result: dict[str, Any] = {"Configuration": configuration}
    if not _enough_speech(session) or (call := caller.get()) is None:
        result["Decision"] = "NOT_ENOUGH_SPEECH"
        return result
    # A watchlist deleted since the session chose it was empty (only empty ones can be deleted).
    match = screening.watchlist_index(watchlist).search(call.vector, call.cohort) if watchlist else None
    known_fraudster: dict[str, Any] = {"RiskScore": match.risk_score if match else 0}
    if match is not None and match.risk_score > 0:
        known_fraudster["GeneratedFraudsterId"] = match.id
    high = known_fraudster["RiskScore"] >= session.risk_threshold
    result["Decision"] = "HIGH_RISK" if high else "LOW_RISK"
    if high:
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
    speaker = speaker_selectors.speaker_find(domain=session.domain, speaker_id=session.speaker_ref)
    if speaker is None:
        return _Claimed(None, None)
    voiceprint = SpeakerVoiceprint.objects.filter(speaker=speaker).first()
    if voiceprint is not None:
        voiceprint.domain = session.domain  # already loaded: spare the query sealing would make
    return _Claimed(speaker, voiceprint)


@transaction.atomic
def session_evaluate(*, domain: Domain, session_name_or_id: str) -> Evaluation:
    domain_selectors.ensure_active(domain)
    session = selectors.session_get(domain=domain, session_name_or_id=session_name_or_id, for_update=True)
    claimed = _claimed(session)
    watchlist = Watchlist.objects.filter(domain=domain, watchlist_id=session.watchlist_id).first()
    caller = _CallVoiceprint(session)
    changed = []
    auth_key, fraud_key = _auth_key(session, claimed), _fraud_key(session, watchlist)
    if session.auth_result_key != auth_key or session.auth_result is None:
        session.auth_result = {**_authenticate(session, claimed, caller), **_window(session)}
        session.auth_result_id, session.auth_result_key = new_id(), auth_key
        changed += ["auth_result", "auth_result_id", "auth_result_key"]
        if session.auth_result["Decision"] == "ACCEPT" and claimed.speaker is not None:
            speaker_services.speaker_record_access(speaker=claimed.speaker)
    if session.fraud_result_key != fraud_key or session.fraud_result is None:
        session.fraud_result = {**_screen(session, watchlist, caller), **_window(session)}
        session.fraud_result_id, session.fraud_result_key = new_id(), fraud_key
        changed += ["fraud_result", "fraud_result_id", "fraud_result_key"]
    if changed:
        session.evaluated_at = timezone.now()
        session.save(update_fields=[*changed, "evaluated_at"])
    return Evaluation(
        session=session,
        streaming_status=selectors.streaming_status(session),
        authentication={**session.auth_result, "AuthenticationResultId": session.auth_result_id},
        fraud={**session.fraud_result, "FraudDetectionResultId": session.fraud_result_id},
        speaker=claimed.speaker,
    )
