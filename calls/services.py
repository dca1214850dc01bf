"""Writes to call sessions: start, stream audio in, change speaker or thresholds, end, enroll.

A chunk's engine work (milliseconds of CPU) runs outside any transaction, on the call's state as last saved;
a short transaction then saves the result under a lock on the session row, but only if the row is still as
the chunk read it (compare-and-swap: no other chunk, nor any other write, came in between); if it is not,
the chunk is worked again on the newer state. So chunks of one call are applied one at a time, each exactly
once, in the order their saves succeed (for a caller that sends a chunk after the previous one was answered,
the order it sent them), and no request holds the database's write lock (SQLite has one for the whole file)
while the engine works.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from calls import notifications, selectors
from calls.models import Session, SessionAudio
from domains import envelope
from domains import selectors as domain_selectors
from domains.models import Domain
from fraudsters import selectors as fraudster_selectors
from speakers import selectors as speaker_selectors
from speakers import services as speaker_services
from speakers.models import Speaker
from voiceid_site import quotas, rows
from voiceid_site.exceptions import Conflict, ServiceError, ValidationError
from voiceprints import audio
from voiceprints.engine import CallStream, decode

Status = Session.EnrollmentStatus
# How often a chunk (or an evaluation, calls/evaluation.py) is worked outside any lock before it is worked under
# the session row's lock instead, which always succeeds. Only chunks of one call sent at once, which a phone
# line does not do, or an UpdateSession in the very millisecond, ever need a second try.
UNLOCKED_TRIES = 3


@dataclass(frozen=True)
class SessionSettings:
    """What StartSession / UpdateSession may set; None means "the default" (start) or "unchanged" (update)."""

    acceptance_threshold: int | None = None
    minimum_speech_seconds: int | None = None
    risk_threshold: int | None = None
    watchlist_id: str | None = None


def _attach_speaker(session: Session, speaker_id: str) -> None:
    # The speaker a call names becomes PENDING if unknown (spec §4.8); an opted-out one stays opted out.
    speaker_services.speaker_get_or_create_pending(domain=session.domain, customer_speaker_id=speaker_id)
    session.speaker_ref = speaker_id


def _apply(session: Session, settings_: SessionSettings) -> None:
    if settings_.acceptance_threshold is not None:
        session.acceptance_threshold = settings_.acceptance_threshold
    if settings_.minimum_speech_seconds is not None:
        session.minimum_speech_seconds = settings_.minimum_speech_seconds
    if settings_.risk_threshold is not None:
        session.risk_threshold = settings_.risk_threshold
    if settings_.watchlist_id is not None:
        # Checked now, so a mistyped id fails the call that set it, not every evaluation after.
        session.watchlist_id = fraudster_selectors.watchlist_get(
            domain=session.domain, watchlist_id=settings_.watchlist_id
        ).watchlist_id


@transaction.atomic
def session_start(
    *, domain: Domain, session_name: str, speaker_id: str | None = None, settings_: SessionSettings
) -> Session:
    """A new session for one call. Its name is unique in the domain: Connect named it after the contact."""
    domain = domain_selectors.domain_get_active(domain_id=domain.domain_id, for_update=True)
    if selectors.session_find(domain=domain, session_name_or_id=session_name) is not None:
        raise Conflict(
            f"A session named {session_name} already exists in domain {domain.domain_id}: name each call's "
            "session uniquely (Connect used the contact id), or keep streaming to the existing one.",
            conflict_type="ANOTHER_ACTIVE_STREAM",
        )
    quotas.ensure_room(
        "active_sessions_per_domain",
        current=selectors.active_session_count(domain=domain),
        what=f"the active sessions of domain {domain.domain_id}",
    )
    session = Session(
        domain=domain,
        session_name=session_name,
        # The domain's defaults (Voice ID's 90 / 50 / 10 unless a superuser changed them in the admin).
        acceptance_threshold=domain.session_acceptance_threshold,
        risk_threshold=domain.session_risk_threshold,
        minimum_speech_seconds=domain.session_minimum_speech_seconds,
    )
    session.watchlist_id = fraudster_selectors.watchlist_default(domain=domain).watchlist_id
    _apply(session, settings_)
    if speaker_id:
        _attach_speaker(session, speaker_id)
    session.save()
    notifications.session_started(session)
    return session


@transaction.atomic
def session_update(
    *, domain: Domain, session_name_or_id: str, speaker_id: str | None = None, settings_: SessionSettings
) -> Session:
    """Change the speaker or the thresholds of a session; members not given stay as they are."""
    domain_selectors.ensure_active(domain)
    session = selectors.session_get(domain=domain, session_name_or_id=session_name_or_id, for_update=True)
    # A call that went silent stays ENDED: the change applies to how its final audio is evaluated (an agent
    # may name the caller after hanging up), so its end is written down before the change moves updated_at.
    _record_idle_end(session, now=timezone.now())
    if speaker_id is not None and speaker_id != session.speaker_ref:
        if session.enrollment_status:
            raise Conflict(
                f"Session {session.session_name} has requested an enrollment for its speaker, so the speaker "
                "cannot change: start a new session for another caller.",
                conflict_type="CANNOT_CHANGE_SPEAKER_AFTER_ENROLLMENT",
            )
        _attach_speaker(session, speaker_id)
    _apply(session, settings_)
    session.updated_at = timezone.now()
    session.save()
    notifications.session_updated(session)
    return session


def session_put_audio(
    *, domain: Domain, session_name_or_id: str, data: bytes, audio_format: str, channel: int = 0
) -> Session:
    """Append one chunk of the call's audio; the running voiceprint and net speech are updated at once."""
    try:
        samples = decode(data, audio_format, channel=channel)
    except audio.AudioError as error:
        other_format = (
            " Or send raw 16-bit little-endian mono 8 kHz samples with AudioFormat PCM_S16LE_8000."
            if audio_format == "WAV"
            else ""
        )
        raise ValidationError(f"Audio: {error}{other_format}") from None
    domain_selectors.ensure_active(domain)
    pcm = audio.pcm16_bytes(samples)
    for _ in range(UNLOCKED_TRIES):
        session = selectors.session_get(domain=domain, session_name_or_id=session_name_or_id)
        now = timezone.now()
        _ensure_streaming(session, now=now)
        state = _stream_with(session, samples)
        if _chunk_save(session, samples=samples, pcm=pcm, state=state, now=now):
            return session
    return _chunk_put_locked(domain=domain, session_name_or_id=session_name_or_id, samples=samples, pcm=pcm)


def _ensure_streaming(session: Session, *, now: datetime) -> None:
    if selectors.streaming_status(session, now=now) == selectors.ENDED:
        raise ValidationError(
            f"Session {session.session_name} has ended (EndSession, or no audio for "
            f"{settings.VOICEID_SESSION_IDLE_SECONDS} s), so it takes no more audio: start a new session."
        )


def _stream_with(session: Session, samples: np.ndarray) -> tuple[bytes, float]:
    """The call's stream state and net speech once `samples` are appended to the state `session` holds."""
    stream = CallStream.from_bytes(session.stream_state, vad_kind=settings.VOICEID_VAD)
    stream.append(samples)
    return stream.to_bytes(), stream.speech_seconds


# What moves on every write to a session row (see _chunk_save).
_CHUNK_SEEN = ("chunks_received", "updated_at", "enrollment_status")
# What a chunk writes to its session row.
_CHUNK_FIELDS = (
    "chunks_received",
    "stream_state_sealed",
    "audio_seconds",
    "speech_seconds",
    "audio_started_at",
    "audio_ended_at",
    "updated_at",
    "enrollment_status",
    "enrollment_message",
)


def _chunk_save(
    session: Session, *, samples: np.ndarray, pcm: bytes, state: tuple[bytes, float], now: datetime
) -> bool:
    """Save the chunk worked on `session` as read, unless the row changed since (False: work it again).

    The compare-and-swap locks the row only if it is still as read: every write to a session moves
    `updated_at` (a chunk also `chunks_received`; a worker finishing an enrollment, which does not, moves
    `enrollment_status`), and PostgreSQL re-checks the condition after waiting out a concurrent writer. The
    row is locked before the state is sealed (which locks the domain's row), the order every other writer
    of a session takes them in, so that two transactions never wait for each other's second lock.
    """
    with transaction.atomic():
        if not rows.lock_if_unchanged(session, fields=_CHUNK_SEEN):
            return False
        with envelope.generation_held(session.domain):
            _chunk_apply(session, samples=samples, state=state, now=now)
            rows.update(session, fields=_CHUNK_FIELDS)
            _chunk_audio_create(session, pcm=pcm)
    return True


@transaction.atomic
def _chunk_put_locked(*, domain: Domain, session_name_or_id: str, samples: np.ndarray, pcm: bytes) -> Session:
    """The chunk worked and saved under the row lock, for a call whose chunks keep racing each other."""
    session = selectors.session_get(domain=domain, session_name_or_id=session_name_or_id, for_update=True)
    now = timezone.now()
    _ensure_streaming(session, now=now)
    state = _stream_with(session, samples)
    with envelope.generation_held(domain):
        _chunk_apply(session, samples=samples, state=state, now=now)
        session.save(update_fields=_CHUNK_FIELDS)
        _chunk_audio_create(session, pcm=pcm)
    return session


def _chunk_apply(session: Session, *, samples: np.ndarray, state: tuple[bytes, float], now: datetime) -> None:
    """The chunk's changes to `session` (in memory; the caller saves them), inside the saving transaction:
    the state is sealed under the domain's key generation, which that transaction must hold."""
    stream_state, speech_seconds = state
    session.chunks_received += 1
    session.stream_state = stream_state
    session.audio_seconds += len(samples) / audio.CANONICAL_RATE
    session.speech_seconds = speech_seconds
    session.audio_started_at = session.audio_started_at or now
    session.audio_ended_at = now
    session.updated_at = now
    if session.enrollment_status == Status.NOT_ENOUGH_SPEECH:
        if _enough_to_enroll(session):
            _begin_enrollment(session)
        else:
            session.enrollment_message = _collecting_message(session)


def _chunk_audio_create(session: Session, *, pcm: bytes) -> None:
    rows.insert(
        SessionAudio(domain=session.domain, session=session, sequence=session.chunks_received, pcm=pcm)
    )


@transaction.atomic
def session_end(*, domain: Domain, session_name_or_id: str) -> Session:
    """Streaming stops: evaluations return their last results as final (StreamingStatus ENDED)."""
    session = selectors.session_get(domain=domain, session_name_or_id=session_name_or_id, for_update=True)
    if session.ended_at is None:
        now = timezone.now()
        # A call that had already gone silent ended then, as DescribeSession has been saying.
        _mark_ended(session, at=selectors.ended_at(session, now=now) or now, now=now)
    return session


def _mark_ended(session: Session, *, at: datetime, now: datetime) -> None:
    """Record that the call's streaming stopped `at` (saved, with the stream's end event)."""
    session.ended_at = at
    session.updated_at = now  # every write moves updated_at: a racing chunk's save then retries
    # An enrollment short of speech now says no more will come: selectors.enrollment_message works that out
    # when read (it must, for a call that went silent before this runs), so nothing else is saved.
    session.save(update_fields=["ended_at", "updated_at"])
    notifications.session_ended(session)


def sessions_end_idle(*, now: datetime | None = None) -> int:
    """Record the end of every session that went silent without EndSession; how many were ended.

    A session with no audio and no change for VOICEID_SESSION_IDLE_SECONDS is ENDED whether or not this
    runs (`selectors.streaming_status`); this writes that end down as EndSession would, with the stream's
    end event, so integrations hear of every call's end. Its `ended_at` is when it went idle, not when the
    sweep came by. Each session is ended in its own transaction, re-checked under its row lock (a chunk or
    an update that came in meanwhile keeps it streaming), so a re-run, or two sweeps at once, end none twice.
    """
    ended = 0
    for session_pk in selectors.idle_unended_session_pks(now=now):
        with transaction.atomic():
            # Only the session row (`of`): other writers lock a session before its domain, never both at once.
            locked = Session.objects.select_for_update(of=("self",)).select_related("domain")
            session = locked.filter(pk=session_pk).first()
            # Gone since it was listed (its domain was deleted); ended by EndSession, or a chunk or an update
            # came in, meanwhile: _record_idle_end leaves those alone.
            if session is not None and _record_idle_end(session, now=now or timezone.now()):
                ended += 1
    return ended


def _record_idle_end(session: Session, *, now: datetime) -> bool:
    """Write down the end of a call that went silent past the idle limit, as EndSession would (with the
    stream's end event), if it is not written yet; whether it was. `session` is locked by the caller.

    Every write to a session moves its `updated_at`, and a session is idle only while nothing moves it, so
    a write to an idle session that did not first record its end would bring the call back to ONGOING.
    """
    if session.ended_at is not None:
        return False
    went_idle = selectors.ended_at(session, now=now)
    if went_idle is None:
        return False
    _mark_ended(session, at=went_idle, now=now)
    return True


def _enough_to_enroll(session: Session) -> bool:
    return session.speech_seconds >= settings.VOICEID_ENROLLMENT_SPEECH_SECONDS


def _collecting_message(session: Session) -> str:
    return selectors.collecting_message(session, ended=session.ended_at is not None)


def _begin_enrollment(session: Session) -> None:
    from calls import tasks

    session.enrollment_status = Status.IN_PROGRESS
    session.enrollment_message = "The audio is collected; the voiceprint is being built."
    session_pk = session.pk
    transaction.on_commit(lambda: tasks.enroll_session.delay(session_pk))


@transaction.atomic
def session_enroll(*, domain: Domain, session_name_or_id: str) -> Session:
    """Enroll the session's speaker from the call's audio: at once if 30 s of speech are in, else when they are."""
    domain_selectors.ensure_active(domain)
    session = selectors.session_get(domain=domain, session_name_or_id=session_name_or_id, for_update=True)
    now = timezone.now()
    _record_idle_end(session, now=now)  # enrolling a call that went silent does not reopen it
    if session.enrollment_status:
        raise Conflict(
            f"Session {session.session_name} already has an enrollment request ({session.enrollment_status}): "
            "one enrollment per call; start a new session to enroll again.",
            conflict_type="ENROLLMENT_ALREADY_EXISTS",
        )
    if not session.speaker_ref:
        raise Conflict(
            f"Session {session.session_name} has no speaker: set its SpeakerId with UpdateSession first.",
            conflict_type="SPEAKER_NOT_SET",
        )
    speaker = speaker_services.speaker_get_or_create_pending(
        domain=domain, customer_speaker_id=session.speaker_ref
    )
    if speaker.status == Speaker.Status.OPTED_OUT:
        raise Conflict(
            "The session's speaker has opted out, so it cannot be enrolled: delete the speaker "
            "(DeleteSpeaker) first if the caller now consents.",
            conflict_type="SPEAKER_OPTED_OUT",
        )
    session.enrollment_requested_at = session.updated_at = now
    if _enough_to_enroll(session):
        _begin_enrollment(session)
    else:
        session.enrollment_status = Status.NOT_ENOUGH_SPEECH
        session.enrollment_message = _collecting_message(session)
    session.save()
    notifications.session_enrollment_requested(session)
    return session


def session_audio_pcm(session: Session, *, through: int | None = None) -> bytes:
    """The session's retained audio (canonical 8 kHz PCM-16), in order; chunks after `through` left out."""
    chunks = SessionAudio.objects.filter(session=session).order_by("sequence")
    if through is not None:
        chunks = chunks.filter(sequence__lte=through)
    parts = []
    for chunk in chunks:
        chunk.domain = session.domain  # already loaded: spare the query sealing would make
        parts.append(chunk.pcm)
    return b"".join(parts)


@transaction.atomic
def enrollment_failed(*, session_pk: int, error: ServiceError) -> None:
    """Record why an enrollment in progress could not complete (DescribeSession shows the message)."""
    session = (
        Session.objects.select_for_update()
        .select_related("domain")
        .filter(pk=session_pk, enrollment_status=Status.IN_PROGRESS)
        .first()
    )
    if session is None:
        return  # finished already, or the session is gone: nothing to report twice
    now = timezone.now()
    _record_idle_end(session, now=now)  # a report on a call that went silent does not reopen it
    session.enrollment_status, session.enrollment_message = Status.FAILED, error.message[:500]
    session.updated_at = now
    session.save(update_fields=["enrollment_status", "enrollment_message", "updated_at"])
    speaker = speaker_selectors.speaker_find(domain=session.domain, speaker_id=session.speaker_ref)
    notifications.session_enrollment_finished(session, speaker=speaker, enrollment_status=None, failure=error)
