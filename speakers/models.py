from __future__ import annotations

from django.db import models
from django.utils import timezone

from domains.models import Domain
from voiceid_site.ids import new_generated_id


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
    customer_speaker_id = models.CharField("customer speaker id", max_length=256, editable=False)
    status = models.CharField(max_length=16, choices=Status.choices, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)
    last_accessed_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["domain", "customer_speaker_id"], name="unique_customer_speaker_per_domain"
            )
        ]
        # Keyset paging walks (domain, id): without it a big domain's pages would sort the whole domain.
        indexes = [models.Index(fields=["domain", "id"], name="speaker_domain_keyset")]

    def __str__(self) -> str:
        return self.generated_speaker_id
