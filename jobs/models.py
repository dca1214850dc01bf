"""Batch jobs (spec §3) and the records of the retention sweepers (spec §5/§6).

A batch job is one `BatchJob` row (both kinds share the machinery; the proxies `SpeakerEnrollmentJob` and
`FraudsterRegistrationJob` give each kind its own name in the admin) and one `JobEntry` per manifest request.
The rows are the whole truth about a job: the broker only carries "work on job N" doorbells, so a lost
message or a dead worker costs time, never an entry (see jobs/services.py).
"""

from __future__ import annotations

import json
from typing import Any

from django.db import models
from django.db.models import Q
from django.utils import timezone

from domains.models import Domain
from domains.sealing import Sealed, SealedBytes
from voiceid_site.ids import new_id


class BatchJob(models.Model):
    """A StartSpeakerEnrollmentJob or StartFraudsterRegistrationJob request and where it stands."""

    class Kind(models.TextChoices):
        SPEAKER_ENROLLMENT = "SPEAKER_ENROLLMENT", "speaker enrollment"
        FRAUDSTER_REGISTRATION = "FRAUDSTER_REGISTRATION", "fraudster registration"

    class Status(models.TextChoices):
        SUBMITTED = "SUBMITTED"
        IN_PROGRESS = "IN_PROGRESS"
        COMPLETED = "COMPLETED"
        COMPLETED_WITH_ERRORS = "COMPLETED_WITH_ERRORS"
        FAILED = "FAILED"

    ACTIVE_STATUSES = (Status.SUBMITTED, Status.IN_PROGRESS)

    job_id = models.CharField("job id", max_length=22, unique=True, default=new_id, editable=False)
    kind = models.CharField(max_length=24, choices=Kind.choices, editable=False)
    domain = models.ForeignKey(Domain, on_delete=models.CASCADE, related_name="batch_jobs")
    # JobName is "sensitive" in the service model, so it is sealed like every other name.
    job_name_sealed = models.BinaryField(default=b"", editable=False)
    job_name = Sealed("job_name_sealed", record_id="job_id")
    sealed_with = models.PositiveIntegerField(default=1, editable=False)
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.SUBMITTED, editable=False)
    # NULL, not "", when absent: the unique constraint must ignore missing tokens.
    client_token = models.CharField(max_length=64, null=True, blank=True, editable=False)  # noqa: DJ001
    request_fingerprint = models.CharField(max_length=64, blank=True, editable=False)
    # Recorded as given: there is no IAM here to assume it (docs/storage.md).
    data_access_role_arn = models.CharField(max_length=2048, editable=False)
    input_s3_uri = models.CharField("input S3 URI", max_length=1024, editable=False)
    output_s3_uri = models.CharField("output folder S3 URI", max_length=1024, editable=False)
    output_kms_key_id = models.CharField("output KMS key id", max_length=2048, blank=True, editable=False)
    # The kind's configuration with every default resolved, in the API's own member names
    # (EnrollmentConfig or RegistrationConfig), so Describe shows what the job actually applies.
    config = models.JSONField(default=dict, editable=False)
    total_entries = models.PositiveIntegerField(default=0, editable=False)
    finished_entries = models.PositiveIntegerField(default=0, editable=False)
    failed_entries = models.PositiveIntegerField(default=0, editable=False)
    failure_status_code = models.PositiveSmallIntegerField(null=True, blank=True, editable=False)
    failure_message = models.TextField(blank=True, editable=False)
    output_file_uri = models.CharField("output file", max_length=1100, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    started_at = models.DateTimeField(null=True, blank=True, editable=False)
    ended_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Moves with every finished entry: a job whose heartbeat stops for VOICEID_JOB_LEASE_SECONDS is resumed.
    heartbeat_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["domain", "kind", "client_token"], name="unique_job_client_token_per_domain_kind"
            )
        ]
        indexes = [
            # ListSpeakerEnrollmentJobs / ListFraudsterRegistrationJobs page through (domain, kind, id).
            models.Index(fields=["domain", "kind", "id"], name="batchjob_domain_kind_keyset"),
            models.Index(fields=["domain", "sealed_with"], name="batchjob_sealed_with"),
            # The recovery sweep looks only at jobs that are still running.
            models.Index(
                fields=["heartbeat_at"],
                condition=Q(status__in=["SUBMITTED", "IN_PROGRESS"]),
                name="batchjob_active_heartbeat",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} job {self.job_id}"

    @property
    def sealing_domain(self) -> Domain:
        return self.domain

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE_STATUSES

    @property
    def progress_mark(self) -> str:
        """What the job page's summary shows that a running job changes: a progress poll that sees another
        mark than its page was drawn with tells the summary to refresh."""
        return f"{self.status}-{self.finished_entries}-{self.failed_entries}"

    @property
    def percent_complete(self) -> int:
        if self.status in (self.Status.COMPLETED, self.Status.COMPLETED_WITH_ERRORS):
            return 100
        if not self.total_entries:
            return 0
        return self.finished_entries * 100 // self.total_entries


class _KindManager(models.Manager["BatchJob"]):
    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    def get_queryset(self) -> models.QuerySet[BatchJob]:
        return super().get_queryset().filter(kind=self.kind)


class SpeakerEnrollmentJob(BatchJob):
    objects = _KindManager(BatchJob.Kind.SPEAKER_ENROLLMENT)

    class Meta:
        proxy = True


class FraudsterRegistrationJob(BatchJob):
    objects = _KindManager(BatchJob.Kind.FRAUDSTER_REGISTRATION)

    class Meta:
        proxy = True


class JobEntry(models.Model):
    """One request of a job's manifest: what it asks (sealed), who is working on it, and what came of it."""

    class State(models.TextChoices):
        PENDING = "PENDING"
        SUCCEEDED = "SUCCEEDED"
        FAILED = "FAILED"

    job = models.ForeignKey(BatchJob, on_delete=models.CASCADE, related_name="entries")
    domain = models.ForeignKey(Domain, on_delete=models.CASCADE, related_name="+")
    entry_id = models.CharField(max_length=22, unique=True, default=new_id, editable=False)
    position = models.PositiveIntegerField(editable=False)
    request_id = models.CharField(max_length=256, editable=False)
    # The manifest request as JSON (customer speaker id, audio URIs): sealed, it names a caller.
    request_sealed = models.BinaryField(default=b"", editable=False)
    request = SealedBytes("request_sealed", record_id="entry_id")
    # The output file's record for this entry (a success or an error) as JSON: sealed for the same reason.
    outcome_sealed = models.BinaryField(default=b"", editable=False)
    outcome = SealedBytes("outcome_sealed", record_id="entry_id")
    sealed_with = models.PositiveIntegerField(default=1, editable=False)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING, editable=False)
    error_code = models.PositiveSmallIntegerField(null=True, blank=True, editable=False)
    # A claim is a lease: a worker that dies leaves it to expire, and another worker takes the entry.
    claimed_by = models.CharField(max_length=200, blank=True, editable=False)
    claimed_until = models.DateTimeField(null=True, blank=True, editable=False)
    attempts = models.PositiveSmallIntegerField(default=0, editable=False)
    finished_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["job", "position"]
        verbose_name_plural = "job entries"
        constraints = [models.UniqueConstraint(fields=["job", "position"], name="unique_entry_position")]
        indexes = [
            models.Index(fields=["job", "position"], condition=Q(state="PENDING"), name="jobentry_pending"),
            models.Index(fields=["domain", "sealed_with"], name="jobentry_sealed_with"),
        ]

    def __str__(self) -> str:
        return f"{self.request_id} of {self.job_id}"

    @property
    def sealing_domain(self) -> Domain:
        return self.domain

    @property
    def is_done(self) -> bool:
        return self.state != self.State.PENDING

    def outcome_record(self) -> dict[str, Any]:
        return json.loads(self.outcome) if self.outcome_sealed else {}


class SweepRun(models.Model):
    """One run of a retention sweeper, kept so an operator can see what was expired, purged or erased."""

    class Sweeper(models.TextChoices):
        EXPIRE = "expire", "expire speakers"
        PURGE = "purge", "purge audio"
        ERASE = "erase", "erase domains"

    class Status(models.TextChoices):
        # A run whose worker was killed outright stays RUNNING: that is how it shows up in the admin.
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    sweeper = models.CharField(max_length=16, choices=Sweeper.choices, editable=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING, editable=False)
    started_at = models.DateTimeField(default=timezone.now, editable=False)
    # The clock the sweeper judged ages by: the wall clock, unless a test or `sweep --now` moved it.
    as_of = models.DateTimeField("as of", editable=False)
    finished_at = models.DateTimeField(null=True, blank=True, editable=False)
    duration = models.DurationField(null=True, blank=True, editable=False)
    # What the run did, e.g. {"speakers_expired": 12}; a failed run keeps what it did before failing.
    counts = models.JSONField(default=dict, blank=True, editable=False)
    error = models.TextField(blank=True, editable=False)

    class Meta:
        ordering = ["-started_at", "-pk"]
        indexes = [models.Index(fields=["sweeper", "-started_at"], name="sweeprun_sweeper_recent")]

    def __str__(self) -> str:
        return f"{self.get_sweeper_display()} at {self.started_at:%Y-%m-%d %H:%M:%S}"


class StorageErasure(models.Model):
    """Stored files under `prefix` that must go: scheduled by the service that deleted their owner."""

    prefix = models.CharField(max_length=512, editable=False)
    reason = models.CharField(max_length=200, editable=False)
    requested_at = models.DateTimeField(default=timezone.now, editable=False)
    erased_at = models.DateTimeField(null=True, blank=True, editable=False)
    files_deleted = models.PositiveIntegerField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["pk"]
        constraints = [
            # Scheduling is idempotent per pending prefix, even for two transactions racing to schedule it.
            models.UniqueConstraint(
                fields=["prefix"], condition=Q(erased_at__isnull=True), name="one_pending_erasure_per_prefix"
            )
        ]
        # The purge sweeper keyset-walks pending erasures by id; erased ones pile up and must not slow it.
        indexes = [models.Index(fields=["id"], condition=Q(erased_at__isnull=True), name="erasure_pending")]

    def __str__(self) -> str:
        return self.prefix

    @property
    def is_pending(self) -> bool:
        return self.erased_at is None
