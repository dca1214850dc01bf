"""The events admin: each test checks the admin's translation (status, page, message) of a service call."""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import TestCase
from django.urls import reverse

from events import services
from events.admin import (
    DELIVERIES_RETRIED,
    SUBSCRIPTION_SECRET_ROTATED,
    SUBSCRIPTION_SECRET_SHOWN_ONCE,
    SUBSCRIPTIONS_DISABLED,
    SUBSCRIPTIONS_ENABLED,
    TEST_EVENT_DELIVERED,
    TEST_EVENT_FAILED,
)
from events.models import Delivery, DetailType, Event, WebhookSubscription
from events.selectors import subscription_secret
from tests.admin import messages_of
from tests.events.conftest import make_domain
from tests.events.receiver import Receiver

SUBSCRIPTIONS = reverse("admin:events_webhooksubscription_changelist")
ADD_SUBSCRIPTION = reverse("admin:events_webhooksubscription_add")
EVENTS = reverse("admin:events_event_changelist")
DELIVERIES = reverse("admin:events_delivery_changelist")


def subscription_url(subscription: WebhookSubscription) -> str:
    return reverse("admin:events_webhooksubscription_change", args=[subscription.pk])


class EventsAdminTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.superuser = get_user_model().objects.create_superuser("root", "root@example.com", "password")
        cls.domain = make_domain()
        cls.subscription, cls.secret = services.subscription_create(name="SIEM", url="https://siem.example/")
        cls.event = services.event_record(
            domain=cls.domain,
            detail_type=DetailType.BATCH_SPEAKER_ENROLLMENT,
            detail={"action": "BATCH_ENROLLMENT_REQUEST", "status": "SUCCESS", "batchJobId": "J" * 22},
        )
        cls.delivery = Delivery.objects.get(event=cls.event)

    def setUp(self) -> None:
        self.client.force_login(self.superuser)
        self.receiver = Receiver().start()
        self.addCleanup(self.receiver.stop)

    # Subscriptions.

    def test_it_shows_a_new_subscriptions_secret_once(self) -> None:
        response = self.client.post(
            ADD_SUBSCRIPTION,
            {
                "name": "Fraud team",
                "url": "https://fraud.example/hook",
                "detail_types": [DetailType.FRAUDSTER],
            },
            follow=True,
        )

        assert response.status_code == 200
        subscription = WebhookSubscription.objects.get(name="Fraud team")
        assert subscription.detail_types == [DetailType.FRAUDSTER] and subscription.domain is None
        secret = subscription_secret(subscription)
        shown = SUBSCRIPTION_SECRET_SHOWN_ONCE.format(name="Fraud team", secret=secret)
        assert (messages.WARNING, shown) in messages_of(response)
        assert response.text.count(secret) == 1
        assert secret not in self.client.get(SUBSCRIPTIONS).text
        assert secret not in self.client.get(subscription_url(subscription)).text

    def test_the_add_form_asks_only_for_what_a_subscriber_chooses(self) -> None:
        response = self.client.get(ADD_SUBSCRIPTION)

        assert set(response.context["adminform"].form.fields) == {"name", "url", "detail_types", "domain"}
        for detail_type in DetailType.values:
            assert detail_type in response.text

    def test_it_refuses_a_url_that_is_not_http(self) -> None:
        response = self.client.post(ADD_SUBSCRIPTION, {"name": "x", "url": "ftp://files.example/hook"})

        assert response.status_code == 200
        assert response.context["adminform"].form.errors["url"]
        assert not WebhookSubscription.objects.filter(name="x").exists()

    def test_it_edits_a_subscription_through_the_service(self) -> None:
        response = self.client.post(
            subscription_url(self.subscription),
            {"name": "SIEM", "url": "https://siem.example/v2", "domain": self.domain.pk},
            follow=True,
        )

        assert response.status_code == 200
        edited = WebhookSubscription.objects.get(pk=self.subscription.pk)
        assert edited.url == "https://siem.example/v2" and edited.domain == self.domain
        assert subscription_secret(edited) == self.secret  # editing keeps the secret

    def test_it_disables_and_enables_subscriptions(self) -> None:
        selected = {"_selected_action": [self.subscription.pk]}

        disabled = self.client.post(SUBSCRIPTIONS, {"action": "disable", **selected}, follow=True)
        enabled_after_disable = WebhookSubscription.objects.get(pk=self.subscription.pk).enabled
        enabled = self.client.post(SUBSCRIPTIONS, {"action": "enable", **selected}, follow=True)

        assert not enabled_after_disable
        assert WebhookSubscription.objects.get(pk=self.subscription.pk).enabled
        assert messages_of(disabled) == [(messages.SUCCESS, SUBSCRIPTIONS_DISABLED.format(count=1))]
        assert messages_of(enabled) == [(messages.SUCCESS, SUBSCRIPTIONS_ENABLED.format(count=1))]

    def test_it_sends_a_test_event_and_reports_the_answer(self) -> None:
        live, _ = services.subscription_create(name="live", url=self.receiver.url)
        self.receiver.answer(200, 500)
        data = {"CHANGE_FORM-action": "send_test_event", "_selected_action": str(live.pk)}

        delivered = self.client.post(subscription_url(live), data, follow=True)
        failed = self.client.post(subscription_url(live), data, follow=True)

        names = {"name": "live", "url": self.receiver.url}
        assert messages_of(delivered) == [
            (messages.SUCCESS, TEST_EVENT_DELIVERED.format(status=200, **names))
        ]
        assert messages_of(failed) == [
            (messages.ERROR, TEST_EVENT_FAILED.format(error="HTTP 500: ok", **names))
        ]
        assert len(self.receiver.received) == 2
        assert json.loads(self.receiver.received[0].body)["detail"]["subscriptionId"] == live.subscription_id

    def test_it_rotates_the_secret_and_shows_the_new_one_once(self) -> None:
        data = {"CHANGE_FORM-action": "rotate_secret", "_selected_action": str(self.subscription.pk)}

        response = self.client.post(subscription_url(self.subscription), data, follow=True)

        secret = subscription_secret(WebhookSubscription.objects.get(pk=self.subscription.pk))
        assert secret != self.secret
        shown = SUBSCRIPTION_SECRET_ROTATED.format(name="SIEM", secret=secret)
        assert messages_of(response) == [(messages.WARNING, shown)]

    def test_it_deletes_a_subscription_through_the_service(self) -> None:
        url = reverse("admin:events_webhooksubscription_delete", args=[self.subscription.pk])

        response = self.client.post(url, {"post": "yes"}, follow=True)

        assert response.status_code == 200
        assert not WebhookSubscription.objects.filter(pk=self.subscription.pk).exists()
        assert Event.objects.filter(pk=self.event.pk).exists()

    # Events and deliveries.

    def test_events_are_listed_and_shown_read_only(self) -> None:
        listing = self.client.get(EVENTS)
        page = self.client.get(reverse("admin:events_event_change", args=[self.event.pk]))

        assert listing.status_code == 200
        assert str(self.event.event_id) in listing.text and self.domain.domain_id in listing.text
        assert page.status_code == 200
        assert page.context["title"] == "View event"
        assert "&quot;detail-type&quot;: &quot;VoiceId Batch Speaker Enrollment Action&quot;" in page.text
        assert "SIEM" in page.text  # its delivery, inline

    def test_events_cannot_be_added_changed_or_deleted(self) -> None:
        change = reverse("admin:events_event_change", args=[self.event.pk])

        assert self.client.get(reverse("admin:events_event_add")).status_code == 403
        assert self.client.post(change, {"detail_type": DetailType.SPEAKER}).status_code == 403
        assert self.client.post(reverse("admin:events_event_delete", args=[self.event.pk])).status_code == 403
        assert self.client.get(reverse("admin:events_delivery_add")).status_code == 403
        assert Event.objects.get(pk=self.event.pk).detail_type == DetailType.BATCH_SPEAKER_ENROLLMENT

    def test_it_retries_a_failed_delivery_now(self) -> None:
        Delivery.objects.filter(pk=self.delivery.pk).update(status=Delivery.Status.FAILED, attempts=12)
        WebhookSubscription.objects.filter(pk=self.subscription.pk).update(url=self.receiver.url)
        data = {"action": "retry_now", "_selected_action": [self.delivery.pk]}

        with self.captureOnCommitCallbacks(execute=True):
            response = self.client.post(DELIVERIES, data, follow=True)

        assert messages_of(response) == [(messages.SUCCESS, DELIVERIES_RETRIED.format(count=1))]
        retried = Delivery.objects.get(pk=self.delivery.pk)
        assert retried.status == Delivery.Status.DELIVERED and retried.attempts == 1
        assert len(self.receiver.received) == 1

    def test_it_says_why_a_delivery_cannot_be_retried(self) -> None:
        data = {"action": "retry_now", "_selected_action": [self.delivery.pk]}

        response = self.client.post(DELIVERIES, data, follow=True)

        [(level, text)] = messages_of(response)
        assert level == messages.ERROR
        assert text == f"{self.delivery}: " + services.DELIVERY_NOT_FAILED.format(status="PENDING")

    def test_it_keeps_everything_from_staff_who_are_not_superusers(self) -> None:
        staff = get_user_model().objects.create_user("analyst", is_staff=True)
        staff.user_permissions.set(Permission.objects.filter(content_type__app_label="events"))
        self.client.force_login(staff)

        for url in (SUBSCRIPTIONS, ADD_SUBSCRIPTION, EVENTS, DELIVERIES, subscription_url(self.subscription)):
            assert self.client.get(url).status_code == 403, url
        assert (
            self.client.post(ADD_SUBSCRIPTION, {"name": "leak", "url": "https://evil.example/"}).status_code
            == 403
        )
        assert not WebhookSubscription.objects.filter(name="leak").exists()
