"""Reads of the audit log: the filtered search (screen and CSV), and the look-ups the recorder needs."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.apps import apps
from django.db.models import Q, QuerySet

from audit import catalogue
from audit.models import AuditEvent
from domains import envelope
from domains.models import Domain
from speakers.models import Speaker
from voiceid_site.exceptions import AccessDenied
from voiceid_site.paging import Page, keyset_page_newest


@dataclass(frozen=True)
class AuditFilters:
    actor: str = ""
    action: str = ""
    channel: str = ""
    domain_id: str = ""
    resource: str = ""  # a generated id, or a CustomerSpeakerId found by its digest
    since: date | None = None
    until: date | None = None  # inclusive: the whole day

    @property
    def active(self) -> bool:
        return any(getattr(self, name) for name in self.__dataclass_fields__)


def _resource_match(*, value: str, domain_id: str) -> Q:
    """A resource id as given, or a customer id: its digest in each domain, and the speakers it names now."""
    match = Q(resource_id=value) | Q(speaker_id=value)
    domains = Domain.objects.all()
    if domain_id:
        domains = domains.filter(domain_id=domain_id)
    digests: list[bytes] = []
    generated: list[str] = []
    for domain in domains:
        try:
            found = envelope.lookup_digests(domain, value)
        except AccessDenied:
            continue  # that domain's key is unavailable: its events can be found by generated id only
        digests.extend(found)
        generated.extend(
            Speaker.objects.filter(domain=domain, customer_speaker_index__in=found).values_list(
                "generated_speaker_id", flat=True
            )
        )
    if digests:
        match |= Q(customer_id_digest__in=digests)
        # A deleted speaker is no longer in the speakers table: its generated id is found through the events
        # that recorded both (an API call by customer id, a dashboard page of the speaker).
        generated.extend(
            AuditEvent.objects.filter(customer_id_digest__in=digests, resource_type=catalogue.SPEAKER)
            .exclude(resource_id="")
            .values_list("resource_id", flat=True)
            .distinct()
        )
    if generated:
        # Events that named the speaker by its generated id, recorded before or after.
        match |= Q(resource_id__in=generated) | Q(speaker_id__in=generated)
    return match


def audit_event_search(*, filters: AuditFilters) -> QuerySet[AuditEvent]:
    events = AuditEvent.objects.all()
    if filters.actor:
        events = events.filter(Q(actor__iexact=filters.actor) | Q(access_key_id=filters.actor))
    if filters.action:
        match = Q()
        for action in catalogue.actions_meaning(filters.action):
            match |= Q(action__iexact=action)
        events = events.filter(match)
    if filters.channel:
        events = events.filter(channel=filters.channel)
    if filters.domain_id:
        events = events.filter(domain_id=filters.domain_id)
    if filters.resource:
        events = events.filter(_resource_match(value=filters.resource, domain_id=filters.domain_id))
    if filters.since:
        events = events.filter(at__gte=datetime.combine(filters.since, time.min, tzinfo=UTC))
    if filters.until:
        events = events.filter(
            at__lt=datetime.combine(filters.until + timedelta(days=1), time.min, tzinfo=UTC)
        )
    return events


def audit_event_page(*, filters: AuditFilters, before: int | None, limit: int) -> Page[AuditEvent]:
    return keyset_page_newest(audit_event_search(filters=filters), before=before, limit=limit)


def audit_event_export(*, filters: AuditFilters, chunk_size: int = 2000) -> Iterator[AuditEvent]:
    """Every matching event, newest first, streamed from the database in chunks."""
    return audit_event_search(filters=filters).order_by("-pk").iterator(chunk_size=chunk_size)


def audit_actions() -> list[str]:
    """Action names for the search form's suggestions: the catalogued ones (the table is not scanned)."""
    pages = {page for pages in catalogue.DASHBOARD_EQUIVALENTS.values() for page in pages}
    return sorted(catalogue.API_OPERATIONS) + sorted(pages | catalogue.DASHBOARD_READS)


def speaker_digest(*, domain_id: str, generated_speaker_id: str) -> bytes | None:
    """The keyed digest a speaker's customer id is indexed by, while the speaker exists (None otherwise)."""
    index = (
        Speaker.objects.filter(domain__domain_id=domain_id, generated_speaker_id=generated_speaker_id)
        .values_list("customer_speaker_index", flat=True)
        .first()
    )
    return bytes(index) if index else None


def domain_of_resource(*, resource_type: str, resource_id: str) -> str:
    """The DomainId a job or session belongs to, for dashboard URLs that do not name it ('' if unknown)."""
    if resource_type == catalogue.JOB:
        from jobs.models import BatchJob

        return (
            BatchJob.objects.filter(job_id=resource_id).values_list("domain__domain_id", flat=True).first()
            or ""
        )
    if resource_type == catalogue.SESSION:
        from calls.models import Session

        return (
            Session.objects.filter(session_id=resource_id).values_list("domain__domain_id", flat=True).first()
            or ""
        )
    return ""


def admin_objects(*, model_key: str, primary_keys: list[str]) -> list[tuple[str, str]]:
    """(DomainId, generated id) of admin objects, by primary key, for the admin's audit events."""
    resource_type, id_field = catalogue.ADMIN_MODELS[model_key]
    app_label, model_name = model_key.split("_", 1)
    model = apps.get_model(app_label, model_name)
    keys = [key for key in primary_keys if key.isdigit()]
    if not keys:
        return []
    if resource_type == catalogue.DOMAIN:
        rows = model.objects.filter(pk__in=keys).values_list("domain_id", "domain_id")
    elif resource_type == catalogue.ACCESS_KEY:
        return [("", key_id) for key_id in model.objects.filter(pk__in=keys).values_list(id_field, flat=True)]
    else:
        rows = model.objects.filter(pk__in=keys).values_list("domain__domain_id", id_field)
    return [(domain_id, object_id) for domain_id, object_id in rows]
