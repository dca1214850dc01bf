"""Admin for API access keys: issue, disable, enable and delete them through accounts.services."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import ActionLocation
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest

from accounts import services
from accounts.models import AccessKey
from voiceid_site.admin_support import ServiceModelAdmin, adopt

ACCESS_KEY_SECRET_SHOWN_ONCE = (
    "Secret access key for {access_key_id}: {secret} — copy it now: it will not be shown again."
)
ACCESS_KEYS_DISABLED = "Disabled {count} access key(s)."
ACCESS_KEYS_ENABLED = "Enabled {count} access key(s)."


def _is_superuser(request: HttpRequest) -> bool:
    user: Any = request.user
    return bool(user.is_active and user.is_superuser)


@admin.register(AccessKey)
class AccessKeyAdmin(ServiceModelAdmin):
    list_display = ["access_key_id", "user", "description", "is_active", "created_at", "last_used_at"]
    list_select_related = ["user"]
    search_fields = ["access_key_id", "user__username", "description"]
    list_filter = ["is_active"]
    actions = ["delete_selected", "disable", "enable"]
    # The sealed secret is never among these: once issued, a secret is not shown again.
    readonly_fields = ["access_key_id", "is_active", "created_at", "last_used_at"]

    def get_fields(self, request: HttpRequest, obj: AccessKey | None = None) -> list[str]:
        if obj is None:
            return ["user", "description"]
        return ["access_key_id", "user", "description", "is_active", "created_at", "last_used_at"]

    # A key acts as its user over the API, so issuing one for any user is a superuser's power, whatever
    # model permissions a staff account was given.

    def has_module_permission(self, request: HttpRequest) -> bool:
        return _is_superuser(request)

    def has_view_permission(self, request: HttpRequest, obj: AccessKey | None = None) -> bool:
        return _is_superuser(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return _is_superuser(request)

    def has_change_permission(self, request: HttpRequest, obj: AccessKey | None = None) -> bool:
        # Nothing on a key is edited in a form: it is enabled or disabled by the actions.
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AccessKey | None = None) -> bool:
        return _is_superuser(request)

    def has_set_active_permission(self, request: HttpRequest) -> bool:
        return _is_superuser(request)

    def save_model(
        self, request: HttpRequest, obj: AccessKey, form: ModelForm[AccessKey], change: bool
    ) -> None:
        access_key, secret = services.access_key_create(
            user=form.cleaned_data["user"], description=form.cleaned_data["description"]
        )
        adopt(obj, access_key)
        # Only the sealed form is stored; this message is the one place the secret is ever displayed.
        self.message_user(
            request,
            ACCESS_KEY_SECRET_SHOWN_ONCE.format(access_key_id=access_key.access_key_id, secret=secret),
            messages.WARNING,
        )

    @admin.action(
        description="Disable key",
        description_plural="Disable selected keys",
        permissions=["set_active"],
        location=[ActionLocation.CHANGE_LIST, ActionLocation.CHANGE_FORM],
    )
    def disable(self, request: HttpRequest, queryset: QuerySet[AccessKey]) -> None:
        self._set_active(request, queryset, active=False)

    @admin.action(
        description="Enable key",
        description_plural="Enable selected keys",
        permissions=["set_active"],
        location=[ActionLocation.CHANGE_LIST, ActionLocation.CHANGE_FORM],
    )
    def enable(self, request: HttpRequest, queryset: QuerySet[AccessKey]) -> None:
        self._set_active(request, queryset, active=True)

    def _set_active(self, request: HttpRequest, queryset: QuerySet[AccessKey], *, active: bool) -> None:
        done = self.apply_each(
            request,
            queryset,
            lambda access_key: services.access_key_set_active(access_key=access_key, active=active),
        )
        if done:
            message = ACCESS_KEYS_ENABLED if active else ACCESS_KEYS_DISABLED
            self.message_user(request, message.format(count=len(done)), messages.SUCCESS)

    def delete_model(self, request: HttpRequest, obj: AccessKey) -> None:
        services.access_key_delete(access_key=obj)
