"""Dashboard pages of the fraudsters app: watchlists (list, create, describe) and fraudsters (list,
describe, associate with a watchlist, disassociate, delete)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from audit import recording as audit_recording
from domains import selectors as domain_selectors
from domains.models import Domain
from domains.views import (
    PAGE_SIZE,
    HtmxHttpRequest,
    chosen_domain,
    forbidden,
    not_found,
    permission_required,
    position,
)
from fraudsters import selectors, services
from fraudsters.models import Watchlist
from voiceid_site.awsjson import validate
from voiceid_site.exceptions import ResourceNotFound, ServiceError

FRAUDSTERS_REFUSED = "Your account may not see fraudsters. Ask a superuser for the analyst or auditor role."
WATCHLISTS_REFUSED = "Your account may not see watchlists. Ask a superuser for the analyst or auditor role."
CREATE_REFUSED = "Your account may look at watchlists but not create them: that takes the analyst role."
CHANGE_REFUSED = (
    "Your account may look at fraudsters but not change their watchlists: that takes the analyst role."
)
DELETE_REFUSED = "Your account may look at fraudsters but not delete them: that takes the analyst role."
WATCHLIST_CHANGE_REFUSED = (
    "Your account may look at watchlists but not change them: that takes the analyst role."
)
WATCHLIST_DELETE_REFUSED = (
    "Your account may look at watchlists but not delete them: that takes the analyst role."
)


def _watchlist_problems(name: str, description: str) -> dict[str, str]:
    """What is wrong with a new watchlist's fields, by field, checked against the voice-id model's own
    constraints (the ones CreateWatchlist enforces), so the form and the API cannot disagree."""
    request: dict[str, Any] = {"DomainId": "0" * 22, "Name": name}
    if description:
        request["Description"] = description
    problems: dict[str, str] = {}
    for violation in validate.validator().validate("CreateWatchlistRequest", request):
        field = violation.path.split(".")[0]
        if field == "Name":
            problems["name"] = (
                "Give a name of 1 to 256 letters, digits, '_' or '-', starting with a letter or digit."
            )
        elif field == "Description":
            # Both limits said as rules, the one broken first: "desc kept?" read as too long before.
            broken = "is over 1,024 characters" if len(description) > 1024 else "holds a character it may not"
            problems["description"] = (
                f"The description {broken}: use at most 1,024 letters, digits, spaces and _ . : / = + - % @."
            )
    return problems


def _posted_watchlist(request: HtmxHttpRequest) -> dict[str, str]:
    """A watchlist form's fields as posted (create, or rename on the watchlist's page)."""
    return {
        "name": request.POST.get("name", "").strip(),
        "description": request.POST.get("description", "").strip(),
    }


def _watchlist_of(domain_id: str, watchlist_id: str) -> tuple[Domain, Watchlist]:
    """The domain and watchlist a URL names; ResourceNotFound (a 404 page) for either."""
    domain = domain_selectors.domain_get(domain_id=domain_id)
    return domain, selectors.watchlist_get(domain=domain, watchlist_id=watchlist_id)


def _watchlists_page(
    request: HtmxHttpRequest, domain: Domain | None, *, status: int = 200, **extra: Any
) -> HttpResponse:
    page = None
    if domain is not None:
        page = selectors.watchlist_dashboard_list(domain=domain, after=position(request), limit=PAGE_SIZE)
    context = {
        "domain": domain,
        "domains": domain_selectors.domain_choices(),
        "page": page,
        "after": position(request),
        "form": {"name": "", "description": ""},
        "problems": {},
        **extra,
    }
    name = "fraudsters/watchlists.html" + ("#watchlist-panel" if request.htmx else "")
    return render(request, name, context, status=status)


@require_http_methods(["GET", "HEAD", "POST"])
@login_required
@permission_required("fraudsters.view_watchlist", WATCHLISTS_REFUSED)
def watchlists(request: HtmxHttpRequest) -> HttpResponse:
    try:
        domain = chosen_domain(request, request.POST.get("domain"))
    except ResourceNotFound as error:
        return not_found(request, error)
    if request.method != "POST":
        return _watchlists_page(request, domain)
    if not request.user.has_perm("fraudsters.add_watchlist"):
        return forbidden(request, CREATE_REFUSED)
    if domain is None:
        return _watchlists_page(request, domain, status=400, error="Create a domain first.")
    form = _posted_watchlist(request)
    problems = _watchlist_problems(form["name"], form["description"])
    if problems:
        audit_recording.note_refused(request, status=400, error_code="ValidationException")
    else:
        try:
            watchlist = services.watchlist_create(
                domain=domain, name=form["name"], description=form["description"]
            )
        except ServiceError as error:
            audit_recording.note_refused(request, status=error.status, error_code=error.code)
            problems = {"form": error.message}
        else:
            notice = f"Watchlist {form['name']} created ({watchlist.watchlist_id})."
            if not request.htmx:
                messages.success(request, notice)
                return redirect(f"{reverse('fraudsters:watchlists')}?domain={domain.domain_id}")
            return _watchlists_page(request, domain, notice=notice)
    # htmx swaps only 2xx answers: the form with its errors comes back as 200 to an HTMX post.
    return _watchlists_page(
        request, domain, status=200 if request.htmx else 400, form=form, problems=problems
    )


@require_GET
@login_required
@permission_required("fraudsters.view_watchlist", WATCHLISTS_REFUSED)
def watchlist_detail(request: HtmxHttpRequest, domain_id: str, watchlist_id: str) -> HttpResponse:
    try:
        domain, watchlist = _watchlist_of(domain_id, watchlist_id)
    except ResourceNotFound as error:
        return not_found(request, error)
    return _watchlist_page(request, domain, watchlist)


def _watchlist_page(
    request: HtmxHttpRequest, domain: Domain, watchlist: Watchlist, *, status: int = 200, **extra: Any
) -> HttpResponse:
    page = selectors.fraudster_list(
        domain=domain, watchlist=watchlist, after=position(request), limit=PAGE_SIZE
    )
    context = {
        "domain": domain,
        "watchlist": watchlist,
        "page": page,
        "after": position(request),
        "confirm": request.GET.get("confirm") == "delete"
        and request.user.has_perm("fraudsters.delete_watchlist"),
        "form": {"name": watchlist.name, "description": watchlist.description},
        "problems": {},
        **extra,
    }
    return render(request, "fraudsters/watchlist.html", context, status=status)


@require_POST
@login_required
@permission_required("fraudsters.change_watchlist", WATCHLIST_CHANGE_REFUSED)
def watchlist_edit(request: HtmxHttpRequest, domain_id: str, watchlist_id: str) -> HttpResponse:
    try:
        domain, watchlist = _watchlist_of(domain_id, watchlist_id)
    except ResourceNotFound as error:
        return not_found(request, error)
    form = _posted_watchlist(request)
    problems = _watchlist_problems(form["name"], form["description"])
    if problems:
        audit_recording.note_refused(request, status=400, error_code="ValidationException")
    else:
        try:
            services.watchlist_update(
                domain=domain, watchlist_id=watchlist_id, name=form["name"], description=form["description"]
            )
        except ServiceError as error:
            audit_recording.note_refused(request, status=error.status, error_code=error.code)
            problems = {"form": error.message}
        else:
            messages.success(request, f"Watchlist {form['name']} saved.")
            return redirect(reverse("fraudsters:watchlist", args=[domain_id, watchlist_id]))
    return _watchlist_page(request, domain, watchlist, status=400, form=form, problems=problems)


@require_POST
@login_required
@permission_required("fraudsters.delete_watchlist", WATCHLIST_DELETE_REFUSED)
def watchlist_delete(request: HtmxHttpRequest, domain_id: str, watchlist_id: str) -> HttpResponse:
    try:
        domain, watchlist = _watchlist_of(domain_id, watchlist_id)
    except ResourceNotFound as error:
        return not_found(request, error)
    try:
        services.watchlist_delete(domain=domain, watchlist_id=watchlist_id)
    except ServiceError as error:
        audit_recording.note_refused(request, status=error.status, error_code=error.code)
        return _watchlist_page(request, domain, watchlist, status=error.status, delete_error=error.message)
    messages.success(request, f"Watchlist {watchlist.name} ({watchlist_id}) was deleted.")
    return redirect(f"{reverse('fraudsters:watchlists')}?domain={domain_id}")


@require_GET
@login_required
@permission_required("fraudsters.view_fraudster", FRAUDSTERS_REFUSED)
def fraudster_list(request: HtmxHttpRequest) -> HttpResponse:
    try:
        domain = chosen_domain(request)
    except ResourceNotFound as error:
        return not_found(request, error)
    watchlist, filter_notice = None, ""
    if domain is not None and request.GET.get("watchlist"):
        try:
            watchlist = selectors.watchlist_get(domain=domain, watchlist_id=request.GET["watchlist"])
        except ResourceNotFound:
            # Left over from another domain's filter (the domain was changed, the watchlist kept).
            filter_notice = "That watchlist is not in this domain: showing every fraudster of the domain."
    page = None
    if domain is not None:
        page = selectors.fraudster_list(
            domain=domain, watchlist=watchlist, after=position(request), limit=PAGE_SIZE
        )
    filters = request.GET.copy()
    filters.pop("after", None)
    context = {
        "domain": domain,
        "domains": domain_selectors.domain_choices(),
        "watchlists": selectors.watchlist_all(domain=domain) if domain is not None else [],
        "watchlist": watchlist,
        "page": page,
        "after": position(request),
        "filters": filters.urlencode(),
        "filter_notice": filter_notice,
    }
    rows_only = request.htmx and request.htmx.target != "main"  # a new domain reloads the page's main part
    name = "fraudsters/list.html" + ("#fraudster-rows" if rows_only else "")
    return render(request, name, context)


def _fraudster_summary(
    request: HtmxHttpRequest, domain: Domain, fraudster_id: str, *, status: int = 200, **extra: Any
) -> HttpResponse:
    fraudster = selectors.fraudster_get(domain=domain, fraudster_id=fraudster_id)
    memberships = selectors.fraudster_memberships(fraudster=fraudster)
    member_of = {membership.watchlist.pk for membership in memberships}
    context = {
        "domain": domain,
        "fraudster": fraudster,
        "memberships": memberships,
        "other_watchlists": [w for w in selectors.watchlist_all(domain=domain) if w.pk not in member_of],
        "has_voiceprint": selectors.fraudster_has_voiceprint(fraudster=fraudster),
        **extra,
    }
    name = "fraudsters/detail.html" + ("#fraudster-summary" if request.htmx else "")
    return render(request, name, context, status=status)


@require_GET
@login_required
@permission_required("fraudsters.view_fraudster", FRAUDSTERS_REFUSED)
def fraudster_detail(request: HtmxHttpRequest, domain_id: str, fraudster_id: str) -> HttpResponse:
    confirm = request.GET.get("confirm") == "delete" and request.user.has_perm("fraudsters.delete_fraudster")
    try:
        domain = domain_selectors.domain_get(domain_id=domain_id)
        return _fraudster_summary(request, domain, fraudster_id, confirm=confirm)
    except ResourceNotFound as error:
        return not_found(request, error)


def _change_membership(
    request: HtmxHttpRequest, domain_id: str, fraudster_id: str, *, associate: bool
) -> HttpResponse:
    watchlist_id = request.POST.get("watchlist", "")
    detail_url = reverse("fraudsters:detail", args=[domain_id, fraudster_id])
    try:
        domain = domain_selectors.domain_get(domain_id=domain_id)
        selectors.fraudster_get(domain=domain, fraudster_id=fraudster_id)
    except ResourceNotFound as error:
        return not_found(request, error)
    # Named before the change, which refuses an unknown watchlist anyway: a read after it could fail a
    # change that was made.
    try:
        watchlist_name = selectors.watchlist_get(domain=domain, watchlist_id=watchlist_id).name
    except ServiceError:
        watchlist_name = ""
    change = services.fraudster_associate if associate else services.fraudster_disassociate
    try:
        change(domain=domain, fraudster_id=fraudster_id, watchlist_id=watchlist_id)
    except ServiceError as error:
        audit_recording.note_refused(request, status=error.status, error_code=error.code)
        if not request.htmx:
            messages.error(request, error.message)
            return redirect(detail_url)
        return _fraudster_summary(request, domain, fraudster_id, error=error.message)
    notice = f"{'Added to' if associate else 'Removed from'} watchlist {watchlist_name} ({watchlist_id})."
    if not request.htmx:
        messages.success(request, notice)
        return redirect(detail_url)
    return _fraudster_summary(request, domain, fraudster_id, notice=notice)


@require_POST
@login_required
@permission_required("fraudsters.change_fraudster", CHANGE_REFUSED)
def fraudster_associate(request: HtmxHttpRequest, domain_id: str, fraudster_id: str) -> HttpResponse:
    return _change_membership(request, domain_id, fraudster_id, associate=True)


@require_POST
@login_required
@permission_required("fraudsters.change_fraudster", CHANGE_REFUSED)
def fraudster_disassociate(request: HtmxHttpRequest, domain_id: str, fraudster_id: str) -> HttpResponse:
    return _change_membership(request, domain_id, fraudster_id, associate=False)


@require_POST
@login_required
@permission_required("fraudsters.delete_fraudster", DELETE_REFUSED)
def fraudster_delete(request: HtmxHttpRequest, domain_id: str, fraudster_id: str) -> HttpResponse:
    try:
        domain = domain_selectors.domain_get(domain_id=domain_id)
        services.fraudster_delete(domain=domain, fraudster_id=fraudster_id)
    except ResourceNotFound as error:
        return not_found(request, error)
    notice = f"Fraudster {fraudster_id} was deleted from every watchlist; its voiceprint went with it and its audio goes within 24 hours."
    messages.success(request, notice)
    list_url = f"{reverse('fraudsters:list')}?domain={domain_id}"
    if request.htmx:
        return HttpResponseClientRedirect(list_url)
    return redirect(list_url)
