from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class AccessKey(models.Model):
    """An API credential pair. The secret is sealed (AES-GCM) because SigV4 verification needs it back."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="access_keys")
    access_key_id = models.CharField("access key id", max_length=32, unique=True, editable=False)
    sealed_secret = models.BinaryField(editable=False)
    description = models.CharField(max_length=200, blank=True)
    is_active = models.BooleanField("active", default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.access_key_id

    @property
    def is_usable(self) -> bool:
        return self.is_active and self.user.is_active
