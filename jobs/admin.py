"""Read-only admin for the sweepers' records: only the sweepers write them."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from jobs.models import StorageErasure, SweepRun


class ReadOnlyAdmin(admin.ModelAdmin):
    """Viewable by staff with the view permission; nobody adds, changes or deletes through the admin."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(SweepRun)
class SweepRunAdmin(ReadOnlyAdmin):
    list_display = ["started_at", "sweeper", "status", "what_it_did", "duration", "as_of"]
    list_filter = ["sweeper", "status"]
    date_hierarchy = "started_at"
    fields = ["sweeper", "status", "started_at", "finished_at", "duration", "as_of", "counts", "error"]

    @admin.display(description="what it did")
    def what_it_did(self, run: SweepRun) -> str:
        return ", ".join(f"{key.replace('_', ' ')}: {value}" for key, value in run.counts.items())


@admin.register(StorageErasure)
class StorageErasureAdmin(ReadOnlyAdmin):
    list_display = ["prefix", "reason", "requested_at", "erased_at", "files_deleted"]
    list_filter = [("erased_at", admin.EmptyFieldListFilter), "reason"]
    search_fields = ["prefix"]
    date_hierarchy = "requested_at"
    fields = ["prefix", "reason", "requested_at", "erased_at", "files_deleted"]
