"""Records of the retention sweepers (spec §5/§6): what each run did, and which stored audio awaits erasure.

Batch enrollment and registration jobs land here too with the batch-jobs issue (see README status table).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone


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
