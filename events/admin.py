"""Admin for webhook subscriptions (through events.services) and read-only events and deliveries.

Superusers only: a subscription sends every matching event to any URL, and its secret signs them.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import ActionLocation
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest
from django.utils.html import format_html

from events import delivery as event_delivery
from events import services
from events.models import Delivery, DetailType, Event, WebhookSubscription
from voiceid_site.admin_support import ServiceModelAdmin, adopt

SUBSCRIPTION_SECRET_SHOWN_ONCE = (
    "Signing secret for “{name}”: {secret} — copy it now: it will not be shown again."
)
SUBSCRIPTION_SECRET_ROTATED = (
    "New signing secret for “{name}”: {secret} — copy it now: it will not be shown again. "
    "The old secret no longer signs deliveries."
)
SUBSCRIPTIONS_ENABLED = "Enabled {count} subscription(s): their waiting deliveries are sent again."
SUBSCRIPTIONS_DISABLED = "Disabled {count} subscription(s): their deliveries wait until they are enabled."
TEST_EVENT_DELIVERED = "Test event delivered to “{name}” ({url}): HTTP {status}."
TEST_EVENT_FAILED = "Test event to “{name}” ({url}) failed: {error}"
DELIVERIES_RETRIED = "Queued {count} delivery(ies) to be sent again now."


def _is_superuser(request: HttpRequest) -> bool:
    user: Any = request.user
    return bool(user.is_active and user.is_superuser)


class SuperuserOnlyMixin:
    def has_module_permission(self, request: HttpRequest) -> bool:
        return _is_superuser(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _is_superuser(request)


class SubscriptionForm(forms.ModelForm):
    detail_types = forms.MultipleChoiceField(
        label="Detail-types",
        choices=DetailType.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Leave all unticked to receive every event.",
    )

    class Meta:
        model = WebhookSubscription
        fields = ["name", "url", "detail_types", "domain"]
        help_texts = {
            "url": "Where events are POSTed: an http:// or https:// URL. Redirects are not followed.",
            "domain": "Only this domain's events; leave empty for every domain.",
        }


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(SuperuserOnlyMixin, ServiceModelAdmin):
    form = SubscriptionForm
    list_display = ["name", "url", "enabled", "detail_type_filter", "domain_filter", "created_at"]
    list_select_related = ["domain"]
    list_filter = ["enabled"]
    search_fields = ["name", "url", "subscription_id"]
    actions = ["delete_selected", "enable", "disable", "send_test_event", "rotate_secret"]
    # The sealed secret is never among these: once shown, a secret is not shown again.
    readonly_fields = ["subscription_id", "enabled", "created_at"]

    def get_fields(self, request: HttpRequest, obj: WebhookSubscription | None = None) -> list[str]:
        if obj is None:
            return ["name", "url", "detail_types", "domain"]
        return ["name", "url", "detail_types", "domain", "subscription_id", "enabled", "created_at"]

    @admin.display(description="detail-types")
    def detail_type_filter(self, subscription: WebhookSubscription) -> str:
        return ", ".join(subscription.detail_types) or "all"

    @admin.display(description="domain")
    def domain_filter(self, subscription: WebhookSubscription) -> str:
        return subscription.domain.domain_id if subscription.domain is not None else "all"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return _is_superuser(request)

    def has_change_permission(self, request: HttpRequest, obj: WebhookSubscription | None = None) -> bool:
        return _is_superuser(request)

    def has_delete_permission(self, request: HttpRequest, obj: WebhookSubscription | None = None) -> bool:
        return _is_superuser(request)

    def has_manage_permission(self, request: HttpRequest) -> bool:
        return _is_superuser(request)

    # Writes.

    def save_model(
        self,
        request: HttpRequest,
        obj: WebhookSubscription,
        form: ModelForm[WebhookSubscription],
        change: bool,
    ) -> None:
        data = form.cleaned_data
        if change:
            subscription = services.subscription_update(
                subscription=obj,
                name=data["name"],
                url=data["url"],
                detail_types=data["detail_types"],
                domain=data["domain"],
            )
            adopt(obj, subscription)
            return
        subscription, secret = services.subscription_create(
            name=data["name"], url=data["url"], detail_types=data["detail_types"], domain=data["domain"]
        )
        adopt(obj, subscription)
        # Only the sealed form is stored; this message is the one place the secret is ever displayed.
        self.message_user(
            request,
            SUBSCRIPTION_SECRET_SHOWN_ONCE.format(name=subscription.name, secret=secret),
            messages.WARNING,
        )

    def delete_model(self, request: HttpRequest, obj: WebhookSubscription) -> None:
        services.subscription_delete(subscription=obj)

    def get_deleted_objects(
        self, objs: Any, request: HttpRequest
    ) -> tuple[list[Any], dict[str, int], set[str], list[Any]]:
        deleted_objects, model_count, _perms_needed, protected = super().get_deleted_objects(objs, request)
        # The subscription's deliveries (its queue) go with it, as the confirmation page lists; nobody has
        # the delete permission on deliveries, which are otherwise read-only, so do not ask for it.
        return deleted_objects, model_count, set(), protected

    @admin.action(
        description="Enable subscription",
        description_plural="Enable selected subscriptions",
        permissions=["manage"],
        location=[ActionLocation.CHANGE_LIST, ActionLocation.CHANGE_FORM],
    )
    def enable(self, request: HttpRequest, queryset: QuerySet[WebhookSubscription]) -> None:
        self._set_enabled(request, queryset, enabled=True)

    @admin.action(
        description="Disable subscription",
        description_plural="Disable selected subscriptions",
        permissions=["manage"],
        location=[ActionLocation.CHANGE_LIST, ActionLocation.CHANGE_FORM],
    )
    def disable(self, request: HttpRequest, queryset: QuerySet[WebhookSubscription]) -> None:
        self._set_enabled(request, queryset, enabled=False)

    def _set_enabled(
        self, request: HttpRequest, queryset: QuerySet[WebhookSubscription], *, enabled: bool
    ) -> None:
        done = self.apply_each(
            request,
            queryset,
            lambda subscription: services.subscription_set_enabled(
                subscription=subscription, enabled=enabled
            ),
        )
        if done:
            message = SUBSCRIPTIONS_ENABLED if enabled else SUBSCRIPTIONS_DISABLED
            self.message_user(request, message.format(count=len(done)), messages.SUCCESS)

    @admin.action(
        description="Send a test event",
        description_plural="Send a test event to selected subscriptions",
        permissions=["manage"],
        location=[ActionLocation.CHANGE_LIST, ActionLocation.CHANGE_FORM],
    )
    def send_test_event(self, request: HttpRequest, queryset: QuerySet[WebhookSubscription]) -> None:
        for subscription in queryset:
            result = event_delivery.subscription_send_test(subscription=subscription)
            names = {"name": subscription.name, "url": subscription.url}
            if result.delivered:
                self.message_user(
                    request, TEST_EVENT_DELIVERED.format(status=result.status_code, **names), messages.SUCCESS
                )
            else:
                self.message_user(
                    request, TEST_EVENT_FAILED.format(error=result.error, **names), messages.ERROR
                )

    @admin.action(
        description="Rotate signing secret",
        description_plural="Rotate the signing secrets of selected subscriptions",
        permissions=["manage"],
        location=[ActionLocation.CHANGE_FORM],
    )
    def rotate_secret(self, request: HttpRequest, queryset: QuerySet[WebhookSubscription]) -> None:
        for subscription in queryset:
            secret = services.subscription_rotate_secret(subscription=subscription)
            self.message_user(
                request,
                SUBSCRIPTION_SECRET_ROTATED.format(name=subscription.name, secret=secret),
                messages.WARNING,
            )


class ReadOnlyMixin(SuperuserOnlyMixin):
    """Only events.services and events.delivery write these rows."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


_DELIVERY_FIELDS = [
    "status",
    "attempts",
    "next_attempt_at",
    "last_attempt_at",
    "last_status_code",
    "last_error",
    "delivered_at",
]


class DeliveryInline(ReadOnlyMixin, admin.TabularInline):
    model = Delivery
    fields = ["subscription", *_DELIVERY_FIELDS]
    readonly_fields = fields
    extra = 0


@admin.register(Event)
class EventAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["time", "detail_type", "domain_identifier", "event_id"]
    list_select_related = ["domain"]
    list_filter = ["detail_type"]
    search_fields = ["event_id", "domain__domain_id"]
    date_hierarchy = "time"
    fields = ["event_id", "detail_type", "domain_identifier", "time", "envelope_json"]
    readonly_fields = fields
    inlines = [DeliveryInline]

    @admin.display(description="domain id", ordering="domain__domain_id")
    def domain_identifier(self, event: Event) -> str:
        # The id, not str(domain): that would decrypt every listed domain's name.
        return event.domain.domain_id

    @admin.display(description="envelope (the webhook body)")
    def envelope_json(self, event: Event) -> str:
        return format_html("<pre>{}</pre>", json.dumps(event.envelope, indent=2, ensure_ascii=False))


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyMixin, ServiceModelAdmin):
    list_display = ["event", "subscription", "status", "attempts", "last_status_code", "next_attempt_at"]
    list_select_related = ["event", "subscription"]
    list_filter = ["status", "subscription"]
    search_fields = ["event__event_id"]
    fields = ["event", "subscription", *_DELIVERY_FIELDS, "created_at"]
    readonly_fields = fields
    actions = ["retry_now"]

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return _is_superuser(request)

    @admin.action(
        description="Retry now",
        description_plural="Retry selected deliveries now",
        permissions=["retry"],
        location=[ActionLocation.CHANGE_LIST, ActionLocation.CHANGE_FORM],
    )
    def retry_now(self, request: HttpRequest, queryset: QuerySet[Delivery]) -> None:
        done = self.apply_each(request, queryset, lambda delivery: services.delivery_retry(delivery=delivery))
        if done:
            self.message_user(request, DELIVERIES_RETRIED.format(count=len(done)), messages.SUCCESS)
