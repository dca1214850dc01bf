"""A call that goes silent without EndSession: ENDED after the idle limit, its end recorded by the sweep."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from calls import tasks
from calls.models import Session
from events.models import Event
from tests.calls.conftest import call_pcm
from voiceid_site import demo
from voiceid_site.celery import app

pytestmark = pytest.mark.django_db(transaction=True)

IDLE_SECONDS = 300


@pytest.fixture(autouse=True)
def _idle_limit(settings: Any) -> None:
    settings.VOICEID_SESSION_IDLE_SECONDS = IDLE_SECONDS


def _silent_for(name: str, seconds: float) -> None:
    """Move the session's every activity `seconds` into the past, as if the call had gone quiet then."""
    then = timezone.now() - timedelta(seconds=seconds)
    Session.objects.filter(session_name=name).update(
        created_at=then, updated_at=then, audio_started_at=then, audio_ended_at=then
    )


def _ends() -> list[dict[str, Any]]:
    return [
        event.envelope["detail"]
        for event in Event.objects.filter(detail_type="VoiceId Start Session Action").order_by("pk")
        if event.envelope["detail"]["sourceId"].endswith("ENDED")
    ]


def test_a_silent_call_is_ended_and_its_end_recorded_once(calls, stream, call_domain):
    domain_id = call_domain["DomainId"]
    calls.start_session(DomainId=domain_id, SessionName="went-quiet")
    stream(domain_id, "went-quiet", call_pcm(demo.CALLERS[0])[:32000])
    _silent_for("went-quiet", IDLE_SECONDS + 60)

    before = calls.describe_session(DomainId=domain_id, SessionNameOrId="went-quiet")["Session"]
    assert before["StreamingStatus"] == "ENDED"
    went_idle = before["UpdatedAt"] + timedelta(seconds=IDLE_SECONDS)
    # Worked out before the sweep records it (the wire's epoch-seconds floats may round a microsecond apart).
    assert abs(before["EndedAt"] - went_idle) < timedelta(milliseconds=1)
    assert _ends() == []

    assert tasks.end_idle_sessions() == 1
    assert tasks.end_idle_sessions() == 0  # a re-run ends nothing twice

    after = calls.describe_session(DomainId=domain_id, SessionNameOrId="went-quiet")["Session"]
    assert after["StreamingStatus"] == "ENDED"
    assert abs(after["EndedAt"] - went_idle) < timedelta(milliseconds=1)
    [end] = _ends()
    assert end["session"]["sessionId"] == after["SessionId"]
    assert "authenticationAudioProgress" in end["session"]
    with pytest.raises(calls.exceptions.ValidationException, match="has ended"):
        calls.put_session_audio(
            DomainId=domain_id, SessionNameOrId="went-quiet", Audio=b"\0" * 4000, AudioFormat="PCM_S16LE_8000"
        )


def test_an_update_after_the_call_went_silent_does_not_bring_it_back(calls, stream, call_domain):
    # An agent who names the caller after the line went quiet changes who the final audio is scored
    # against; the call stays ENDED, its end is recorded once, and it takes no more audio.
    domain_id = call_domain["DomainId"]
    calls.start_session(DomainId=domain_id, SessionName="named-late")
    stream(domain_id, "named-late", call_pcm(demo.CALLERS[0])[:32000])
    _silent_for("named-late", IDLE_SECONDS + 60)
    ended_at = calls.describe_session(DomainId=domain_id, SessionNameOrId="named-late")["Session"]["EndedAt"]

    updated = calls.update_session(DomainId=domain_id, SessionNameOrId="named-late", SpeakerId="late-name")

    assert updated["Session"]["StreamingStatus"] == "ENDED"
    assert updated["Session"]["SpeakerId"] == "late-name"
    assert abs(updated["Session"]["EndedAt"] - ended_at) < timedelta(milliseconds=1)
    assert len(_ends()) == 1
    assert tasks.end_idle_sessions() == 0
    with pytest.raises(calls.exceptions.ValidationException, match="has ended"):
        calls.put_session_audio(
            DomainId=domain_id, SessionNameOrId="named-late", Audio=b"\0" * 4000, AudioFormat="PCM_S16LE_8000"
        )


def test_an_enrollment_asked_after_the_call_went_silent_says_no_more_audio_will_come(
    calls, stream, call_domain
):
    domain_id = call_domain["DomainId"]
    calls.start_session(DomainId=domain_id, SessionName="enrolled-late", SpeakerId="late-enrollee")
    stream(domain_id, "enrolled-late", call_pcm(demo.CALLERS[0])[:32000])
    _silent_for("enrolled-late", IDLE_SECONDS + 60)

    session = calls.enroll_by_session(DomainId=domain_id, SessionNameOrId="enrolled-late")["Session"]

    assert session["StreamingStatus"] == "ENDED"
    assert session["EnrollmentRequestDetails"]["Status"] == "NOT_ENOUGH_SPEECH"
    assert "start a new session" in session["EnrollmentRequestDetails"]["Message"]
    assert len(_ends()) == 1


def test_an_enrollment_short_of_speech_says_so_as_soon_as_the_call_goes_silent(calls, stream, call_domain):
    domain_id = call_domain["DomainId"]
    calls.start_session(DomainId=domain_id, SessionName="quiet-enrollee", SpeakerId="quiet-enrollee")
    calls.enroll_by_session(DomainId=domain_id, SessionNameOrId="quiet-enrollee")
    stream(domain_id, "quiet-enrollee", call_pcm(demo.CALLERS[0])[:32000])
    _silent_for("quiet-enrollee", IDLE_SECONDS + 60)  # ENDED, the sweep not yet come by

    session = calls.describe_session(DomainId=domain_id, SessionNameOrId="quiet-enrollee")["Session"]

    assert session["StreamingStatus"] == "ENDED"
    assert session["EnrollmentRequestDetails"]["Message"].endswith("start a new session to enroll.")


def test_a_call_still_within_the_idle_limit_streams_on(calls, call_domain):
    domain_id = call_domain["DomainId"]
    calls.start_session(DomainId=domain_id, SessionName="thinking")
    _silent_for("thinking", IDLE_SECONDS - 60)

    assert tasks.end_idle_sessions() == 0

    session = calls.describe_session(DomainId=domain_id, SessionNameOrId="thinking")["Session"]
    assert session["StreamingStatus"] == "PENDING_CONFIGURATION"
    assert "EndedAt" not in session
    assert _ends() == []


def test_a_silent_call_frees_its_place_in_the_active_session_quota(calls, call_domain, settings):
    settings.VOICEID_QUOTAS = {**settings.VOICEID_QUOTAS, "active_sessions_per_domain": 1}
    domain_id = call_domain["DomainId"]
    calls.start_session(DomainId=domain_id, SessionName="first")
    with pytest.raises(calls.exceptions.ServiceQuotaExceededException):
        calls.start_session(DomainId=domain_id, SessionName="second")

    _silent_for("first", IDLE_SECONDS + 60)  # before the sweep records its end, too

    calls.start_session(DomainId=domain_id, SessionName="second")


def test_end_session_after_the_call_went_silent_keeps_the_time_it_went_silent(calls, call_domain):
    domain_id = call_domain["DomainId"]
    calls.start_session(DomainId=domain_id, SessionName="hung-up-late")
    _silent_for("hung-up-late", IDLE_SECONDS + 60)
    went_idle = calls.describe_session(DomainId=domain_id, SessionNameOrId="hung-up-late")["Session"][
        "EndedAt"
    ]

    ended = calls.end_session(DomainId=domain_id, SessionNameOrId="hung-up-late")["Session"]

    assert abs(ended["EndedAt"] - went_idle) < timedelta(milliseconds=1)
    assert len(_ends()) == 1


def test_a_call_ended_by_end_session_is_left_to_it(calls, call_domain):
    domain_id = call_domain["DomainId"]
    calls.start_session(DomainId=domain_id, SessionName="hung-up")
    calls.end_session(DomainId=domain_id, SessionNameOrId="hung-up")
    _silent_for("hung-up", IDLE_SECONDS + 60)

    assert tasks.end_idle_sessions() == 0
    assert len(_ends()) == 1  # EndSession's own


def test_beat_sweeps_for_silent_calls_every_minute():
    schedule = {entry["task"]: entry["schedule"] for entry in django_settings.CELERY_BEAT_SCHEDULE.values()}
    assert schedule.get("calls.end_idle_sessions") == 60
    app.autodiscover_tasks(force=True)  # what a worker does at start-up
    assert "calls.end_idle_sessions" in app.tasks
