"""Reads of events, webhook subscriptions and deliveries."""

from __future__ import annotations

import uuid
from datetime import datetime

from django.db.models import Q, QuerySet

from domains.models import Domain
from events.models import Delivery, Event, WebhookSubscription
from voiceid_site import secretbox

SECRET_PURPOSE = b"voiceid.webhook-secret"


def subscription_secret(subscription: WebhookSubscription) -> str:
    """The signing secret. Raises cryptography's InvalidTag when SECRET_KEY changed since it was sealed."""
    return secretbox.open_sealed(
        bytes(subscription.sealed_secret), purpose=SECRET_PURPOSE, bound_to=subscription.subscription_id
    )


def subscriptions_matching(*, domain: Domain, detail_type: str) -> list[WebhookSubscription]:
    """The enabled subscriptions an event of `domain` with `detail_type` goes to."""
    # Subscriptions are few: filtering the detail-type list here keeps the query portable (SQLite has no
    # JSON containment lookup).
    candidates = WebhookSubscription.objects.filter(Q(domain__isnull=True) | Q(domain=domain), enabled=True)
    return [
        subscription
        for subscription in candidates.order_by("pk")
        if subscription.matches(domain=domain, detail_type=detail_type)
    ]


def deliveries_due(*, now: datetime, limit: int) -> list[int]:
    """Primary keys of PENDING deliveries whose time has come, to enabled subscriptions, oldest first."""
    due = Delivery.objects.filter(
        status=Delivery.Status.PENDING, next_attempt_at__lte=now, subscription__enabled=True
    )
    return list(due.order_by("next_attempt_at", "pk").values_list("pk", flat=True)[:limit])


def events_after(
    *, after: uuid.UUID | None, limit: int, detail_type: str = "", domain_id: str = ""
) -> list[Event]:
    """Events in the order they were recorded: the `limit` after the event `after`, else the latest `limit`.

    Raises Event.DoesNotExist when `after` names no event (pruned, or never recorded).
    """
    events: QuerySet[Event] = Event.objects.all()
    if detail_type:
        events = events.filter(detail_type=detail_type)
    if domain_id:
        events = events.filter(domain__domain_id=domain_id)
    if after is not None:
        after_pk = Event.objects.values_list("pk", flat=True).get(event_id=after)
        return list(events.filter(pk__gt=after_pk).order_by("pk")[:limit])
    latest = list(events.order_by("-pk")[:limit])
    return latest[::-1]
