"""The events app: the outbox of Voice ID events and their signed webhook deliveries."""

from __future__ import annotations

from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "events"
    verbose_name = "Events"
