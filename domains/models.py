from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from voiceid_site.ids import new_id


class Domain(models.Model):
    """A Voice ID domain: it holds every speaker, fraudster, watchlist, session and job."""

    class Status(models.TextChoices):
        ACTIVE = "ACTIVE"
        PENDING = "PENDING"
        SUSPENDED = "SUSPENDED"

    class EncryptionUpdateStatus(models.TextChoices):
        IN_PROGRESS = "IN_PROGRESS"
        COMPLETED = "COMPLETED"
        FAILED = "FAILED"

    domain_id = models.CharField("domain id", max_length=22, unique=True, default=new_id, editable=False)
    name = models.CharField(max_length=256)
    description = models.CharField(max_length=1024, blank=True)
    kms_key_id = models.CharField("KMS key id", max_length=2048)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    # The region of the request that created the domain: it goes into the ARN, as on AWS.
    region = models.CharField(max_length=32)
    # Kept by the speakers services so that the per-domain quota check never counts a big table.
    speaker_count = models.PositiveBigIntegerField(default=0, editable=False)
    encryption_update_status = models.CharField(
        max_length=16, choices=EncryptionUpdateStatus.choices, blank=True, editable=False
    )
    old_kms_key_id = models.CharField(max_length=2048, blank=True, editable=False)
    encryption_update_message = models.TextField(blank=True, editable=False)
    client_token = models.CharField(max_length=64, null=True, blank=True, unique=True, editable=False)
    request_fingerprint = models.CharField(max_length=64, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)
    suspended_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"{self.name} ({self.domain_id})"

    @property
    def arn(self) -> str:
        return f"arn:aws:voiceid:{self.region}:{settings.VOICEID_ACCOUNT_ID}:domain/{self.domain_id}"

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE


class Tag(models.Model):
    domain = models.ForeignKey(Domain, on_delete=models.CASCADE, related_name="tags")
    key = models.CharField(max_length=128)
    value = models.CharField(max_length=256, blank=True)

    class Meta:
        ordering = ["key"]
        constraints = [models.UniqueConstraint(fields=["domain", "key"], name="unique_tag_key_per_domain")]

    def __str__(self) -> str:
        return f"{self.key}={self.value}"
