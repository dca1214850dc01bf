"""Request ids and the server version on every response, as AWS and LocalStack clients expect; API calls
routed past the dashboard's middleware."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import resolve_url
from django.utils.cache import add_never_cache_headers, patch_cache_control
from django.utils.http import urlencode
from django_htmx.http import HttpResponseClientRedirect

import voiceid_site
from voiceid_site import pages
from voiceid_site.awsjson import wire
from voiceid_site.awsjson.dispatch import dispatch
from voiceid_site.exceptions import UnknownOperation
from voiceid_site.logs import request_id_var


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = str(uuid.uuid4())
        request.request_id = request_id  # type: ignore[attr-defined]
        token = request_id_var.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response["x-amzn-RequestId"] = request_id
        response["X-Voiceid-Version"] = voiceid_site.__version__
        return response


class ApiMiddleware:
    """AWS JSON API calls (`POST /`) go straight to the dispatcher, past the dashboard's middleware.

    They are SigV4-signed, so the cookie session, CSRF, login, messages, dashboard audit, htmx and CSP
    layers below have nothing to do for them, and a live call sends four of them a second: the layers cost
    about 0.5 ms of a streamed chunk's 10 ms of CPU (measured in process, interleaved). Placed after
    SecurityMiddleware, whose headers and HTTPS redirect apply to the API too; the Host header is checked
    against ALLOWED_HOSTS here, as CommonMiddleware would have.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info == "/" and request.method == "POST":
            request.get_host()  # DisallowedHost: Django answers 400, as for any other page
            return dispatch(request)
        if request.path_info == "/" and request.method not in ("GET", "HEAD", "OPTIONS"):
            # A client calling the API with another method gets an answer its SDK can read, not the
            # dashboard's CSRF page.
            request.get_host()
            return wire.error_response(
                UnknownOperation(f"Voice ID operations are called with POST /, not {request.method}.")
            )
        return self.get_response(request)


class PrivatePagesMiddleware:
    """Pages are never stored by the browser: Back after an opt-out or a deletion fetches the page afresh
    instead of showing the speaker as it was, and no page holding customer ids is kept in a disk cache.

    Static files (WhiteNoise, above) and the API (ApiMiddleware, above) never reach this layer; a view that
    sets its own Cache-Control keeps it. A page that answers a form (an evaluation's result, a form sent back
    with its errors) is only made private: Back to it could otherwise not be shown without sending the form
    again (Chromium's "Confirm Form Resubmission"), and it shows what that form did, not a list that changed.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.has_header("Cache-Control"):
            return response
        if request.method in ("GET", "HEAD"):
            add_never_cache_headers(response)
        else:
            patch_cache_control(response, private=True)
        return response


class HtmxSignInMiddleware:
    """An htmx request from a browser whose session ended (signed out in another tab, expired) is sent to
    sign in as a whole page, coming back to the page it was on.

    login_required answers a redirect, which htmx follows inside the request: the sign-in page was swapped
    into the part the button meant to update, and signing in there went to the POST-only URL of the action
    (a 405). The action itself is not redone: after signing in, the person sees the page and chooses again.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        htmx = getattr(request, "htmx", None)
        if not (htmx and response.status_code == 302 and not request.user.is_authenticated):
            return response
        sign_in = resolve_url(settings.LOGIN_URL)
        if not response["Location"].startswith(sign_in):
            return response
        page = htmx.current_url_abs_path or "/"  # the page it was on, if on this site
        return HttpResponseClientRedirect(f"{sign_in}?{urlencode({REDIRECT_FIELD_NAME: page})}")


class NulRefusingMiddleware:
    """A page request whose query or form fields hold a NUL character is refused with a 400 page.

    No field of the dashboard or the admin takes one, and PostgreSQL refuses one in any query, so it would
    otherwise end as a 500 wherever a filter reaches the database (`?domain=%00`). The API checks its own
    members (voiceid_site.awsjson.validate) and never reaches this layer.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        queries = [request.GET, request.POST] if request.method == "POST" else [request.GET]
        if any(_holds_nul(query) for query in queries):
            return pages.problem(
                request,
                title="Not a request voiceid can read",
                message="A field of this request holds a NUL character, which no field takes. "
                "Check the link or the form you came from.",
                status=400,
                back_url="/",
                back_label="Back to the dashboard",
            )
        return self.get_response(request)


def _holds_nul(query: QueryDict) -> bool:
    return any("\x00" in name or any("\x00" in value for value in values) for name, values in query.lists())
