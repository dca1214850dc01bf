from __future__ import annotations

from django.db import models
from django.utils import timezone

from domains.models import Domain
from domains.sealing import Sealed, SealedBytes
from voiceid_site.ids import new_generated_id, new_id


class Speaker(models.Model):
    """A caller known to a domain, under the caller's own id and the id Voice ID generated for it."""

    class Status(models.TextChoices):
        ENROLLED = "ENROLLED"
        EXPIRED = "EXPIRED"
        OPTED_OUT = "OPTED_OUT"
        PENDING = "PENDING"

    domain = models.ForeignKey(Domain, on_delete=models.CASCADE, related_name="speakers")
    generated_speaker_id = models.CharField(
        "generated speaker id", max_length=25, unique=True, default=new_generated_id, editable=False
    )
    # The caller's own id is personal data: stored sealed under the domain key, found through a keyed hash.
    customer_speaker_id_sealed = models.BinaryField(default=b"", editable=False)
    customer_speaker_index = models.BinaryField(max_length=32, editable=False)
    customer_speaker_id = Sealed(
        "customer_speaker_id_sealed", record_id="generated_speaker_id", index="customer_speaker_index"
    )
    sealed_with = models.PositiveIntegerField(default=1, editable=False)
    status = models.CharField(max_length=16, choices=Status.choices, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)
    last_accessed_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["domain", "customer_speaker_index"], name="unique_customer_speaker_per_domain"
            )
        ]
        indexes = [
            # Keyset paging walks (domain, id): without it a big domain's pages would sort the whole domain.
            models.Index(fields=["domain", "id"], name="speaker_domain_keyset"),
            # The dashboard filters a domain's speakers by status (keyset-paged) and counts them per status.
            models.Index(fields=["domain", "status", "id"], name="speaker_domain_status_keyset"),
            # Key rotation walks the rows still sealed under an older generation.
            models.Index(fields=["domain", "sealed_with"], name="speaker_sealed_with"),
        ]

    def __str__(self) -> str:
        return self.generated_speaker_id

    @property
    def sealing_domain(self) -> Domain:
        return self.domain


class SpeakerVoiceprint(models.Model):
    """A speaker's enrolled voiceprint: the embedding and its cohort statistics, sealed under the domain key.

    One per speaker; re-enrollment replaces it, opt-out and deletion remove it at once. The audio it was
    built from is kept (sealed, in storage) so it can be rebuilt when the model changes.
    """

    class Source(models.TextChoices):
        SESSION = "SESSION", "call session"
        BATCH_JOB = "BATCH_JOB", "batch enrollment job"
        DEMO = "DEMO", "demo seed"

    domain = models.ForeignKey(Domain, on_delete=models.CASCADE, related_name="speaker_voiceprints")
    speaker = models.OneToOneField(Speaker, on_delete=models.CASCADE, related_name="voiceprint")
    voiceprint_id = models.CharField(max_length=22, unique=True, default=new_id, editable=False)
    packed_sealed = models.BinaryField(default=b"", editable=False)
    packed = SealedBytes("packed_sealed", record_id="voiceprint_id")
    sealed_with = models.PositiveIntegerField(default=1, editable=False)
    model_name = models.CharField(max_length=64, editable=False)
    speech_seconds = models.FloatField(editable=False)
    source = models.CharField(max_length=16, choices=Source.choices, editable=False)
    enrolled_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        indexes = [models.Index(fields=["domain", "sealed_with"], name="speaker_vp_sealed_with")]

    def __str__(self) -> str:
        return f"voiceprint of {self.speaker_id}"

    @property
    def sealing_domain(self) -> Domain:
        return self.domain
