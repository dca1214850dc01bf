"""Dashboard pages of the speakers app: search, describe, opt out and delete."""

from __future__ import annotations

from datetime import UTC, date, datetime

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from audit import recording as audit_recording
from calls import selectors as call_selectors
from domains import selectors as domain_selectors
from domains.views import (
    PAGE_SIZE,
    HtmxHttpRequest,
    chosen_domain,
    not_found,
    permission_required,
    position,
)
from speakers import selectors, services
from speakers.models import Speaker
from voiceid_site import pages
from voiceid_site.exceptions import AccessDenied, ResourceNotFound, ServiceError

VIEW_REFUSED = "Your account may not see speakers. Ask a superuser for the analyst or auditor role."
OPT_OUT_REFUSED = "Your account may look at speakers but not opt them out: that takes the analyst role."
DELETE_REFUSED = "Your account may look at speakers but not delete them: that takes the analyst role."
CONFIRMATIONS = ("opt-out", "delete")
SESSIONS_SHOWN = 20


def _accessed_before(raw: str) -> tuple[datetime | None, str]:
    """The `accessed_before` filter (a YYYY-MM-DD date, midnight UTC) and an error to show if unreadable."""
    if not raw:
        return None, ""
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        return None, f"“{raw}” is not a date: use the date picker or YYYY-MM-DD. The filter was left out."
    return datetime(day.year, day.month, day.day, tzinfo=UTC), ""


@require_GET
@login_required
@permission_required("speakers.view_speaker", VIEW_REFUSED)
def speaker_list(request: HtmxHttpRequest) -> HttpResponse:
    try:
        domain = chosen_domain(request)
    except ResourceNotFound as error:
        return not_found(request, error)
    query = request.GET.get("q", "").strip()
    status, status_error = pages.choice_filter(
        request, "status", Speaker.Status.values, what="speaker status"
    )
    accessed_before, date_error = _accessed_before(request.GET.get("accessed_before", ""))
    page = None
    if domain is not None:
        page = selectors.speaker_search(
            domain=domain,
            speaker_id=query,
            status=status,
            accessed_before=accessed_before,
            after=position(request),
            limit=PAGE_SIZE,
        )
    filters = request.GET.copy()
    filters.pop("after", None)
    context = {
        "domain": domain,
        "domains": domain_selectors.domain_choices(),
        "page": page,
        "query": query,
        "status": status,
        "statuses": Speaker.Status.values,
        "accessed_before": request.GET.get("accessed_before", "") if not date_error else "",
        "date_error": date_error,
        "status_error": status_error,
        "filters": filters.urlencode(),
        "after": position(request),
    }
    name = "speakers/list.html" + ("#speaker-rows" if request.htmx and not request.htmx.boosted else "")
    return render(request, name, context)


def _summary(
    request: HtmxHttpRequest, *, domain_id: str, speaker: Speaker | None, **extra: object
) -> HttpResponse:
    enrollment = selectors.speaker_enrollment(speaker=speaker) if speaker is not None else None
    context = {"domain_id": domain_id, "speaker": speaker, "enrollment": enrollment, **extra}
    name = "speakers/detail.html" + ("#speaker-summary" if request.htmx else "")
    return render(request, name, context)


@require_GET
@login_required
@permission_required("speakers.view_speaker", VIEW_REFUSED)
def speaker_detail(request: HtmxHttpRequest, domain_id: str, speaker_id: str) -> HttpResponse:
    try:
        domain = domain_selectors.domain_get(domain_id=domain_id)
        speaker = selectors.speaker_describe(domain=domain, speaker_id=speaker_id)
    except ResourceNotFound as error:
        return not_found(request, error)
    confirm = request.GET.get("confirm", "")
    allowed = {
        "opt-out": request.user.has_perm("speakers.change_speaker"),
        "delete": request.user.has_perm("speakers.delete_speaker"),
    }
    confirm = confirm if allowed.get(confirm) else ""
    if request.htmx:  # the summary alone: the calls below it stay as they are
        return _summary(request, domain_id=domain_id, speaker=speaker, confirm=confirm)
    calls, calls_error = None, ""
    if request.user.has_perm("calls.view_session"):
        try:
            calls = call_selectors.sessions_of_speaker(domain=domain, speaker=speaker, limit=SESSIONS_SHOWN)
        except AccessDenied as error:
            calls_error = error.message
    return _summary(
        request,
        domain_id=domain_id,
        speaker=speaker,
        confirm=confirm,
        calls=calls,
        calls_error=calls_error,
        calls_limit=SESSIONS_SHOWN,
    )


def _speaker_url(domain_id: str, speaker_id: str) -> str:
    return reverse("speakers:detail", args=[domain_id, speaker_id])


@require_POST
@login_required
@permission_required("speakers.change_speaker", OPT_OUT_REFUSED)
def speaker_opt_out(request: HtmxHttpRequest, domain_id: str, speaker_id: str) -> HttpResponse:
    try:
        domain = domain_selectors.domain_get(domain_id=domain_id)
        speaker = services.speaker_opt_out(domain=domain, speaker_id=speaker_id)
        speaker = selectors.speaker_describe(domain=domain, speaker_id=speaker.generated_speaker_id)
    except ResourceNotFound as error:
        return not_found(request, error)
    except ServiceError as error:
        audit_recording.note_refused(request, status=error.status, error_code=error.code)
        if not request.htmx:
            messages.error(request, f"The speaker was not opted out: {error.message}")
            return redirect(_speaker_url(domain_id, speaker_id))
        speaker = selectors.speaker_describe(domain=domain, speaker_id=speaker_id)
        return _summary(request, domain_id=domain_id, speaker=speaker, error=error.message)
    notice = "Opted out: the voiceprint is erased and retained audio will be purged within 24 hours."
    if not request.htmx:
        messages.success(request, notice)
        return redirect(_speaker_url(domain_id, speaker.generated_speaker_id))
    return _summary(request, domain_id=domain_id, speaker=speaker, notice=notice)


@require_POST
@login_required
@permission_required("speakers.delete_speaker", DELETE_REFUSED)
def speaker_delete(request: HtmxHttpRequest, domain_id: str, speaker_id: str) -> HttpResponse:
    try:
        domain = domain_selectors.domain_get(domain_id=domain_id)
        services.speaker_delete(domain=domain, speaker_id=speaker_id)
    except ResourceNotFound as error:
        return not_found(request, error)
    except ServiceError as error:
        audit_recording.note_refused(request, status=error.status, error_code=error.code)
        if not request.htmx:
            messages.error(request, f"The speaker was not deleted: {error.message}")
            return redirect(_speaker_url(domain_id, speaker_id))
        speaker = selectors.speaker_describe(domain=domain, speaker_id=speaker_id)
        return _summary(request, domain_id=domain_id, speaker=speaker, error=error.message)
    notice = f"Speaker {speaker_id} was deleted with its voiceprint and id mapping; its audio goes within 24 hours."
    if not request.htmx:
        messages.success(request, notice)
        return redirect(f"{reverse('speakers:list')}?domain={domain_id}")
    return _summary(request, domain_id=domain_id, speaker=None, deleted_id=speaker_id, notice=notice)
