"""Celery tasks of call sessions: thin wrappers around calls.enrollment."""

from __future__ import annotations

from celery import shared_task

from calls import enrollment


@shared_task(name="calls.enroll_session", acks_late=True)
def enroll_session(session_pk: int) -> str:
    return enrollment.session_enrollment_complete(session_pk=session_pk)
