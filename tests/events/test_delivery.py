"""Deliveries against a real HTTP receiver on 127.0.0.1: signature, retries, giving up, claims, retention."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from events import delivery, services, tasks, webhooks
from events.models import Delivery, DetailType, Event, WebhookSubscription
from tests.conftest import racing_writers
from tests.events.conftest import make_domain
from tests.events.receiver import Answer, Receiver

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_retries(settings: Any) -> None:
    settings.VOICEID_EVENT_RETRY_BASE_SECONDS = 30
    settings.VOICEID_EVENT_RETRY_MAX_SECONDS = 3600
    settings.VOICEID_EVENT_MAX_ATTEMPTS = 12
    settings.VOICEID_EVENT_TIMEOUT_SECONDS = 5


def subscribe(url: str, **options: Any) -> tuple[WebhookSubscription, str]:
    return services.subscription_create(name=options.pop("name", "hook"), url=url, **options)


def pending_delivery(url: str, **options: Any) -> tuple[Delivery, str]:
    """A recorded event with one PENDING delivery to `url`; nothing sent yet (on_commit never runs here)."""
    domain = make_domain()
    # Scoped to its own domain, so that each call's event goes to its own subscription only.
    _subscription, secret = subscribe(url, domain=domain, **options)
    event = services.event_record(
        domain=domain,
        detail_type=DetailType.SPEAKER,
        detail={"action": "ENROLL", "status": "SUCCESS", "generatedSpeakerId": "id#Aa1Bb2Cc3Dd4Ee5Ff6Gg7H"},
    )
    return Delivery.objects.get(event=event), secret


def refused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_receiver_gets_the_envelope_signed_with_the_subscriptions_secret(receiver: Receiver) -> None:
    sent, secret = pending_delivery(receiver.url)

    done = delivery.delivery_attempt(delivery_pk=sent.pk)

    assert done is not None and done.status == Delivery.Status.DELIVERED
    assert done.attempts == 1 and done.last_status_code == 200 and done.last_error == ""
    assert done.delivered_at is not None and done.next_attempt_at is None
    [received] = receiver.received
    assert received.path == "/hooks/voiceid"
    assert json.loads(received.body) == sent.event.envelope
    headers = received.headers
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Voiceid-Event-Id"] == str(sent.event.event_id)
    assert headers["X-Voiceid-Delivery-Attempt"] == "1"
    timestamp = int(headers["X-Voiceid-Timestamp"])
    assert abs(time.time() - timestamp) < 60
    # What a receiver computes, written out here independently of events.webhooks.
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + received.body, hashlib.sha256).hexdigest()
    assert headers["X-Voiceid-Signature"] == f"v1={expected}"
    assert webhooks.signature_is_valid(
        secret=secret,
        timestamp_header=headers["X-Voiceid-Timestamp"],
        signature_header=headers["X-Voiceid-Signature"],
        body=received.body,
    )


def test_a_receiver_refuses_a_forged_altered_or_replayed_request(receiver: Receiver) -> None:
    sent, secret = pending_delivery(receiver.url)
    delivery.delivery_attempt(delivery_pk=sent.pk)
    [received] = receiver.received
    stamp, signature = received.headers["X-Voiceid-Timestamp"], received.headers["X-Voiceid-Signature"]

    def valid(**changes: Any) -> bool:
        arguments = {
            "secret": secret,
            "timestamp_header": stamp,
            "signature_header": signature,
            "body": received.body,
            **changes,
        }
        return webhooks.signature_is_valid(**arguments)

    assert valid()
    assert not valid(secret="whsec_guessed")
    assert not valid(body=received.body.replace(b"ENROLL", b"OPT_OUT"))
    assert not valid(timestamp_header=str(int(stamp) + 1))
    assert not valid(now=int(stamp) + 10 * 60)  # the same request replayed ten minutes later


def test_it_retries_a_500_with_backoff_then_delivers(receiver: Receiver) -> None:
    receiver.answer(500, Answer(status=503, body=b"maintenance"))
    sent, _ = pending_delivery(receiver.url)
    start = timezone.now()

    first = delivery.delivery_attempt(delivery_pk=sent.pk, now=start)
    too_early = delivery.delivery_attempt(delivery_pk=sent.pk, now=start + timedelta(seconds=29))
    second = delivery.delivery_attempt(delivery_pk=sent.pk, now=start + timedelta(seconds=30))
    third = delivery.delivery_attempt(delivery_pk=sent.pk, now=start + timedelta(seconds=90))

    assert first is not None and first.status == Delivery.Status.PENDING
    assert first.last_status_code == 500 and first.last_error.startswith("HTTP 500")
    assert first.next_attempt_at == start + timedelta(seconds=30)
    assert too_early is None
    assert second is not None and second.status == Delivery.Status.PENDING
    assert second.last_error == "HTTP 503: maintenance"
    assert second.next_attempt_at == start + timedelta(seconds=30 + 60)  # doubled
    assert third is not None and third.status == Delivery.Status.DELIVERED and third.attempts == 3
    assert [r.headers["X-Voiceid-Delivery-Attempt"] for r in receiver.received] == ["1", "2", "3"]
    # Every attempt carries the same event, byte for byte; receivers de-duplicate on its id.
    assert len({r.body for r in receiver.received}) == 1
    assert len({r.headers["X-Voiceid-Event-Id"] for r in receiver.received}) == 1


def test_the_backoff_doubles_up_to_its_cap() -> None:
    delays = [delivery.retry_delay(attempt).total_seconds() for attempt in range(1, 13)]

    assert delays == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600, 3600, 3600, 3600]


def test_it_gives_up_after_the_maximum_attempts(receiver: Receiver, settings: Any) -> None:
    settings.VOICEID_EVENT_MAX_ATTEMPTS = 3
    receiver.default = Answer(status=500)
    sent, _ = pending_delivery(receiver.url)
    moment = timezone.now()

    outcomes = []
    for _ in range(3):
        outcomes.append(delivery.delivery_attempt(delivery_pk=sent.pk, now=moment))
        moment += timedelta(hours=1)
    after_giving_up = delivery.delivery_attempt(delivery_pk=sent.pk, now=moment + timedelta(days=1))

    assert [o.status for o in outcomes if o] == ["PENDING", "PENDING", "FAILED"]
    failed = Delivery.objects.get(pk=sent.pk)
    assert failed.attempts == 3 and failed.next_attempt_at is None and failed.last_status_code == 500
    assert after_giving_up is None
    assert len(receiver.received) == 3
    assert delivery.deliveries_send_due(now=moment + timedelta(days=1)) == []


def test_a_refused_connection_and_a_timeout_are_failed_attempts(receiver: Receiver, settings: Any) -> None:
    settings.VOICEID_EVENT_TIMEOUT_SECONDS = 0.3
    refused, _ = pending_delivery(f"http://127.0.0.1:{refused_port()}/hook", name="nobody listens")
    receiver.answer(Answer(delay=1.0))
    slow, _ = pending_delivery(receiver.url, name="slow")

    after_refusal = delivery.delivery_attempt(delivery_pk=refused.pk)
    after_timeout = delivery.delivery_attempt(delivery_pk=slow.pk)

    assert after_refusal is not None and after_refusal.status == Delivery.Status.PENDING
    assert after_refusal.last_status_code is None and "refused" in after_refusal.last_error.lower()
    assert after_timeout is not None and after_timeout.status == Delivery.Status.PENDING
    assert "timed out" in after_timeout.last_error.lower()
    assert after_timeout.next_attempt_at is not None


def test_a_redirect_is_not_followed(receiver: Receiver) -> None:
    receiver.answer(Answer(status=302, headers={"Location": "/elsewhere"}))
    sent, _ = pending_delivery(receiver.url)

    done = delivery.delivery_attempt(delivery_pk=sent.pk)

    assert done is not None and done.status == Delivery.Status.PENDING
    assert done.last_status_code == 302
    assert "redirects are not followed: /elsewhere" in done.last_error
    assert [r.body for r in receiver.received] == [receiver.received[0].body]  # no GET to /elsewhere


def test_a_second_run_during_the_first_ones_post_does_not_send_again(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent, _ = pending_delivery(receiver.url)
    real_post = webhooks.post
    overlapping: list[Any] = []

    def post_while_another_worker_tries(**kwargs: Any) -> webhooks.PostResult:
        overlapping.append(delivery.delivery_attempt(delivery_pk=sent.pk))
        overlapping.append(
            delivery.delivery_attempt(delivery_pk=sent.pk, now=timezone.now() + timedelta(seconds=60))
        )
        return real_post(**kwargs)

    monkeypatch.setattr(webhooks, "post", post_while_another_worker_tries)

    done = delivery.delivery_attempt(delivery_pk=sent.pk)

    assert overlapping == [None, None]
    assert done is not None and done.status == Delivery.Status.DELIVERED and done.attempts == 1
    assert len(receiver.received) == 1


@pytest.mark.django_db(transaction=True)
@racing_writers
def test_two_workers_racing_for_one_delivery_send_it_once(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver.default = Answer(delay=0.3)
    # This test's transactions really commit: keep the eager on-commit delivery out of the race.
    monkeypatch.setattr(tasks.deliver, "delay", lambda delivery_pk: None)
    sent, _ = pending_delivery(receiver.url)
    start = threading.Barrier(2)
    outcomes: list[Any] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            start.wait()
            outcomes.append(delivery.delivery_attempt(delivery_pk=sent.pk))
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert len(receiver.received) == 1
    assert sorted(outcome is None for outcome in outcomes) == [False, True]
    assert Delivery.objects.get(pk=sent.pk).attempts == 1


def test_a_disabled_subscription_waits_and_resumes_when_enabled(receiver: Receiver) -> None:
    sent, _ = pending_delivery(receiver.url)
    services.subscription_set_enabled(subscription=sent.subscription, enabled=False)
    later = timezone.now() + timedelta(minutes=5)

    while_disabled = delivery.deliveries_send_due(now=later)
    direct = delivery.delivery_attempt(delivery_pk=sent.pk, now=later)
    new_event = services.event_record(domain=sent.event.domain, detail_type=DetailType.SPEAKER, detail={})
    services.subscription_set_enabled(subscription=sent.subscription, enabled=True)
    after_enabling = delivery.deliveries_send_due(now=later)

    assert while_disabled == [] and direct is None
    assert not Delivery.objects.filter(event=new_event).exists()  # recorded while disabled: not queued
    assert [d.pk for d in after_enabling] == [sent.pk]
    assert Delivery.objects.get(pk=sent.pk).status == Delivery.Status.DELIVERED
    assert len(receiver.received) == 1


def test_deliver_due_sends_every_due_delivery_and_leaves_the_rest(receiver: Receiver) -> None:
    due, _ = pending_delivery(receiver.url, name="due")
    waiting, _ = pending_delivery(receiver.url, name="waiting")
    Delivery.objects.filter(pk=waiting.pk).update(next_attempt_at=timezone.now() + timedelta(minutes=10))

    tasks.deliver_due.delay()

    assert Delivery.objects.get(pk=due.pk).status == Delivery.Status.DELIVERED
    assert Delivery.objects.get(pk=waiting.pk).status == Delivery.Status.PENDING
    assert [r.headers["X-Voiceid-Event-Id"] for r in receiver.received] == [str(due.event.event_id)]


def test_a_secret_that_no_longer_opens_is_a_failed_attempt_that_names_the_fix(
    receiver: Receiver, settings: Any
) -> None:
    sent, _ = pending_delivery(receiver.url)
    settings.SECRET_KEY = "a-rotated-secret-key-that-is-long-enough-0123456789"

    done = delivery.delivery_attempt(delivery_pk=sent.pk)

    assert done is not None and done.status == Delivery.Status.PENDING
    assert "rotate it in the admin" in done.last_error
    assert receiver.received == []


def test_the_test_event_is_signed_and_not_recorded(receiver: Receiver) -> None:
    domain = make_domain()
    subscription, secret = subscribe(receiver.url, domain=domain)

    result = delivery.subscription_send_test(subscription=subscription)

    assert result.delivered and result.status_code == 200
    [received] = receiver.received
    body = json.loads(received.body)
    assert body["detail-type"] == delivery.TEST_DETAIL_TYPE
    assert body["detail"]["subscriptionId"] == subscription.subscription_id
    assert body["region"] == domain.region and body["resources"] == [domain.arn]
    assert webhooks.signature_is_valid(
        secret=secret,
        timestamp_header=received.headers["X-Voiceid-Timestamp"],
        signature_header=received.headers["X-Voiceid-Signature"],
        body=received.body,
    )
    assert not Event.objects.exists()


# Retention.


def test_old_events_go_once_their_deliveries_are_done(settings: Any) -> None:
    settings.VOICEID_EVENT_RETENTION_DAYS = 30
    now = timezone.now()
    subscription, _ = subscribe("https://a.example/hook")
    domain = make_domain()

    def event_aged(days: int, status: str) -> Event:
        event = services.event_record(domain=domain, detail_type=DetailType.SPEAKER, detail={"age": days})
        Event.objects.filter(pk=event.pk).update(time=now - timedelta(days=days))
        Delivery.objects.filter(event=event).update(status=status)
        return event

    old_delivered = event_aged(31, Delivery.Status.DELIVERED)
    old_failed = event_aged(45, Delivery.Status.FAILED)
    old_pending = event_aged(31, Delivery.Status.PENDING)
    young = event_aged(29, Delivery.Status.DELIVERED)
    unsubscribed = services.event_record(domain=domain, detail_type=DetailType.FRAUDSTER, detail={})
    Event.objects.filter(pk=unsubscribed.pk).update(time=now - timedelta(days=60))
    Delivery.objects.filter(event=unsubscribed).delete()

    pruned = delivery.events_prune(now=now)

    assert pruned == 3
    assert set(Event.objects.all()) == {old_pending, young}
    assert not Delivery.objects.filter(event_id__in=[old_delivered.pk, old_failed.pk]).exists()
    assert subscription.deliveries.count() == 2
    assert delivery.events_prune(now=now) == 0


def test_the_periodic_task_prunes_too(settings: Any) -> None:
    settings.VOICEID_EVENT_RETENTION_DAYS = 1
    event = services.event_record(domain=make_domain(), detail_type=DetailType.SPEAKER, detail={})
    Event.objects.filter(pk=event.pk).update(time=timezone.now() - timedelta(days=2))

    tasks.deliver_due.delay()

    assert not Event.objects.exists()
