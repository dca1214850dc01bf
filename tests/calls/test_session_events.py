"""The session events (spec §9) a call records, driven through boto3 as Connect drove Voice ID."""

from __future__ import annotations

import json
from typing import Any

import pytest

from domains.models import Domain
from events.models import Event
from speakers import selectors as speaker_selectors
from tests.calls.conftest import call_pcm, pcm
from voiceid_site import demo

pytestmark = pytest.mark.django_db(transaction=True)

ALICE = demo.CALLERS[0]


@pytest.fixture
def seeded(call_domain: dict[str, Any]) -> Domain:
    domain = Domain.objects.get(domain_id=call_domain["DomainId"])
    demo.seed_voices(domain)
    return domain


def details(detail_type: str) -> list[dict[str, Any]]:
    return [e.envelope["detail"] for e in Event.objects.filter(detail_type=detail_type).order_by("pk")]


def test_a_call_records_its_start_and_its_end_with_the_audio_it_aggregated(calls, stream, seeded):
    started = calls.start_session(
        DomainId=seeded.domain_id,
        SessionName="contact-1",
        SpeakerId="alice",
        AuthenticationConfiguration={"AcceptanceThreshold": 85, "MinimumSpeechInSeconds": 8},
    )["Session"]
    stream(seeded.domain_id, "contact-1", call_pcm(ALICE)[:64000])
    calls.end_session(DomainId=seeded.domain_id, SessionNameOrId="contact-1")
    calls.end_session(DomainId=seeded.domain_id, SessionNameOrId="contact-1")  # ended already: no event

    start, end = details("VoiceId Start Session Action")
    alice = speaker_selectors.speaker_find(domain=seeded, speaker_id="alice")
    assert start["action"] == "START_SESSION" and start["status"] == "SUCCESS"
    assert start["session"] == {
        "sessionId": started["SessionId"],
        "sessionName": "contact-1",
        "generatedSpeakerId": alice.generated_speaker_id,
        "authenticationConfiguration": {"acceptanceThreshold": 85},
        "fraudDetectionConfiguration": {
            "riskThreshold": 50,
            "watchlistId": started["FraudDetectionConfiguration"]["WatchlistId"],
        },
        "streamingConfiguration": {"authenticationMinimumSpeechInSeconds": 8},
    }
    progress = end["session"]["authenticationAudioProgress"]
    assert progress["audioAggregationStartedAt"] < progress["audioAggregationEndedAt"]
    assert end["sourceId"] != start["sourceId"]


def test_an_update_records_the_new_configuration(calls, seeded):
    calls.start_session(DomainId=seeded.domain_id, SessionName="contact-2")
    calls.update_session(
        DomainId=seeded.domain_id,
        SessionNameOrId="contact-2",
        FraudDetectionConfiguration={"RiskThreshold": 30},
    )

    [update] = details("VoiceId Update Session Action")
    assert update["action"] == "UPDATE_SESSION"
    assert update["session"]["fraudDetectionConfiguration"]["riskThreshold"] == 30
    assert "generatedSpeakerId" not in update["session"]  # no speaker named yet


def test_an_evaluation_is_recorded_when_a_decision_is_reached_or_changes(calls, stream, seeded):
    calls.start_session(DomainId=seeded.domain_id, SessionName="contact-3", SpeakerId="alice")
    audio = call_pcm(ALICE)
    stream(seeded.domain_id, "contact-3", audio[:-32000])

    result = calls.evaluate_session(DomainId=seeded.domain_id, SessionNameOrId="contact-3")
    calls.evaluate_session(DomainId=seeded.domain_id, SessionNameOrId="contact-3")  # cached
    stream(seeded.domain_id, "contact-3", audio[-32000:])
    newer = calls.evaluate_session(DomainId=seeded.domain_id, SessionNameOrId="contact-3")  # same decisions
    calls.update_session(DomainId=seeded.domain_id, SessionNameOrId="contact-3", SpeakerId="bob")
    claiming_bob = calls.evaluate_session(DomainId=seeded.domain_id, SessionNameOrId="contact-3")

    assert (
        newer["AuthenticationResult"]["AuthenticationResultId"]
        != result["AuthenticationResult"]["AuthenticationResultId"]
    )
    first, changed = details("VoiceId Evaluate Session Action")
    session = first["session"]
    auth, fraud = result["AuthenticationResult"], result["FraudDetectionResult"]
    assert first["action"] == "EVALUATE_SESSION"
    assert session["generatedSpeakerId"] == auth["GeneratedSpeakerId"]
    assert session["streamingStatus"] == "ONGOING"
    assert session["authenticationResult"]["authenticationResultId"] == auth["AuthenticationResultId"]
    assert session["authenticationResult"]["decision"] == "ACCEPT"
    assert session["authenticationResult"]["score"] == auth["Score"]
    assert session["fraudDetectionResult"]["fraudDetectionResultId"] == fraud["FraudDetectionResultId"]
    assert session["fraudDetectionResult"]["decision"] == "LOW_RISK"
    assert (
        session["fraudDetectionResult"]["riskDetails"]["knownFraudsterRisk"]["watchlistId"]
        == fraud["Configuration"]["WatchlistId"]
    )
    assert changed["session"]["authenticationResult"]["decision"] == "REJECT"
    assert (
        changed["session"]["authenticationResult"]["authenticationResultId"]
        == claiming_bob["AuthenticationResult"]["AuthenticationResultId"]
    )
    assert (
        changed["session"]["generatedSpeakerId"] == claiming_bob["AuthenticationResult"]["GeneratedSpeakerId"]
    )
    assert "alice" not in json.dumps([first, changed]) and "bob" not in json.dumps(changed)


def test_an_enrollment_request_is_recorded_once_accepted(calls, seeded):
    calls.start_session(DomainId=seeded.domain_id, SessionName="contact-4")
    with pytest.raises(calls.exceptions.ConflictException):  # no speaker: refused, nothing recorded
        calls.enroll_by_session(DomainId=seeded.domain_id, SessionNameOrId="contact-4")
    calls.update_session(DomainId=seeded.domain_id, SessionNameOrId="contact-4", SpeakerId="new-caller")

    session = calls.enroll_by_session(DomainId=seeded.domain_id, SessionNameOrId="contact-4")["Session"]

    [requested] = details("VoiceId Session Speaker Enrollment Action")
    assert requested["action"] == "SESSION_ENROLLMENT_REQUEST" and requested["status"] == "SUCCESS"
    assert requested["session"] == {"sessionId": session["SessionId"], "sessionName": "contact-4"}


def _enroll(calls, stream, domain_id: str, name: str) -> dict[str, Any]:
    calls.start_session(DomainId=domain_id, SessionName=name, SpeakerId="dora")
    calls.enroll_by_session(DomainId=domain_id, SessionNameOrId=name)
    stream(domain_id, name, pcm(ALICE.enrollment_audio()))
    return calls.describe_session(DomainId=domain_id, SessionNameOrId=name)["Session"]


def test_a_completed_enrollment_records_the_speakers_enroll_action(calls, stream, call_domain):
    domain_id = call_domain["DomainId"]
    first = _enroll(calls, stream, domain_id, "enroll-1")
    second = _enroll(calls, stream, domain_id, "enroll-2")
    speaker = calls.describe_speaker(DomainId=domain_id, SpeakerId="dora")["Speaker"]

    new, overwrite = (d for d in details("VoiceId Speaker Action") if d["action"] == "ENROLL")
    assert new["status"] == "SUCCESS" and new["generatedSpeakerId"] == speaker["GeneratedSpeakerId"]
    assert new["data"] == {
        "enrollmentSource": "SESSION",
        "enrollmentSourceId": first["SessionId"],
        "enrollmentStatus": "NEW_ENROLLMENT",
    }
    assert overwrite["data"]["enrollmentStatus"] == "ENROLLMENT_OVERWRITE"
    assert overwrite["data"]["enrollmentSourceId"] == second["SessionId"]


def test_an_enrollment_the_worker_cannot_finish_records_an_internal_failure(
    calls, stream, call_domain, monkeypatch
):
    def broken_engine(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the model file is unreadable")

    monkeypatch.setattr("calls.enrollment.voiceprint_of", broken_engine)
    session = _enroll(calls, stream, call_domain["DomainId"], "broken")

    assert session["EnrollmentRequestDetails"]["Status"] == "FAILED"
    [failed] = (d for d in details("VoiceId Speaker Action") if d["action"] == "ENROLL")
    assert failed["status"] == "FAILURE"
    assert failed["errorInfo"] == {
        "errorCode": 500,
        "errorMessage": "The voiceprint could not be built: the model file is unreadable.",
        "errorType": "InternalServerException",
    }
    assert failed["data"]["enrollmentSourceId"] == session["SessionId"]
