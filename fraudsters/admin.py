"""Admin for watchlists and fraudsters; every write goes through fraudsters.services."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse

from fraudsters import selectors, services
from fraudsters.models import Fraudster, Watchlist
from voiceid_site.admin_support import SealedNameAdminMixin, ServiceModelAdmin, adopt, sealed_name_form

FRAUDSTERS_COME_FROM_JOBS = "Fraudsters are added by fraudster registration jobs, not here."


@admin.register(Watchlist)
class WatchlistAdmin(SealedNameAdminMixin, ServiceModelAdmin):
    form = sealed_name_form(Watchlist, ["domain"], operation="CreateWatchlist")
    list_display = ["display_name", "watchlist_id", "domain", "is_default", "created_at", "updated_at"]
    list_select_related = ["domain"]
    search_fields = ["watchlist_id", "domain__domain_id"]  # and the name: see get_search_results
    list_filter = ["domain", "is_default"]
    actions = ["delete_selected"]
    readonly_fields = [
        "watchlist_id",
        "is_default",
        "created_at",
        "updated_at",
        "client_token",
        "request_fingerprint",
    ]

    def get_fields(self, request: HttpRequest, obj: Watchlist | None = None) -> list[str]:
        if obj is None:
            return ["domain", "name", "description"]
        return [
            "domain",
            "watchlist_id",
            "name",
            "description",
            "is_default",
            "created_at",
            "updated_at",
            "client_token",
            "request_fingerprint",
        ]

    def sealed_queryset(self, queryset: QuerySet[Watchlist]) -> QuerySet[Watchlist]:
        return queryset.select_related("domain")  # names are sealed under their domain's key

    def get_readonly_fields(self, request: HttpRequest, obj: Watchlist | None = None) -> list[str]:
        # A watchlist never moves to another domain.
        return [*self.readonly_fields, "domain"] if obj is not None else list(self.readonly_fields)

    def save_model(
        self, request: HttpRequest, obj: Watchlist, form: ModelForm[Watchlist], change: bool
    ) -> None:
        data = form.cleaned_data
        if change:
            watchlist = services.watchlist_update(
                domain=obj.domain,
                watchlist_id=obj.watchlist_id,
                name=data["name"],
                description=data["description"],
            )
        else:
            watchlist = services.watchlist_create(
                domain=data["domain"], name=data["name"], description=data["description"]
            )
        adopt(obj, watchlist)

    def delete_model(self, request: HttpRequest, obj: Watchlist) -> None:
        services.watchlist_delete(domain=obj.domain, watchlist_id=obj.watchlist_id)


@admin.register(Fraudster)
class FraudsterAdmin(ServiceModelAdmin):
    list_display = ["generated_fraudster_id", "domain", "watchlist_ids", "created_at"]
    list_select_related = ["domain"]
    search_fields = ["generated_fraudster_id"]
    list_filter = ["domain"]
    actions = ["delete_selected"]
    fields = ["generated_fraudster_id", "domain", "watchlist_ids", "created_at"]
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[Fraudster]:
        return selectors.with_watchlist_ids(super().get_queryset(request))

    @admin.display(description="watchlist ids")
    def watchlist_ids(self, fraudster: Fraudster) -> str:
        return ", ".join(selectors.fraudster_watchlist_ids(fraudster))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Fraudster | None = None) -> bool:
        # Membership changes are API operations (Associate/DisassociateFraudster); here a fraudster is
        # only looked at or deleted.
        return False

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        return super().changelist_view(
            request, {"subtitle": FRAUDSTERS_COME_FROM_JOBS, **(extra_context or {})}
        )

    def delete_model(self, request: HttpRequest, obj: Fraudster) -> None:
        services.fraudster_delete(domain=obj.domain, fraudster_id=obj.generated_fraudster_id)
