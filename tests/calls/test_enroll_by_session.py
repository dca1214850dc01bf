"""Enrollment by session through boto3: a caller enrolled on one call is accepted on the next."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from botocore.exceptions import ClientError
from django.core.files.storage import default_storage

from calls.models import Session
from domains import blobstore
from domains.models import Domain
from events.models import Event
from speakers import services as speaker_services
from speakers.models import Speaker, SpeakerVoiceprint
from tests.calls.conftest import call_pcm, pcm
from voiceid_site import demo

ALICE, BOB = demo.CALLERS[0], demo.CALLERS[1]


def _conflict(excinfo: pytest.ExceptionInfo[ClientError]) -> str:
    assert excinfo.value.response["Error"]["Code"] == "ConflictException"
    return excinfo.value.response["ConflictType"]


def _enroll_on_a_call(
    calls, stream, domain_id: str, name: str, voice: demo.DemoVoice, speaker: str
) -> dict[str, Any]:
    calls.start_session(DomainId=domain_id, SessionName=name, SpeakerId=speaker)
    asked = calls.enroll_by_session(DomainId=domain_id, SessionNameOrId=name)["Session"]
    assert asked["EnrollmentRequestDetails"]["Status"] == "NOT_ENOUGH_SPEECH"
    stream(domain_id, name, pcm(voice.enrollment_audio()))
    return calls.describe_session(DomainId=domain_id, SessionNameOrId=name)["Session"]


def test_a_caller_enrolled_on_one_call_is_accepted_on_the_next_and_others_are_rejected(
    calls, stream, call_domain
):
    domain_id = call_domain["DomainId"]
    enrolled = _enroll_on_a_call(calls, stream, domain_id, "enroll-alice", ALICE, "alice")
    assert enrolled["EnrollmentRequestDetails"]["Status"] == "COMPLETED"
    assert enrolled["NetSpeechInSeconds"] >= 30
    speaker = calls.describe_speaker(DomainId=domain_id, SpeakerId="alice")["Speaker"]
    assert speaker["Status"] == "ENROLLED"
    assert "LastAccessedAt" in speaker

    calls.start_session(DomainId=domain_id, SessionName="alice-again", SpeakerId="alice")
    stream(domain_id, "alice-again", call_pcm(ALICE))
    again = calls.evaluate_session(DomainId=domain_id, SessionNameOrId="alice-again")
    assert again["AuthenticationResult"]["Decision"] == "ACCEPT"

    calls.start_session(DomainId=domain_id, SessionName="impostor", SpeakerId="alice")
    stream(domain_id, "impostor", call_pcm(BOB))
    impostor = calls.evaluate_session(DomainId=domain_id, SessionNameOrId="impostor")
    assert impostor["AuthenticationResult"]["Decision"] == "REJECT"


def _enrolling_with_12_seconds(calls, stream, domain_id: str, name: str) -> None:
    """A call asked to enroll bob, which has streamed 12 s of his audio: short of the 30 s of speech."""
    calls.start_session(DomainId=domain_id, SessionName=name, SpeakerId="bob")
    calls.enroll_by_session(DomainId=domain_id, SessionNameOrId=name)
    stream(domain_id, name, pcm(BOB.enrollment_audio()[: 8000 * 12]))


def test_enrollment_waits_for_30_seconds_of_speech(calls, stream, call_domain):
    domain_id = call_domain["DomainId"]
    _enrolling_with_12_seconds(calls, stream, domain_id, "slow")
    pending = calls.describe_session(DomainId=domain_id, SessionNameOrId="slow")["Session"]
    assert pending["EnrollmentRequestDetails"]["Status"] == "NOT_ENOUGH_SPEECH"
    collected, _, rest = pending["EnrollmentRequestDetails"]["Message"].partition(
        " s of net speech collected"
    )
    assert rest == "; enrollment needs 30 s."
    assert abs(float(collected) - pending["NetSpeechInSeconds"]) <= 0.06  # kept current as audio arrives
    assert calls.describe_speaker(DomainId=domain_id, SpeakerId="bob")["Speaker"]["Status"] == "PENDING"


def test_an_enrollment_still_collecting_when_the_call_ends_says_to_start_a_new_session(
    calls, stream, call_domain
):
    domain_id = call_domain["DomainId"]
    _enrolling_with_12_seconds(calls, stream, domain_id, "hung-up-early")

    ended = calls.end_session(DomainId=domain_id, SessionNameOrId="hung-up-early")["Session"]

    assert ended["EnrollmentRequestDetails"]["Status"] == "NOT_ENOUGH_SPEECH"
    assert ended["EnrollmentRequestDetails"]["Message"].endswith(
        "and the call has ended, so no more will come: start a new session to enroll."
    )


def test_enrollment_conflicts(calls, stream, call_domain):
    domain_id = call_domain["DomainId"]
    calls.start_session(DomainId=domain_id, SessionName="nobody")
    with pytest.raises(ClientError) as no_speaker:
        calls.enroll_by_session(DomainId=domain_id, SessionNameOrId="nobody")
    assert _conflict(no_speaker) == "SPEAKER_NOT_SET"

    calls.opt_out_speaker(DomainId=domain_id, SpeakerId="refuser")
    calls.start_session(DomainId=domain_id, SessionName="refused", SpeakerId="refuser")
    with pytest.raises(ClientError) as opted_out:
        calls.enroll_by_session(DomainId=domain_id, SessionNameOrId="refused")
    assert _conflict(opted_out) == "SPEAKER_OPTED_OUT"

    calls.start_session(DomainId=domain_id, SessionName="twice", SpeakerId="carol")
    calls.enroll_by_session(DomainId=domain_id, SessionNameOrId="twice")
    with pytest.raises(ClientError) as twice:
        calls.enroll_by_session(DomainId=domain_id, SessionNameOrId="twice")
    assert _conflict(twice) == "ENROLLMENT_ALREADY_EXISTS"
    with pytest.raises(ClientError) as switched:
        calls.update_session(DomainId=domain_id, SessionNameOrId="twice", SpeakerId="dave")
    assert _conflict(switched) == "CANNOT_CHANGE_SPEAKER_AFTER_ENROLLMENT"
    # Naming the same speaker again is not a change.
    calls.update_session(DomainId=domain_id, SessionNameOrId="twice", SpeakerId="carol")


def test_re_enrollment_replaces_the_voiceprint_and_keeps_the_speaker_enrolled(calls, stream, call_domain):
    domain_id = call_domain["DomainId"]
    _enroll_on_a_call(calls, stream, domain_id, "first", ALICE, "alice")
    first = SpeakerVoiceprint.objects.get(speaker__domain__domain_id=domain_id)
    _enroll_on_a_call(calls, stream, domain_id, "second", ALICE, "alice")
    second = SpeakerVoiceprint.objects.get(speaker__domain__domain_id=domain_id)
    assert second.voiceprint_id != first.voiceprint_id
    assert calls.describe_speaker(DomainId=domain_id, SpeakerId="alice")["Speaker"]["Status"] == "ENROLLED"


def test_an_opt_out_during_the_enrollment_wins(calls, stream, call_domain):
    domain_id = call_domain["DomainId"]
    calls.start_session(DomainId=domain_id, SessionName="race", SpeakerId="alice")
    calls.enroll_by_session(DomainId=domain_id, SessionNameOrId="race")
    stream(domain_id, "race", pcm(ALICE.enrollment_audio()[: 8000 * 20]))
    calls.opt_out_speaker(DomainId=domain_id, SpeakerId="alice")
    stream(domain_id, "race", pcm(ALICE.enrollment_audio()[8000 * 20 :]))
    details = calls.describe_session(DomainId=domain_id, SessionNameOrId="race")["Session"][
        "EnrollmentRequestDetails"
    ]
    assert details["Status"] == "FAILED"
    assert "opted out" in details["Message"]
    assert not SpeakerVoiceprint.objects.filter(domain__domain_id=domain_id).exists()
    # Integrations hear of it too: the enrollment's Speaker Action fails, saying why (docs/events.md).
    [enroll] = [
        e.envelope["detail"]
        for e in Event.objects.filter(detail_type="VoiceId Speaker Action")
        if e.envelope["detail"]["action"] == "ENROLL"
    ]
    assert enroll["status"] == "FAILURE" and enroll["data"]["enrollmentStatus"] is None
    assert (
        enroll["errorInfo"]["errorType"] == "ConflictException"
        and "opted out" in enroll["errorInfo"]["errorMessage"]
    )


def test_enrollment_audio_is_kept_sealed_and_goes_with_the_speaker(calls, stream, call_domain):
    domain_id = call_domain["DomainId"]
    _enroll_on_a_call(calls, stream, domain_id, "kept", BOB, "bob")
    domain = Domain.objects.get(domain_id=domain_id)
    speaker = Speaker.objects.get(domain=domain)
    path = speaker_services.enrollment_audio_path(speaker)
    kept = blobstore.load(domain, path)
    assert len(kept) / 2 / 8000 >= 30
    with default_storage.open(path, "rb") as raw:
        assert kept[1000:1064] not in raw.read()  # sealed, not clear PCM
    session = Session.objects.get(session_name="kept")
    assert kept[1000:1064] not in bytes(session.audio_chunks.first().pcm_sealed)
    calls.delete_speaker(DomainId=domain_id, SpeakerId="bob")
    from jobs import sweepers

    sweepers.purge_audio()
    assert not default_storage.exists(path)
    assert np.frombuffer(kept, dtype="<i2").any()
