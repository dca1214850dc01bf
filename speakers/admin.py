"""Admin for speakers: read-only rows, with opt-out and delete going through speakers.services."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin import ActionLocation
from django.db.models import QuerySet
from django.http import HttpRequest

from speakers import services
from speakers.models import Speaker
from voiceid_site.admin_support import ServiceModelAdmin

SPEAKERS_OPTED_OUT = "Opted out {count} speaker(s)."


@admin.register(Speaker)
class SpeakerAdmin(ServiceModelAdmin):
    list_display = [
        "generated_speaker_id",
        "customer_speaker_id",
        "status",
        "domain",
        "created_at",
        "updated_at",
        "last_accessed_at",
    ]
    list_select_related = ["domain"]
    search_fields = ["generated_speaker_id", "customer_speaker_id"]
    list_filter = ["status", "domain"]
    actions = ["delete_selected", "opt_out"]
    fields = list_display
    readonly_fields = list_display

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Speakers appear when a call or an enrollment job names them.
        return False

    def has_change_permission(self, request: HttpRequest, obj: Speaker | None = None) -> bool:
        # Every field is service-owned: the detail page is view-only and changes are actions.
        return False

    def has_opt_out_permission(self, request: HttpRequest) -> bool:
        return super().has_change_permission(request)

    @admin.action(
        description="Opt out speaker",
        description_plural="Opt out selected speakers",
        permissions=["opt_out"],
        location=[ActionLocation.CHANGE_LIST, ActionLocation.CHANGE_FORM],
    )
    def opt_out(self, request: HttpRequest, queryset: QuerySet[Speaker]) -> None:
        done = self.apply_each(
            request,
            queryset,
            lambda speaker: services.speaker_opt_out(
                domain=speaker.domain, speaker_id=speaker.generated_speaker_id
            ),
        )
        if done:
            self.message_user(request, SPEAKERS_OPTED_OUT.format(count=len(done)), messages.SUCCESS)

    def delete_model(self, request: HttpRequest, obj: Speaker) -> None:
        services.speaker_delete(domain=obj.domain, speaker_id=obj.generated_speaker_id)
