"""Session operations: the calls Amazon Connect's streaming and agent app made, plus EvaluateSession."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from calls import evaluation, selectors, services
from calls.models import Session
from domains import selectors as domain_selectors
from voiceid_site.awsjson.context import ApiContext
from voiceid_site.awsjson.registry import operation
from voiceid_site.exceptions import ValidationError


def _settings(req: dict[str, Any]) -> services.SessionSettings:
    authentication = req.get("AuthenticationConfiguration") or {}
    fraud = req.get("FraudDetectionConfiguration") or {}
    return services.SessionSettings(
        acceptance_threshold=authentication.get("AcceptanceThreshold"),
        minimum_speech_seconds=authentication.get("MinimumSpeechInSeconds"),
        risk_threshold=fraud.get("RiskThreshold"),
        watchlist_id=fraud.get("WatchlistId"),
    )


def _audio_bytes(value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError(
            "Audio is not valid base64: send the audio bytes base64-encoded (boto3 does this for you)."
        ) from None


def _speech(seconds: float) -> float:
    return round(seconds, 2)


def session_to_api(session: Session) -> dict[str, Any]:
    enrollment = (
        {"Status": session.enrollment_status, "Message": selectors.enrollment_message(session)}
        if session.enrollment_status
        else None
    )
    return {
        "DomainId": session.domain.domain_id,
        "SessionId": session.session_id,
        "SessionName": session.session_name,
        "SpeakerId": session.speaker_ref or None,
        "StreamingStatus": selectors.streaming_status(session),
        "NetSpeechInSeconds": _speech(session.speech_seconds),
        "AudioReceivedInSeconds": _speech(session.audio_seconds),
        "AuthenticationConfiguration": {
            "AcceptanceThreshold": session.acceptance_threshold,
            "MinimumSpeechInSeconds": session.minimum_speech_seconds,
        },
        "FraudDetectionConfiguration": {
            "RiskThreshold": session.risk_threshold,
            "WatchlistId": session.watchlist_id,
        },
        "EnrollmentRequestDetails": enrollment,
        "CreatedAt": session.created_at,
        "UpdatedAt": session.updated_at,
        "EndedAt": selectors.ended_at(session),
    }


@operation("StartSession")
def start_session(ctx: ApiContext, req: dict[str, Any]) -> dict[str, Any]:
    domain = domain_selectors.domain_get(domain_id=req["DomainId"])
    session = services.session_start(
        domain=domain,
        session_name=req["SessionName"],
        speaker_id=req.get("SpeakerId"),
        settings_=_settings(req),
    )
    return {"Session": session_to_api(session)}


@operation("PutSessionAudio")
def put_session_audio(ctx: ApiContext, req: dict[str, Any]) -> dict[str, Any]:
    domain = domain_selectors.domain_get(domain_id=req["DomainId"])
    session = services.session_put_audio(
        domain=domain,
        session_name_or_id=req["SessionNameOrId"],
        data=_audio_bytes(req["Audio"]),
        audio_format=req["AudioFormat"],
        channel=req.get("ChannelId") or 0,
    )
    return {
        "DomainId": domain.domain_id,
        "SessionId": session.session_id,
        "SessionName": session.session_name,
        "StreamingStatus": selectors.streaming_status(session),
        "NetSpeechInSeconds": _speech(session.speech_seconds),
        "AudioReceivedInSeconds": _speech(session.audio_seconds),
    }


@operation("UpdateSession")
def update_session(ctx: ApiContext, req: dict[str, Any]) -> dict[str, Any]:
    domain = domain_selectors.domain_get(domain_id=req["DomainId"])
    session = services.session_update(
        domain=domain,
        session_name_or_id=req["SessionNameOrId"],
        speaker_id=req.get("SpeakerId"),
        settings_=_settings(req),
    )
    return {"Session": session_to_api(session)}


@operation("DescribeSession")
def describe_session(ctx: ApiContext, req: dict[str, Any]) -> dict[str, Any]:
    domain = domain_selectors.domain_get(domain_id=req["DomainId"])
    session = selectors.session_get(domain=domain, session_name_or_id=req["SessionNameOrId"])
    return {"Session": session_to_api(session)}


@operation("EndSession")
def end_session(ctx: ApiContext, req: dict[str, Any]) -> dict[str, Any]:
    domain = domain_selectors.domain_get(domain_id=req["DomainId"])
    session = services.session_end(domain=domain, session_name_or_id=req["SessionNameOrId"])
    return {"Session": session_to_api(session)}


@operation("EnrollBySession")
def enroll_by_session(ctx: ApiContext, req: dict[str, Any]) -> dict[str, Any]:
    domain = domain_selectors.domain_get(domain_id=req["DomainId"])
    session = services.session_enroll(domain=domain, session_name_or_id=req["SessionNameOrId"])
    return {"Session": session_to_api(session)}


@operation("EvaluateSession")
def evaluate_session(ctx: ApiContext, req: dict[str, Any]) -> dict[str, Any]:
    domain = domain_selectors.domain_get(domain_id=req["DomainId"])
    result = evaluation.session_evaluate(domain=domain, session_name_or_id=req["SessionNameOrId"])
    authentication = dict(result.authentication)
    if result.speaker is not None:
        authentication["GeneratedSpeakerId"] = result.speaker.generated_speaker_id
        authentication["CustomerSpeakerId"] = result.speaker.customer_speaker_id
    return {
        "DomainId": domain.domain_id,
        "SessionId": result.session.session_id,
        "SessionName": result.session.session_name,
        "StreamingStatus": result.streaming_status,
        "AuthenticationResult": authentication,
        "FraudDetectionResult": result.fraud,
    }
