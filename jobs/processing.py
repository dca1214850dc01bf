"""Applying a job's entries: enroll a speaker or register a fraudster from the recordings a request names.

Each entry is worked in three steps. Cheap read-only checks first (an opted-out or already enrolled
speaker needs no audio read), then the CPU work outside any transaction (read the recordings, build the
voiceprint, screen it), then one transaction that re-checks under row locks and applies. A refusal at any
step becomes the entry's error record (the spec's ErrorCode and a message saying what to do); only a
failure of the machinery itself (database, storage unreachable) leaves the entry to a later attempt.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
from django.conf import settings
from django.db import transaction

from fraudsters import screening
from fraudsters import selectors as fraudster_selectors
from fraudsters import services as fraudster_services
from fraudsters.models import Watchlist
from jobs import manifests, notifications, outputs, s3, services
from jobs.models import BatchJob, JobEntry
from speakers import selectors as speaker_selectors
from speakers import services as speaker_services
from speakers.models import Speaker, SpeakerVoiceprint
from voiceid_site.exceptions import ResourceNotFound, ServiceError, ServiceQuotaExceeded
from voiceprints import audio
from voiceprints.engine import Voiceprint, decode, voiceprint_of

logger = logging.getLogger(__name__)
Kind = BatchJob.Kind


class EntryRefused(Exception):
    """This request cannot be applied: it ends with `code` (the spec's ErrorCode) and `message`."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class TransientFailure(Exception):
    """Storage could not be reached: the entry is left for a later attempt, not failed."""


class _NeedsVoiceprint(Exception):
    """The speaker changed since the cheap check (no longer enrolled): the request needs its audio after all."""


def job_run(*, job_pk: int, worker: str | None = None) -> int:
    """Work on the job's entries until none is free, then finish it if it is done; returns entries worked."""
    worker = worker or services.worker_name()
    worked = 0
    while BatchJob.objects.filter(pk=job_pk, status=BatchJob.Status.IN_PROGRESS).exists():
        entry = services.entry_claim(job_pk=job_pk, worker=worker)
        if entry is None:
            break
        try:
            entry_process(entry)
        except TransientFailure:
            # The claim stays until its lease ends, so the entry is retried after a pause, not at once;
            # the attempt is given back, since the store failed, not the worker.
            services.entry_attempt_return(entry=entry)
            return worked
        except ServiceError as error:
            # Even refusing the entry failed (its domain's key became unusable, say): end the job rather
            # than claim the entry again every lease forever.
            logger.exception("entry %s of job %s could not be recorded", entry.request_id, entry.job.job_id)
            services.job_fail(
                job_pk=job_pk,
                status_code=500,
                message=f"Request {entry.request_id} could not be processed or recorded ({error}); "
                "the requests before it were applied.",
            )
            return worked
        worked += 1
    services.job_finish(job_pk=job_pk)
    return worked


def entry_process(entry: JobEntry) -> None:
    request = manifests.Request.from_json(entry.request)
    apply = _enroll if entry.job.kind == Kind.SPEAKER_ENROLLMENT else _register
    try:
        if entry.attempts > services.MAX_ATTEMPTS:
            raise EntryRefused(
                500,
                f"Processing this request stopped its worker {entry.attempts - 1} times; it was given up. "
                "Check the recordings it names (see the worker logs), then run it again in a new job.",
            )
        if request.problem:
            raise EntryRefused(400, request.problem)
        apply(entry, request)
    except EntryRefused as refusal:
        _refuse(entry, request, refusal)
    except TransientFailure:
        logger.warning("entry %s of job %s left for a later attempt", request.request_id, entry.job.job_id)
        raise


def _refuse(entry: JobEntry, request: manifests.Request, refusal: EntryRefused) -> None:
    def record(locked: JobEntry) -> None:
        services.entry_record(
            entry=locked,
            outcome=outputs.error(request_id=request.request_id, code=refusal.code, message=refusal.message),
            error_code=refusal.code,
        )
        error = (refusal.code, refusal.message)
        if locked.job.kind == Kind.SPEAKER_ENROLLMENT:
            try:
                speaker = _find_speaker(locked, request)
            except ServiceError:  # the key that finds the speaker is unusable: report the refusal anyway
                speaker = None
            notifications.speaker_enrollment_event(
                locked.job,
                request_id=request.request_id,
                generated_speaker_id=speaker.generated_speaker_id if speaker else None,
                enrollment_status=None,
                error=error,
            )
        else:
            notifications.fraudster_registration_event(
                locked.job,
                request_id=request.request_id,
                generated_fraudster_id=None,
                watchlist_ids=locked.job.config["WatchlistIds"],
                registration_status=None,
                error=error,
            )

    _apply_once(entry, record)


def _apply_once(entry: JobEntry, apply: Callable[[JobEntry], None]) -> None:
    """Run `apply` on the entry under its row lock, unless another worker finished it already."""
    with transaction.atomic():
        locked = services.entry_lock(entry)
        if locked is not None:
            locked.domain = locked.job.domain = entry.domain
            apply(locked)


def _succeeded(entry: JobEntry, **record: Any) -> None:
    services.entry_record(entry=entry, outcome=outputs.success(**record), error_code=None)


def _find_speaker(entry: JobEntry, request: manifests.Request) -> Speaker | None:
    if not request.speaker_id:
        return None
    return speaker_selectors.speaker_find(domain=entry.domain, speaker_id=request.speaker_id)


# --- audio -----------------------------------------------------------------------------------------


def _recordings(request: manifests.Request) -> np.ndarray:
    """The request's recordings decoded, their caller channel taken, and pooled into one canonical signal."""
    pieces = []
    for number, spec in enumerate(request.audio, start=1):
        try:
            data = s3.read_bytes(spec.uri, max_bytes=audio.MAX_AUDIO_BYTES)
        except s3.StorageError as error:
            if error.status_code >= 500:
                raise TransientFailure(error.message) from error
            raise EntryRefused(error.status_code, error.message) from None
        try:
            pieces.append(decode(data, "WAV", channel=spec.channel))
        except audio.AudioError as error:
            raise EntryRefused(400, f"Recording {number} ({spec.uri}): {error}") from None
    return np.concatenate(pieces) if len(pieces) > 1 else pieces[0]


def _voiceprint(samples: np.ndarray) -> Voiceprint:
    needed = settings.VOICEID_ENROLLMENT_SPEECH_SECONDS
    voiceprint = voiceprint_of(samples, vad_kind=settings.VOICEID_VAD)
    speech = voiceprint.speech_seconds if voiceprint else 0.0
    if voiceprint is None or speech < needed:
        raise EntryRefused(
            400,
            f"Not enough speech: the recordings hold {speech:.1f} s of net speech (silence excluded) and "
            f"{needed:.0f} s are needed. Add recordings of the same caller (up to 10 per request).",
        )
    return voiceprint


def _watchlist(entry: JobEntry, watchlist_id: str) -> Watchlist:
    try:
        return fraudster_selectors.watchlist_get(domain=entry.domain, watchlist_id=watchlist_id)
    except ResourceNotFound:
        raise EntryRefused(
            404, f"Watchlist {watchlist_id} was deleted after the job started; start the job again."
        ) from None


# --- enrollment ------------------------------------------------------------------------------------


def _existing_enrollment(speaker: Speaker | None, config: dict[str, Any]) -> str | None:
    """DUPLICATE_SKIPPED, ENROLLMENT_OVERWRITE or NEW_ENROLLMENT for the speaker as it is; 409 if opted out."""
    if speaker is None:
        return "NEW_ENROLLMENT"
    if speaker.status == Speaker.Status.OPTED_OUT:
        raise EntryRefused(
            409, "The speaker has opted out of voice authentication: it cannot be enrolled (OptOutSpeaker)."
        )
    if speaker.status == Speaker.Status.ENROLLED:
        return "DUPLICATE_SKIPPED" if config["ExistingEnrollmentAction"] == "SKIP" else "ENROLLMENT_OVERWRITE"
    return "NEW_ENROLLMENT"


def _enroll(entry: JobEntry, request: manifests.Request) -> None:
    config = entry.job.config
    if _existing_enrollment(_find_speaker(entry, request), config) == "DUPLICATE_SKIPPED":
        try:
            _apply_once(entry, lambda locked: _record_enrollment(locked, request, None, None))
            return
        except _NeedsVoiceprint:
            pass
        except ServiceError as error:  # the domain was deleted meanwhile, say: this entry's answer
            raise EntryRefused(error.status, error.message) from None
    samples = _recordings(request)
    voiceprint = _voiceprint(samples)
    fraud = config["FraudDetectionConfig"]
    if fraud["FraudDetectionAction"] == "FAIL":
        watchlist = _watchlist(entry, fraud["WatchlistIds"][0])
        match = screening.watchlist_index(watchlist).search(voiceprint.vector, voiceprint.cohort)
        if match is not None and match.risk_score >= fraud["RiskThreshold"]:
            raise EntryRefused(
                400,
                f"The fraud check failed: the voice matches fraudster {match.id} of watchlist "
                f"{watchlist.watchlist_id} with risk score {match.risk_score} (RiskThreshold "
                f"{fraud['RiskThreshold']}). Set FraudDetectionAction IGNORE to enroll such speakers anyway.",
            )
    pcm = audio.pcm16_bytes(samples)
    try:
        _apply_once(entry, lambda locked: _record_enrollment(locked, request, voiceprint, pcm))
    except ServiceQuotaExceeded as error:
        raise EntryRefused(402, error.message) from None
    except ServiceError as error:
        raise EntryRefused(error.status, error.message) from None


def _record_enrollment(
    entry: JobEntry, request: manifests.Request, voiceprint: Voiceprint | None, pcm: bytes | None
) -> None:
    domain = entry.domain
    speaker = speaker_services.speaker_get_or_create_pending(
        domain=domain, customer_speaker_id=request.speaker_id
    )
    speaker = Speaker.objects.select_for_update().get(pk=speaker.pk)
    speaker.domain = domain
    status = _existing_enrollment(speaker, entry.job.config)  # again, under the lock: an opt-out may have won
    if status != "DUPLICATE_SKIPPED":
        if voiceprint is None or pcm is None:
            raise _NeedsVoiceprint
        speaker_services.speaker_enroll(
            speaker=speaker, voiceprint=voiceprint, source=SpeakerVoiceprint.Source.BATCH_JOB, audio_pcm=pcm
        )
        notifications.speaker_enrollment_event(
            entry.job,
            request_id=request.request_id,
            generated_speaker_id=speaker.generated_speaker_id,
            enrollment_status=status,
        )
    _succeeded(
        entry,
        RequestId=request.request_id,
        GeneratedSpeakerId=speaker.generated_speaker_id,
        CustomerSpeakerId=request.speaker_id,
        EnrollmentStatus=status,
    )


# --- registration ----------------------------------------------------------------------------------


def _register(entry: JobEntry, request: manifests.Request) -> None:
    samples = _recordings(request)
    voiceprint = _voiceprint(samples)
    pcm = audio.pcm16_bytes(samples)
    try:
        _apply_once(entry, lambda locked: _record_registration(locked, request, voiceprint, pcm))
    except ServiceQuotaExceeded as error:
        raise EntryRefused(402, error.message) from None
    except ServiceError as error:
        raise EntryRefused(error.status, error.message) from None


def _record_registration(
    entry: JobEntry, request: manifests.Request, voiceprint: Voiceprint, pcm: bytes
) -> None:
    config = entry.job.config
    # One registration of this job at a time, so two recordings of one fraudster in the same manifest are
    # caught as duplicates even when two workers run them at once.
    BatchJob.objects.select_for_update().filter(pk=entry.job_id).first()
    watchlist = _watchlist(entry, config["WatchlistIds"][0])
    if config["DuplicateRegistrationAction"] == "SKIP":
        match = screening.domain_search(entry.domain, voiceprint)
        if match is not None and match.risk_score >= config["FraudsterSimilarityThreshold"]:
            _succeeded(
                entry,
                RequestId=request.request_id,
                GeneratedFraudsterId=match.id,
                RegistrationStatus="DUPLICATE_SKIPPED",
                FraudsterSimilarityScore=match.risk_score,
            )
            return
    fraudster = fraudster_services.fraudster_register(
        domain=entry.domain, voiceprint=voiceprint, audio_pcm=pcm, watchlist=watchlist
    )
    notifications.fraudster_registration_event(
        entry.job,
        request_id=request.request_id,
        generated_fraudster_id=fraudster.generated_fraudster_id,
        watchlist_ids=[watchlist.watchlist_id],
        registration_status="NEW_REGISTRATION",
    )
    _succeeded(
        entry,
        RequestId=request.request_id,
        GeneratedFraudsterId=fraudster.generated_fraudster_id,
        RegistrationStatus="NEW_REGISTRATION",
    )
