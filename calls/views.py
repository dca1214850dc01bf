"""Dashboard pages of call sessions: recent calls with their decisions, and one call, live while it streams.

Both show what EvaluateSession last stored on the session row; a page never runs the voice engine.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET
from django_htmx.middleware import HtmxDetails

from calls import selectors
from domains import selectors as domain_selectors
from voiceid_site.exceptions import ResourceNotFound

PAGE_SIZE = 25
DOMAIN_CHOICES_LIMIT = 500


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def _htmx_target(request: HtmxHttpRequest) -> str | None:
    return request.htmx.target if request.htmx else None


def _problem(request: HttpRequest, *, title: str, message: str, status: int) -> HttpResponse:
    return render(request, "calls/problem.html", {"title": title, "message": message}, status=status)


def _cannot_see(request: HttpRequest) -> HttpResponse:
    return _problem(
        request,
        title="You may not see calls",
        message="Your account has no permission to view call sessions. Ask an administrator to add you to "
        "the Analysts or Auditors group.",
        status=403,
    )


def _position(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


@require_GET
@login_required
def call_list(request: HtmxHttpRequest) -> HttpResponse:
    if not request.user.has_perm("calls.view_session"):
        return _cannot_see(request)
    domain_id = request.GET.get("domain", "")
    try:
        domain = domain_selectors.domain_get(domain_id=domain_id) if domain_id else None
    except ResourceNotFound as error:
        return _problem(
            request, title="No such domain", message=f"{error.message} Pick another domain.", status=404
        )
    page = selectors.session_recent_page(
        domain=domain, before=_position(request.GET.get("before")), limit=PAGE_SIZE
    )
    overviews = [selectors.session_overview(session) for session in page.items]
    context = {
        "page": page,
        "overviews": overviews,
        "any_live": any(overview.is_live for overview in overviews),
        "domain": domain,
        "domains": domain_selectors.domain_list(after=None, limit=DOMAIN_CHOICES_LIMIT).items,
        "filters": {"domain": domain_id} if domain_id else {},
    }
    name = "calls/list.html" + ("#call-rows" if _htmx_target(request) == "call-rows" else "")
    return render(request, name, context)


@require_GET
@login_required
def call_detail(request: HtmxHttpRequest, session_id: str) -> HttpResponse:
    if not request.user.has_perm("calls.view_session"):
        return _cannot_see(request)
    try:
        session = selectors.session_find_by_id(session_id=session_id)
    except ResourceNotFound as error:
        return _problem(request, title="No such call", message=error.message, status=404)
    context = {"call": selectors.session_overview(session)}
    if _htmx_target(request) == "session-results":
        return render(request, "calls/detail.html#session-results", context)
    return render(request, "calls/detail.html", context)
