"""The batch job screens: list, detail with live progress and errors, output download, and the start form."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from accounts import roles
from domains import services as domain_services
from domains.models import Domain
from fraudsters import services as fraudster_services
from jobs import s3, services
from jobs.models import BatchJob

ROLE = "arn:aws:iam::123456789012:role/VoiceIdBatchAccess"
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def s3_root(settings: Any, tmp_path: Path) -> Path:
    """An empty embedded S3 per test, with a `recordings` bucket."""
    settings.VOICEID_LOCAL_S3_ROOT = tmp_path / "s3"
    (tmp_path / "s3" / "recordings").mkdir(parents=True)
    return tmp_path / "s3"


@pytest.fixture
def domain() -> Domain:
    return domain_services.domain_create(name="Contact centre", kms_key_id="alias/dash", region="us-east-1")


def _client_as(client: Any, django_user_model: Any, group: str | None) -> Any:
    user = django_user_model.objects.create_user(f"user-{group or 'none'}", password="pw")
    if group:
        roles.ensure_roles()
        user.groups.add(Group.objects.get(name=group))
    client.force_login(user)
    return client


@pytest.fixture
def analyst(client: Any, django_user_model: Any) -> Any:
    return _client_as(client, django_user_model, roles.ANALYSTS)


@pytest.fixture
def auditor(client: Any, django_user_model: Any) -> Any:
    return _client_as(client, django_user_model, roles.AUDITORS)


def _put_manifest(
    s3_root: Path, name: str, request_ids: list[str], kind: str = "SpeakerEnrollmentRequests"
) -> str:
    """A manifest whose recordings do not exist: each request fails on its own, quickly, with a 400."""
    requests = []
    for request_id in request_ids:
        request: dict[str, Any] = {
            "RequestId": request_id,
            "AudioSpecifications": [{"S3Uri": f"s3://recordings/missing/{request_id}.wav", "ChannelId": 0}],
        }
        if kind == "SpeakerEnrollmentRequests":
            request["SpeakerId"] = f"caller-{request_id}"
        requests.append(request)
    (s3_root / "recordings" / name).write_text(json.dumps({"Version": "1.0", kind: requests}))
    return f"s3://recordings/{name}"


def _start(
    domain: Domain,
    input_uri: str,
    *,
    kind: str = BatchJob.Kind.SPEAKER_ENROLLMENT,
    name: str = "",
    kms_key_id: str = "",
) -> BatchJob:
    return services.job_start(
        domain=domain,
        request=services.JobRequest(
            kind=kind,
            data_access_role_arn=ROLE,
            input_s3_uri=input_uri,
            output_s3_uri="s3://recordings/output",
            output_kms_key_id=kms_key_id,
            job_name=name,
        ),
    )


def _run_to_the_end(job: BatchJob) -> BatchJob:
    """What the workers do, here in the test process (tasks are eager in the test settings)."""
    services.job_prepare(job_pk=job.pk)
    job.refresh_from_db()
    return job


# --- list ------------------------------------------------------------------------------------------


def test_the_list_shows_jobs_of_both_kinds_with_a_polling_progress_bar(
    analyst: Any, domain: Domain, s3_root: Path
) -> None:
    _start(domain, _put_manifest(s3_root, "a.json", ["r1"]), name="migration wave 1")
    _start(
        domain,
        _put_manifest(s3_root, "b.json", ["r1"], kind="FraudsterRegistrationRequests"),
        kind=BatchJob.Kind.FRAUDSTER_REGISTRATION,
        name="known fraud ring",
    )
    response = analyst.get(reverse("jobs:list"), {"domain": domain.domain_id})
    html = response.content.decode()
    assert response.status_code == 200
    assert "migration wave 1" in html and "known fraud ring" in html
    assert "Speaker enrollment" in html and "Fraudster registration" in html
    assert html.count("<progress") == 2
    assert html.count('hx-trigger="every 2s"') == 2  # both are SUBMITTED: they poll
    assert "Start a job" in html
    # Newest first.
    assert html.index("known fraud ring") < html.index("migration wave 1")


def test_the_list_filters_by_kind_and_status_from_the_query_string(
    analyst: Any, domain: Domain, s3_root: Path
) -> None:
    _start(domain, _put_manifest(s3_root, "a.json", ["r1"]), name="enrolment job")
    _start(
        domain,
        _put_manifest(s3_root, "b.json", ["r1"], kind="FraudsterRegistrationRequests"),
        kind=BatchJob.Kind.FRAUDSTER_REGISTRATION,
        name="registration job",
    )
    html = analyst.get(reverse("jobs:list"), {"kind": "FRAUDSTER_REGISTRATION"}).content.decode()
    assert "registration job" in html and "enrolment job" not in html
    html = analyst.get(reverse("jobs:list"), {"status": "COMPLETED"}).content.decode()
    assert "No job matches these filters" in html


def test_a_filter_the_list_cannot_apply_is_explained_and_left_out(analyst: Any) -> None:
    html = analyst.get(reverse("jobs:list"), {"kind": "SPEAKER_ENROLMENT", "status": "DONE"}).content.decode()
    assert "“SPEAKER_ENROLMENT” is not a kind of job (SPEAKER_ENROLLMENT, FRAUDSTER_REGISTRATION)" in html
    assert "“DONE” is not a job status (" in html
    assert "No batch job has run yet" in html


def test_the_list_pages_by_keyset_and_htmx_gets_only_the_rows(
    analyst: Any, domain: Domain, s3_root: Path, monkeypatch: Any
) -> None:
    from jobs import views

    monkeypatch.setattr(views, "PAGE_SIZE", 1)
    uri = _put_manifest(s3_root, "a.json", ["r1"])
    older = _start(domain, uri, name="older job")
    # One active job per kind per domain: end the first before starting the second.
    services.job_fail(job_pk=older.pk, status_code=400, message="stopped for the test")
    _start(domain, uri, name="newer job")
    first = analyst.get(reverse("jobs:list")).content.decode()
    assert "newer job" in first and "older job" not in first
    assert f"before={older.pk + 1}" in first.replace("&amp;", "&")
    rows = analyst.get(
        reverse("jobs:list"), {"before": older.pk + 1}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="job-rows"
    ).content.decode()
    assert "older job" in rows and "newer job" not in rows
    assert "<html" not in rows and rows.lstrip().startswith('<div id="job-rows"')


def test_an_empty_list_tells_an_analyst_to_start_a_job(analyst: Any) -> None:
    html = analyst.get(reverse("jobs:list")).content.decode()
    assert "No batch job has run yet" in html
    assert reverse("jobs:start") in html


def test_an_unknown_domain_is_a_404_that_says_so(analyst: Any) -> None:
    response = analyst.get(reverse("jobs:list"), {"domain": "a" * 22})
    assert response.status_code == 404
    assert "does not exist" in response.content.decode()


def test_a_signed_out_visitor_is_sent_to_sign_in(client: Any) -> None:
    response = client.get(reverse("jobs:list"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_a_user_without_a_role_is_refused_with_a_reason(client: Any, django_user_model: Any) -> None:
    stranger = _client_as(client, django_user_model, None)
    response = stranger.get(reverse("jobs:list"))
    assert response.status_code == 403
    assert "no permission to view batch jobs" in response.content.decode()


# --- detail, progress, output ----------------------------------------------------------------------


def test_the_detail_page_shows_configuration_counts_and_per_entry_errors(
    analyst: Any, domain: Domain, s3_root: Path
) -> None:
    job = _run_to_the_end(_start(domain, _put_manifest(s3_root, "m.json", ["req-1", "req-2"])))
    assert job.status == BatchJob.Status.COMPLETED_WITH_ERRORS
    html = analyst.get(reverse("jobs:detail", args=[job.job_id])).content.decode()
    assert "EnrollmentConfig" in html and "ExistingEnrollmentAction" in html
    assert "2 of 2 done, 2 failed" in html
    assert "req-1" in html and "req-2" in html
    assert "s3://recordings/missing/req-1.wav" in html  # the ErrorMessage says which recording is missing
    assert "<td>400</td>" in html
    assert "Download the output file" in html
    assert 'hx-trigger="every 2s"' not in html  # ended: nothing polls


def test_per_entry_errors_page_with_htmx(
    analyst: Any, domain: Domain, s3_root: Path, monkeypatch: Any
) -> None:
    from jobs import views

    monkeypatch.setattr(views, "ERRORS_PAGE_SIZE", 2)
    job = _run_to_the_end(_start(domain, _put_manifest(s3_root, "m.json", ["e1", "e2", "e3"])))
    html = analyst.get(reverse("jobs:detail", args=[job.job_id])).content.decode()
    assert "e1" in html and "e2" in html and ">e3<" not in html
    assert 'id="more-errors"' in html
    more = analyst.get(
        reverse("jobs:detail", args=[job.job_id]),
        {"errors_after": html.split("errors_after=")[1].split('"')[0].split("#")[0]},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="more-errors",
    ).content.decode()
    assert ">e3<" in more and ">e1<" not in more and "<html" not in more


def test_a_failed_job_shows_its_failure_details(analyst: Any, domain: Domain) -> None:
    job = _run_to_the_end(_start(domain, "s3://recordings/not-there.json"))
    assert job.status == BatchJob.Status.FAILED
    html = analyst.get(reverse("jobs:detail", args=[job.job_id])).content.decode()
    assert "FailureDetails" in html and "StatusCode 400" in html
    assert "s3://recordings/not-there.json does not exist" in html
    response = analyst.get(reverse("jobs:output", args=[job.job_id]))
    assert response.status_code == 404
    assert "A failed job writes no output file" in response.content.decode()


def test_the_progress_partial_polls_while_the_job_runs_and_stops_when_it_ends(
    analyst: Any, domain: Domain, s3_root: Path
) -> None:
    job = _start(domain, _put_manifest(s3_root, "m.json", ["r1", "r2"]))
    url = reverse("jobs:progress", args=[job.job_id])
    running = analyst.get(url, {"seen": job.progress_mark}, HTTP_HX_REQUEST="true")
    html = running.content.decode()
    assert running.status_code == 200
    assert f'hx-get="{url}?seen={job.progress_mark}"' in html and 'hx-trigger="every 2s"' in html
    assert 'value="0"' in html and "<html" not in html
    assert "HX-Trigger" not in running  # nothing moved since the page was drawn

    _run_to_the_end(job)
    ended = analyst.get(url, HTTP_HX_REQUEST="true")
    html = ended.content.decode()
    assert "hx-trigger" not in html and "hx-get" not in html
    assert 'value="100"' in html and "Completed With Errors" in html
    assert ended["HX-Trigger"] == "job-ended"  # the page refreshes its summary once


def test_the_progress_bar_shows_partial_progress(analyst: Any, domain: Domain, s3_root: Path) -> None:
    job = _start(domain, _put_manifest(s3_root, "m.json", ["r1", "r2", "r3", "r4"]))
    BatchJob.objects.filter(pk=job.pk).update(status="IN_PROGRESS", total_entries=4, finished_entries=1)
    html = analyst.get(reverse("jobs:progress", args=[job.job_id])).content.decode()
    assert 'value="25"' in html and "25 %" in html and 'hx-trigger="every 2s"' in html


def test_progress_since_the_page_was_drawn_refreshes_the_summary_with_the_bar(
    analyst: Any, domain: Domain, s3_root: Path
) -> None:
    job = _start(domain, _put_manifest(s3_root, "m.json", ["r1", "r2", "r3", "r4"]))
    page = analyst.get(reverse("jobs:detail", args=[job.job_id])).content.decode()
    assert 'hx-trigger="job-progressed from:body, job-ended from:body"' in page
    drawn = job.progress_mark
    BatchJob.objects.filter(pk=job.pk).update(status="IN_PROGRESS", total_entries=4, finished_entries=1)

    polled = analyst.get(reverse("jobs:progress", args=[job.job_id]), {"seen": drawn}, HTTP_HX_REQUEST="true")

    assert polled["HX-Trigger"] == "job-progressed"
    summary = analyst.get(
        reverse("jobs:detail", args=[job.job_id]), HTTP_HX_REQUEST="true", HTTP_HX_TARGET="job-summary"
    ).content.decode()
    assert "1 of 4 done" in summary


def test_the_summary_fragment_comes_alone_for_htmx(analyst: Any, domain: Domain, s3_root: Path) -> None:
    job = _run_to_the_end(_start(domain, _put_manifest(s3_root, "m.json", ["r1"])))
    html = analyst.get(
        reverse("jobs:detail", args=[job.job_id]), HTTP_HX_REQUEST="true", HTTP_HX_TARGET="job-summary"
    ).content.decode()
    assert html.lstrip().startswith('<div id="job-summary"') and "Download the output file" in html


def test_the_download_decrypts_an_encrypted_output_file(analyst: Any, domain: Domain, s3_root: Path) -> None:
    job = _run_to_the_end(
        _start(domain, _put_manifest(s3_root, "m.json", ["r1"]), kms_key_id="alias/job-output")
    )
    stored = (s3_root / "recordings" / job.output_file_uri.removeprefix("s3://recordings/")).read_bytes()
    assert stored.startswith(s3.MAGIC)  # encrypted at rest
    response = analyst.get(reverse("jobs:output", args=[job.job_id]))
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="m.json.out"'
    document = json.loads(b"".join(response.streaming_content))
    assert document["Errors"][0]["RequestId"] == "r1"
    assert document["SuccessfulEnrollments"] == []


def test_a_download_of_a_vanished_output_file_explains(analyst: Any, domain: Domain, s3_root: Path) -> None:
    job = _run_to_the_end(_start(domain, _put_manifest(s3_root, "m.json", ["r1"])))
    (s3_root / "recordings" / job.output_file_uri.removeprefix("s3://recordings/")).unlink()
    response = analyst.get(reverse("jobs:output", args=[job.job_id]))
    assert response.status_code == 404
    assert "does not exist" in response.content.decode()


def test_an_unknown_job_is_a_404_page(analyst: Any) -> None:
    response = analyst.get(reverse("jobs:detail", args=["x" * 22]))
    assert response.status_code == 404
    assert "No batch job" in response.content.decode()


# --- start -----------------------------------------------------------------------------------------


def _form(domain: Domain, **changes: Any) -> dict[str, Any]:
    data = {
        "domain": domain.domain_id,
        "kind": "SPEAKER_ENROLLMENT",
        "job_name": "",
        "manifest_uri": "s3://recordings/m.json",
        "output_uri": "s3://recordings/output",
        "kms_key_id": "",
        "role_arn": ROLE,
        "existing_enrollment_action": "SKIP",
        "fraud_detection_action": "IGNORE",
        "risk_threshold": "",
        "duplicate_registration_action": "SKIP",
        "similarity_threshold": "",
        "watchlist_id": "",
    }
    return {**data, **changes}


def test_the_start_form_prefills_an_example_role_and_the_domain(analyst: Any, domain: Domain) -> None:
    html = analyst.get(reverse("jobs:start"), {"domain": domain.domain_id}).content.decode()
    assert f'value="{ROLE}"' in html
    assert f'<option value="{domain.domain_id}" selected>' in html
    assert "Enrollment options" in html and 'enctype="multipart/form-data"' in html


def test_the_kind_switch_returns_that_kinds_options(analyst: Any) -> None:
    html = analyst.get(
        reverse("jobs:start"),
        {"kind": "FRAUDSTER_REGISTRATION"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="kind-options",
    ).content.decode()
    assert html.lstrip().startswith('<fieldset id="kind-options"')
    assert "Registration options" in html and "similarity threshold" in html


def test_an_analyst_starts_a_job_from_s3_uris(
    analyst: Any, domain: Domain, s3_root: Path, django_capture_on_commit_callbacks: Any
) -> None:
    _put_manifest(s3_root, "m.json", ["r1"])
    with django_capture_on_commit_callbacks(execute=True):
        response = analyst.post(
            reverse("jobs:start"), _form(domain, job_name="wave-2", risk_threshold="60"), follow=True
        )
    job = BatchJob.objects.get()
    assert response.redirect_chain[-1][0] == reverse("jobs:detail", args=[job.job_id])
    assert job.job_name == "wave-2" and job.input_s3_uri == "s3://recordings/m.json"
    assert job.config["FraudDetectionConfig"]["FraudDetectionAction"] == "IGNORE"
    assert job.config["FraudDetectionConfig"]["RiskThreshold"] == 60
    assert job.status == BatchJob.Status.COMPLETED_WITH_ERRORS  # the eager worker ran it to the end
    assert f"Started speaker enrollment job {job.job_id}" in response.content.decode()


def test_the_other_kinds_options_may_be_left_out(analyst: Any, domain: Domain) -> None:
    """The page shows only the chosen kind's options, so the other kind's fields are never posted."""
    form = _form(domain)
    for field in ("duplicate_registration_action", "similarity_threshold"):
        del form[field]
    assert analyst.post(reverse("jobs:start"), form).status_code == 302
    job = BatchJob.objects.get()
    assert job.config["ExistingEnrollmentAction"] == "SKIP"


def test_an_auditor_cannot_start_a_job(auditor: Any, domain: Domain) -> None:
    for response in (auditor.get(reverse("jobs:start")), auditor.post(reverse("jobs:start"), _form(domain))):
        assert response.status_code == 403
        assert "only analysts may do" in response.content.decode()
    assert not BatchJob.objects.exists()
    assert "Start a job" not in auditor.get(reverse("jobs:list")).content.decode()


@pytest.mark.parametrize(
    ("changes", "field_error"),
    [
        ({"manifest_uri": "https://recordings/m.json"}, "is not an S3 URI"),
        ({"output_uri": "recordings/output"}, "is not an S3 URI"),
        ({"role_arn": "not-a-role"}, "Expected an IAM role ARN"),
        ({"job_name": "wave 2"}, "A job name holds only letters"),
        ({"job_name": "w" * 300}, "A job name is 1 to 256 characters long"),
        ({"watchlist_id": "w" * 22}, "is not a watchlist of any domain listed"),
        ({"manifest_uri": ""}, "Give the manifest"),
        ({"manifest_uri": "s3://recordings/folder/"}, "names a folder: it must name the manifest file"),
        ({"output_uri": "s3://no-such-bucket/out"}, "bucket no-such-bucket does not exist"),
    ],
)
def test_a_bad_request_is_shown_beside_the_form(
    analyst: Any, domain: Domain, changes: dict[str, Any], field_error: str
) -> None:
    response = analyst.post(reverse("jobs:start"), _form(domain, **changes))
    html = response.content.decode()
    assert response.status_code == 400
    assert field_error in html
    assert 'class="field has-error"' in html
    assert not BatchJob.objects.exists()


def test_a_service_error_is_shown_on_the_form(analyst: Any, domain: Domain, settings: Any) -> None:
    settings.VOICEID_QUOTAS = {**settings.VOICEID_QUOTAS, "active_enrollment_jobs_per_domain": 0}
    response = analyst.post(reverse("jobs:start"), _form(domain))
    assert response.status_code == 400
    assert "Quota exceeded: the domain&#x27;s active speaker enrollment jobs" in response.content.decode()
    assert not BatchJob.objects.exists()


def test_the_watchlist_is_picked_from_each_domains_watchlists_by_name(analyst: Any, domain: Domain) -> None:
    other = domain_services.domain_create(name="elsewhere", kms_key_id="alias/test", region="us-east-1")
    mine = fraudster_services.watchlist_create(domain=domain, name="mule-ring")
    fraudster_services.watchlist_create(domain=other, name="other-ring")

    html = analyst.get(reverse("jobs:start"), {"domain": domain.domain_id}).content.decode()
    assert f'<optgroup label="{domain.name} ({domain.domain_id})">' in html
    assert f'<option value="{mine.watchlist_id}">mule-ring</option>' in html
    assert "other-ring" in html and "The domain&#x27;s default watchlist" in html

    response = analyst.post(reverse("jobs:start"), _form(domain, watchlist_id=mine.watchlist_id))
    assert response.status_code == 302
    job = BatchJob.objects.get()
    assert job.config["FraudDetectionConfig"]["WatchlistIds"] == [mine.watchlist_id]


def test_a_watchlist_of_another_domain_is_refused_beside_its_field(analyst: Any, domain: Domain) -> None:
    other = domain_services.domain_create(name="elsewhere", kms_key_id="alias/test", region="us-east-1")
    theirs = fraudster_services.watchlist_create(domain=other, name="other-ring")

    response = analyst.post(reverse("jobs:start"), _form(domain, watchlist_id=theirs.watchlist_id))

    html = response.content.decode()
    assert response.status_code == 400
    assert f"Watchlist other-ring is in domain {other.domain_id}, not in {domain.domain_id}" in html
    assert not BatchJob.objects.exists()


def test_an_uploaded_manifest_and_its_recordings_are_stored_and_named_by_uri(
    analyst: Any, domain: Domain, s3_root: Path, settings: Any
) -> None:
    settings.VOICEID_UPLOAD_BUCKET = "dash-uploads"
    manifest = {
        "Version": "1.0",
        "SpeakerEnrollmentRequests": [
            {
                "RequestId": "r1",
                "SpeakerId": "erin",
                "AudioSpecifications": [
                    {"S3Uri": "erin-1.wav", "ChannelId": 0},
                    {"S3URI": "calls/erin-2.wav", "ChannelId": 1},
                    {"S3Uri": "s3://recordings/kept.wav", "ChannelId": 0},
                ],
            }
        ],
    }
    response = analyst.post(
        reverse("jobs:start"),
        _form(
            domain,
            manifest_uri="",
            output_uri="",
            manifest_file=SimpleUploadedFile("batch.json", json.dumps(manifest).encode()),
            recordings=[
                SimpleUploadedFile("erin-1.wav", b"RIFF-one"),
                SimpleUploadedFile("erin-2.wav", b"RIFF-two"),
            ],
        ),
    )
    assert response.status_code == 302, response.content.decode()
    job = BatchJob.objects.get()
    assert job.input_s3_uri.startswith("s3://dash-uploads/uploads/") and job.input_s3_uri.endswith(
        "/batch.json"
    )
    folder = job.input_s3_uri.removesuffix("/batch.json")
    assert job.output_s3_uri == f"{folder}/output"
    stored = json.loads(s3.read_bytes(job.input_s3_uri, max_bytes=10_000))
    specs = stored["SpeakerEnrollmentRequests"][0]["AudioSpecifications"]
    assert specs == [
        {"S3Uri": f"{folder}/recordings/erin-1.wav", "ChannelId": 0},
        {"ChannelId": 1, "S3Uri": f"{folder}/recordings/erin-2.wav"},
        {"S3Uri": "s3://recordings/kept.wav", "ChannelId": 0},
    ]
    assert s3.read_bytes(specs[1]["S3Uri"], max_bytes=100) == b"RIFF-two"


def test_an_upload_that_names_a_recording_not_uploaded_is_refused(analyst: Any, domain: Domain) -> None:
    manifest = {
        "Version": "1.0",
        "SpeakerEnrollmentRequests": [
            {
                "RequestId": "r1",
                "SpeakerId": "erin",
                "AudioSpecifications": [{"S3Uri": "gone.wav", "ChannelId": 0}],
            }
        ],
    }
    response = analyst.post(
        reverse("jobs:start"),
        _form(
            domain, manifest_uri="", manifest_file=SimpleUploadedFile("m.json", json.dumps(manifest).encode())
        ),
    )
    assert response.status_code == 400
    assert "names recordings that were not uploaded: gone.wav" in response.content.decode()
    assert "Choose the manifest and the recordings again" in response.content.decode()
    assert not BatchJob.objects.exists()


def test_an_upload_with_entries_the_job_cannot_read_starts_the_job_which_reports_them(
    analyst: Any, domain: Domain, s3_root: Path, settings: Any
) -> None:
    # The upload only renames recordings; judging each request is the job's work, per request.
    settings.VOICEID_UPLOAD_BUCKET = "dash-uploads"
    requests = [
        {"RequestId": "r1", "SpeakerId": "x", "AudioSpecifications": 5},
        {"RequestId": "r2", "SpeakerId": "y", "AudioSpecifications": "a.wav"},
        {"RequestId": "r3", "SpeakerId": "z", "AudioSpecifications": [5, None]},
        "not a request",
    ]
    manifest = json.dumps({"Version": "1.0", "SpeakerEnrollmentRequests": requests}).encode()
    response = analyst.post(
        reverse("jobs:start"),
        _form(domain, manifest_uri="", output_uri="", manifest_file=SimpleUploadedFile("m.json", manifest)),
    )
    assert response.status_code == 302, response.content.decode()
    stored = json.loads(s3.read_bytes(BatchJob.objects.get().input_s3_uri, max_bytes=10_000))
    assert stored["SpeakerEnrollmentRequests"] == requests


def test_an_upload_that_is_not_json_is_refused(analyst: Any, domain: Domain) -> None:
    response = analyst.post(
        reverse("jobs:start"),
        _form(domain, manifest_uri="", manifest_file=SimpleUploadedFile("m.json", b"{not json")),
    )
    assert response.status_code == 400
    assert "The manifest is not JSON" in response.content.decode()


def test_a_job_no_worker_took_yet_says_so_and_polls(analyst: Any, domain: Domain, s3_root: Path) -> None:
    job = _start(domain, _put_manifest(s3_root, "m.json", ["r1"]))
    html = analyst.get(reverse("jobs:detail", args=[job.job_id])).content.decode()
    assert "waiting for a worker" in html and 'hx-trigger="every 2s"' in html
    assert "Written to s3://recordings/output when every request is done" in html


def test_starting_a_job_from_a_domain_preselects_that_domain(analyst: Any, domain: Domain) -> None:
    other = domain_services.domain_create(name="Retail bank", kms_key_id="alias/dash", region="us-east-1")
    for page in (
        reverse("domains:overview", args=[other.domain_id]),
        f"{reverse('jobs:list')}?domain={other.domain_id}",  # no job yet: the empty state's link
    ):
        html = analyst.get(page).content.decode()
        link = f"{reverse('jobs:start')}?domain={other.domain_id}"
        assert f'href="{link}"' in html, page
        form = analyst.get(link).content.decode()
        assert f'<option value="{other.domain_id}" selected>' in form
