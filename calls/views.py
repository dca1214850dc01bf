"""Dashboard pages of call sessions: recent calls with their decisions, one call, live while it streams, and
a form that evaluates an uploaded recording against a speaker.

The call pages show what EvaluateSession last stored on the session row and never run the voice engine;
the evaluate form runs it on the upload, through calls.recordings, and stores nothing.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.files.uploadedfile import UploadedFile
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from calls import recordings, selectors
from domains import selectors as domain_selectors
from domains.views import chosen_domain, not_found, permission_required
from speakers import selectors as speaker_selectors
from voiceid_site import pages
from voiceid_site.exceptions import ResourceNotFound, ServiceError
from voiceprints.audio import AudioError

PAGE_SIZE = 25
DOMAIN_CHOICES_LIMIT = 500


def _problem(request: HttpRequest, *, title: str, message: str, status: int) -> HttpResponse:
    return pages.problem(
        request,
        title=title,
        message=message,
        status=status,
        back_url=reverse("calls:list"),
        back_label="Back to recent calls",
    )


def _cannot_see(request: HttpRequest) -> HttpResponse:
    return _problem(
        request,
        title="You may not see calls",
        message="Your account has no permission to view call sessions. Ask an administrator to add you to "
        "the Analysts or Auditors group.",
        status=403,
    )


@require_GET
@login_required
def call_list(request: pages.HtmxHttpRequest) -> HttpResponse:
    if not request.user.has_perm("calls.view_session"):
        return _cannot_see(request)
    domain_id = request.GET.get("domain", "")
    try:
        domain = domain_selectors.domain_get(domain_id=domain_id) if domain_id else None
    except ResourceNotFound as error:
        return _problem(
            request, title="No such domain", message=f"{error.message} Pick another domain.", status=404
        )
    page = selectors.session_recent_page(
        domain=domain, before=pages.keyset_position(request.GET.get("before")), limit=PAGE_SIZE
    )
    overviews = [selectors.session_overview(session) for session in page.items]
    context = {
        "page": page,
        "overviews": overviews,
        "any_live": any(overview.is_live for overview in overviews),
        "domain": domain,
        "domains": domain_selectors.domain_list(after=None, limit=DOMAIN_CHOICES_LIMIT).items,
        "filters": {"domain": domain_id} if domain_id else {},
    }
    name = "calls/list.html" + ("#call-rows" if pages.htmx_target(request) == "call-rows" else "")
    return render(request, name, context)


@require_GET
@login_required
def call_detail(request: pages.HtmxHttpRequest, session_id: str) -> HttpResponse:
    if not request.user.has_perm("calls.view_session"):
        return _cannot_see(request)
    try:
        session = selectors.session_find_by_id(session_id=session_id)
    except ResourceNotFound as error:
        return _problem(request, title="No such call", message=error.message, status=404)
    context = {
        "call": selectors.session_overview(session),
        # Linked by its generated id: a customer id in a URL would reach access logs and browser history.
        "speaker": speaker_selectors.speaker_find(domain=session.domain, speaker_id=session.speaker_ref)
        if session.speaker_ref
        else None,
    }
    if pages.htmx_target(request) == "session-results":
        return render(request, "calls/detail.html#session-results", context)
    return render(request, "calls/detail.html", context)


# --- evaluate a recording against a speaker --------------------------------------------------------

EVALUATE_REFUSED = (
    "Evaluating a recording reads a speaker's voiceprint, which takes permission to view speakers. Ask an "
    "administrator to add you to the Analysts or Auditors group."
)


class EvaluateRecordingForm(forms.Form):
    domain = forms.ChoiceField(
        label="Domain", help_text="The speaker is looked up, and the recording screened, in this domain."
    )
    speaker_id = forms.CharField(
        label="Speaker id",
        max_length=256,
        help_text="The customer's own id, or the generated id voiceid gave the speaker (id#…).",
    )
    recording = forms.FileField(
        label="Recording (WAV, at most 20 MB)",
        help_text="WAV with 8-48 kHz PCM, float or G.711 audio, holding the speech the domain's sessions need "
        "to decide (10 s unless a superuser changed it).",
        widget=forms.ClearableFileInput(attrs={"accept": ".wav,audio/wav,audio/x-wav"}),
    )
    channel = forms.TypedChoiceField(
        label="Caller channel",
        choices=[(0, "0 (mono, or the left channel)"), (1, "1 (the right channel)")],
        coerce=int,
        initial=0,
    )

    def __init__(self, *args: Any, domains: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["domain"].choices = domains

    def clean_recording(self) -> UploadedFile:
        recording: UploadedFile = self.cleaned_data["recording"]
        if recording.size is not None and recording.size > recordings.MAX_RECORDING_BYTES:
            raise forms.ValidationError(recordings.TOO_LARGE)
        return recording


@require_http_methods(["GET", "POST"])
@login_required
@permission_required("speakers.view_speaker", EVALUATE_REFUSED)
def recording_evaluate(request: pages.HtmxHttpRequest) -> HttpResponse:
    """GET: the form; POST: the decisions for the upload (changes nothing, so auditors may use it too)."""
    try:
        domain = chosen_domain(request)  # what the form starts with: the link's ?domain=, else the default
    except ResourceNotFound as error:
        return not_found(request, error)
    # The domain is one of the form's fields, so what is evaluated is always what the form showed.
    form = EvaluateRecordingForm(
        request.POST or None,
        request.FILES or None,
        domains=domain_selectors.domain_choices(),
        initial={"domain": domain.domain_id if domain else None},
    )
    result = None
    if request.method == "POST" and form.is_valid():
        try:
            domain = domain_selectors.domain_get(domain_id=form.cleaned_data["domain"])
            result = recordings.recording_evaluate(
                domain=domain,
                speaker_id=form.cleaned_data["speaker_id"].strip(),
                wav=form.cleaned_data["recording"].read(),
                channel=form.cleaned_data["channel"],
            )
        except AudioError as error:
            # What was wrong, and what this form takes (the engine's list of formats is the API's).
            form.add_error(
                "recording",
                f"{error.problem[:1].upper()}{error.problem[1:]}. Accepted here: {form.fields['recording'].help_text}",
            )
        except ResourceNotFound as error:  # deleted since the form was drawn
            form.add_error("domain", error.message)
        except ServiceError as error:
            form.add_error(None, error.message)
    context = {
        "domain": domain,
        "form": form,
        "result": result,
    }
    return render(request, "calls/evaluate.html", context, status=400 if form.errors else 200)
