"""Dashboard pages of the domains app, and the small helpers every dashboard view shares.

The helpers live here because every other screen hangs off a domain: they pick the domain a URL names,
read the keyset position, and answer a refused action with a 403 page that says why.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET
from django_htmx.middleware import HtmxDetails

from domains import selectors
from domains.models import Domain
from voiceid_site.exceptions import ResourceNotFound

PAGE_SIZE = 25


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


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
    after = request.GET.get("after", "")
    return int(after) if after.isdigit() else None


def chosen_domain(request: HttpRequest, domain_id: str | None = None) -> Domain | None:
    """The domain the URL names (`?domain=` or a path part), else the default one; None when there is none.

    An unknown id raises ResourceNotFound, which the calling view turns into a 404 page.
    """
    domain_id = domain_id or request.GET.get("domain", "")
    if domain_id:
        return selectors.domain_get(domain_id=domain_id)
    return selectors.domain_default()


def not_found(request: HttpRequest, error: ResourceNotFound) -> HttpResponse:
    return render(request, "domains/not_found.html", {"message": error.message}, status=404)


@require_GET
@login_required
@permission_required("domains.view_domain", "Your account may not see domains. Ask a superuser for a role.")
def domain_list(request: HtmxHttpRequest) -> HttpResponse:
    page = selectors.domain_dashboard_list(after=position(request), limit=PAGE_SIZE)
    name = "domains/list.html" + ("#domain-rows" if request.htmx else "")
    return render(request, name, {"page": page, "after": position(request)})
