"""Recording events (the outbox) and managing webhook subscriptions and their deliveries."""

from __future__ import annotations

import json
import logging
import secrets
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.utils import timezone

from domains.models import Domain
from events import selectors
from events.models import SOURCE, Delivery, DetailType, Event, WebhookSubscription
from voiceid_site import secretbox
from voiceid_site.exceptions import Conflict, ValidationError

logger = logging.getLogger(__name__)

SUBSCRIPTION_URL_INVALID = "The URL must be an absolute http:// or https:// URL."
SUBSCRIPTION_NAME_REQUIRED = "A subscription needs a name."
SUBSCRIPTION_DETAIL_TYPE_UNKNOWN = "Unknown detail-type {detail_type!r}: choose among {known}."
DELIVERY_NOT_FAILED = "Only a delivery that gave up (FAILED) can be retried; this one is {status}."
DELIVERY_SUBSCRIPTION_DISABLED = "The subscription “{subscription}” is disabled: enable it first."

# Keys that would carry a customer's own identifier. Events carry generated ids only (see events.models).
_FORBIDDEN_DETAIL_KEYS = frozenset({"customerSpeakerId", "CustomerSpeakerId"})
_SECRET_PREFIX = "whsec_"


def event_time(moment: datetime) -> str:
    """EventBridge's `time`: ISO 8601 in UTC to the second, with a Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _refuse_customer_ids(value: Any, path: str = "detail") -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if key in _FORBIDDEN_DETAIL_KEYS:
                raise ValueError(f"{path}.{key}: events carry generated ids only, never a customer's id.")
            _refuse_customer_ids(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _refuse_customer_ids(item, f"{path}[{index}]")


@transaction.atomic
def event_record(
    *, domain: Domain, detail_type: str, detail: dict[str, Any], resources: Sequence[str] = ()
) -> Event:
    """Record a Voice ID event in the caller's transaction and queue it for each matching subscription.

    The event and its deliveries commit or roll back with the work they describe (the outbox pattern);
    deliveries are queued only once that transaction commits. `detail` must be JSON-serialisable
    (timestamps as ISO strings); `domainId` is filled in when missing. `resources` follow the domain's
    ARN, which every event lists first. Mistakes in these arguments are programming errors: ValueError.
    """
    if detail_type not in DetailType.values:
        raise ValueError(
            f"Unknown detail-type {detail_type!r}; Voice ID's are listed in events.models.DetailType."
        )
    try:
        # A round trip through JSON copies the caller's dict and turns tuples into lists, as stored.
        detail = json.loads(json.dumps(detail, allow_nan=False))
    except (TypeError, ValueError) as error:
        raise ValueError(f"The detail of a {detail_type} event is not JSON-serialisable: {error}") from error
    if detail.setdefault("domainId", domain.domain_id) != domain.domain_id:
        raise ValueError(
            f"detail.domainId {detail['domainId']!r} is not the event's domain {domain.domain_id}."
        )
    _refuse_customer_ids(detail)
    now = timezone.now()
    event_id = uuid.uuid4()
    envelope = {
        "version": "0",
        "id": str(event_id),
        "detail-type": detail_type,
        "source": SOURCE,
        "account": settings.VOICEID_ACCOUNT_ID,
        "time": event_time(now),
        "region": domain.region,
        "resources": [domain.arn, *dict.fromkeys(arn for arn in resources if arn != domain.arn)],
        "detail": detail,
    }
    event = Event.objects.create(
        event_id=event_id, domain=domain, detail_type=detail_type, time=now, envelope=envelope
    )
    subscriptions = selectors.subscriptions_matching(domain=domain, detail_type=detail_type)
    deliveries = [
        Delivery.objects.create(event=event, subscription=subscription, next_attempt_at=now)
        for subscription in subscriptions
    ]
    _enqueue_on_commit([delivery.pk for delivery in deliveries])
    return event


def _enqueue_on_commit(delivery_pks: list[int]) -> None:
    if delivery_pks:
        transaction.on_commit(lambda: enqueue_deliveries(delivery_pks))


def enqueue_deliveries(delivery_pks: Iterable[int]) -> int:
    """Queue one `events.deliver` task per delivery and return how many were queued.

    A broker that is down must not fail the work that recorded the event (it has committed by now): the
    rest waits in the outbox, and `events.deliver_due` sends it on its next run.
    """
    from events import tasks

    queued = 0
    for delivery_pk in delivery_pks:
        try:
            tasks.deliver.delay(delivery_pk)
        except Exception:
            # Each further try would wait out the broker's connection retries again: stop at the first.
            logger.warning(
                "could not queue event delivery %s; the periodic events.deliver_due will send it",
                delivery_pk,
                exc_info=True,
            )
            break
        queued += 1
    return queued


# Subscriptions.


def _new_secret() -> str:
    return _SECRET_PREFIX + secrets.token_urlsafe(32)


def _checked_subscription(*, name: str, url: str, detail_types: Iterable[str]) -> tuple[str, str, list[str]]:
    name = name.strip()
    if not name:
        raise ValidationError(SUBSCRIPTION_NAME_REQUIRED)
    url = url.strip()
    try:
        URLValidator(schemes=["http", "https"])(url)
    except DjangoValidationError:
        raise ValidationError(SUBSCRIPTION_URL_INVALID) from None
    chosen = list(dict.fromkeys(detail_types))
    for detail_type in chosen:
        if detail_type not in DetailType.values:
            known = ", ".join(DetailType.values)
            raise ValidationError(
                SUBSCRIPTION_DETAIL_TYPE_UNKNOWN.format(detail_type=detail_type, known=known)
            )
    return name, url, chosen


@transaction.atomic
def subscription_create(
    *,
    name: str,
    url: str,
    detail_types: Iterable[str] = (),
    domain: Domain | None = None,
    enabled: bool = True,
) -> tuple[WebhookSubscription, str]:
    """A new subscription and its signing secret. The secret is returned once; it is not shown again."""
    name, url, chosen = _checked_subscription(name=name, url=url, detail_types=detail_types)
    subscription = WebhookSubscription(
        name=name, url=url, detail_types=chosen, domain=domain, enabled=enabled
    )
    secret = _new_secret()
    subscription.sealed_secret = secretbox.seal(
        secret, purpose=selectors.SECRET_PURPOSE, bound_to=subscription.subscription_id
    )
    subscription.save()
    return subscription, secret


@transaction.atomic
def subscription_update(
    *,
    subscription: WebhookSubscription,
    name: str,
    url: str,
    detail_types: Iterable[str],
    domain: Domain | None,
) -> WebhookSubscription:
    """Change where and what a subscription sends; deliveries already queued keep their event."""
    name, url, chosen = _checked_subscription(name=name, url=url, detail_types=detail_types)
    subscription.name, subscription.url, subscription.detail_types = name, url, chosen
    subscription.domain = domain
    subscription.save(update_fields=["name", "url", "detail_types", "domain"])
    return subscription


def subscription_set_enabled(*, subscription: WebhookSubscription, enabled: bool) -> WebhookSubscription:
    """Pause or resume a subscription.

    While disabled it gets no new events, and its pending deliveries wait; enabling it again sends them.
    """
    WebhookSubscription.objects.filter(pk=subscription.pk).update(enabled=enabled)
    subscription.enabled = enabled
    return subscription


@transaction.atomic
def subscription_rotate_secret(*, subscription: WebhookSubscription) -> str:
    """Give the subscription a new signing secret (returned once); the old one stops at once."""
    secret = _new_secret()
    subscription.sealed_secret = secretbox.seal(
        secret, purpose=selectors.SECRET_PURPOSE, bound_to=subscription.subscription_id
    )
    subscription.save(update_fields=["sealed_secret"])
    return secret


def subscription_delete(*, subscription: WebhookSubscription) -> None:
    """Delete the subscription and its deliveries (the events stay for the other subscriptions)."""
    subscription.delete()


# Deliveries.


@transaction.atomic
def delivery_retry(*, delivery: Delivery) -> Delivery:
    """Send a delivery that gave up once more, now, with a fresh series of attempts."""
    delivery = Delivery.objects.select_for_update().select_related("subscription").get(pk=delivery.pk)
    if delivery.status != Delivery.Status.FAILED:
        raise Conflict(DELIVERY_NOT_FAILED.format(status=delivery.status))
    if not delivery.subscription.enabled:
        raise Conflict(DELIVERY_SUBSCRIPTION_DISABLED.format(subscription=delivery.subscription))
    delivery.status = Delivery.Status.PENDING
    delivery.attempts = 0
    delivery.next_attempt_at = timezone.now()
    delivery.save(update_fields=["status", "attempts", "next_attempt_at"])
    _enqueue_on_commit([delivery.pk])
    return delivery
