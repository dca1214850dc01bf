"""Dashboard pages of batch jobs: the list, a job with its live progress and errors, the output file, and
the form that starts a job from S3 URIs or from an uploaded manifest and its recordings."""

from __future__ import annotations

import io
import json
from pathlib import PurePosixPath
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.uploadedfile import UploadedFile
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from domains import selectors as domain_selectors
from domains.models import Domain
from fraudsters import selectors as fraudster_selectors
from jobs import s3, selectors, services, uploads
from jobs.models import BatchJob
from voiceid_site import pages
from voiceid_site.awsjson import model
from voiceid_site.awsjson.validate import validator
from voiceid_site.exceptions import ResourceNotFound, ServiceError

PAGE_SIZE = 25
ERRORS_PAGE_SIZE = 50
DOMAIN_CHOICES_LIMIT = 500
# Recorded with the job as Voice ID did; there is no IAM here to assume it (docs/jobs.md).
EXAMPLE_ROLE_ARN = "arn:aws:iam::123456789012:role/VoiceIdBatchAccess"
Kind = BatchJob.Kind
_OPERATION = {
    Kind.SPEAKER_ENROLLMENT: "StartSpeakerEnrollmentJob",
    Kind.FRAUDSTER_REGISTRATION: "StartFraudsterRegistrationJob",
}
_CONFIG_MEMBER = {
    Kind.SPEAKER_ENROLLMENT: "EnrollmentConfig",
    Kind.FRAUDSTER_REGISTRATION: "RegistrationConfig",
}


def _problem(request: HttpRequest, *, title: str, message: str, status: int) -> HttpResponse:
    return pages.problem(
        request,
        title=title,
        message=message,
        status=status,
        back_url=reverse("jobs:list"),
        back_label="Back to batch jobs",
    )


def _cannot_see(request: HttpRequest) -> HttpResponse:
    return _problem(
        request,
        title="You may not see batch jobs",
        message="Your account has no permission to view batch jobs. Ask an administrator to add you to the "
        "Analysts or Auditors group.",
        status=403,
    )


def _domain_choices() -> list[Domain]:
    return domain_selectors.domain_list(after=None, limit=DOMAIN_CHOICES_LIMIT).items


# --- list ------------------------------------------------------------------------------------------


@require_GET
@login_required
def job_list(request: pages.HtmxHttpRequest) -> HttpResponse:
    if not request.user.has_perm("jobs.view_batchjob"):
        return _cannot_see(request)
    domain_id = request.GET.get("domain", "")
    kind, kind_error = pages.choice_filter(request, "kind", Kind.values, what="kind of job")
    status, status_error = pages.choice_filter(request, "status", BatchJob.Status.values, what="job status")
    filter_errors = [error for error in (kind_error, status_error) if error]
    try:
        domain = domain_selectors.domain_get(domain_id=domain_id) if domain_id else None
    except ResourceNotFound as error:
        return _problem(
            request,
            title="No such domain",
            message=f"{error.message} Pick a domain from the list of jobs instead.",
            status=404,
        )
    page = selectors.job_recent_page(
        domain=domain,
        kind=kind,
        status=status,
        before=pages.keyset_position(request.GET.get("before")),
        limit=PAGE_SIZE,
    )
    filters = {
        key: value for key, value in (("domain", domain_id), ("kind", kind), ("status", status)) if value
    }
    context = {
        "page": page,
        "domain": domain,
        "domains": _domain_choices(),
        "filters": filters,
        "kinds": Kind.choices,
        "statuses": BatchJob.Status.choices,
        "filtered": bool(filters),
        "filter_errors": filter_errors,
    }
    name = "jobs/list.html" + ("#job-rows" if pages.htmx_target(request) == "job-rows" else "")
    return render(request, name, context)


# --- detail, progress, output ----------------------------------------------------------------------


@require_GET
@login_required
def job_detail(request: pages.HtmxHttpRequest, job_id: str) -> HttpResponse:
    if not request.user.has_perm("jobs.view_batchjob"):
        return _cannot_see(request)
    try:
        job = selectors.job_find(job_id=job_id)
    except ResourceNotFound as error:
        return _problem(request, title="No such job", message=error.message, status=404)
    errors = selectors.job_entry_errors(
        job=job, after=pages.keyset_position(request.GET.get("errors_after")), limit=ERRORS_PAGE_SIZE
    )
    context = {"job": job, "errors": errors, "config": json.dumps(job.config, indent=2)}
    target = pages.htmx_target(request)
    if target == "job-summary":
        return render(request, "jobs/detail.html#job-summary", context)
    if target == "more-errors":
        return render(request, "jobs/detail.html#error-rows", context)
    return render(request, "jobs/detail.html", context)


@require_GET
@login_required
def job_progress(request: pages.HtmxHttpRequest, job_id: str) -> HttpResponse:
    """The progress bar alone: it polls itself while the job runs and comes back without the trigger after."""
    if not request.user.has_perm("jobs.view_batchjob"):
        return _cannot_see(request)
    try:
        job = selectors.job_find(job_id=job_id)
    except ResourceNotFound as error:
        return _problem(request, title="No such job", message=error.message, status=404)
    response = render(request, "jobs/detail.html#job-progress", {"job": job})
    if not job.is_active:
        # Tells the job page to refresh its summary (status, end time, download) once, as the job ended.
        response["HX-Trigger"] = "job-ended"
    elif request.GET.get("seen") != job.progress_mark:
        # The bar moved since it was drawn: so did the summary's counts and status, which follow it.
        response["HX-Trigger"] = "job-progressed"
    return response


def _no_output_reason(job: BatchJob) -> str:
    if job.is_active:
        return "The job is still running: its output file is written when every request is done."
    if job.status == BatchJob.Status.FAILED:
        reason = job.failure_message or "no reason was recorded"
        return f"A failed job writes no output file. It failed with {job.failure_status_code}: {reason}"
    return "The job recorded no output file."


@require_GET
@login_required
def job_output(request: HttpRequest, job_id: str) -> HttpResponse:
    """The output file as an attachment, decrypted when the job wrote it under a KMS key."""
    if not request.user.has_perm("jobs.view_batchjob"):
        return _cannot_see(request)
    try:
        job = selectors.job_find(job_id=job_id)
    except ResourceNotFound as error:
        return _problem(request, title="No such job", message=error.message, status=404)
    if not job.output_file_uri:
        return _problem(request, title="No output file", message=_no_output_reason(job), status=404)
    try:
        data = s3.read_output(job.output_file_uri)
    except s3.StorageError as error:
        return _problem(
            request,
            title="The output file cannot be read",
            message=f"{error.message} The job's results are still listed on its page.",
            status=503 if error.status_code == 503 else 404,
        )
    filename = PurePosixPath(job.output_file_uri).name
    return FileResponse(
        io.BytesIO(data), as_attachment=True, filename=filename, content_type="application/json"
    )


# --- start -----------------------------------------------------------------------------------------


class _MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class _MultipleFileField(forms.FileField):
    widget = _MultipleFileInput

    def clean(self, data: Any, initial: Any = None) -> list[UploadedFile]:
        files = data if isinstance(data, list | tuple) else [data]
        single = super().clean
        return [single(item, initial) for item in files if item]


class StartJobForm(forms.Form):
    domain = forms.ChoiceField()
    kind = forms.ChoiceField(label="Kind of job", choices=Kind.choices)
    job_name = forms.CharField(label="Job name (optional)", required=False)
    manifest_uri = forms.CharField(
        label="Manifest S3 URI",
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "s3://recordings/manifest.json"}),
        help_text="The manifest JSON already in S3, e.g. s3://recordings/manifest.json.",
    )
    manifest_file = forms.FileField(
        label="…or upload a manifest",
        required=False,
        help_text="Recordings it names by file name (not s3://) are taken from the files uploaded below.",
    )
    recordings = _MultipleFileField(label="Recordings the uploaded manifest names", required=False)
    output_uri = forms.CharField(
        label="Output folder S3 URI",
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "s3://recordings/output"}),
        help_text="Where the output file goes, e.g. s3://recordings/output. With an upload it may stay empty: "
        "the output then goes next to the uploaded files.",
    )
    kms_key_id = forms.CharField(label="KMS key id for the output (optional)", required=False)
    role_arn = forms.CharField(
        label="Data access role ARN",
        initial=EXAMPLE_ROLE_ARN,
        widget=forms.TextInput(attrs={"placeholder": EXAMPLE_ROLE_ARN}),
        help_text="Recorded with the job as Voice ID did; voiceid reads S3 with its own configured access.",
    )
    # EnrollmentConfig
    existing_enrollment_action = forms.ChoiceField(
        label="An already enrolled speaker",
        choices=[("SKIP", "Skip it"), ("OVERWRITE", "Overwrite its voiceprint")],
        required=False,
    )
    fraud_detection_action = forms.ChoiceField(
        label="Fraud check before enrolling",
        choices=[("FAIL", "Refuse speakers who match a fraudster"), ("IGNORE", "Skip the check")],
        required=False,
    )
    risk_threshold = forms.IntegerField(
        label="Risk threshold (0-100, default 50)", required=False, min_value=0, max_value=100
    )
    # RegistrationConfig
    duplicate_registration_action = forms.ChoiceField(
        label="A voice already registered",
        choices=[("SKIP", "Skip it"), ("REGISTER_AS_NEW", "Register it as a new fraudster")],
        required=False,
    )
    similarity_threshold = forms.IntegerField(
        label="Fraudster similarity threshold (0-100, default 70)", required=False, min_value=0, max_value=100
    )
    watchlist_id = forms.ChoiceField(
        label="Watchlist",
        required=False,
        help_text="One of the job's domain's watchlists: an enrollment's fraud check screens against it, a "
        "registration's fraudsters join it.",
        error_messages={
            "invalid_choice": "%(value)s is not a watchlist of any domain listed: pick one from the list."
        },
    )

    def __init__(self, *args: Any, domains: list[Domain], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        labels = {domain.domain_id: f"{domain.name} ({domain.domain_id})" for domain in domains}
        self.fields["domain"].choices = list(labels.items())
        # Each domain's watchlists under its name; the job checks the chosen one against its domain (clean).
        self._watchlist_domains: dict[str, tuple[str, str]] = {}
        groups: list[tuple[str, list[tuple[str, str]]]] = []
        by_domain = fraudster_selectors.watchlists_by_domain(domains=domains)
        for domain in domains:
            watchlists = by_domain[domain.pk]
            groups.append((labels[domain.domain_id], [(w.watchlist_id, w.choice_label) for w in watchlists]))
            for watchlist in watchlists:
                self._watchlist_domains[watchlist.watchlist_id] = (domain.domain_id, watchlist.choice_label)
        self.fields["watchlist_id"].choices = [("", "The domain's default watchlist"), *groups]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        uploaded = data.get("manifest_file")
        if uploaded and data.get("manifest_uri"):
            self.add_error("manifest_uri", "Give either a manifest S3 URI or an uploaded manifest, not both.")
        elif not uploaded and not data.get("manifest_uri"):
            self.add_error("manifest_uri", "Give the manifest's S3 URI, or upload a manifest below.")
        if not uploaded and not data.get("output_uri"):
            self.add_error(
                "output_uri", "Give the S3 folder the output file goes to, e.g. s3://recordings/output."
            )
        if data.get("recordings") and not uploaded:
            self.add_error(
                "recordings", "Recordings are uploaded with a manifest that names them: upload one too."
            )
        watchlist = self._watchlist_domains.get(data.get("watchlist_id") or "")
        if watchlist is not None and data.get("domain") and watchlist[0] != data["domain"]:
            self.add_error(
                "watchlist_id",
                f"Watchlist {watchlist[1]} is in domain {watchlist[0]}, not in {data['domain']}, where the job "
                "runs: pick one of that domain's watchlists, or its default.",
            )
        return data

    def config(self) -> dict[str, Any]:
        """EnrollmentConfig or RegistrationConfig in the API's terms; members left empty take the defaults."""
        data = self.cleaned_data
        watchlists = [data["watchlist_id"]] if data.get("watchlist_id") else None
        if data["kind"] == Kind.SPEAKER_ENROLLMENT:
            fraud: dict[str, Any] = {"FraudDetectionAction": data["fraud_detection_action"] or "FAIL"}
            if data.get("risk_threshold") is not None:
                fraud["RiskThreshold"] = data["risk_threshold"]
            if watchlists:
                fraud["WatchlistIds"] = watchlists
            return {
                "ExistingEnrollmentAction": data["existing_enrollment_action"],
                "FraudDetectionConfig": fraud,
            }
        config: dict[str, Any] = {
            "DuplicateRegistrationAction": data["duplicate_registration_action"] or "SKIP"
        }
        if data.get("similarity_threshold") is not None:
            config["FraudsterSimilarityThreshold"] = data["similarity_threshold"]
        if watchlists:
            config["WatchlistIds"] = watchlists
        return config


# Where each member of a Start*Job request comes from on the form, to put a model violation beside it.
_FIELD_OF_MEMBER = (
    ("InputDataConfig", "manifest_uri"),
    ("OutputDataConfig.KmsKeyId", "kms_key_id"),
    ("OutputDataConfig", "output_uri"),
    ("DataAccessRoleArn", "role_arn"),
    ("JobName", "job_name"),
    ("EnrollmentConfig.FraudDetectionConfig.RiskThreshold", "risk_threshold"),
    ("RegistrationConfig.FraudsterSimilarityThreshold", "similarity_threshold"),
    ("EnrollmentConfig.FraudDetectionConfig.WatchlistIds", "watchlist_id"),
    ("RegistrationConfig.WatchlistIds", "watchlist_id"),
)


# What to do about a member the model refuses, in a person's words (the model's constraint follows).
_HINTS = {
    "job_name": "A job name holds only letters, digits, '-' and '_', and starts with a letter or digit.",
    "role_arn": f"Expected an IAM role ARN such as {EXAMPLE_ROLE_ARN}.",
    "kms_key_id": "Expected a KMS key id, ARN or alias such as alias/voiceid-output.",
}
# When the model refuses a member for its length, the hint about its characters would mislead.
_LENGTH_HINTS = {
    "job_name": "A job name is 1 to 256 characters long.",
}


def _field_of(path: str) -> str | None:
    for member, field in _FIELD_OF_MEMBER:
        if path == member or path.startswith((member + ".", member + "[")):
            return field
    return None


def _job_request(form: StartJobForm, upload: uploads.Upload | None) -> services.JobRequest:
    data = form.cleaned_data
    return services.JobRequest(
        kind=data["kind"],
        data_access_role_arn=data["role_arn"].strip(),
        input_s3_uri=upload.manifest_uri if upload else data["manifest_uri"].strip(),
        output_s3_uri=(data["output_uri"].strip() or (upload.output_uri if upload else "")),
        output_kms_key_id=data["kms_key_id"].strip(),
        job_name=data["job_name"].strip(),
        config=form.config(),
    )


def _check_against_model(form: StartJobForm, request: services.JobRequest) -> bool:
    """Check the request as the API would (the service model's patterns and limits, none copied here)."""
    body: dict[str, Any] = {
        "DomainId": form.cleaned_data["domain"],
        "DataAccessRoleArn": request.data_access_role_arn,
        "InputDataConfig": {"S3Uri": request.input_s3_uri},
        "OutputDataConfig": {"S3Uri": request.output_s3_uri},
        _CONFIG_MEMBER[Kind(request.kind)]: request.config,
    }
    if request.output_kms_key_id:
        body["OutputDataConfig"]["KmsKeyId"] = request.output_kms_key_id
    if request.job_name:
        body["JobName"] = request.job_name
    # An S3 URI gets the storage module's explanation, which says what form it expects.
    for field, uri, name in (
        ("manifest_uri", request.input_s3_uri, "The manifest S3 URI"),
        ("output_uri", request.output_s3_uri, "The output folder S3 URI"),
    ):
        try:
            s3.parse_uri(uri, field=name)
        except ServiceError as error:
            form.add_error(field, error.message)
    shape = model.input_shape_name(_OPERATION[Kind(request.kind)])
    assert shape is not None
    for violation in validator().validate(shape, body):
        field = _field_of(violation.path)
        if field in form.errors:
            continue  # already explained
        hint = _HINTS.get(field or "")
        if "length" in violation.constraint:
            hint = _LENGTH_HINTS.get(field or "", hint)
        form.add_error(field, f"{hint} ({violation.constraint})" if hint else violation.describe())
    return form.is_valid()


def _start_page(request: HttpRequest, form: StartJobForm, *, status: int = 200) -> HttpResponse:
    return render(request, "jobs/start.html", {"form": form, "kinds": Kind}, status=status)


@require_http_methods(["GET", "POST"])
@login_required
def job_start(request: pages.HtmxHttpRequest) -> HttpResponse:
    if not request.user.has_perm("jobs.add_batchjob"):
        return _problem(
            request,
            title="You may not start jobs",
            message="Starting a batch job enrolls speakers or registers fraudsters, which only analysts may "
            "do. Your account can see jobs but not start them; ask an administrator if you need to.",
            status=403,
        )
    domains = _domain_choices()
    if request.method == "GET":
        initial = {key: request.GET[key] for key in ("domain", "kind") if request.GET.get(key)}
        form = StartJobForm(initial=initial, domains=domains)
        if pages.htmx_target(request) == "kind-options":  # the kind changed: show that kind's options
            form = StartJobForm(initial={**initial, "kind": request.GET.get("kind")}, domains=domains)
            return render(request, "jobs/start.html#kind-options", {"form": form, "kinds": Kind})
        return _start_page(request, form)
    form = StartJobForm(request.POST, request.FILES, domains=domains)
    if not domains:
        form.add_error(
            None, "There is no domain to run a job in: create one first (CreateDomain or the admin)."
        )
    if not form.is_valid():
        return _start_page(request, form, status=400)
    manifest = form.cleaned_data.get("manifest_file")
    upload = uploads.upload_plan(manifest_name=manifest.name or "") if manifest else None
    job_request = _job_request(form, upload)
    if not _check_against_model(form, job_request):
        return _start_page(request, form, status=400)
    try:
        domain = domain_selectors.domain_get(domain_id=form.cleaned_data["domain"])
        if upload is not None and manifest is not None:
            uploads.upload_store(
                upload=upload,
                kind=job_request.kind,
                manifest=manifest.read(),
                recordings={file.name or "": file.read() for file in form.cleaned_data["recordings"]},
            )
        job = services.job_start(domain=domain, request=job_request)
    except uploads.UploadRefused as refusal:
        form.add_error(refusal.field, refusal.message)
        return _start_page(request, form, status=400)
    except ServiceError as error:
        if upload is not None:  # stored, but no job will read it
            uploads.upload_discard(manifest_uri=upload.manifest_uri)
        # A message that starts with the member it is about ("OutputDataConfig.S3Uri s3://…: …") goes beside
        # that member's field; others (a watchlist that does not exist, a quota) above the form.
        field = _field_of(error.message.split(" ", 1)[0])
        form.add_error(field if field in form.fields else None, error.message)
        return _start_page(request, form, status=400)
    messages.success(request, f"Started {job.get_kind_display()} job {job.job_id}.")
    return HttpResponseRedirect(reverse("jobs:detail", args=[job.job_id]))
