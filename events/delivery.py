"""Sending deliveries: claim, POST, record the outcome; retry with backoff; prune old events.

Delivery is at least once. A claim (a conditional UPDATE that moves `next_attempt_at` past the attempt)
stops two workers from sending the same delivery at once, but a worker that dies after the receiver
answered and before the outcome is written leaves the delivery to be sent again. Receivers de-duplicate
on the envelope's `id`.

Settings (all optional): VOICEID_EVENT_MAX_ATTEMPTS (12), VOICEID_EVENT_RETRY_BASE_SECONDS (30, doubled
after each failure), VOICEID_EVENT_RETRY_MAX_SECONDS (3600), VOICEID_EVENT_TIMEOUT_SECONDS (10),
VOICEID_EVENT_RETENTION_DAYS (30).
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidTag
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from events import selectors, webhooks
from events.models import SOURCE, Delivery, Event, WebhookSubscription
from events.services import enqueue_deliveries, event_time

logger = logging.getLogger(__name__)

# A claim outlives the `events.deliver` task's hard time limit (events/tasks.py), so an attempt still
# running always holds its claim; a worker that died lets the delivery go again after this long.
CLAIM_SECONDS = 120
# Rows handled per query: bounds memory and the length of each transaction.
BATCH_SIZE = 500
# Pruning runs with every `events.deliver_due`: a backlog is worked off over several runs, not in one.
PRUNE_BATCHES_PER_RUN = 20
TEST_DETAIL_TYPE = "VoiceId Webhook Test"
# The region a test event names when its subscription is not tied to a domain.
TEST_REGION = "us-east-1"
_LAST_ERROR_CHARS = 1000


def _setting(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


def max_attempts() -> int:
    return int(_setting("VOICEID_EVENT_MAX_ATTEMPTS", 12))


def timeout_seconds() -> float:
    return float(_setting("VOICEID_EVENT_TIMEOUT_SECONDS", 10))


def retention() -> timedelta:
    return timedelta(days=int(_setting("VOICEID_EVENT_RETENTION_DAYS", 30)))


def retry_delay(attempt: int) -> timedelta:
    """How long to wait after failed attempt number `attempt` (1-based): doubling, then capped."""
    base = float(_setting("VOICEID_EVENT_RETRY_BASE_SECONDS", 30))
    cap = float(_setting("VOICEID_EVENT_RETRY_MAX_SECONDS", 60 * 60))
    return timedelta(seconds=min(base * 2 ** max(attempt - 1, 0), cap))


def _send(
    *, subscription: WebhookSubscription, envelope: dict[str, Any], attempt: int
) -> webhooks.PostResult:
    try:
        secret = selectors.subscription_secret(subscription)
    except InvalidTag:
        return webhooks.PostResult(
            delivered=False,
            status_code=None,
            error="The signing secret cannot be opened (was SECRET_KEY changed?): rotate it in the admin.",
        )
    body = webhooks.envelope_body(envelope)
    headers = webhooks.request_headers(
        event_id=str(envelope["id"]), attempt=attempt, timestamp=int(time.time()), secret=secret, body=body
    )
    return webhooks.post(url=subscription.url, body=body, headers=headers, timeout=timeout_seconds())


def delivery_attempt(*, delivery_pk: int, now: datetime | None = None) -> Delivery | None:
    """Send one PENDING, due delivery once and record the outcome; None when it is not this call's to send.

    Safe to call twice at once: only the call whose claim succeeds sends.
    """
    now = now or timezone.now()
    delivery = Delivery.objects.select_related("event", "subscription").filter(pk=delivery_pk).first()
    if delivery is None or not delivery.subscription.enabled:
        return None  # gone (pruned, unsubscribed), or paused until its subscription is enabled again
    # The claim's conditions are on the row itself, not behind a join: PostgreSQL re-checks them against
    # a row another transaction just claimed, so of two racing claims exactly one updates a row.
    claimed = Delivery.objects.filter(
        pk=delivery_pk, status=Delivery.Status.PENDING, next_attempt_at__lte=now
    ).update(
        next_attempt_at=now + timedelta(seconds=CLAIM_SECONDS),
        attempts=F("attempts") + 1,
        last_attempt_at=now,
    )
    if not claimed:
        return None
    attempt = Delivery.objects.values_list("attempts", flat=True).get(pk=delivery_pk)
    result = _send(subscription=delivery.subscription, envelope=delivery.event.envelope, attempt=attempt)
    _record(delivery_pk=delivery_pk, attempt=attempt, result=result, now=now)
    return Delivery.objects.get(pk=delivery_pk)


def _record(*, delivery_pk: int, attempt: int, result: webhooks.PostResult, now: datetime) -> None:
    # Only while the claim is still this attempt's: a retry started from the admin meanwhile wins.
    mine = Delivery.objects.filter(pk=delivery_pk, status=Delivery.Status.PENDING, attempts=attempt)
    outcome: dict[str, Any] = {
        "last_status_code": result.status_code,
        "last_error": result.error[:_LAST_ERROR_CHARS],
    }
    if result.delivered:
        mine.update(status=Delivery.Status.DELIVERED, delivered_at=now, next_attempt_at=None, **outcome)
    elif attempt >= max_attempts():
        mine.update(status=Delivery.Status.FAILED, next_attempt_at=None, **outcome)
        logger.warning("event delivery %s gave up after %s attempts: %s", delivery_pk, attempt, result.error)
    else:
        mine.update(next_attempt_at=now + retry_delay(attempt), **outcome)
        logger.info("event delivery %s attempt %s failed: %s", delivery_pk, attempt, result.error)


def deliveries_dispatch_due(*, now: datetime | None = None) -> int:
    """Queue an `events.deliver` task for each due delivery (at most BATCH_SIZE a run); return how many.

    A delivery queued twice (the queue was slow and the next run saw it still due) is sent once: the
    second task finds it claimed or finished.
    """
    return enqueue_deliveries(selectors.deliveries_due(now=now or timezone.now(), limit=BATCH_SIZE))


def deliveries_send_due(*, now: datetime | None = None, limit: int = BATCH_SIZE) -> list[Delivery]:
    """Send due deliveries here, one after the other, without Celery (`manage.py events --deliver-due`)."""
    sent = []
    for delivery_pk in selectors.deliveries_due(now=now or timezone.now(), limit=limit):
        delivery = delivery_attempt(delivery_pk=delivery_pk, now=now)
        if delivery is not None:
            sent.append(delivery)
    return sent


def events_prune(*, now: datetime | None = None) -> int:
    """Delete events older than the retention period whose deliveries are all done; return how many.

    An event still PENDING for some subscription (one that is disabled, say) stays until that delivery
    ends or its subscription is deleted.
    """
    cutoff = (now or timezone.now()) - retention()
    deleted = 0
    for _batch in range(PRUNE_BATCHES_PER_RUN):
        old = Event.objects.filter(time__lt=cutoff).exclude(deliveries__status=Delivery.Status.PENDING)
        ids = list(old.order_by("pk").values_list("pk", flat=True)[:BATCH_SIZE])
        if not ids:
            break
        with transaction.atomic():
            Delivery.objects.filter(event_id__in=ids).delete()
            deleted += Event.objects.filter(pk__in=ids).delete()[1].get(Event._meta.label, 0)
    return deleted


def subscription_send_test(*, subscription: WebhookSubscription) -> webhooks.PostResult:
    """POST a test event to the subscription now, signed like any other; it is not recorded or retried."""
    domain = subscription.domain
    detail: dict[str, Any] = {
        "action": "WEBHOOK_TEST",
        "status": "SUCCESS",
        "subscriptionId": subscription.subscription_id,
        "message": f"A test event for the voiceid webhook subscription “{subscription.name}”.",
    }
    if domain is not None:
        detail["domainId"] = domain.domain_id
    envelope = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": TEST_DETAIL_TYPE,
        "source": SOURCE,
        "account": settings.VOICEID_ACCOUNT_ID,
        "time": event_time(timezone.now()),
        "region": domain.region if domain is not None else TEST_REGION,
        "resources": [domain.arn] if domain is not None else [],
        "detail": detail,
    }
    return _send(subscription=subscription, envelope=envelope, attempt=1)
