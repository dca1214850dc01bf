"""Admin for watchlists and fraudsters; every write goes through fraudsters.services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse

from domains.sealing import readable
from fraudsters import selectors, services
from fraudsters.models import Fraudster, Watchlist
from voiceid_site.admin_support import ServiceModelAdmin, adopt

FRAUDSTERS_COME_FROM_JOBS = "Fraudsters are added by fraudster registration jobs, not here."


class WatchlistForm(ModelForm):
    """Name and description are sealed attributes, not columns: the form carries them itself."""

    name = forms.CharField(max_length=256)
    description = forms.CharField(max_length=1024, required=False, widget=forms.Textarea(attrs={"rows": 3}))

    class Meta:
        model = Watchlist
        fields = ["domain"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            self.initial.setdefault("name", readable(self.instance, "name"))
            self.initial.setdefault("description", readable(self.instance, "description"))


@admin.register(Watchlist)
class WatchlistAdmin(ServiceModelAdmin):
    form = WatchlistForm
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

    @admin.display(description="name")
    def display_name(self, watchlist: Watchlist) -> str:
        return readable(watchlist, "name")

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Watchlist], search_term: str
    ) -> tuple[QuerySet[Watchlist], bool]:
        found, duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip().casefold()
        if not term:
            return found, duplicates
        # Names are encrypted; watchlists are few (a quota of 100 per domain), so decrypt and match here.
        named = [w.pk for w in queryset.select_related("domain") if term in readable(w, "name").casefold()]
        return found | queryset.filter(pk__in=named), duplicates

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
