"""The event outbox, webhook subscriptions and one delivery per (event, subscription).

Events carry generated ids (domain, job, speaker, fraudster, watchlist ids), S3 URIs and configuration only:
never audio, voiceprints or customer speaker ids. `events.services.event_record` refuses a detail that
names a customer speaker id, so the table never needs the encryption that biometric data gets.
"""

from __future__ import annotations

import uuid

from django.core.validators import URLValidator
from django.db import models
from django.utils import timezone

from domains.models import Domain
from voiceid_site.ids import new_id

# The EventBridge `source` of every Voice ID event.
SOURCE = "aws.voiceid"


class DetailType(models.TextChoices):
    """Every detail-type Voice ID sent to EventBridge (spec §9), spelled as the EventBridge reference does."""

    START_SESSION = "VoiceId Start Session Action"
    UPDATE_SESSION = "VoiceId Update Session Action"
    EVALUATE_SESSION = "VoiceId Evaluate Session Action"
    SPEAKER = "VoiceId Speaker Action"
    FRAUDSTER = "VoiceId Fraudster Action"
    SESSION_SPEAKER_ENROLLMENT = "VoiceId Session Speaker Enrollment Action"
    # The admin guide prints "VoiceID Batch …"; EventBridge's own reference (and so rules) use "VoiceId".
    BATCH_SPEAKER_ENROLLMENT = "VoiceId Batch Speaker Enrollment Action"
    BATCH_FRAUDSTER_REGISTRATION = "VoiceId Batch Fraudster Registration Action"


class Event(models.Model):
    """One event, as EventBridge would have put it on the bus: `envelope` is the body each webhook gets.

    Erasing a domain (30 days after DeleteDomain) deletes its events and their deliveries with the rest of
    its rows: by then every delivery has long finished or given up.
    """

    event_id = models.UUIDField("event id", unique=True, default=uuid.uuid4, editable=False)
    domain = models.ForeignKey(Domain, on_delete=models.CASCADE, related_name="events")
    detail_type = models.CharField("detail-type", max_length=64, choices=DetailType.choices, db_index=True)
    time = models.DateTimeField(default=timezone.now, db_index=True, editable=False)
    envelope = models.JSONField(editable=False)

    class Meta:
        ordering = ["-pk"]

    def __str__(self) -> str:
        return f"{self.detail_type} {self.event_id}"


class WebhookSubscription(models.Model):
    """An HTTP(S) endpoint that receives the events it matches, signed with its own secret."""

    subscription_id = models.CharField(
        "subscription id", max_length=22, unique=True, default=new_id, editable=False
    )
    name = models.CharField(max_length=100)
    url = models.URLField("URL", max_length=2048, validators=[URLValidator(schemes=["http", "https"])])
    # Sealed with voiceid_site.secretbox (bound to subscription_id): deliveries need the secret back.
    sealed_secret = models.BinaryField(editable=False)
    enabled = models.BooleanField(default=True, editable=False)
    # Detail-types to send; empty sends every event.
    detail_types = models.JSONField("detail-types", default=list, blank=True)
    # Only this domain's events when set. Erasing the domain removes the subscription: turning it into an
    # all-domains one would send other domains' events to a receiver meant for one.
    domain = models.ForeignKey(
        Domain, on_delete=models.CASCADE, null=True, blank=True, related_name="webhook_subscriptions"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name", "pk"]
        verbose_name = "webhook subscription"

    def __str__(self) -> str:
        return self.name

    def matches(self, *, domain: Domain, detail_type: str) -> bool:
        return (
            self.enabled
            and (self.domain_id is None or self.domain_id == domain.pk)
            and (not self.detail_types or detail_type in self.detail_types)
        )


class Delivery(models.Model):
    """One event's way to one subscription: attempted until the receiver answers 2xx or attempts run out."""

    class Status(models.TextChoices):
        PENDING = "PENDING"
        DELIVERED = "DELIVERED"
        FAILED = "FAILED", "FAILED (gave up)"

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries")
    subscription = models.ForeignKey(WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    # When a PENDING delivery may next be sent. A worker claims it by moving this forward, so two workers
    # never send it at once; null once the delivery is DELIVERED or FAILED.
    next_attempt_at = models.DateTimeField(null=True, blank=True, default=timezone.now)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-pk"]
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(fields=["event", "subscription"], name="unique_delivery_per_subscription")
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="delivery_due")]

    def __str__(self) -> str:
        return f"{self.event} to {self.subscription}"
