"""Celery tasks of call sessions: thin wrappers around calls.enrollment and calls.services."""

from __future__ import annotations

from celery import shared_task

from calls import enrollment, services


@shared_task(name="calls.enroll_session", acks_late=True)
def enroll_session(session_pk: int) -> str:
    return enrollment.session_enrollment_complete(session_pk=session_pk)


@shared_task(name="calls.end_idle_sessions")
def end_idle_sessions() -> int:
    return services.sessions_end_idle()
