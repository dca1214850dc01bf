"""Celery task of the audit log's retention sweep (beat runs it daily: CELERY_BEAT_SCHEDULE in settings)."""

from __future__ import annotations

from celery import shared_task


@shared_task(
    name="audit.purge_expired", acks_late=True, ignore_result=True, soft_time_limit=3600, time_limit=3900
)
def purge_expired() -> None:
    from audit import services

    services.audit_events_purge_expired()
