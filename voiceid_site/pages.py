"""Pieces every dashboard app's views share: the typed htmx request, keyset positions, the problem page."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def htmx_target(request: HtmxHttpRequest) -> str | None:
    return request.htmx.target if request.htmx else None


def keyset_position(value: str | None) -> int | None:
    """A keyset position from the query string; anything else starts from the beginning."""
    return int(value) if value and value.isdigit() else None


def problem(
    request: HttpRequest, *, title: str, message: str, status: int, back_url: str, back_label: str
) -> HttpResponse:
    """A page that says what went wrong and where to go back to."""
    context = {"title": title, "message": message, "back_url": back_url, "back_label": back_label}
    return render(request, "problem.html", context, status=status)
