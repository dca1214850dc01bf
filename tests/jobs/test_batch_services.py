"""The job machinery below the API: manifests parsed, stalled jobs resumed, poison entries given up, admin."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from domains import services as domain_services
from domains.models import Domain
from jobs import manifests, processing, services
from jobs.models import BatchJob, JobEntry
from tests.jobs.batch import ROLE, LocalBucket, audio_specs, enrollment_manifest
from voiceid_site import demo
from voiceid_site.celery import app

# --- manifests -------------------------------------------------------------------------------------


def test_a_manifest_accepts_both_spellings_of_s3uri_and_a_byte_order_mark() -> None:
    document = {
        "Version": "1.0",
        "SpeakerEnrollmentRequests": [
            {
                "RequestId": "r1",
                "SpeakerId": "caller-1",
                "AudioSpecifications": [
                    {"S3Uri": "s3://bucket/a.wav", "ChannelId": 0},
                    {"S3URI": "s3://bucket/b.wav", "ChannelId": 1},
                ],
            }
        ],
    }
    [request] = manifests.parse_enrollment(b"\xef\xbb\xbf" + json.dumps(document).encode())
    assert request.problem == ""
    assert [(audio.uri, audio.channel) for audio in request.audio] == [
        ("s3://bucket/a.wav", 0),
        ("s3://bucket/b.wav", 1),
    ]
    assert manifests.Request.from_json(request.to_json()) == request


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ({"S3Uri": "https://bucket/a.wav", "ChannelId": 0}, '"S3Uri" must be an s3://bucket/key URI'),
        ({"ChannelId": 0}, 'Recording 1 of 1 in AudioSpecifications has no "S3Uri"'),
        ({"S3Uri": "s3://bucket/a.wav", "ChannelId": True}, '"ChannelId" must be 0 or 1'),
        (
            {"S3Uri": "s3://bucket/a.wav"},
            'Recording 1 of 1 in AudioSpecifications has no "ChannelId": give 0 or 1',
        ),
        ("s3://bucket/a.wav", "is not an object"),
    ],
)
def test_a_bad_recording_makes_only_its_request_fail(spec: Any, problem: str) -> None:
    document = {
        "Version": "1.0",
        "FraudsterRegistrationRequests": [
            {"RequestId": "bad", "AudioSpecifications": [spec]},
            {"RequestId": "good", "AudioSpecifications": [{"S3Uri": "s3://bucket/a.wav", "ChannelId": 0}]},
        ],
    }
    bad, good = manifests.parse_registration(json.dumps(document).encode())
    assert problem in bad.problem
    assert good.problem == ""


def test_a_manifest_that_is_not_an_object_fails_as_a_whole() -> None:
    with pytest.raises(manifests.ManifestError, match="JSON object"):
        manifests.parse_enrollment(b"[]")


# --- recovery --------------------------------------------------------------------------------------


@pytest.fixture
def domain(transactional_db: None) -> Domain:
    return domain_services.domain_create(name="jobs", kms_key_id="alias/jobs", region="us-east-1")


def prepared_job(domain: Domain, bucket: LocalBucket, speakers: int) -> BatchJob:
    uris = bucket.put_voice(demo.CALLERS[0], "alice")
    manifest = enrollment_manifest([(f"r{n}", f"caller-{n}", uris) for n in range(speakers)])
    job = services.job_start(
        domain=domain,
        request=services.JobRequest(
            kind=BatchJob.Kind.SPEAKER_ENROLLMENT,
            data_access_role_arn=ROLE,
            input_s3_uri=bucket.put_json("m.json", manifest),
            output_s3_uri="s3://recordings/out",
            config={"FraudDetectionConfig": {"FraudDetectionAction": "IGNORE"}},
        ),
    )
    services.job_prepare(job_pk=job.pk)
    job.refresh_from_db()
    assert job.status == BatchJob.Status.IN_PROGRESS
    return job


def test_a_job_whose_worker_vanished_is_resumed_and_its_held_entry_taken_over(
    domain: Domain, bucket: LocalBucket, queued_only: None, settings: Any
) -> None:
    job = prepared_job(domain, bucket, speakers=2)
    # A worker took the first entry, then died: its lease and the job's heartbeat are both old.
    long_ago = timezone.now() - timedelta(seconds=settings.VOICEID_JOB_LEASE_SECONDS + 5)
    JobEntry.objects.filter(job=job, position=0).update(
        claimed_by="dead:1", claimed_until=long_ago, attempts=1
    )
    BatchJob.objects.filter(pk=job.pk).update(heartbeat_at=long_ago)

    app.conf.task_always_eager = True  # a worker answers the recovery sweep's doorbell
    assert services.job_resume_stalled() == 1
    job.refresh_from_db()
    assert job.status == BatchJob.Status.COMPLETED
    assert sorted(JobEntry.objects.filter(job=job).values_list("attempts", flat=True)) == [1, 2]


def test_a_running_job_is_left_alone_by_the_recovery_sweep(
    domain: Domain, bucket: LocalBucket, queued_only: None
) -> None:
    prepared_job(domain, bucket, speakers=1)
    assert services.job_resume_stalled() == 0


def test_an_entry_that_keeps_killing_its_worker_is_given_up_with_500(
    domain: Domain, bucket: LocalBucket, queued_only: None
) -> None:
    job = prepared_job(domain, bucket, speakers=2)
    JobEntry.objects.filter(job=job, position=0).update(attempts=services.MAX_ATTEMPTS)
    assert processing.job_run(job_pk=job.pk, worker="test:1") == 2
    job.refresh_from_db()
    assert job.status == BatchJob.Status.COMPLETED_WITH_ERRORS
    output = json.loads(bucket.path(f"out/{job.job_id}/m.json.out").read_bytes())
    [error] = output["Errors"]
    assert error["RequestId"] == "r0" and error["ErrorCode"] == 500
    assert [record["RequestId"] for record in output["SuccessfulEnrollments"]] == ["r1"]


def test_finishing_twice_writes_the_same_output_and_one_end_event(
    domain: Domain, bucket: LocalBucket, queued_only: None
) -> None:
    from events.models import Event

    job = prepared_job(domain, bucket, speakers=1)
    processing.job_run(job_pk=job.pk, worker="test:1")
    path = bucket.path(f"out/{job.job_id}/m.json.out")
    first = path.read_bytes()
    assert services.job_finish(job_pk=job.pk) is None
    assert processing.job_run(job_pk=job.pk, worker="test:2") == 0
    assert path.read_bytes() == first
    batch_events = Event.objects.filter(detail_type="VoiceId Batch Speaker Enrollment Action")
    assert sorted(event.envelope["detail"]["status"] for event in batch_events) == ["SUBMITTED", "SUCCESS"]


# --- admin -----------------------------------------------------------------------------------------


def test_superusers_see_jobs_read_only_in_the_admin(
    domain: Domain, bucket: LocalBucket, queued_only: None, admin_client: Any
) -> None:
    job = prepared_job(domain, bucket, speakers=1)
    listing = admin_client.get("/admin/jobs/speakerenrollmentjob/")
    assert listing.status_code == 200 and job.job_id in listing.content.decode()
    page = admin_client.get(f"/admin/jobs/speakerenrollmentjob/{job.pk}/change/")
    assert page.status_code == 200 and "0 % (0 of 1)" in page.content.decode()
    assert admin_client.get("/admin/jobs/speakerenrollmentjob/add/").status_code == 403


def test_a_job_waits_out_an_unreachable_store_then_fails_with_its_error(
    domain: Domain, settings: Any, queued_only: None
) -> None:
    from tests.jobs.stack import free_port

    settings.VOICEID_S3_ENDPOINT_URL = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    settings.VOICEID_S3_ACCESS_KEY_ID, settings.VOICEID_S3_SECRET_ACCESS_KEY = "key", "secret"
    job = services.job_start(
        domain=domain,
        request=services.JobRequest(
            kind=BatchJob.Kind.FRAUDSTER_REGISTRATION,
            data_access_role_arn=ROLE,
            input_s3_uri="s3://archive/manifest.json",
            output_s3_uri="s3://archive/out",
        ),
    )
    services.job_prepare(job_pk=job.pk)
    job.refresh_from_db()
    assert job.status == BatchJob.Status.SUBMITTED  # the recovery sweep will try again

    BatchJob.objects.filter(pk=job.pk).update(created_at=timezone.now() - services.STORE_PATIENCE)
    services.job_prepare(job_pk=job.pk)
    job.refresh_from_db()
    assert job.status == BatchJob.Status.FAILED
    assert job.failure_status_code == 503


def registration_job(domain: Domain, bucket: LocalBucket, requests: int, **config: Any) -> BatchJob:
    voices = [demo.FRAUDSTER, demo.STRANGER, demo.CALLERS[1]]
    manifest = {
        "Version": "1.0",
        "FraudsterRegistrationRequests": [
            {"RequestId": f"f{n}", "AudioSpecifications": audio_specs(bucket.put_voice(voices[n], f"v{n}"))}
            for n in range(requests)
        ],
    }
    job = services.job_start(
        domain=domain,
        request=services.JobRequest(
            kind=BatchJob.Kind.FRAUDSTER_REGISTRATION,
            data_access_role_arn=ROLE,
            input_s3_uri=bucket.put_json("fraud.json", manifest),
            output_s3_uri="s3://recordings/out",
            config=config,
        ),
    )
    services.job_prepare(job_pk=job.pk)
    return job


def outcome_of(bucket: LocalBucket, job: BatchJob) -> dict[str, Any]:
    return json.loads(bucket.path(f"out/{job.job_id}/fraud.json.out").read_bytes())


def test_the_watchlist_fraudster_quota_refuses_a_registration_with_402(
    domain: Domain, bucket: LocalBucket, queued_only: None, settings: Any
) -> None:
    settings.VOICEID_QUOTAS = {**settings.VOICEID_QUOTAS, "fraudsters_per_watchlist": 1}
    job = registration_job(domain, bucket, 2)
    processing.job_run(job_pk=job.pk, worker="test:1")
    output = outcome_of(bucket, job)
    assert [record["RequestId"] for record in output["SuccessfulRegistrations"]] == ["f0"]
    [error] = output["Errors"]
    assert error["RequestId"] == "f1" and error["ErrorCode"] == 402
    assert "VOICEID_QUOTA_FRAUDSTERS_PER_WATCHLIST" in error["ErrorMessage"]


def test_a_watchlist_deleted_while_its_job_runs_fails_the_remaining_requests_with_404(
    domain: Domain, bucket: LocalBucket, queued_only: None
) -> None:
    from fraudsters import services as fraudster_services

    watchlist = fraudster_services.watchlist_create(domain=domain, name="gang")
    job = registration_job(domain, bucket, 1, WatchlistIds=[watchlist.watchlist_id])
    fraudster_services.watchlist_delete(domain=domain, watchlist_id=watchlist.watchlist_id)
    processing.job_run(job_pk=job.pk, worker="test:1")
    job.refresh_from_db()
    assert job.status == BatchJob.Status.COMPLETED_WITH_ERRORS
    [error] = outcome_of(bucket, job)["Errors"]
    assert error["ErrorCode"] == 404 and watchlist.watchlist_id in error["ErrorMessage"]


def test_an_uploaded_manifest_and_its_recordings_are_deleted_when_the_job_ends(
    domain: Domain, bucket: LocalBucket, queued_only: None
) -> None:
    from jobs import uploads

    voice = demo.CALLERS[0]
    recordings = {path.name: path.read_bytes() for path in voice.recordings()[: voice._split()]}
    manifest = enrollment_manifest([("r1", "alice", list(recordings))])
    upload = uploads.upload_plan(manifest_name="batch.json")
    uploads.upload_store(
        upload=upload,
        kind=BatchJob.Kind.SPEAKER_ENROLLMENT,
        manifest=json.dumps(manifest).encode(),
        recordings=recordings,
    )
    job = services.job_start(
        domain=domain,
        request=services.JobRequest(
            kind=BatchJob.Kind.SPEAKER_ENROLLMENT,
            data_access_role_arn=ROLE,
            input_s3_uri=upload.manifest_uri,
            output_s3_uri=upload.output_uri,
        ),
    )
    services.job_prepare(job_pk=job.pk)
    processing.job_run(job_pk=job.pk, worker="test:1")
    job.refresh_from_db()
    assert job.status == BatchJob.Status.COMPLETED
    folder = bucket.root / upload.folder.removeprefix("s3://")
    assert sorted(path.relative_to(folder).parts[0] for path in folder.rglob("*") if path.is_file()) == [
        "output"
    ]
