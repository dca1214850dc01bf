"""Batch jobs from start to end: record, prepare, share entries between workers, finish, resume.

How a job survives crashes. Every step is a short transaction on rows, and the broker only carries
doorbells ("prepare job N", "work on job N"):

- `job_start` records the job SUBMITTED and rings `jobs.prepare_job` when the transaction commits; if the
  broker is down then, the recovery sweep rings it later.
- `job_prepare` reads and checks the manifest, then creates one `JobEntry` per request and moves the job to
  IN_PROGRESS in one transaction; it rings `jobs.run_job` once per worker that may help.
- A runner claims one PENDING entry at a time with a conditional UPDATE that sets a lease
  (`claimed_until`), so two workers never take the same entry while its lease runs. The CPU work (reading
  audio, building the voiceprint) happens outside any transaction; then one transaction locks the entry,
  returns at once if it is already done, applies it (speaker, voiceprint, fraudster, event) and records the
  outcome. An entry is therefore applied exactly once, however often a worker dies around it.
- A worker killed mid-entry leaves a lease that expires; the recovery sweep (`job_resume_stalled`, on beat)
  rings `jobs.run_job` again for any job whose heartbeat stopped, and the next runner takes the entry.
  An entry that has been claimed `MAX_ATTEMPTS` times without finishing (it kills its worker) is failed
  with a 500 rather than retried forever.
- When no entry is PENDING, `job_finish` writes the output file (rewritten whole from the entries, so a
  second finish writes the same bytes) and ends the job.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from domains import selectors as domain_selectors
from domains.models import Domain
from fraudsters import selectors as fraudster_selectors
from jobs import manifests, notifications, outputs, s3, uploads
from jobs.models import BatchJob, JobEntry
from voiceid_site import idempotency, quotas
from voiceid_site.exceptions import ValidationError

logger = logging.getLogger(__name__)
Kind = BatchJob.Kind
Status = BatchJob.Status

MANIFEST_MAX_BYTES = 50 * 2**20
MAX_ATTEMPTS = 3
STORE_PATIENCE = timedelta(hours=1)  # how long a job waits for an unreachable S3 store before failing
DEFAULT_RISK_THRESHOLD = 50  # the sessions' default (spec §4.6); the batch default is undocumented
DEFAULT_SIMILARITY_THRESHOLD = 70  # undocumented in Voice ID; chosen on the devset (docs/jobs.md)

_QUOTA = {
    Kind.SPEAKER_ENROLLMENT: ("active_enrollment_jobs_per_domain", "speakers_per_enrollment_job"),
    Kind.FRAUDSTER_REGISTRATION: ("active_registration_jobs_per_domain", "fraudsters_per_registration_job"),
}
_OPERATION = {
    Kind.SPEAKER_ENROLLMENT: "StartSpeakerEnrollmentJob",
    Kind.FRAUDSTER_REGISTRATION: "StartFraudsterRegistrationJob",
}


@dataclass(frozen=True)
class JobRequest:
    """What a Start*Job call asks for, in the API's terms. `config` is EnrollmentConfig / RegistrationConfig."""

    kind: str
    data_access_role_arn: str
    input_s3_uri: str
    output_s3_uri: str
    output_kms_key_id: str = ""
    job_name: str = ""
    config: dict[str, Any] | None = None
    client_token: str | None = None

    def fingerprint(self) -> str:
        return idempotency.fingerprint(
            {
                "kind": self.kind,
                "role": self.data_access_role_arn,
                "input": self.input_s3_uri,
                "output": self.output_s3_uri,
                "kms": self.output_kms_key_id,
                "name": self.job_name,
                "config": self.config or {},
            }
        )


def _resolved_config(domain: Domain, request: JobRequest) -> dict[str, Any]:
    """The configuration with its defaults filled in, watchlists checked to exist (404 otherwise)."""
    given = request.config or {}
    if request.kind == Kind.SPEAKER_ENROLLMENT:
        fraud = given.get("FraudDetectionConfig") or {}
        return {
            "ExistingEnrollmentAction": given.get("ExistingEnrollmentAction", "SKIP"),
            "FraudDetectionConfig": {
                "FraudDetectionAction": fraud.get("FraudDetectionAction", "FAIL"),
                "RiskThreshold": fraud.get("RiskThreshold", DEFAULT_RISK_THRESHOLD),
                "WatchlistIds": [_watchlist_id(domain, fraud.get("WatchlistIds"))],
            },
        }
    return {
        "DuplicateRegistrationAction": given.get("DuplicateRegistrationAction", "SKIP"),
        "FraudsterSimilarityThreshold": given.get(
            "FraudsterSimilarityThreshold", DEFAULT_SIMILARITY_THRESHOLD
        ),
        "WatchlistIds": [_watchlist_id(domain, given.get("WatchlistIds"))],
    }


def _watchlist_id(domain: Domain, watchlist_ids: list[str] | None) -> str:
    if watchlist_ids:
        return fraudster_selectors.watchlist_get(domain=domain, watchlist_id=watchlist_ids[0]).watchlist_id
    return fraudster_selectors.watchlist_default(domain=domain).watchlist_id


def job_start(*, domain: Domain, request: JobRequest) -> BatchJob:
    """Record a job SUBMITTED and queue it; the same ClientToken with the same request returns that job.

    boto3 retries Start*Job after a 5xx or throttling with the same auto-filled ClientToken, so a retried
    start must find the first job, never start a second one.
    """
    fingerprint = request.fingerprint()
    if request.client_token:
        existing = _job_with_token(domain, request)
        if existing is not None:
            idempotency.ensure_same_request(
                stored=existing.request_fingerprint,
                requested=fingerprint,
                client_token=request.client_token,
                operation=_OPERATION[request.kind],
            )
            return existing
    # Checked now (beyond the model's pattern: no empty, "." or ".." key segments), so a job never does
    # all its work only to find it cannot name its output file.
    s3.parse_uri(request.input_s3_uri, field="InputDataConfig.S3Uri")
    s3.output_uri(request.output_s3_uri, "0" * 22, request.input_s3_uri)
    s3.ensure_output_bucket(request.output_s3_uri)
    if request.output_kms_key_id:
        s3.ensure_output_key_usable(request.output_kms_key_id)
    with transaction.atomic():
        # The domain row lock serialises starts, so two cannot both pass the active-jobs quota.
        domain = Domain.objects.select_for_update().get(pk=domain.pk)
        domain_selectors.ensure_active(domain)
        existing = _job_with_token(domain, request) if request.client_token else None
        if existing is not None:  # the first of two racing retries committed while we waited
            return existing
        active_quota, _ = _QUOTA[request.kind]
        active = BatchJob.objects.filter(
            domain=domain, kind=request.kind, status__in=BatchJob.ACTIVE_STATUSES
        )
        quotas.ensure_room(
            active_quota, current=active.count(), what=f"the domain's active {_noun(request.kind)}"
        )
        job = BatchJob.objects.create(
            domain=domain,
            kind=request.kind,
            job_name=request.job_name,
            client_token=request.client_token or None,
            request_fingerprint=fingerprint,
            data_access_role_arn=request.data_access_role_arn,
            input_s3_uri=request.input_s3_uri,
            output_s3_uri=request.output_s3_uri,
            output_kms_key_id=request.output_kms_key_id,
            config=_resolved_config(domain, request),
        )
        notifications.job_event(job)
        transaction.on_commit(lambda: _ring("jobs.prepare_job", job.pk))
    return job


def _job_with_token(domain: Domain, request: JobRequest) -> BatchJob | None:
    return (
        BatchJob.objects.select_related("domain")
        .filter(domain=domain, kind=request.kind, client_token=request.client_token)
        .first()
    )


def _noun(kind: str) -> str:
    return "speaker enrollment jobs" if kind == Kind.SPEAKER_ENROLLMENT else "fraudster registration jobs"


def _ring(task_name: str, job_pk: int, *, copies: int = 1) -> None:
    """Queue a doorbell task. A broker that is down loses nothing: the recovery sweep rings again."""
    from jobs import tasks

    task = {"jobs.prepare_job": tasks.prepare_job, "jobs.run_job": tasks.run_job}[task_name]
    try:
        for _ in range(copies):
            task.delay(job_pk)
    except Exception:
        logger.exception("could not queue %s for job %s; the recovery sweep will", task_name, job_pk)


# --- preparing -------------------------------------------------------------------------------------


def job_prepare(*, job_pk: int) -> None:
    """Read and check the manifest, create the entries and start the runners. Safe to repeat."""
    job = BatchJob.objects.select_related("domain").filter(pk=job_pk).first()
    if job is None or job.status != Status.SUBMITTED:
        if job is not None and job.status == Status.IN_PROGRESS:
            _start_runners(job)
        return
    try:
        requests = _read_manifest(job)
    except s3.StorageError as error:
        if not _wait_out(job, error):
            job_fail(job_pk=job.pk, status_code=error.status_code, message=error.message)
        return
    except manifests.ManifestError as error:
        job_fail(job_pk=job.pk, status_code=error.status_code, message=error.message)
        return
    with transaction.atomic():
        job = BatchJob.objects.select_for_update().select_related("domain").get(pk=job_pk)
        if job.status != Status.SUBMITTED:
            return
        JobEntry.objects.bulk_create(
            [
                JobEntry(
                    job=job,
                    domain=job.domain,
                    position=position,
                    request_id=request.request_id,
                    request=request.to_json(),
                    sealed_with=_generation(job.domain),
                )
                for position, request in enumerate(requests)
            ],
            batch_size=500,
        )
        now = timezone.now()
        job.status = Status.IN_PROGRESS
        job.total_entries = len(requests)
        job.started_at = job.heartbeat_at = now
        job.save(update_fields=["status", "total_entries", "started_at", "heartbeat_at"])
    _start_runners(job)


def _generation(domain: Domain) -> int:
    from domains import envelope

    return envelope.generation_for_write(domain)


def _read_manifest(job: BatchJob) -> list[manifests.Request]:
    data = s3.read_bytes(job.input_s3_uri, max_bytes=MANIFEST_MAX_BYTES)
    if job.kind == Kind.SPEAKER_ENROLLMENT:
        requests = manifests.parse_enrollment(data)
    else:
        requests = manifests.parse_registration(data)
    _, size_quota = _QUOTA[job.kind]
    allowed = quotas.limit(size_quota)
    if len(requests) > allowed:
        raise manifests.ManifestError(
            f"The manifest has {len(requests)} requests; a job takes at most {allowed} "
            f"({size_quota.replace('_', ' ')}). Split it into several jobs."
        )
    return requests


def _start_runners(job: BatchJob) -> None:
    pending = JobEntry.objects.filter(job=job, state=JobEntry.State.PENDING).count()
    _ring("jobs.run_job", job.pk, copies=max(1, min(pending, settings.VOICEID_JOB_PARALLELISM)))


# --- running ---------------------------------------------------------------------------------------


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def entry_claim(*, job_pk: int, worker: str, now: Any = None) -> JobEntry | None:
    """Lease the next PENDING entry nobody holds; None when every pending entry is held or done."""
    now = now or timezone.now()
    free = Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    pending = JobEntry.objects.filter(job_id=job_pk, state=JobEntry.State.PENDING)
    lease = timedelta(seconds=settings.VOICEID_JOB_LEASE_SECONDS)
    for entry_pk in pending.filter(free).order_by("position").values_list("pk", flat=True)[:16]:
        # Conditional: of two workers racing for one entry, only the first UPDATE matches.
        if pending.filter(free, pk=entry_pk).update(
            claimed_by=worker, claimed_until=now + lease, attempts=F("attempts") + 1
        ):
            return JobEntry.objects.select_related("job", "domain").get(pk=entry_pk)
    return None


def entry_attempt_return(*, entry: JobEntry) -> None:
    """Give back a claim's attempt: it ended because storage was unreachable, not because it crashed."""
    JobEntry.objects.filter(pk=entry.pk, attempts__gt=0).update(attempts=F("attempts") - 1)


def entry_has_pending(*, job_pk: int) -> bool:
    return JobEntry.objects.filter(job_id=job_pk, state=JobEntry.State.PENDING).exists()


def entry_record(
    *, entry: JobEntry, outcome: dict[str, Any], error_code: int | None, now: Any = None
) -> None:
    """Record an applied entry and move the job's progress; call inside the transaction that applied it."""
    now = now or timezone.now()
    entry.outcome = outcomes_json(outcome)
    entry.state = JobEntry.State.FAILED if error_code else JobEntry.State.SUCCEEDED
    entry.error_code = error_code
    entry.finished_at = now
    entry.claimed_until = None
    entry.save(update_fields=["outcome_sealed", "state", "error_code", "finished_at", "claimed_until"])
    BatchJob.objects.filter(pk=entry.job_id).update(
        finished_entries=F("finished_entries") + 1,
        failed_entries=F("failed_entries") + (1 if error_code else 0),
        heartbeat_at=now,
    )


def outcomes_json(outcome: dict[str, Any]) -> bytes:
    return json.dumps(outcome, separators=(",", ":")).encode()


def entry_lock(entry: JobEntry) -> JobEntry | None:
    """The entry re-read under a row lock, or None when it is done already (another worker finished it)."""
    locked = JobEntry.objects.select_for_update().select_related("job", "domain").get(pk=entry.pk)
    return None if locked.is_done else locked


# --- finishing -------------------------------------------------------------------------------------


def job_finish(*, job_pk: int) -> BatchJob | None:
    """Write the output file and end the job once no entry is pending. Safe to repeat.

    The file is built and written outside any transaction (unsealing up to 10,000 entries, a KMS call and
    an S3 PUT must not hold SQLite's write lock); two finishes racing write the same bytes, and only the
    first to lock the job then ends it.
    """
    job = BatchJob.objects.select_related("domain").get(pk=job_pk)
    if job.status != Status.IN_PROGRESS or entry_has_pending(job_pk=job.pk):
        return None
    entries = list(JobEntry.objects.filter(job=job).order_by("position"))
    for entry in entries:
        entry.domain = job.domain  # already loaded: spare a query per entry when unsealing
    document = outputs.document(job, [entry.outcome_record() for entry in entries])
    try:
        uri = s3.output_uri(job.output_s3_uri, job.job_id, job.input_s3_uri)
        s3.write_bytes(uri, document, kms_key_id=job.output_kms_key_id or None)
    except s3.StorageError as error:
        last_progress = max((entry.finished_at for entry in entries if entry.finished_at), default=None)
        if _wait_out(job, error, since=last_progress):
            return None
        job_fail(
            job_pk=job.pk,
            status_code=error.status_code,
            message=f"The output file could not be written: {error.message}",
        )
        return job
    except ValidationError as error:  # a folder URI no object can live under (checked at start since)
        job_fail(
            job_pk=job.pk, status_code=400, message=f"The output file could not be written: {error.message}"
        )
        return job
    with transaction.atomic():
        job = BatchJob.objects.select_for_update().select_related("domain").get(pk=job_pk)
        if job.status != Status.IN_PROGRESS or entry_has_pending(job_pk=job.pk):
            return None
        job.output_file_uri = uri
        job.status = Status.COMPLETED_WITH_ERRORS if job.failed_entries else Status.COMPLETED
        job.ended_at = job.heartbeat_at = timezone.now()
        job.save(update_fields=["output_file_uri", "status", "ended_at", "heartbeat_at"])
        notifications.job_event(job)
    uploads.upload_discard(manifest_uri=job.input_s3_uri)
    return job


def job_fail(*, job_pk: int, status_code: int, message: str) -> None:
    with transaction.atomic():
        job = BatchJob.objects.select_for_update().select_related("domain").get(pk=job_pk)
        if not job.is_active:
            return
        _fail(job, status_code=status_code, message=message)
    uploads.upload_discard(manifest_uri=job.input_s3_uri)


def _fail(job: BatchJob, *, status_code: int, message: str) -> None:
    job.status = Status.FAILED
    job.failure_status_code = status_code
    job.failure_message = message
    job.ended_at = job.heartbeat_at = timezone.now()
    job.save(update_fields=["status", "failure_status_code", "failure_message", "ended_at", "heartbeat_at"])
    notifications.job_event(job)


def _wait_out(job: BatchJob, error: s3.StorageError, *, since: datetime | None = None) -> bool:
    """True when a storage failure is worth waiting out: the store is unreachable (5xx), and not for long.

    The job stays as it is and the recovery sweep tries again after a lease; STORE_PATIENCE after `since`
    (the job's last progress; its creation by default) the job fails with the store's error instead of
    holding its domain's job slot forever.
    """
    if error.status_code < 500 or timezone.now() - (since or job.created_at) > STORE_PATIENCE:
        return False
    logger.warning("job %s waits for storage: %s", job.job_id, error.message)
    return True


# --- recovery --------------------------------------------------------------------------------------


def job_resume_stalled(*, now: Any = None) -> int:
    """Ring again for every active job with no heartbeat for a lease: its worker died or its message was lost.

    Ringing is harmless for a job that is in fact still running: runners only take entries nobody holds.
    """
    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.VOICEID_JOB_LEASE_SECONDS)
    resumed = 0
    stalled = BatchJob.objects.filter(status__in=BatchJob.ACTIVE_STATUSES, heartbeat_at__lt=stale)
    for job in stalled.only("pk", "status"):
        # Moving the heartbeat first means two recovery sweeps (two beat schedulers) ring once.
        if not BatchJob.objects.filter(pk=job.pk, heartbeat_at__lt=stale).update(heartbeat_at=now):
            continue
        if job.status == Status.SUBMITTED:
            _ring("jobs.prepare_job", job.pk)
        else:
            _start_runners(job)
        resumed += 1
    return resumed
