from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from domains.sealing import Sealed, readable
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
    # Name and description are free-form metadata: kept encrypted under the domain's own key (spec §6).
    name_sealed = models.BinaryField(default=b"", editable=False)
    description_sealed = models.BinaryField(default=b"", editable=False)
    name = Sealed("name_sealed", record_id="domain_id")
    description = Sealed("description_sealed", record_id="domain_id")
    kms_key_id = models.CharField("KMS key id", max_length=2048)
    # The data-key generation new values are sealed under; a key change adds one (see domains.rotation).
    key_generation = models.PositiveIntegerField(default=1, editable=False)
    sealed_with = models.PositiveIntegerField(default=1, editable=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    # The region of the request that created the domain: it goes into the ARN, as on AWS.
    region = models.CharField(max_length=32)
    # Kept by the speakers services so that the per-domain quota check never counts a big table.
    speaker_count = models.PositiveBigIntegerField(default=0, editable=False)
    # What a call session of this domain applies when StartSession leaves a configuration out (Voice ID's
    # defaults unless a superuser changes them in the admin; spec §4.5/4.6).
    session_acceptance_threshold = models.PositiveSmallIntegerField(
        "default AcceptanceThreshold", default=90, validators=[MaxValueValidator(100)]
    )
    session_risk_threshold = models.PositiveSmallIntegerField(
        "default RiskThreshold", default=50, validators=[MaxValueValidator(100)]
    )
    session_minimum_speech_seconds = models.PositiveSmallIntegerField(
        "default MinimumSpeechInSeconds", default=10, validators=[MinValueValidator(5), MaxValueValidator(10)]
    )
    encryption_update_status = models.CharField(
        max_length=16, choices=EncryptionUpdateStatus.choices, blank=True, editable=False
    )
    old_kms_key_id = models.CharField(max_length=2048, blank=True, editable=False)
    encryption_update_message = models.TextField(blank=True, editable=False)
    # Written by the re-encryption job as it goes, so a watchdog can tell a stalled job from a slow one.
    encryption_update_heartbeat = models.DateTimeField(null=True, blank=True, editable=False)
    client_token = models.CharField(max_length=64, null=True, blank=True, unique=True, editable=False)
    request_fingerprint = models.CharField(max_length=64, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)
    suspended_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"{readable(self, 'name')} ({self.domain_id})"

    @property
    def arn(self) -> str:
        return f"arn:aws:voiceid:{self.region}:{settings.VOICEID_ACCOUNT_ID}:domain/{self.domain_id}"

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE

    @property
    def sealing_domain(self) -> Domain:
        return self

    @property
    def key_update_pending(self) -> bool:
        """True while records may still be sealed under an older data key (rotation running or failed)."""
        return self.encryption_update_status in (
            self.EncryptionUpdateStatus.IN_PROGRESS,
            self.EncryptionUpdateStatus.FAILED,
        )


class Tag(models.Model):
    domain = models.ForeignKey(Domain, on_delete=models.CASCADE, related_name="tags")
    key = models.CharField(max_length=128)
    value = models.CharField(max_length=256, blank=True)

    class Meta:
        ordering = ["key"]
        constraints = [models.UniqueConstraint(fields=["domain", "key"], name="unique_tag_key_per_domain")]

    def __str__(self) -> str:
        return f"{self.key}={self.value}"


class MasterKey(models.Model):
    """A key of the local keyring: it wraps the data keys of the domains whose KmsKeyId names it.

    Configured keys take their material from the environment or a key file and never touch the
    database; the others are generated here and stored sealed under SECRET_KEY. Nobody can read a key's
    material through the admin or the API.
    """

    class Origin(models.TextChoices):
        CONFIGURED = "CONFIGURED", "configured (environment or key file)"
        CREATED = "CREATED", "created by a superuser"
        AUTO_CREATED = "AUTO_CREATED", "created on first use (VOICEID_KMS_AUTO_CREATE)"

    key_id = models.CharField("key id", max_length=2048, unique=True)
    description = models.CharField(max_length=1024, blank=True)
    origin = models.CharField(max_length=16, choices=Origin.choices, editable=False)
    enabled = models.BooleanField(default=True, editable=False)
    material_sealed = models.BinaryField(null=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["pk"]
        verbose_name = "encryption key"

    def __str__(self) -> str:
        return self.key_id


class DataKey(models.Model):
    """A domain's AES-256 data key, stored only wrapped by the master key its KmsKeyId named."""

    domain = models.ForeignKey(Domain, on_delete=models.CASCADE, related_name="data_keys")
    generation = models.PositiveIntegerField()
    kms_key_id = models.CharField("KMS key id", max_length=2048)
    wrapped = models.BinaryField()
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["domain", "generation"]
        constraints = [
            models.UniqueConstraint(fields=["domain", "generation"], name="unique_data_key_generation")
        ]

    def __str__(self) -> str:
        return f"{self.domain_id} generation {self.generation}"
