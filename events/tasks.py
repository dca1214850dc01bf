"""Celery tasks of the events app: thin wrappers around events.delivery.

Both are safe to run twice or at once: a delivery is sent only by the call that claims it.
"""

from __future__ import annotations

from celery import shared_task


# The hard limit stays under events.delivery.CLAIM_SECONDS, so a running attempt never loses its claim.
@shared_task(name="events.deliver", acks_late=True, ignore_result=True, soft_time_limit=100, time_limit=110)
def deliver(delivery_pk: int) -> None:
    from events import delivery

    delivery.delivery_attempt(delivery_pk=delivery_pk)


# Beat runs this every 30 s (CELERY_BEAT_SCHEDULE "deliver-events"); a run that overlaps the next is harmless.
@shared_task(name="events.deliver_due", acks_late=True, ignore_result=True, soft_time_limit=50, time_limit=60)
def deliver_due() -> None:
    from events import delivery

    delivery.deliveries_dispatch_due()
    delivery.events_prune()
