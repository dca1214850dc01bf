"""The audit app: an append-only log of actions on biometric data (docs/audit.md)."""

from __future__ import annotations

from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit log"
