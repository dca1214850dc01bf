"""event_record (the outbox) and the subscription services."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest
from django.db import transaction
from kombu.exceptions import OperationalError

from events import delivery, services, tasks, webhooks
from events.models import Delivery, DetailType, Event, WebhookSubscription
from events.selectors import subscription_secret
from tests.events.conftest import make_domain
from tests.events.receiver import Receiver
from voiceid_site.exceptions import Conflict, ValidationError

pytestmark = pytest.mark.django_db

BATCH = DetailType.BATCH_SPEAKER_ENROLLMENT
SPEAKER = DetailType.SPEAKER
JOB_DETAIL = {
    "sourceId": "Aa1Bb2Cc3Dd4Ee5Ff6Gg7H",
    "action": "BATCH_ENROLLMENT_REQUEST",
    "status": "SUCCESS",
    "batchJobId": "Aa1Bb2Cc3Dd4Ee5Ff6Gg7H",
    "data": {
        "dataAccessRoleArn": "arn:aws:iam::111122223333:role/voiceid",
        "enrollmentConfig": {
            "existingEnrollmentAction": "SKIP",
            "fraudDetectionConfig": {
                "fraudDetectionAction": "IGNORE",
                "riskThreshold": 50,
                "watchlistIds": [],
            },
        },
        "inputDataConfig": {"s3Uri": "s3://in/manifest.json"},
        "outputDataConfig": {"s3Uri": "s3://out/", "kmsKeyId": ""},
    },
}


def record(domain: Any, detail_type: str = BATCH, **detail: Any) -> Event:
    return services.event_record(domain=domain, detail_type=detail_type, detail=detail or dict(JOB_DETAIL))


def test_the_envelope_is_eventbridges_common_envelope(settings: Any) -> None:
    settings.VOICEID_ACCOUNT_ID = "111122223333"
    domain = make_domain(region="eu-west-2")
    detail = json.loads(json.dumps(JOB_DETAIL))

    event = services.event_record(
        domain=domain,
        detail_type=BATCH,
        detail=detail,
        resources=["arn:aws:voiceid:eu-west-2:111122223333:domain/x/job/y", domain.arn],
    )

    envelope = Event.objects.get(pk=event.pk).envelope
    assert list(json.loads(webhooks.envelope_body(envelope))) == [
        "version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail",
    ]  # fmt: skip
    assert envelope["version"] == "0"
    assert envelope["id"] == str(event.event_id) and uuid.UUID(envelope["id"]).version == 4
    assert envelope["detail-type"] == "VoiceId Batch Speaker Enrollment Action" == event.detail_type
    assert envelope["source"] == "aws.voiceid"
    assert envelope["account"] == "111122223333"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", envelope["time"])
    assert envelope["time"] == event.time.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert envelope["region"] == "eu-west-2"
    # The domain's ARN comes first, once; the caller's resources follow.
    assert domain.arn == f"arn:aws:voiceid:eu-west-2:111122223333:domain/{domain.domain_id}"
    assert envelope["resources"] == [domain.arn, "arn:aws:voiceid:eu-west-2:111122223333:domain/x/job/y"]
    assert envelope["detail"] == {**JOB_DETAIL, "domainId": domain.domain_id}
    assert detail == JOB_DETAIL  # the caller's dict is left alone


def test_it_fills_domain_id_and_keeps_a_matching_one() -> None:
    domain = make_domain()

    filled = record(domain, SPEAKER, action="ENROLL", generatedSpeakerId="id#Aa1Bb2Cc3Dd4Ee5Ff6Gg7H")
    kept = record(domain, SPEAKER, action="ENROLL", domainId=domain.domain_id)

    assert filled.envelope["detail"]["domainId"] == domain.domain_id
    assert kept.envelope["detail"]["domainId"] == domain.domain_id


@pytest.mark.parametrize(
    ("detail_type", "detail", "complaint"),
    [
        ("VoiceID Batch Speaker Enrollment Action", {}, "Unknown detail-type"),
        (SPEAKER, {"domainId": "SomeOtherDomainId00000"}, "is not the event's domain"),
        (SPEAKER, {"at": object()}, "not JSON-serialisable"),
        (SPEAKER, {"score": float("nan")}, "not JSON-serialisable"),
        (SPEAKER, {"data": [{"customerSpeakerId": "alice"}]}, "never a customer's id"),
    ],
)
def test_it_refuses_what_would_make_a_wrong_event(detail_type: str, detail: dict, complaint: str) -> None:
    domain = make_domain()

    with pytest.raises(ValueError, match=complaint):
        services.event_record(domain=domain, detail_type=detail_type, detail=detail)

    assert not Event.objects.exists()


def test_it_creates_a_pending_delivery_for_each_matching_subscription_only() -> None:
    domain, other = make_domain("one"), make_domain("two")
    everything, _ = services.subscription_create(name="all", url="https://a.example/hook")
    batch_only, _ = services.subscription_create(
        name="batch", url="https://b.example/hook", detail_types=[BATCH]
    )
    speaker_only, _ = services.subscription_create(
        name="speakers", url="https://c.example/hook", detail_types=[SPEAKER]
    )
    this_domain, _ = services.subscription_create(name="this", url="https://d.example/hook", domain=domain)
    other_domain, _ = services.subscription_create(name="other", url="https://e.example/hook", domain=other)
    paused, _ = services.subscription_create(name="paused", url="https://f.example/hook", enabled=False)

    event = record(domain)

    deliveries = Delivery.objects.filter(event=event)
    assert {d.subscription for d in deliveries} == {everything, batch_only, this_domain}
    assert {d.status for d in deliveries} == {Delivery.Status.PENDING}
    assert {d.attempts for d in deliveries} == {0}
    assert speaker_only not in {d.subscription for d in deliveries}
    assert other_domain not in {d.subscription for d in deliveries}
    assert paused not in {d.subscription for d in deliveries}


def test_a_rolled_back_caller_leaves_no_event_no_delivery_and_sends_nothing(
    receiver: Receiver, django_capture_on_commit_callbacks: Any
) -> None:
    domain = make_domain()
    services.subscription_create(name="hook", url=receiver.url)

    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        record(domain)
        raise RuntimeError("the job step failed")

    assert not Event.objects.exists()
    assert not Delivery.objects.exists()
    assert callbacks == []
    assert receiver.received == []


def test_the_delivery_is_sent_once_the_callers_transaction_commits(
    receiver: Receiver, django_capture_on_commit_callbacks: Any
) -> None:
    domain = make_domain()
    services.subscription_create(name="hook", url=receiver.url)

    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        event = record(domain)
        sent_before_commit = len(receiver.received)

    assert sent_before_commit == 0
    assert len(callbacks) == 1
    [received] = receiver.received
    assert json.loads(received.body) == event.envelope
    assert Delivery.objects.get(event=event).status == Delivery.Status.DELIVERED


def test_a_broker_that_is_down_does_not_fail_the_caller_and_the_periodic_run_sends_later(
    receiver: Receiver, django_capture_on_commit_callbacks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    domain = make_domain()
    services.subscription_create(name="first", url=receiver.url)
    services.subscription_create(name="second", url=receiver.url)
    tried: list[int] = []

    def broker_down(delivery_pk: int) -> None:
        tried.append(delivery_pk)
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    with monkeypatch.context() as patch:
        patch.setattr(tasks.deliver, "delay", broker_down)
        with django_capture_on_commit_callbacks(execute=True):
            event = record(domain)

    assert len(tried) == 1  # gave up on the broker at the first failure instead of waiting twice
    assert receiver.received == []
    assert set(Delivery.objects.filter(event=event).values_list("status", flat=True)) == {"PENDING"}

    tasks.deliver_due.delay()

    assert len(receiver.received) == 2
    assert set(Delivery.objects.filter(event=event).values_list("status", flat=True)) == {"DELIVERED"}


def test_the_body_is_the_same_bytes_before_and_after_the_database() -> None:
    domain = make_domain()
    event = services.event_record(
        domain=domain,
        detail_type=DetailType.FRAUDSTER,
        detail={"zeta": 1, "alpha": {"b": [{"y": 1, "x": 2}], "a": "é"}, "generatedFraudsterId": "id#x"},
    )

    assert webhooks.envelope_body(Event.objects.get(pk=event.pk).envelope) == webhooks.envelope_body(
        event.envelope
    )
    assert "é" in webhooks.envelope_body(event.envelope).decode()


def test_erasing_a_domain_erases_its_events_and_its_own_subscriptions() -> None:
    domain, other = make_domain("gone"), make_domain("stays")
    everywhere, _ = services.subscription_create(name="all", url="https://a.example/hook")
    services.subscription_create(name="gone only", url="https://b.example/hook", domain=domain)
    record(domain)
    kept = record(other)

    domain.delete()

    assert list(Event.objects.all()) == [kept]
    assert list(WebhookSubscription.objects.all()) == [everywhere]
    assert list(Delivery.objects.values_list("event", flat=True)) == [kept.pk]


# Subscriptions.


def test_a_new_subscription_gets_a_sealed_secret_returned_once() -> None:
    subscription, secret = services.subscription_create(
        name="  SIEM  ", url="https://siem.example/voiceid", detail_types=[BATCH, BATCH, SPEAKER]
    )

    stored = WebhookSubscription.objects.get(pk=subscription.pk)
    assert secret.startswith("whsec_") and len(secret) > 40
    assert secret.encode() not in bytes(stored.sealed_secret)
    assert subscription_secret(stored) == secret
    assert stored.name == "SIEM"
    assert stored.detail_types == [BATCH, SPEAKER]
    assert stored.enabled


@pytest.mark.parametrize(
    ("name", "url", "detail_types", "message"),
    [
        ("x", "ftp://files.example/hook", [], services.SUBSCRIPTION_URL_INVALID),
        ("x", "file:///etc/passwd", [], services.SUBSCRIPTION_URL_INVALID),
        ("x", "/relative/hook", [], services.SUBSCRIPTION_URL_INVALID),
        ("  ", "https://a.example/", [], services.SUBSCRIPTION_NAME_REQUIRED),
        ("x", "https://a.example/", ["VoiceId Everything"], "Unknown detail-type 'VoiceId Everything'"),
    ],
)
def test_it_refuses_a_bad_subscription(name: str, url: str, detail_types: list[str], message: str) -> None:
    with pytest.raises(ValidationError) as refused:
        services.subscription_create(name=name, url=url, detail_types=detail_types)

    assert refused.value.message.startswith(message)
    assert not WebhookSubscription.objects.exists()


def test_rotating_the_secret_replaces_it() -> None:
    subscription, old = services.subscription_create(name="hook", url="https://a.example/")

    new = services.subscription_rotate_secret(subscription=subscription)

    assert new != old
    assert subscription_secret(WebhookSubscription.objects.get(pk=subscription.pk)) == new


def test_deleting_a_subscription_keeps_the_events() -> None:
    domain = make_domain()
    subscription, _ = services.subscription_create(name="hook", url="https://a.example/")
    event = record(domain)

    services.subscription_delete(subscription=subscription)

    assert Event.objects.get() == event
    assert not Delivery.objects.exists()


def test_retry_starts_a_fresh_series_for_a_failed_delivery_only(
    receiver: Receiver, django_capture_on_commit_callbacks: Any
) -> None:
    domain = make_domain()
    services.subscription_create(name="hook", url=receiver.url)
    event = record(domain)
    failed = Delivery.objects.get(event=event)
    Delivery.objects.filter(pk=failed.pk).update(
        status=Delivery.Status.FAILED, attempts=12, next_attempt_at=None
    )

    with django_capture_on_commit_callbacks(execute=True):
        services.delivery_retry(delivery=failed)

    retried = Delivery.objects.get(pk=failed.pk)
    assert retried.status == Delivery.Status.DELIVERED
    assert retried.attempts == 1
    assert receiver.received[-1].headers["X-Voiceid-Delivery-Attempt"] == "1"
    with pytest.raises(Conflict, match="Only a delivery that gave up"):
        services.delivery_retry(delivery=retried)
    assert delivery.max_attempts() == 12
