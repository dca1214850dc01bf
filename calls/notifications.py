"""Voice ID's session events (spec §9), recorded through the events app's outbox.

Each is recorded in the transaction that made the change it reports, so an event exists exactly when its
change committed; a refused request changes nothing and records nothing. Connect filled its contact records'
VoiceIdResult from these events, so their shape is Voice ID's: camelCase keys under `detail.session`,
generated ids only (a session names its speaker by CustomerSpeakerId; the events carry the speaker's
GeneratedSpeakerId, and none while the speaker does not exist yet).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from calls import selectors
from calls.models import Session
from events.models import DetailType
from events.services import event_record
from speakers import selectors as speaker_selectors
from speakers.models import Speaker
from voiceid_site.exceptions import ServiceError

START_SESSION = "START_SESSION"
UPDATE_SESSION = "UPDATE_SESSION"
EVALUATE_SESSION = "EVALUATE_SESSION"
SESSION_ENROLLMENT_REQUEST = "SESSION_ENROLLMENT_REQUEST"
SOURCE_SESSION = "SESSION"


def session_started(session: Session) -> None:
    _record(session, DetailType.START_SESSION, START_SESSION, "STARTED", _session(session))


def session_ended(session: Session) -> None:
    """The stream's end (EndSession): Voice ID's second Start Session Action, with the audio it aggregated."""
    detail = _session(session)
    progress = _progress(session.audio_started_at, session.audio_ended_at)
    if progress:
        detail["authenticationAudioProgress"] = progress
        detail["fraudDetectionAudioProgress"] = progress
    if session.enrollment_status:
        detail["enrollmentAudioProgress"] = {"audioAggregationStatus": session.enrollment_status, **progress}
    _record(session, DetailType.START_SESSION, START_SESSION, "ENDED", detail)


def session_updated(session: Session) -> None:
    occurrence = f"UPDATED:{uuid.uuid4().hex}"  # each update its own occurrence, however close in time
    _record(session, DetailType.UPDATE_SESSION, UPDATE_SESSION, occurrence, _session(session))


def session_enrollment_requested(session: Session) -> None:
    detail = {"sessionId": session.session_id, "sessionName": session.session_name}
    _record(session, DetailType.SESSION_SPEAKER_ENROLLMENT, SESSION_ENROLLMENT_REQUEST, "REQUESTED", detail)


def session_evaluated(session: Session, *, speaker: Speaker | None) -> None:
    """New results that reached or changed a decision were stored (calls.evaluation says when)."""
    assert session.auth_result is not None and session.fraud_result is not None
    detail: dict[str, Any] = {
        "sessionId": session.session_id,
        "sessionName": session.session_name,
        "streamingStatus": selectors.streaming_status(session),
        "authenticationResult": _authentication(session.auth_result, result_id=session.auth_result_id),
        "fraudDetectionResult": _fraud_detection(session.fraud_result, result_id=session.fraud_result_id),
    }
    if speaker is not None:
        detail["generatedSpeakerId"] = speaker.generated_speaker_id
    occurrence = f"{session.auth_result_id}:{session.fraud_result_id}"
    _record(session, DetailType.EVALUATE_SESSION, EVALUATE_SESSION, occurrence, detail)


def session_enrollment_finished(
    session: Session,
    *,
    speaker: Speaker | None,
    enrollment_status: str | None,
    failure: ServiceError | None = None,
) -> None:
    """The Speaker Action that ends an enrollment by session: ENROLL, a success or a failure (`failure`
    says why), as batch jobs' entries report theirs (jobs.notifications)."""
    detail: dict[str, Any] = {
        "sourceId": f"{session.session_id}:ENROLL",
        "action": "ENROLL",
        "status": "FAILURE" if failure else "SUCCESS",
        "data": {
            "enrollmentSource": SOURCE_SESSION,
            "enrollmentSourceId": session.session_id,
            "enrollmentStatus": enrollment_status,
        },
    }
    if speaker is not None:
        detail["generatedSpeakerId"] = speaker.generated_speaker_id
    if failure:
        detail["errorInfo"] = {
            "errorCode": failure.status,
            "errorMessage": failure.message,
            "errorType": failure.code,
        }
    event_record(domain=session.domain, detail_type=DetailType.SPEAKER, detail=detail)


def _record(session: Session, detail_type: str, action: str, occurrence: str, session_detail: dict) -> None:
    detail = {
        "sourceId": f"{session.session_id}:{occurrence}",
        "action": action,
        "status": "SUCCESS",
        "session": session_detail,
    }
    event_record(domain=session.domain, detail_type=detail_type, detail=detail)


def _session(session: Session) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "sessionId": session.session_id,
        "sessionName": session.session_name,
        "authenticationConfiguration": {"acceptanceThreshold": session.acceptance_threshold},
        "fraudDetectionConfiguration": {
            "riskThreshold": session.risk_threshold,
            "watchlistId": session.watchlist_id,
        },
        "streamingConfiguration": {"authenticationMinimumSpeechInSeconds": session.minimum_speech_seconds},
    }
    speaker = _speaker(session)
    if speaker is not None:
        detail["generatedSpeakerId"] = speaker.generated_speaker_id
    return detail


def _speaker(session: Session) -> Speaker | None:
    if not session.speaker_ref:
        return None
    return speaker_selectors.speaker_find(domain=session.domain, speaker_id=session.speaker_ref)


def _authentication(result: dict[str, Any], *, result_id: str) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "authenticationResultId": result_id,
        "decision": result["Decision"],
        "configuration": {"acceptanceThreshold": result["Configuration"]["AcceptanceThreshold"]},
        **_aggregation(result),
    }
    if "Score" in result:
        detail["score"] = result["Score"]
    return detail


def _fraud_detection(result: dict[str, Any], *, result_id: str) -> dict[str, Any]:
    configuration = result["Configuration"]
    detail: dict[str, Any] = {
        "fraudDetectionResultId": result_id,
        "decision": result["Decision"],
        "reasons": result.get("Reasons", []),
        "configuration": {"riskThreshold": configuration["RiskThreshold"]},
        **_aggregation(result),
    }
    known = (result.get("RiskDetails") or {}).get("KnownFraudsterRisk")
    if known is not None:
        risk = {"riskScore": known["RiskScore"], "watchlistId": configuration["WatchlistId"]}
        if "GeneratedFraudsterId" in known:
            risk["generatedFraudsterId"] = known["GeneratedFraudsterId"]
        detail["riskDetails"] = {"knownFraudsterRisk": risk}
    return detail


def _aggregation(result: dict[str, Any]) -> dict[str, str]:
    """A stored result's audio window (epoch seconds, as the API answers it) as ISO 8601 timestamps."""
    started, ended = result.get("AudioAggregationStartedAt"), result.get("AudioAggregationEndedAt")
    return _progress(
        datetime.fromtimestamp(started, UTC) if started is not None else None,
        datetime.fromtimestamp(ended, UTC) if ended is not None else None,
    )


def _progress(started: datetime | None, ended: datetime | None) -> dict[str, str]:
    window = {}
    if started is not None:
        window["audioAggregationStartedAt"] = _time(started)
    if ended is not None:
        window["audioAggregationEndedAt"] = _time(ended)
    return window


def _time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
