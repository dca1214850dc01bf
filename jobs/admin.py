"""Read-only admin for batch jobs and the sweepers' records: only the API, the workers and the sweepers
write them (the analysts' job screens are the dashboard's)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from jobs.models import FraudsterRegistrationJob, SpeakerEnrollmentJob, StorageErasure, SweepRun


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


class BatchJobAdmin(ReadOnlyAdmin):
    list_display = ["job_id", "domain", "status", "progress", "failed_entries", "created_at", "ended_at"]
    list_filter = ["status"]
    search_fields = ["job_id", "domain__domain_id"]
    date_hierarchy = "created_at"
    list_select_related = ["domain"]
    fields = [
        "job_id",
        "domain",
        "status",
        "progress",
        "total_entries",
        "finished_entries",
        "failed_entries",
        "failure_status_code",
        "failure_message",
        "data_access_role_arn",
        "input_s3_uri",
        "output_s3_uri",
        "output_kms_key_id",
        "output_file_uri",
        "config",
        "created_at",
        "started_at",
        "ended_at",
        "heartbeat_at",
    ]

    @admin.display(description="progress")
    def progress(self, job: SpeakerEnrollmentJob) -> str:
        return f"{job.percent_complete} % ({job.finished_entries:,} of {job.total_entries:,})"


admin.register(SpeakerEnrollmentJob)(BatchJobAdmin)
admin.register(FraudsterRegistrationJob)(BatchJobAdmin)
