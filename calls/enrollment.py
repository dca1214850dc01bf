"""Completing an enrollment by session: the voiceprint is built from the call's audio in a worker.

Safe to run twice: only a session still IN_PROGRESS is completed, under a lock on its row, and the
speaker is re-read under its own lock, so an opt-out or a deletion that raced the worker wins.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction

from calls import notifications, services
from calls.models import Session
from speakers import selectors as speaker_selectors
from speakers import services as speaker_services
from speakers.models import Speaker, SpeakerVoiceprint
from voiceid_site.exceptions import Conflict, ServiceError
from voiceprints import audio
from voiceprints.engine import Voiceprint, voiceprint_of

logger = logging.getLogger(__name__)
Status = Session.EnrollmentStatus


def session_enrollment_complete(*, session_pk: int) -> str:
    """Build and store the voiceprint for an IN_PROGRESS enrollment; returns the status it ended in."""
    session = Session.objects.select_related("domain").filter(pk=session_pk).first()
    if session is None or session.enrollment_status != Status.IN_PROGRESS:
        return session.enrollment_status if session else "GONE"
    try:
        pcm = services.session_audio_pcm(session)
        samples = audio.pcm16_samples(pcm)
        # Seconds of CPU: outside any transaction.
        voiceprint = voiceprint_of(samples, vad_kind=settings.VOICEID_VAD)
        if voiceprint is None:
            raise ValueError("the call's audio held no speech")
        return _store(session_pk=session_pk, voiceprint=voiceprint, pcm=pcm)
    except ServiceError as error:
        services.enrollment_failed(session_pk=session_pk, error=error)
    except Exception as error:
        logger.exception("enrollment of session %s failed", session_pk)
        services.enrollment_failed(
            session_pk=session_pk, error=ServiceError(f"The voiceprint could not be built: {error}.")
        )
    return Status.FAILED


@transaction.atomic
def _store(*, session_pk: int, voiceprint: Voiceprint, pcm: bytes) -> str:
    session = Session.objects.select_for_update().select_related("domain").get(pk=session_pk)
    if session.enrollment_status != Status.IN_PROGRESS:
        return session.enrollment_status
    speaker = speaker_selectors.speaker_find(domain=session.domain, speaker_id=session.speaker_ref)
    if speaker is not None:
        speaker = Speaker.objects.select_for_update().get(pk=speaker.pk)
        speaker.domain = session.domain
    if speaker is None or speaker.status == Speaker.Status.OPTED_OUT:
        session.enrollment_status = Status.FAILED
        session.enrollment_message = (
            "The speaker was deleted during the enrollment."
            if speaker is None
            else "The speaker opted out during the enrollment; nothing was kept."
        )
        notifications.session_enrollment_finished(
            session, speaker=speaker, enrollment_status=None, failure=Conflict(session.enrollment_message)
        )
    else:
        overwrite = speaker.status == Speaker.Status.ENROLLED
        speaker_services.speaker_enroll(
            speaker=speaker,
            voiceprint=voiceprint,
            source=SpeakerVoiceprint.Source.SESSION,
            audio_pcm=pcm,
        )
        session.enrollment_status = Status.COMPLETED
        session.enrollment_message = f"Enrolled from {voiceprint.speech_seconds:.1f} s of net speech."
        notifications.session_enrollment_finished(
            session,
            speaker=speaker,
            enrollment_status="ENROLLMENT_OVERWRITE" if overwrite else "NEW_ENROLLMENT",
        )
    session.save(update_fields=["enrollment_status", "enrollment_message"])
    return session.enrollment_status
