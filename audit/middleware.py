"""Records dashboard and admin requests that read or change biometric data (audit.catalogue lists which).

Placed after AuthenticationMiddleware. The resource is taken from the URL before the view runs (an admin
delete would otherwise leave nothing to name), the outcome from the response after it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, resolve

from audit import catalogue, selectors, services
from audit.models import AuditEvent
from audit.recording import client_ip, refusal_of

logger = logging.getLogger("voiceid.audit")


@dataclass
class _Pending:
    channel: str
    action: str
    resource_type: str = ""
    # (DomainId, resource id) pairs: one event each (an admin action may name many objects).
    targets: list[tuple[str, str]] = field(default_factory=list)
    resource_from_redirect: bool = False
    # A speaker's customer-id digest, read before the view runs (a deletion removes it), so that a search by
    # customer id still finds the event afterwards.
    digest: bytes | None = None


def _may_be_audited(request: HttpRequest, namespace: str, name: str) -> bool:
    """A cheap first test, so the API and unaudited pages cost nothing (not even a session load)."""
    return (
        namespace == "admin"
        or name in catalogue.DASHBOARD_READS
        or (request.method == "POST" and namespace in catalogue.DASHBOARD_POST_NAMESPACES)
    )


def _dashboard(request: HttpRequest, name: str, namespace: str, kwargs: dict[str, Any]) -> _Pending | None:
    is_post = request.method == "POST"
    if not (
        name in catalogue.DASHBOARD_READS or (is_post and namespace in catalogue.DASHBOARD_POST_NAMESPACES)
    ):
        return None
    pending = _Pending(AuditEvent.Channel.DASHBOARD, name)
    _resource_from_kwargs(pending, kwargs)
    if not pending.targets and is_post:
        domain_id = request.POST.get("domain", "") or request.GET.get("domain", "")
        domain_id = domain_id if domain_id.isalnum() else ""
        speaker_id = request.POST.get("speaker_id", "").strip()
        if speaker_id:  # a form naming a speaker (evaluate a recording): a customer id is digested
            pending.resource_type = catalogue.SPEAKER
            pending.targets.append((domain_id, speaker_id))
        else:
            # A form that creates its resource (start a job) names it only in the redirect: see _record.
            pending.resource_from_redirect = True
            pending.targets.append((domain_id, ""))
    if not pending.targets:
        domain_id = request.GET.get("domain", "")  # a list page names its domain in the query string
        pending.targets.append((domain_id if domain_id.isalnum() else "", ""))
    return pending


def _resource_from_kwargs(pending: _Pending, kwargs: dict[str, Any]) -> None:
    for kwarg, resource_type in catalogue.URL_RESOURCE_KWARGS:
        if kwargs.get(kwarg):
            pending.resource_type = resource_type
            resource_id = str(kwargs[kwarg])
            domain_id = str(kwargs.get("domain_id", "")) or selectors.domain_of_resource(
                resource_type=resource_type, resource_id=resource_id
            )
            pending.targets = [(domain_id, resource_id)]
            if resource_type == catalogue.SPEAKER:
                pending.digest = selectors.speaker_digest(
                    domain_id=domain_id, generated_speaker_id=resource_id
                )
            return


def _admin(request: HttpRequest, url_name: str, kwargs: dict[str, Any]) -> _Pending | None:
    model_key, _, view = url_name.rpartition("_")
    if model_key not in catalogue.ADMIN_MODELS or view not in catalogue.ADMIN_VIEWS:
        return None
    if view in ("add", "changelist") and request.method != "POST":
        return None  # the empty form and the list show no one's record
    resource_type, _ = catalogue.ADMIN_MODELS[model_key]
    action = f"admin:{url_name}"
    keys: list[str] = []
    if view == "changelist":
        admin_action = request.POST.get("action", "")
        if not admin_action:
            return None  # a list-editable or search POST, not an action
        action += f" action={admin_action}"
        keys = request.POST.getlist("_selected_action")
    elif kwargs.get("object_id"):
        keys = [str(kwargs["object_id"])]
    if request.method == "POST":
        action += " POST"
    pending = _Pending(AuditEvent.Channel.ADMIN, action, resource_type)
    pending.targets = selectors.admin_objects(model_key=model_key, primary_keys=keys) or [("", "")]
    return pending


def _redirect_target(response: HttpResponse) -> dict[str, Any]:
    """The URL kwargs of where a POST sent the browser (a started job's page names the new job)."""
    location = response.get("HX-Redirect") or (
        response.get("Location") if response.status_code in (301, 302, 303) else ""
    )
    if not location or not location.startswith("/"):
        return {}
    try:
        match = resolve(location.split("?", 1)[0])
    except Resolver404:
        return {}
    return match.kwargs


class AuditMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        pending: _Pending | None = getattr(request, "_audit_pending", None)
        if pending is not None:
            self._record(request, pending, response)
        return response

    def process_view(
        self, request: HttpRequest, view_func: Callable[..., Any], view_args: Any, view_kwargs: dict[str, Any]
    ) -> None:
        match = request.resolver_match
        if match is None or not _may_be_audited(request, match.namespace, match.view_name):
            return
        if not request.user.is_authenticated:
            return  # anonymous requests are sent to sign in: nothing was read or changed
        if request.method == "GET" and request.headers.get("HX-Target") in catalogue.SELF_REFRESHING_PARTS:
            return  # a part of an audited page refreshing itself (catalogue.SELF_REFRESHING_PARTS)
        try:
            if match.namespace == "admin":
                pending = _admin(request, match.url_name or "", view_kwargs)
            else:
                pending = _dashboard(request, match.view_name, match.namespace, view_kwargs)
        except Exception:
            logger.exception("audit: could not prepare the event for %s", match.view_name)
            return
        if pending is not None:
            request._audit_pending = pending  # type: ignore[attr-defined]

    def _record(self, request: HttpRequest, pending: _Pending, response: HttpResponse) -> None:
        try:
            if pending.resource_from_redirect:
                redirected = _Pending(pending.channel, pending.action)
                _resource_from_kwargs(redirected, _redirect_target(response))
                if redirected.targets:
                    pending.resource_type, pending.targets = redirected.resource_type, redirected.targets
            status, error_code = refusal_of(request) or (response.status_code, "")
            for domain_id, resource_id in pending.targets:
                services.audit_event_record(
                    actor=request.user.get_username(),
                    channel=pending.channel,
                    action=pending.action,
                    status=status,
                    error_code=error_code,
                    domain_id=domain_id,
                    resource_type=pending.resource_type if resource_id else "",
                    resource_id=resource_id,
                    source_ip=client_ip(request),
                    request_id=getattr(request, "request_id", ""),
                    known_digest=pending.digest,
                )
        except Exception:
            logger.exception("audit: could not record %s", pending.action)
