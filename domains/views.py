"""Dashboard pages of the domains app, and the small helpers every dashboard view shares.

The helpers live here because every other screen hangs off a domain: they pick the domain a URL names,
read the keyset position, and answer a refused action with a 403 page that says why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET

from calls import selectors as call_selectors
from domains import selectors
from domains.models import Domain
from domains.sealing import readable
from voiceid_site import pages
from voiceid_site.exceptions import ResourceNotFound

PAGE_SIZE = 25


HtmxHttpRequest = pages.HtmxHttpRequest  # re-exported: the other apps' views import it from here


def forbidden(request: HttpRequest, reason: str) -> HttpResponse:
    """403 with a page that says what the account may not do and whom to ask, never a bare error."""
    return render(request, "domains/forbidden.html", {"reason": reason}, status=403)


def permission_required(permission: str, reason: str) -> Callable[[Callable[..., HttpResponse]], Any]:
    """Like Django's, but a signed-in user without the permission gets `forbidden(reason)`, not a login loop."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.has_perm(permission):
                return forbidden(request, reason)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def position(request: HttpRequest) -> int | None:
    """The keyset position (`?after=`) a list continues from; anything unreadable starts at the top."""
    return pages.keyset_position(request.GET.get("after"))


def chosen_domain(request: HttpRequest, domain_id: str | None = None) -> Domain | None:
    """The domain the URL names (`?domain=` or a path part), else the default one; None when there is none.

    An unknown id raises ResourceNotFound, which the calling view turns into a 404 page.
    """
    domain_id = domain_id or request.GET.get("domain", "")
    if domain_id:
        return selectors.domain_get(domain_id=domain_id)
    return selectors.domain_default()


# Where a missing resource's page leads back to: the list it would have been found in.
_BACK_TO = {
    "SPEAKER": ("speakers:list", "Back to the speakers"),
    "FRAUDSTER": ("fraudsters:list", "Back to the fraudsters"),
    "WATCHLIST": ("fraudsters:watchlists", "Back to the watchlists"),
}


def not_found(request: HttpRequest, error: ResourceNotFound) -> HttpResponse:
    url_name, label = _BACK_TO.get(
        error.extra.get("ResourceType", ""), ("domains:list", "Back to the domains")
    )
    back_url = reverse(url_name)
    domain_id = request.resolver_match.kwargs.get("domain_id") if request.resolver_match else None
    if domain_id and url_name != "domains:list":
        back_url += "?" + urlencode({"domain": domain_id})  # the list of the domain the link named
    context = {"message": error.message, "back_url": back_url, "back_label": label}
    return render(request, "domains/not_found.html", context, status=404)


@require_GET
@login_required
@permission_required("domains.view_domain", "Your account may not see domains. Ask a superuser for a role.")
def domain_list(request: HtmxHttpRequest) -> HttpResponse:
    page = selectors.domain_dashboard_list(after=position(request), limit=PAGE_SIZE)
    name = "domains/list.html" + ("#domain-rows" if request.htmx else "")
    return render(request, name, {"page": page, "after": position(request)})


# --- the overview of one domain -------------------------------------------------------------------

# Chart geometry in SVG user units; the <svg> scales to its container's width (viewBox, no inline styles).
CHART_HEIGHT = 160  # the plot area; labels go below it
CHART_LEFT = 34  # room for the y-axis labels
DAY_SLOT = 40
HISTOGRAM_SLOT = 56


@dataclass(frozen=True)
class Bar:
    """One rectangle of a chart, with the class that colours it and the tooltip that explains it."""

    x: int
    y: int
    width: int
    height: int
    css_class: str
    title: str


@dataclass(frozen=True)
class Column:
    """The bars over one label of the x axis."""

    label: str
    label_x: int
    bars: list[Bar]


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    columns: list[Column]
    top: int  # the value the top of the plot stands for
    baseline: int = CHART_HEIGHT
    left: int = CHART_LEFT


def _nice_top(largest: int) -> int:
    """The y axis' top: the largest value rounded up to 1, 2 or 5 times a power of ten (at least 1)."""
    if largest <= 1:
        return 1
    power = 1
    while True:
        for step in (1, 2, 5):
            if step * power >= largest:
                return step * power
        power *= 10


def _stack(x: int, width: int, parts: list[tuple[int, str, str]], top: int) -> list[Bar]:
    """Bars of (value, class, title) stacked upwards from the baseline at x; zero values draw nothing."""
    bars, floor = [], CHART_HEIGHT
    for value, css_class, title in parts:
        if not value:
            continue
        height = max(1, round(value * CHART_HEIGHT / top))
        floor -= height
        bars.append(Bar(x, floor, width, height, css_class, title))
    return bars


def _decision_chart(activity: call_selectors.CallActivity) -> Chart:
    """Per day: a stacked bar of authentication decisions, and beside it a bar of HIGH_RISK calls."""
    top = _nice_top(max(max(day.evaluated, day.high_risk) for day in activity.days))
    columns = []
    for index, day in enumerate(activity.days):
        x = CHART_LEFT + index * DAY_SLOT + 6
        when = day.day.isoformat()
        bars = _stack(
            x,
            16,
            [
                (day.accepted, "bar-accept", f"{when}: {day.accepted} ACCEPT"),
                (day.rejected, "bar-reject", f"{when}: {day.rejected} REJECT"),
                (day.other, "bar-other", f"{when}: {day.other} other decisions"),
            ],
            top,
        )
        bars += _stack(x + 18, 10, [(day.high_risk, "bar-risk", f"{when}: {day.high_risk} HIGH_RISK")], top)
        columns.append(Column(day.day.strftime("%d %b"), x + 14, bars))
    return Chart(CHART_LEFT + len(activity.days) * DAY_SLOT, CHART_HEIGHT + 24, columns, top)


def _score_chart(activity: call_selectors.CallActivity) -> Chart:
    """Per ten points of authentication score: the accepted calls' bar and the rejected calls' bar."""
    top = _nice_top(max(max(b.accepted, b.rejected) for b in activity.score_bins))
    columns = []
    for index, score_bin in enumerate(activity.score_bins):
        x = CHART_LEFT + index * HISTOGRAM_SLOT + 8
        scores = f"scores {score_bin.low}-{score_bin.high}"
        bars = _stack(
            x, 19, [(score_bin.accepted, "bar-accept", f"{scores}: {score_bin.accepted} ACCEPT")], top
        )
        bars += _stack(
            x + 21, 19, [(score_bin.rejected, "bar-reject", f"{scores}: {score_bin.rejected} REJECT")], top
        )
        columns.append(Column(f"{score_bin.low}-{score_bin.high}", x + 20, bars))
    return Chart(CHART_LEFT + len(activity.score_bins) * HISTOGRAM_SLOT, CHART_HEIGHT + 24, columns, top)


@require_GET
@login_required
@permission_required("domains.view_domain", "Your account may not see domains. Ask a superuser for a role.")
def domain_overview(request: HtmxHttpRequest, domain_id: str) -> HttpResponse:
    try:
        domain = selectors.domain_describe(domain_id=domain_id)
    except ResourceNotFound as error:
        return not_found(request, error)
    activity = call_selectors.session_activity(domain=domain)
    context = {
        "domain": domain,
        "domain_name": readable(domain, "name"),
        "activity": activity,
        "decision_chart": _decision_chart(activity),
        "score_chart": _score_chart(activity),
        # The domain's own default (admin: Session defaults), which calls apply unless they set theirs.
        "default_threshold": domain.session_acceptance_threshold,
        "default_threshold_x": CHART_LEFT + domain.session_acceptance_threshold * HISTOGRAM_SLOT // 10,
        "counts": selectors.domain_counts(domain=domain),
        "jobs": selectors.domain_running_jobs(domain=domain),
    }
    return render(request, "domains/overview.html", context)
