"""The root URL: AWS JSON API calls (POST with X-Amz-Target); browsers get the home page, or the dashboard
once signed in."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt

from voiceid_site.awsjson.dispatch import dispatch


@csrf_exempt  # SigV4 authenticates API calls; there is no cookie session to forge.
def root(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return dispatch(request)
    if request.method in ("GET", "HEAD"):
        if request.user.is_authenticated:
            return redirect("domains:list")
        return render(request, "home.html")
    return HttpResponseNotAllowed(["GET", "HEAD", "POST"])
