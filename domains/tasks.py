"""Celery tasks of the domains app: thin wrappers around domains.rotation."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from domains import rotation
from voiceid_site.exceptions import ServiceError

# Voice ID's own schedule (spec §6): the first attempt, a retry after 5 minutes, a last one after 15.
RETRY_DELAYS_SECONDS = (5 * 60, 15 * 60)


@shared_task(
    bind=True,
    name="domains.reencrypt_domain",
    max_retries=len(RETRY_DELAYS_SECONDS),
    acks_late=True,
    reject_on_worker_lost=True,
)
def reencrypt_domain(self: Any, domain_pk: int) -> str:
    attempt = self.request.retries
    try:
        return rotation.reencrypt(domain_pk, final_attempt=attempt >= len(RETRY_DELAYS_SECONDS))
    except ServiceError as error:
        raise self.retry(exc=error, countdown=RETRY_DELAYS_SECONDS[attempt]) from None


@shared_task(name="domains.resume_stalled_rotations")
def resume_stalled_rotations() -> list[int]:
    return rotation.resume_stalled()
