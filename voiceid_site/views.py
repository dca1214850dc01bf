"""The root URL for browsers: the home page, or the dashboard once signed in. AWS JSON API calls (POST /)
never reach it: voiceid_site.middleware.ApiMiddleware hands them to the dispatcher first."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_safe


@require_safe
def root(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("domains:list")
    return render(request, "home.html")


@require_safe
def favicon(request: HttpRequest) -> HttpResponse:
    """No icon (the dashboard's pages say so with `data:,`); browsers ask for /favicon.ico on the admin's
    pages anyway, and a 404 there is an error in their console."""
    return HttpResponse(status=204)
