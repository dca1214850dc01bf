"""The audit log in the admin: read-only for everyone, superusers included. No add, change or delete."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("at", "actor", "channel", "action", "domain_id", "resource_type", "resource_id", "status")
    list_filter = ("channel", "resource_type")
    search_fields = ("=actor", "=access_key_id", "=action", "=domain_id", "=resource_id", "=request_id")
    date_hierarchy = "at"
    readonly_fields = [field.name for field in AuditEvent._meta.fields if field.name != "customer_id_digest"]
    exclude = ("customer_id_digest",)
    show_full_result_count = False  # a COUNT(*) over millions of rows on every page

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False
