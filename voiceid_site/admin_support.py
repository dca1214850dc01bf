"""Admin plumbing shared by the apps: services do every write, and their errors become admin messages."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected as django_delete_selected
from django.contrib.admin.utils import model_ngettext, quote
from django.core.exceptions import PermissionDenied
from django.db import router, transaction
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from audit import recording as audit_recording
from voiceid_site.exceptions import ServiceError

M = TypeVar("M", bound=Model)

DELETED_SELECTED = "Deleted {count} {items}."


def adopt(target: Model, saved: Model) -> None:
    """Copy the row a service saved onto the admin's unsaved instance.

    The admin keeps using the instance its form built (for inlines, the log entry and the redirect), so
    that instance must become the saved row: same primary key, same service-owned values.
    """
    for field in saved._meta.concrete_fields:
        setattr(target, field.attname, getattr(saved, field.attname))
    target._state.adding = False
    target._state.db = saved._state.db


class ServiceModelAdmin(admin.ModelAdmin):
    """A ModelAdmin whose writes go through services and whose ServiceErrors become error messages.

    Subclasses implement `delete_model` with their service and list "delete_selected" in `actions`, so
    the site-wide bulk delete is replaced by the one below, which reports each refusal separately.
    """

    # `{count}` and `{items}` (the verbose name, singular or plural) are filled in.
    deleted_selected_message: str = DELETED_SELECTED

    def deletion_context(self) -> dict[str, Any]:
        """What a model's own delete confirmation templates need beyond Django's context."""
        return {}

    # Error translation. The change and delete views run inside a transaction, so by the time the error
    # reaches here everything the request wrote (log entry and inline saves included) is rolled back.

    # API member names a refusal's message may start with, and the form field each one is (the refusal is
    # shown beside that field; otherwise above the form).
    refusal_fields: dict[str, str] = {}

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ServiceError as error:
            audit_recording.note_refused(request, status=error.status, error_code=error.code)
            if not getattr(request, "saving_form", False):
                # Refused before any form was saved (an action on the change page, say): nothing to show again.
                self.message_user(request, error.message, messages.ERROR)
                return HttpResponseRedirect(request.get_full_path())
            # Refused while saving: nothing was saved (the view's transaction rolled back). The form comes back
            # as it was sent, inlines included, with the refusal on it (see get_form), so nothing typed is lost.
            # The second pass stops at the form, which that refusal makes invalid: it saves nothing either.
            request.service_refusal = error  # type: ignore[attr-defined]
            return super().changeform_view(request, object_id, form_url, extra_context)

    def save_form(self, request: HttpRequest, form: Any, change: bool) -> Any:
        # The form and its inlines are valid: what follows (save_model, save_related) calls the services.
        request.saving_form = True  # type: ignore[attr-defined]
        return super().save_form(request, form, change)

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form_class = super().get_form(request, obj, change, **kwargs)
        refusal: ServiceError | None = getattr(request, "service_refusal", None)
        if refusal is None:
            return form_class
        field = next(
            (name for member, name in self.refusal_fields.items() if refusal.message.startswith(member)), None
        )

        class Refused(form_class):  # type: ignore[misc,valid-type]
            def clean(self) -> dict[str, Any]:
                cleaned: dict[str, Any] = super().clean()
                self.add_error(field if field in self.fields else None, refusal.message)
                return cleaned

        return Refused

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        try:
            return super().delete_view(
                request, object_id, {**self.deletion_context(), **(extra_context or {})}
            )
        except ServiceError as error:
            audit_recording.note_refused(request, status=error.status, error_code=error.code)
            self.message_user(request, error.message, messages.ERROR)
            change_url = reverse(
                f"admin:{self.opts.app_label}_{self.opts.model_name}_change",
                args=[quote(object_id)],
                current_app=self.admin_site.name,
            )
            return HttpResponseRedirect(change_url)

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        # Actions report per object through `apply_each`; this only catches an error raised outside it.
        try:
            return super().changelist_view(request, extra_context)
        except ServiceError as error:
            audit_recording.note_refused(request, status=error.status, error_code=error.code)
            self.message_user(request, error.message, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def apply_each(self, request: HttpRequest, objects: Iterable[M], write: Callable[[M], object]) -> list[M]:
        """Run `write` on each object, reporting each ServiceError; return the objects it succeeded for.

        Each service call owns its transaction, so one refusal does not undo the others.
        """
        done: list[M] = []
        for obj in objects:
            try:
                write(obj)
            except ServiceError as error:
                self.message_user(request, f"{obj}: {error.message}", messages.ERROR)
            else:
                done.append(obj)
        return done

    # Deletion.

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        for obj in queryset:
            self.delete_model(request, obj)

    def get_deleted_objects(
        self, objs: Iterable[Any], request: HttpRequest
    ) -> tuple[list[Any], dict[str, int], set[str], list[Any]]:
        deleted_objects, model_count, perms_needed, _protected = super().get_deleted_objects(objs, request)
        # The service decides what may be deleted and says why not (a watchlist that still has
        # fraudsters, say); the collector's PROTECT/RESTRICT verdict would hide that behind a dead end.
        return deleted_objects, model_count, perms_needed, []

    @admin.action(permissions=["delete"], description="Delete selected %(verbose_name_plural)s")
    def delete_selected(self, request: HttpRequest, queryset: QuerySet[Any]) -> HttpResponse | None:
        if not request.POST.get("post"):
            # Not confirmed yet: Django's action renders the confirmation page, which posts back here.
            confirmation = django_delete_selected(self, request, queryset)
            if isinstance(confirmation, TemplateResponse):
                confirmation.context_data = {**(confirmation.context_data or {}), **self.deletion_context()}
            return confirmation
        if self.get_deleted_objects(queryset, request)[2]:
            raise PermissionDenied

        def delete_one(obj: Model) -> None:
            # The log entry needs the row, so it is written first, and goes if the service refuses.
            with transaction.atomic(using=router.db_for_write(self.model)):
                self.log_deletions(request, [obj])
                self.delete_model(request, obj)

        done = self.apply_each(request, queryset, delete_one)
        if done:
            message = self.deleted_selected_message.format(
                count=len(done), items=model_ngettext(self.opts, len(done))
            )
            self.message_user(request, message, messages.SUCCESS)
        return None


class SealedNameAdminMixin:
    """Admin pieces for models whose `name` and `description` are sealed (domains, watchlists).

    The list shows the decrypted name (or a placeholder when the key is unavailable), and search matches
    names by decrypting them here: the database holds only ciphertext, and these tables are small (quotas of
    100 domains and 100 watchlists per domain).
    """

    @admin.display(description="name")
    def display_name(self, obj: Model) -> str:
        from domains.sealing import readable

        return readable(obj, "name")

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        from domains.sealing import readable

        found, duplicates = super().get_search_results(request, queryset, search_term)  # type: ignore[misc]
        term = search_term.strip().casefold()
        if not term:
            return found, duplicates
        named = [obj.pk for obj in self.sealed_queryset(queryset) if term in readable(obj, "name").casefold()]
        return found | queryset.filter(pk__in=named), duplicates

    def sealed_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset


def sealed_name_form(model: type[Model], model_fields: list[str], *, operation: str) -> type[Any]:
    """A ModelForm carrying `name` and `description`, which are sealed attributes rather than columns,
    checked against the API `operation`'s Name and Description rules: the admin saves nothing the API
    would refuse (a domain named "bad name!" would come back from DescribeDomain as no client could make)."""
    from django import forms

    from domains.sealing import readable
    from voiceid_site.awsjson import model as service_model
    from voiceid_site.awsjson import validate

    shape_name = service_model.input_shape_name(operation)
    assert shape_name is not None
    validator = validate.validator()
    members = validator.shapes[shape_name]["members"]

    def api_rule(field: str, value: str) -> str:
        if not value:
            return value  # required-ness is the form field's own
        violations = validator.validate(members[field.capitalize()]["shape"], value, field)
        if violations:
            raise forms.ValidationError(f"{operation} would refuse this {field}: {violations[0].constraint}.")
        return value

    class SealedNameForm(forms.ModelForm):
        name = forms.CharField(max_length=256)
        description = forms.CharField(
            max_length=1024, required=False, widget=forms.Textarea(attrs={"rows": 3})
        )

        class Meta:
            fields = model_fields

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            if self.instance.pk is not None:
                self.initial.setdefault("name", readable(self.instance, "name"))
                self.initial.setdefault("description", readable(self.instance, "description"))

        def clean_name(self) -> str:
            return api_rule("name", self.cleaned_data["name"])

        def clean_description(self) -> str:
            return api_rule("description", self.cleaned_data["description"])

    SealedNameForm.Meta.model = model
    SealedNameForm.__name__ = f"{model.__name__}Form"
    return SealedNameForm
