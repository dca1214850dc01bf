"""Admin for speakers: read-only rows, with opt-out and delete going through speakers.services."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin import ActionLocation
from django.db.models import QuerySet
from django.http import HttpRequest

from domains.sealing import readable
from speakers import selectors, services
from speakers.models import Speaker
from voiceid_site.admin_support import ServiceModelAdmin
from voiceid_site.ids import is_generated_id

SPEAKERS_OPTED_OUT = "Opted out {count} speaker(s)."


@admin.register(Speaker)
class SpeakerAdmin(ServiceModelAdmin):
    list_display = [
        "generated_speaker_id",
        "customer_id",
        "status",
        "domain",
        "created_at",
        "updated_at",
        "last_accessed_at",
    ]
    list_select_related = ["domain"]
    # Customer ids are encrypted: an exact customer id is found through each domain's keyed index.
    search_fields = ["generated_speaker_id"]
    search_help_text = "An exact GeneratedSpeakerId or CustomerSpeakerId."
    list_filter = ["status", "domain"]
    actions = ["delete_selected", "opt_out"]
    fields = list_display
    readonly_fields = list_display

    @admin.display(description="customer speaker id")
    def customer_id(self, speaker: Speaker) -> str:
        return readable(speaker, "customer_speaker_id")

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Speaker], search_term: str
    ) -> tuple[QuerySet[Speaker], bool]:
        term = search_term.strip()
        if not term or is_generated_id(term):
            return super().get_search_results(request, queryset, term)
        return queryset.filter(pk__in=selectors.speaker_ids_with_customer_id(customer_speaker_id=term)), False

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
