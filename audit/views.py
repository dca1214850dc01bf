"""The audit log screen: search by actor, action, channel, domain, resource and dates; export as CSV."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import date

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_GET

from audit import selectors
from audit.models import AuditEvent
from domains import selectors as domain_selectors
from voiceid_site import pages

PAGE_SIZE = 50
PERMISSION = "audit.view_auditevent"
CSV_COLUMNS = (
    "at",
    "actor",
    "access_key_id",
    "channel",
    "action",
    "domain_id",
    "resource_type",
    "resource_id",
    "speaker_id",
    "source_ip",
    "status",
    "error_code",
    "request_id",
)
FORBIDDEN_MESSAGE = (
    "Your account has no permission to read the audit log. Auditors and superusers can; ask an "
    "administrator to add you to the Auditors group if your work needs it."
)
# A cell starting with one of these is a formula to a spreadsheet: usernames and ids come from outside.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _date(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _filters(request: HttpRequest) -> selectors.AuditFilters:
    query = request.GET
    channel = query.get("channel", "")
    return selectors.AuditFilters(
        actor=query.get("actor", "").strip()[:150],
        action=query.get("action", "").strip()[:100],
        channel=channel if channel in AuditEvent.Channel.values else "",
        domain_id=query.get("domain", "").strip()[:22],
        resource=query.get("resource", "").strip()[:256],
        since=_date(query.get("since", "")),
        until=_date(query.get("until", "")),
    )


def _query_values(filters: selectors.AuditFilters) -> dict[str, str]:
    """The filters as query-string values, for the pager and the export link (bookmarkable URLs)."""
    values = {
        "actor": filters.actor,
        "action": filters.action,
        "channel": filters.channel,
        "domain": filters.domain_id,
        "resource": filters.resource,
        "since": filters.since.isoformat() if filters.since else "",
        "until": filters.until.isoformat() if filters.until else "",
    }
    return {key: value for key, value in values.items() if value}


def _forbidden(request: HttpRequest) -> HttpResponse:
    return render(request, "audit/forbidden.html", {"message": FORBIDDEN_MESSAGE}, status=403)


@require_GET
@login_required
def audit_log(request: pages.HtmxHttpRequest) -> HttpResponse:
    if not request.user.has_perm(PERMISSION):
        return _forbidden(request)
    filters = _filters(request)
    page = selectors.audit_event_page(
        filters=filters, before=pages.keyset_position(request.GET.get("before")), limit=PAGE_SIZE
    )
    unreadable = [
        f"“{request.GET[name]}” ({label})"
        for name, label in (("since", "from"), ("until", "to"))
        if request.GET.get(name) and _date(request.GET[name]) is None
    ]
    context = {
        "date_error": (
            f"{' and '.join(unreadable)} is not a date: use the date picker or YYYY-MM-DD. "
            "That filter was left out."
            if unreadable
            else ""
        ),
        "page": page,
        "filters": filters,
        "query_string": urlencode(_query_values(filters)),
        "channels": AuditEvent.Channel.choices,
        "domains": domain_selectors.domain_choices(),
        "actions": selectors.audit_actions(),
    }
    name = (
        "audit/log.html#audit-rows"
        if request.htmx and request.htmx.target == "audit-rows"
        else "audit/log.html"
    )
    return render(request, name, context)


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _csv_lines(events: Iterator[AuditEvent]) -> Iterator[str]:
    class _Line:
        def write(self, value: str) -> str:
            return value

    writer = csv.writer(_Line())
    yield writer.writerow(CSV_COLUMNS)
    for event in events:
        row = [getattr(event, column) for column in CSV_COLUMNS]
        row[0] = event.at.isoformat()
        yield writer.writerow([_cell(value) for value in row])


@require_GET
@login_required
def audit_export(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm(PERMISSION):
        return _forbidden(request)
    events = selectors.audit_event_export(filters=_filters(request))
    response = StreamingHttpResponse(_csv_lines(events), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    response["Content-Disposition"] = f'attachment; filename="voiceid-audit-{stamp}.csv"'
    return response
