from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from domains.models import Domain
from domains.sealing import Sealed, SealedBytes, readable
from voiceid_site.ids import new_generated_id, new_id


class Watchlist(models.Model):
    """A named set of fraudsters a call is screened against; every domain has one default watchlist."""

    domain = models.ForeignKey(Domain, on_delete=models.CASCADE, related_name="watchlists")
    watchlist_id = models.CharField(
        "watchlist id", max_length=22, unique=True, default=new_id, editable=False
    )
    # Free-form metadata: sealed under the domain key, like the domain's own name (spec §6).
    name_sealed = models.BinaryField(default=b"", editable=False)
    description_sealed = models.BinaryField(default=b"", editable=False)
    name = Sealed("name_sealed", record_id="watchlist_id")
    description = Sealed("description_sealed", record_id="watchlist_id")
    sealed_with = models.PositiveIntegerField(default=1, editable=False)
    is_default = models.BooleanField("default watchlist", default=False, editable=False)
    # Bumped whenever the set of voiceprints screened against this watchlist changes, so every process's
    # cached screening matrix (fraudsters.screening) knows to rebuild.
    screening_version = models.PositiveIntegerField(default=0, editable=False)
    # NULL, not "", when absent: the unique (domain, client_token) constraint must ignore missing tokens.
    client_token = models.CharField(max_length=64, null=True, blank=True, editable=False)  # noqa: DJ001
    request_fingerprint = models.CharField(max_length=64, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["domain"], condition=Q(is_default=True), name="one_default_watchlist"
            ),
            models.UniqueConstraint(fields=["domain", "client_token"], name="unique_watchlist_client_token"),
        ]
        indexes = [models.Index(fields=["domain", "id"], name="watchlist_domain_keyset")]

    def __str__(self) -> str:
        return f"{readable(self, 'name')} ({self.watchlist_id})"

    @property
    def sealing_domain(self) -> Domain:
        return self.domain


class Fraudster(models.Model):
    """A known fraudster's voice; it belongs to one or more watchlists of its domain."""

    domain = models.ForeignKey(Domain, on_delete=models.CASCADE, related_name="fraudsters")
    generated_fraudster_id = models.CharField(
        "generated fraudster id", max_length=25, unique=True, default=new_generated_id, editable=False
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    watchlists = models.ManyToManyField(Watchlist, through="WatchlistMembership", related_name="fraudsters")

    class Meta:
        ordering = ["pk"]
        indexes = [models.Index(fields=["domain", "id"], name="fraudster_domain_keyset")]

    def __str__(self) -> str:
        return self.generated_fraudster_id


class WatchlistMembership(models.Model):
    # RESTRICT, not PROTECT: a watchlist with members cannot be deleted on its own, but a domain (or a
    # fraudster) deletion that removes the memberships too may proceed.
    watchlist = models.ForeignKey(Watchlist, on_delete=models.RESTRICT, related_name="memberships")
    fraudster = models.ForeignKey(Fraudster, on_delete=models.CASCADE, related_name="memberships")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["pk"]
        constraints = [models.UniqueConstraint(fields=["watchlist", "fraudster"], name="unique_membership")]

    def __str__(self) -> str:
        return f"{self.fraudster} in {self.watchlist}"


class FraudsterVoiceprint(models.Model):
    """A fraudster's voiceprint, sealed like a speaker's; screening decrypts a watchlist's into one matrix."""

    domain = models.ForeignKey(Domain, on_delete=models.CASCADE, related_name="fraudster_voiceprints")
    fraudster = models.OneToOneField(Fraudster, on_delete=models.CASCADE, related_name="voiceprint")
    voiceprint_id = models.CharField(max_length=22, unique=True, default=new_id, editable=False)
    packed_sealed = models.BinaryField(default=b"", editable=False)
    packed = SealedBytes("packed_sealed", record_id="voiceprint_id")
    sealed_with = models.PositiveIntegerField(default=1, editable=False)
    model_name = models.CharField(max_length=64, editable=False)
    speech_seconds = models.FloatField(editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        indexes = [models.Index(fields=["domain", "sealed_with"], name="fraudster_vp_sealed_with")]

    def __str__(self) -> str:
        return f"voiceprint of {self.fraudster_id}"

    @property
    def sealing_domain(self) -> Domain:
        return self.domain
