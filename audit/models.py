"""AuditEvent: one row per action that read or changed biometric data. Rows are only ever inserted."""

from __future__ import annotations

from typing import Any, NoReturn

from django.db import models
from django.utils import timezone


class AppendOnly(Exception):
    """Raised by any attempt to change or remove an audit event outside the retention sweep."""


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    def update(self, **kwargs: Any) -> NoReturn:
        raise AppendOnly("Audit events are append-only: they cannot be updated.")

    def delete(self) -> NoReturn:
        raise AppendOnly("Audit events are append-only: only the retention sweep removes them.")

    def purge(self, *, primary_keys: list[int]) -> int:
        """The single delete path: the retention sweep (audit.services) removes expired rows by key."""
        deleted, _ = models.QuerySet.delete(self.model.objects.filter(pk__in=primary_keys))
        return deleted


class AuditEvent(models.Model):
    """Who did what to which resource, when, from where, and how it ended.

    The domain is kept as its DomainId string, not a foreign key: events must outlive the domain they
    concern (a domain is erased 30 days after DeleteDomain), and no cascade may ever alter the log.
    Customer speaker ids are personal data and never stored in clear: `customer_id_digest` is the domain's
    keyed digest of one (the same HMAC speakers are looked up by), so a search by customer id still finds it.
    """

    class Channel(models.TextChoices):
        API = "API", "API"
        DASHBOARD = "DASHBOARD", "Dashboard"
        ADMIN = "ADMIN", "Admin"

    at = models.DateTimeField(default=timezone.now, db_index=True, editable=False)
    actor = models.CharField(max_length=150, db_index=True, editable=False)  # the username
    access_key_id = models.CharField("access key id", max_length=32, blank=True, editable=False)
    channel = models.CharField(max_length=10, choices=Channel.choices, editable=False)
    action = models.CharField(max_length=100, editable=False)
    domain_id = models.CharField("domain id", max_length=22, blank=True, db_index=True, editable=False)
    resource_type = models.CharField(max_length=20, blank=True, editable=False)
    resource_id = models.CharField("resource id", max_length=64, blank=True, db_index=True, editable=False)
    # The speaker an action concerned when the resource is something else (a session's speaker).
    speaker_id = models.CharField("speaker id", max_length=25, blank=True, db_index=True, editable=False)
    customer_id_digest = models.BinaryField(max_length=32, null=True, db_index=True, editable=False)
    source_ip = models.GenericIPAddressField("source IP", null=True, editable=False)
    status = models.PositiveSmallIntegerField(editable=False)  # the HTTP status the request got
    error_code = models.CharField(max_length=64, blank=True, editable=False)
    request_id = models.CharField("request id", max_length=36, blank=True, editable=False)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-pk"]
        verbose_name = "audit event"

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor} {self.action}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnly("Audit events are append-only: they cannot be changed once recorded.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnly("Audit events are append-only: only the retention sweep removes them.")

    @property
    def outcome(self) -> str:
        return f"{self.status} {self.error_code}".strip()
