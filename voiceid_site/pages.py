"""Pieces every dashboard app's views share: the typed htmx request, keyset positions, list filters, the
problem page, and the page for an error no view caught."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from django.http import HttpRequest, HttpResponse, UnreadablePostError
from django.shortcuts import render
from django.views import defaults
from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def htmx_target(request: HtmxHttpRequest) -> str | None:
    return request.htmx.target if request.htmx else None


def keyset_position(value: str | None) -> int | None:
    """A keyset position from the query string; anything else starts from the beginning."""
    return int(value) if value and value.isdigit() else None


def choice_filter(request: HttpRequest, name: str, allowed: Sequence[str], *, what: str) -> tuple[str, str]:
    """A list's filter `name` from the query string, as (value, error): the value when it is one of `allowed`
    (or absent); else no value and why it was left out, so that an edited or stale link is said, not silently
    shown unfiltered."""
    value = request.GET.get(name, "")
    if not value or value in allowed:
        return value, ""
    return "", f"“{value}” is not a {what} ({', '.join(allowed)}). The filter was left out."


def problem(
    request: HttpRequest, *, title: str, message: str, status: int, back_url: str, back_label: str
) -> HttpResponse:
    """A page that says what went wrong and where to go back to."""
    context = {"title": title, "message": message, "back_url": back_url, "back_label": back_label}
    return render(request, "problem.html", context, status=status)


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500. A request whose body stopped arriving (voiceid_site/gunicorn_conf.py) fails wherever the
    body is first read, which no view can catch; that is the client's doing, so it is a 400 page (logged as a
    bad request, not as a server error). Anything else is the plain 500 page."""
    error = sys.exc_info()[1]  # Django calls this inside its handler for the uncaught exception
    if isinstance(error, UnreadablePostError):
        return problem(
            request,
            title="The request did not arrive in full",
            message="The form stopped arriving before all of it was sent. Check the connection and try again.",
            status=400,
            back_url="/",
            back_label="Back to the dashboard",
        )
    return defaults.server_error(request)
