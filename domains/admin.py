"""Admin for domains and their tags; every write goes through domains.services."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.options import IS_POPUP_VAR
from django.contrib.admin.templatetags.admin_urls import add_preserved_filters
from django.db.models import Count, QuerySet
from django.forms import BaseInlineFormSet, ModelForm
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from domains import keyproviders, selectors, services
from domains.models import DataKey, Domain, MasterKey, Tag
from fraudsters import selectors as fraudster_selectors
from fraudsters.models import Watchlist
from voiceid_site.admin_support import SealedNameAdminMixin, ServiceModelAdmin, adopt, sealed_name_form

# The region an admin-created domain gets unless changed on the add form; the API takes it from the
# request's SigV4 scope instead.
DEFAULT_REGION = "us-east-1"

_ERASED_AFTER = f"{settings.VOICEID_DOMAIN_ERASE_DAYS} days after suspension"
DOMAIN_SUSPENDED = (
    "The domain “{domain}” was suspended: it accepts no new data and is erased " + _ERASED_AFTER + "."
)
DOMAINS_SUSPENDED = "Suspended {count} {items}: they accept no new data and are erased " + _ERASED_AFTER + "."

_EDITABLE = ["name", "description", "kms_key_id"]
_SESSION_DEFAULTS = [
    "session_acceptance_threshold",
    "session_risk_threshold",
    "session_minimum_speech_seconds",
]


class TagInline(admin.TabularInline):
    model = Tag
    fields = ["key", "value"]
    extra = 1


@admin.register(Domain)
class DomainAdmin(SealedNameAdminMixin, ServiceModelAdmin):
    form = sealed_name_form(Domain, ["kms_key_id", "region", *_SESSION_DEFAULTS], operation="CreateDomain")
    list_display = [
        "display_name",
        "domain_id",
        "status",
        "region",
        "kms_key_id",
        "encryption_update_status",
        "speaker_count",
        "created_at",
    ]
    search_fields = ["domain_id"]  # and the name: see get_search_results
    list_filter = ["status"]
    inlines = [TagInline]
    actions = ["delete_selected"]
    deleted_selected_message = DOMAINS_SUSPENDED
    refusal_fields = {"KmsKeyId": "kms_key_id", "Name": "name", "Description": "description"}
    readonly_fields = [
        "domain_id",
        "arn",
        "status",
        "default_watchlist_id",
        "speaker_count",
        "encryption_update_status",
        "old_kms_key_id",
        "encryption_update_message",
        "created_at",
        "updated_at",
        "suspended_at",
        "client_token",
        "request_fingerprint",
        "quota_usage",
    ]

    def get_fieldsets(self, request: HttpRequest, obj: Domain | None = None) -> list[tuple[str | None, Any]]:
        if obj is None:
            return [(None, {"fields": [*_EDITABLE, "region"]})]
        return [
            (
                None,
                {
                    "fields": [
                        *_EDITABLE,
                        "domain_id",
                        "arn",
                        "region",
                        "status",
                        "default_watchlist_id",
                        "speaker_count",
                    ]
                },
            ),
            (
                "Session defaults",
                {
                    "fields": _SESSION_DEFAULTS,
                    "description": "What a call applies when StartSession names no threshold of its own.",
                },
            ),
            ("Quotas", {"fields": ["quota_usage"]}),
            (
                "Encryption key update",
                {"fields": ["encryption_update_status", "old_kms_key_id", "encryption_update_message"]},
            ),
            ("History", {"fields": ["created_at", "updated_at", "suspended_at"]}),
            ("Idempotency", {"fields": ["client_token", "request_fingerprint"], "classes": ["collapse"]}),
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Domain | None = None) -> list[str]:
        # The region is part of the domain's ARN, so it is fixed once the domain exists.
        return [*self.readonly_fields, "region"] if obj is not None else list(self.readonly_fields)

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        return {"region": DEFAULT_REGION, **super().get_changeform_initial_data(request)}

    @admin.display(description="default watchlist id")
    def default_watchlist_id(self, domain: Domain) -> str | None:
        try:
            return fraudster_selectors.watchlist_default(domain=domain).watchlist_id
        except Watchlist.DoesNotExist:
            return None

    @admin.display(description="ARN")
    def arn(self, domain: Domain) -> str:
        return domain.arn

    @admin.display(description="usage against the quotas")
    def quota_usage(self, domain: Domain) -> str:
        usage = selectors.domain_quota_usage(domain=domain)
        return "; ".join(f"{what}: {used:,} of {limit:,}" for what, used, limit in usage)

    # Writes.

    def save_model(self, request: HttpRequest, obj: Domain, form: ModelForm[Domain], change: bool) -> None:
        data = form.cleaned_data
        if not change:
            domain = services.domain_create(
                name=data["name"],
                description=data["description"],
                kms_key_id=data["kms_key_id"],
                region=data["region"],
            )
        elif set(_EDITABLE + _SESSION_DEFAULTS) & set(form.changed_data):
            domain = obj
            if set(_EDITABLE) & set(form.changed_data):
                # UpdateDomain replaces every attribute; the form always sends all three, so nothing is lost.
                domain = services.domain_update(
                    domain_id=obj.domain_id,
                    name=data["name"],
                    description=data["description"],
                    kms_key_id=data["kms_key_id"],
                )
            if set(_SESSION_DEFAULTS) & set(form.changed_data):
                domain = services.domain_session_defaults_update(
                    domain_id=obj.domain_id,
                    acceptance_threshold=data["session_acceptance_threshold"],
                    risk_threshold=data["session_risk_threshold"],
                    minimum_speech_seconds=data["session_minimum_speech_seconds"],
                )
        else:
            # Only the tags changed: leave updated_at alone (and a suspended domain's attributes too).
            return
        adopt(obj, domain)

    def save_formset(
        self, request: HttpRequest, form: ModelForm[Domain], formset: BaseInlineFormSet, change: bool
    ) -> None:
        """Translate the tag rows into one UntagResource and one TagResource, as the API would."""
        domain = form.instance
        deleted_forms = formset.deleted_forms
        untag: list[str] = []
        tag: list[dict[str, str]] = []
        # The admin's change message reads these three lists, which the formset's own save would fill.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for tag_form in formset.forms:
            original_key = tag_form.initial.get("key")
            if tag_form in deleted_forms:
                if tag_form.instance.pk is not None:
                    untag.append(original_key)
                    formset.deleted_objects.append(tag_form.instance)
                continue
            if not tag_form.has_changed():
                continue
            key, value = tag_form.cleaned_data["key"], tag_form.cleaned_data["value"]
            if tag_form.instance.pk is None:
                formset.new_objects.append(tag_form.instance)
            else:
                formset.changed_objects.append((tag_form.instance, tag_form.changed_data))
                if key != original_key:
                    # A renamed key is a new tag: the old key must go, or the domain keeps both.
                    untag.append(original_key)
            tag.append({"Key": key, "Value": value})
        # Untag first, so that a swap of two keys, or a rename at the tag quota, works.
        if untag:
            services.domain_untag(domain=domain, keys=untag)
        if tag:
            services.domain_tag(domain=domain, tags=tag)

    def delete_model(self, request: HttpRequest, obj: Domain) -> None:
        services.domain_delete(domain_id=obj.domain_id)

    def deletion_context(self) -> dict[str, Any]:
        # templates/admin/domains/domain/delete_*confirmation.html say when a suspended domain is erased.
        return {"erased_after": _ERASED_AFTER}

    # Deleting a domain suspends it (DeleteDomain), so the pages and the log say so.

    def get_deleted_objects(
        self, objs: Any, request: HttpRequest
    ) -> tuple[list[Any], dict[str, int], set[str], list[Any]]:
        # Nothing else goes yet: list the domains only, not the rows a hard delete would cascade to.
        domains = [str(domain) for domain in objs]
        return domains, {str(self.opts.verbose_name_plural): len(domains)}, set(), []

    def log_deletions(self, request: HttpRequest, queryset: QuerySet[Domain] | list[Domain]) -> None:
        # The row stays, so its history records a change of status rather than a deletion.
        for domain in queryset:
            self.log_change(request, domain, [{"changed": {"fields": ["status"]}}])

    def response_delete(self, request: HttpRequest, obj_display: str, obj_id: Any) -> HttpResponse:
        if IS_POPUP_VAR in request.POST:
            return super().response_delete(request, obj_display, obj_id)
        self.message_user(request, DOMAIN_SUSPENDED.format(domain=obj_display), messages.SUCCESS)
        changelist_url = reverse("admin:domains_domain_changelist", current_app=self.admin_site.name)
        changelist_url = add_preserved_filters(
            {"preserved_filters": self.get_preserved_filters(request), "opts": self.opts}, changelist_url
        )
        return HttpResponseRedirect(changelist_url)


@admin.register(MasterKey)
class MasterKeyAdmin(ServiceModelAdmin):
    """The local keyring. Key material is never displayed: only ids, state and the domains using a key."""

    list_display = ["key_id", "origin", "enabled", "domains_using", "created_at", "updated_at"]
    list_filter = ["enabled", "origin"]
    search_fields = ["key_id", "description"]
    actions = ["disable_keys", "enable_keys"]
    readonly_fields = ["origin", "enabled", "domains_using", "created_at", "updated_at"]

    def get_fields(self, request: HttpRequest, obj: MasterKey | None = None) -> list[str]:
        if obj is None:
            return ["key_id", "description"]
        return ["key_id", "description", *self.readonly_fields]

    def get_readonly_fields(self, request: HttpRequest, obj: MasterKey | None = None) -> list[str]:
        return [*self.readonly_fields, "key_id"] if obj is not None else []

    def has_delete_permission(self, request: HttpRequest, obj: MasterKey | None = None) -> bool:
        # Deleting a key would destroy every domain it protects: disable it instead, which is reversible.
        return False

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        keyproviders.master_key_sync_configured()
        return super().changelist_view(request, extra_context)

    @admin.display(description="domains using it")
    def domains_using(self, key: MasterKey) -> str:
        usage = (
            DataKey.objects.filter(kms_key_id=key.key_id)
            .values("domain__domain_id", "domain__pk")
            .annotate(generations=Count("pk"))
            .order_by("domain__pk")
        )
        if not usage:
            return "none"
        return format_html_join(
            ", ",
            '<a href="{}">{}</a>',
            (
                (reverse("admin:domains_domain_change", args=[row["domain__pk"]]), row["domain__domain_id"])
                for row in usage
            ),
        )

    def save_model(
        self, request: HttpRequest, obj: MasterKey, form: ModelForm[MasterKey], change: bool
    ) -> None:
        data = form.cleaned_data
        if change:
            key = keyproviders.master_key_update_description(
                key_id=obj.key_id, description=data["description"]
            )
        else:
            key = keyproviders.master_key_create(key_id=data["key_id"], description=data["description"])
        adopt(obj, key)

    def _set_enabled(self, request: HttpRequest, queryset: QuerySet[MasterKey], *, enabled: bool) -> None:
        done = self.apply_each(
            request,
            queryset,
            lambda key: keyproviders.master_key_set_enabled(key_id=key.key_id, enabled=enabled),
        )
        if done:
            state = "Enabled" if enabled else "Disabled"
            effect = (
                "their domains work again"
                if enabled
                else "their domains answer AccessDeniedException until the keys are enabled again; no data is lost"
            )
            self.message_user(
                request, format_html("{} {} key(s): {}.", state, len(done), effect), messages.SUCCESS
            )

    @admin.action(description="Disable selected keys (reversible)", permissions=["change"])
    def disable_keys(self, request: HttpRequest, queryset: QuerySet[MasterKey]) -> None:
        self._set_enabled(request, queryset, enabled=False)

    @admin.action(description="Enable selected keys", permissions=["change"])
    def enable_keys(self, request: HttpRequest, queryset: QuerySet[MasterKey]) -> None:
        self._set_enabled(request, queryset, enabled=True)
