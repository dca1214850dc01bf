"""Batch jobs through boto3 over HTTP: manifests in the embedded S3 folder, output files, every status path.

Tasks run eagerly here (settings_test), so a job has finished when Start* returns; the tests with a real
worker on the real broker are in test_batch_workers.py.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from fraudsters import screening
from jobs import s3
from tests.jobs.batch import (
    ROLE,
    LocalBucket,
    by_request,
    check_enrollment_output,
    check_registration_output,
    enrollment_manifest,
    registration_manifest,
)
from voiceid_site import demo
from voiceprints import audio

ALICE, BOB, CAROL = demo.CALLERS


@pytest.fixture(autouse=True)
def _fresh_screening_cache() -> None:
    screening.forget()


def start_enrollment(voiceid: Any, domain_id: str, manifest_uri: str, **extra: Any) -> dict[str, Any]:
    return voiceid.start_speaker_enrollment_job(
        DomainId=domain_id,
        DataAccessRoleArn=ROLE,
        InputDataConfig={"S3Uri": manifest_uri},
        OutputDataConfig={"S3Uri": "s3://recordings/output"},
        **extra,
    )["Job"]


def start_registration(voiceid: Any, domain_id: str, manifest_uri: str, **extra: Any) -> dict[str, Any]:
    return voiceid.start_fraudster_registration_job(
        DomainId=domain_id,
        DataAccessRoleArn=ROLE,
        InputDataConfig={"S3Uri": manifest_uri},
        OutputDataConfig={"S3Uri": "s3://recordings/output/"},
        **extra,
    )["Job"]


def enrollment_job(voiceid: Any, domain_id: str, job_id: str) -> dict[str, Any]:
    return voiceid.describe_speaker_enrollment_job(DomainId=domain_id, JobId=job_id)["Job"]


def registration_job(voiceid: Any, domain_id: str, job_id: str) -> dict[str, Any]:
    return voiceid.describe_fraudster_registration_job(DomainId=domain_id, JobId=job_id)["Job"]


def output_of(bucket: LocalBucket, job_id: str, manifest_name: str) -> dict[str, Any]:
    return bucket.read_json(f"s3://recordings/output/{job_id}/{manifest_name}.out")


def enroll(
    voiceid: Any, bucket: LocalBucket, domain_id: str, voices: list[demo.DemoVoice], **extra: Any
) -> Any:
    manifest = enrollment_manifest(
        [(f"req-{voice.name}", voice.name, bucket.put_voice(voice, voice.name)) for voice in voices]
    )
    job = start_enrollment(voiceid, domain_id, bucket.put_json("manifests/enroll.json", manifest), **extra)
    return enrollment_job(voiceid, domain_id, job["JobId"])


# --- enrollment ------------------------------------------------------------------------------------


def test_an_enrollment_job_enrolls_every_caller_and_later_calls_are_accepted(
    voiceid: Any, bucket: LocalBucket, domain: dict[str, Any]
) -> None:
    manifest = enrollment_manifest(
        [(f"req-{voice.name}", voice.name, bucket.put_voice(voice, voice.name)) for voice in demo.CALLERS]
    )
    started = start_enrollment(
        voiceid,
        domain["DomainId"],
        bucket.put_json("manifests/input-file.json", manifest),
        JobName="migration",
    )
    assert started["JobStatus"] == "SUBMITTED"
    assert started["EnrollmentConfig"] == {
        "ExistingEnrollmentAction": "SKIP",
        "FraudDetectionConfig": {
            "FraudDetectionAction": "FAIL",
            "RiskThreshold": 50,
            "WatchlistIds": [domain["WatchlistDetails"]["DefaultWatchlistId"]],
        },
    }

    job = enrollment_job(voiceid, domain["DomainId"], started["JobId"])
    assert job["JobStatus"] == "COMPLETED"
    assert job["JobProgress"] == {"PercentComplete": 100}
    assert job["EndedAt"] >= job["CreatedAt"]
    assert job["JobName"] == "migration"
    output = output_of(bucket, job["JobId"], "input-file.json")
    check_enrollment_output(output)
    assert output["Errors"] == []
    results = by_request(output["SuccessfulEnrollments"])
    for voice in demo.CALLERS:
        result = results[f"req-{voice.name}"]
        assert result["CustomerSpeakerId"] == voice.name
        assert result["EnrollmentStatus"] == "NEW_ENROLLMENT"
        speaker = voiceid.describe_speaker(DomainId=domain["DomainId"], SpeakerId=voice.name)["Speaker"]
        assert speaker["Status"] == "ENROLLED"
        assert speaker["GeneratedSpeakerId"] == result["GeneratedSpeakerId"]


def test_a_caller_enrolled_by_a_job_is_accepted_on_a_later_call(
    voiceid: Any, bucket: LocalBucket, domain: dict[str, Any]
) -> None:
    from tests.conftest import make_client
    from voiceid_site.awsjson.model import DATA_PATH

    assert enroll(voiceid, bucket, domain["DomainId"], [ALICE])["JobStatus"] == "COMPLETED"
    calls = make_client(voiceid.meta.endpoint_url, _credentials(voiceid), data_path=str(DATA_PATH))
    calls.start_session(DomainId=domain["DomainId"], SessionName="call-1", SpeakerId="alice")
    calls.put_session_audio(
        DomainId=domain["DomainId"],
        SessionNameOrId="call-1",
        Audio=audio.pcm16_bytes(ALICE.call_audio()),
        AudioFormat="PCM_S16LE_8000",
    )
    result = calls.evaluate_session(DomainId=domain["DomainId"], SessionNameOrId="call-1")
    assert result["AuthenticationResult"]["Decision"] == "ACCEPT"


def _credentials(client: Any) -> Any:
    from tests.conftest import ApiCredentials

    creds = client._request_signer._credentials
    return ApiCredentials(creds.access_key, creds.secret_key)


def test_an_enrolled_caller_is_skipped_by_default_and_overwritten_on_request(
    voiceid: Any, bucket: LocalBucket, domain: dict[str, Any]
) -> None:
    enroll(voiceid, bucket, domain["DomainId"], [ALICE])
    again = enroll(voiceid, bucket, domain["DomainId"], [ALICE])
    assert again["JobStatus"] == "COMPLETED"
    [skipped] = output_of(bucket, again["JobId"], "enroll.json")["SuccessfulEnrollments"]
    assert skipped["EnrollmentStatus"] == "DUPLICATE_SKIPPED"

    overwrite = enroll(
        voiceid,
        bucket,
        domain["DomainId"],
        [ALICE],
        EnrollmentConfig={"ExistingEnrollmentAction": "OVERWRITE"},
    )
    [overwritten] = output_of(bucket, overwrite["JobId"], "enroll.json")["SuccessfulEnrollments"]
    assert overwritten["EnrollmentStatus"] == "ENROLLMENT_OVERWRITE"
    assert overwritten["GeneratedSpeakerId"] == skipped["GeneratedSpeakerId"]


def test_bad_requests_fail_alone_and_the_job_completes_with_errors(
    voiceid: Any, bucket: LocalBucket, domain: dict[str, Any]
) -> None:
    voiceid.opt_out_speaker(DomainId=domain["DomainId"], SpeakerId="opted-out")
    alice = bucket.put_voice(ALICE, "alice")
    short = bucket.put("short.wav", audio.encode_wav(ALICE.call_audio()[: 8000 * 5], 8000))
    bucket.put("not-audio.wav", b"ID3 this is an mp3")
    manifest = enrollment_manifest(
        [
            ("ok", "alice", alice),
            ("opted-out", "opted-out", alice),
            ("short", "short-caller", [short]),
            ("missing", "ghost", ["s3://recordings/nowhere.wav"]),
            ("mp3", "mp3-caller", ["s3://recordings/not-audio.wav"]),
            ("generated-id", "id#abcdefghijklmnopqrstuv", alice),
        ]
    )
    manifest["SpeakerEnrollmentRequests"].append(
        {
            "RequestId": "channel-2",
            "SpeakerId": "x",
            "AudioSpecifications": [{"S3Uri": alice[0], "ChannelId": 2}],
        }
    )
    manifest["SpeakerEnrollmentRequests"].append(
        {
            "RequestId": "eleven-files",
            "SpeakerId": "y",
            "AudioSpecifications": [{"S3URI": alice[0], "ChannelId": 0}] * 11,
        }
    )
    job = start_enrollment(voiceid, domain["DomainId"], bucket.put_json("bad.json", manifest))
    job = enrollment_job(voiceid, domain["DomainId"], job["JobId"])
    assert job["JobStatus"] == "COMPLETED_WITH_ERRORS"
    assert job["JobProgress"] == {"PercentComplete": 100}
    output = output_of(bucket, job["JobId"], "bad.json")
    check_enrollment_output(output)
    assert [record["RequestId"] for record in output["SuccessfulEnrollments"]] == ["ok"]
    errors = by_request(output["Errors"])
    assert errors["opted-out"]["ErrorCode"] == 409
    assert errors["short"]["ErrorCode"] == 400 and "Not enough speech" in errors["short"]["ErrorMessage"]
    assert errors["missing"]["ErrorCode"] == 400 and "nowhere.wav" in errors["missing"]["ErrorMessage"]
    assert errors["mp3"]["ErrorCode"] == 400 and "accepted" in errors["mp3"]["ErrorMessage"]
    assert (
        errors["generated-id"]["ErrorCode"] == 400
        and "CustomerSpeakerId" in errors["generated-id"]["ErrorMessage"]
    )
    assert errors["channel-2"]["ErrorCode"] == 400 and "ChannelId" in errors["channel-2"]["ErrorMessage"]
    assert (
        errors["eleven-files"]["ErrorCode"] == 400 and "at most 10" in errors["eleven-files"]["ErrorMessage"]
    )
    # Nothing was left half-made: no speaker appeared for the refused requests.
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        voiceid.describe_speaker(DomainId=domain["DomainId"], SpeakerId="short-caller")
    status = voiceid.describe_speaker(DomainId=domain["DomainId"], SpeakerId="opted-out")["Speaker"]["Status"]
    assert status == "OPTED_OUT"


def test_the_speaker_quota_refuses_with_402(
    voiceid: Any, bucket: LocalBucket, domain: dict[str, Any], settings: Any
) -> None:
    settings.VOICEID_QUOTAS = {**settings.VOICEID_QUOTAS, "speakers_per_domain": 1}
    job = enroll(voiceid, bucket, domain["DomainId"], [ALICE, BOB])
    assert job["JobStatus"] == "COMPLETED_WITH_ERRORS"
    output = output_of(bucket, job["JobId"], "enroll.json")
    assert by_request(output["Errors"])["req-bob"]["ErrorCode"] == 402


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b'{"Version": "2.0", "SpeakerEnrollmentRequests": []}', '"Version"'),
        (b'{"Version": "1.0"}', "SpeakerEnrollmentRequests"),
        (
            b'{"Version": "1.0", "SpeakerEnrollmentRequests": [{"RequestId": "a", "SpeakerId": "x", '
            b'"AudioSpecifications": []}, {"RequestId": "a"}]}',
            "appears twice",
        ),
        (b'{"Version": "1.0", "SpeakerEnrollmentRequests": [{"SpeakerId": "x"}]}', "RequestId"),
    ],
)
def test_a_broken_manifest_fails_the_whole_job(
    voiceid: Any, bucket: LocalBucket, domain: dict[str, Any], manifest: bytes, message: str
) -> None:
    job = start_enrollment(voiceid, domain["DomainId"], bucket.put("broken.json", manifest))
    job = enrollment_job(voiceid, domain["DomainId"], job["JobId"])
    assert job["JobStatus"] == "FAILED"
    assert job["FailureDetails"]["StatusCode"] == 400
    assert message in job["FailureDetails"]["Message"]
    assert job["EndedAt"]
    assert not bucket.path(f"output/{job['JobId']}").exists()


def test_a_missing_manifest_fails_the_job_naming_it(
    voiceid: Any, bucket: LocalBucket, domain: dict[str, Any]
) -> None:
    job = start_enrollment(voiceid, domain["DomainId"], "s3://recordings/no-such-manifest.json")
    job = enrollment_job(voiceid, domain["DomainId"], job["JobId"])
    assert job["JobStatus"] == "FAILED"
    assert "no-such-manifest.json" in job["FailureDetails"]["Message"]


def test_too_many_requests_for_one_job_fail_it_with_402(
    voiceid: Any, bucket: LocalBucket, domain: dict[str, Any], settings: Any
) -> None:
    settings.VOICEID_QUOTAS = {**settings.VOICEID_QUOTAS, "speakers_per_enrollment_job": 2}
    manifest = enrollment_manifest([(f"r{n}", f"caller-{n}", ["s3://recordings/x.wav"]) for n in range(3)])
    job = start_enrollment(voiceid, domain["DomainId"], bucket.put_json("big.json", manifest))
    job = enrollment_job(voiceid, domain["DomainId"], job["JobId"])
    assert job["JobStatus"] == "FAILED"
    assert "at most 2" in job["FailureDetails"]["Message"]


# --- fraud check at enrollment -------------------------------------------------------------------


def register(
    voiceid: Any, bucket: LocalBucket, domain_id: str, voices: list[tuple[str, list[str]]], **extra: Any
) -> Any:
    job = start_registration(
        voiceid, domain_id, bucket.put_json("manifests/fraud.json", registration_manifest(voices)), **extra
    )
    return registration_job(voiceid, domain_id, job["JobId"])


def test_a_caller_who_sounds_like_a_known_fraudster_is_refused_unless_the_check_is_ignored(
    voiceid: Any, bucket: LocalBucket, domain: dict[str, Any]
) -> None:
    fraudster_audio = bucket.put_voice(demo.FRAUDSTER, "fraud")
    register(voiceid, bucket, domain["DomainId"], [("f1", fraudster_audio)])
    manifest = enrollment_manifest([("sus", "suspicious", fraudster_audio)])
    job = start_enrollment(voiceid, domain["DomainId"], bucket.put_json("enroll.json", manifest))
    [error] = output_of(bucket, job["JobId"], "enroll.json")["Errors"]
    assert error["ErrorCode"] == 400 and "fraud check failed" in error["ErrorMessage"]

    job = start_enrollment(
        voiceid,
        domain["DomainId"],
        bucket.uri("enroll.json"),
        EnrollmentConfig={"FraudDetectionConfig": {"FraudDetectionAction": "IGNORE"}},
    )
    [enrolled] = output_of(bucket, job["JobId"], "enroll.json")["SuccessfulEnrollments"]
    assert enrolled["EnrollmentStatus"] == "NEW_ENROLLMENT"


# --- registration ----------------------------------------------------------------------------------


def test_a_registration_job_registers_new_voices_and_skips_duplicates(
    voiceid: Any, bucket: LocalBucket, domain: dict[str, Any]
) -> None:
    fraudster = bucket.put_voice(demo.FRAUDSTER, "fraud")
    stranger = bucket.put_voice(demo.STRANGER, "stranger")
    watchlist = voiceid.create_watchlist(DomainId=domain["DomainId"], Name="gang")["Watchlist"]
    job = register(
        voiceid,
        bucket,
        domain["DomainId"],
        [("f1", fraudster), ("f2", stranger), ("f1-again", fraudster[::-1])],
        RegistrationConfig={"WatchlistIds": [watchlist["WatchlistId"]]},
    )
    assert job["JobStatus"] == "COMPLETED"
    assert job["RegistrationConfig"] == {
        "DuplicateRegistrationAction": "SKIP",
        "FraudsterSimilarityThreshold": 70,
        "WatchlistIds": [watchlist["WatchlistId"]],
    }
    output = output_of(bucket, job["JobId"], "fraud.json")
    check_registration_output(output)
    results = by_request(output["SuccessfulRegistrations"])
    assert results["f1"]["RegistrationStatus"] == results["f2"]["RegistrationStatus"] == "NEW_REGISTRATION"
    assert results["f1-again"]["RegistrationStatus"] == "DUPLICATE_SKIPPED"
    assert results["f1-again"]["GeneratedFraudsterId"] == results["f1"]["GeneratedFraudsterId"]
    assert results["f1-again"]["FraudsterSimilarityScore"] >= 70
    described = voiceid.describe_fraudster(
        DomainId=domain["DomainId"], FraudsterId=results["f1"]["GeneratedFraudsterId"]
    )
    assert described["Fraudster"]["WatchlistIds"] == [watchlist["WatchlistId"]]

    # Duplicates are found across the whole domain; REGISTER_AS_NEW registers them anyway.
    again = register(voiceid, bucket, domain["DomainId"], [("f1", fraudster)])
    [skipped] = output_of(bucket, again["JobId"], "fraud.json")["SuccessfulRegistrations"]
    assert skipped["RegistrationStatus"] == "DUPLICATE_SKIPPED"
    forced = register(
        voiceid,
        bucket,
        domain["DomainId"],
        [("f1", fraudster)],
        RegistrationConfig={"DuplicateRegistrationAction": "REGISTER_AS_NEW"},
    )
    [new] = output_of(bucket, forced["JobId"], "fraud.json")["SuccessfulRegistrations"]
    assert new["RegistrationStatus"] == "NEW_REGISTRATION"
    assert new["GeneratedFraudsterId"] != results["f1"]["GeneratedFraudsterId"]
    default = domain["WatchlistDetails"]["DefaultWatchlistId"]
    described = voiceid.describe_fraudster(
        DomainId=domain["DomainId"], FraudsterId=new["GeneratedFraudsterId"]
    )
    assert described["Fraudster"]["WatchlistIds"] == [default]


def test_a_registration_with_too_little_speech_fails_alone(
    voiceid: Any, bucket: LocalBucket, domain: dict[str, Any]
) -> None:
    short = bucket.put("short.wav", audio.encode_wav(demo.FRAUDSTER.call_audio()[: 8000 * 4], 8000))
    job = register(voiceid, bucket, domain["DomainId"], [("short", [short])])
    assert job["JobStatus"] == "COMPLETED_WITH_ERRORS"
    [error] = output_of(bucket, job["JobId"], "fraud.json")["Errors"]
    assert error["RequestId"] == "short" and error["ErrorCode"] == 400


# --- start: validation, idempotency, quota, listing ------------------------------------------------


def test_an_unknown_watchlist_is_refused_at_start(
    voiceid: Any, bucket: LocalBucket, domain: dict[str, Any]
) -> None:
    with pytest.raises(ClientError) as error:
        start_registration(
            voiceid,
            domain["DomainId"],
            "s3://recordings/m.json",
            RegistrationConfig={"WatchlistIds": ["A" * 22]},
        )
    assert error.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_a_retried_start_with_the_same_client_token_returns_the_same_job(
    voiceid: Any, bucket: LocalBucket, domain: dict[str, Any], queued_only: None
) -> None:
    first = start_enrollment(voiceid, domain["DomainId"], "s3://recordings/m.json", ClientToken="retry-1")
    again = start_enrollment(voiceid, domain["DomainId"], "s3://recordings/m.json", ClientToken="retry-1")
    assert again["JobId"] == first["JobId"]
    jobs = voiceid.list_speaker_enrollment_jobs(DomainId=domain["DomainId"])["JobSummaries"]
    assert [job["JobId"] for job in jobs] == [first["JobId"]]
    with pytest.raises(ClientError) as error:
        start_enrollment(voiceid, domain["DomainId"], "s3://recordings/other.json", ClientToken="retry-1")
    assert error.value.response["Error"]["Code"] == "ValidationException"
    assert "ClientToken" in error.value.response["Error"]["Message"]


def test_one_active_job_of_each_kind_per_domain(
    voiceid: Any, bucket: LocalBucket, domain: dict[str, Any], queued_only: None
) -> None:
    start_enrollment(voiceid, domain["DomainId"], "s3://recordings/m.json")
    with pytest.raises(ClientError) as error:
        start_enrollment(voiceid, domain["DomainId"], "s3://recordings/m.json")
    assert error.value.response["Error"]["Code"] == "ServiceQuotaExceededException"
    assert "VOICEID_QUOTA_ACTIVE_ENROLLMENT_JOBS_PER_DOMAIN" in error.value.response["Error"]["Message"]
    # The other kind has its own quota.
    assert (
        start_registration(voiceid, domain["DomainId"], "s3://recordings/m.json")["JobStatus"] == "SUBMITTED"
    )


def test_jobs_list_by_status_and_page(voiceid: Any, bucket: LocalBucket, domain: dict[str, Any]) -> None:
    ok = enroll(voiceid, bucket, domain["DomainId"], [ALICE])
    failed = start_enrollment(voiceid, domain["DomainId"], "s3://recordings/missing.json")
    paginator = voiceid.get_paginator("list_speaker_enrollment_jobs")
    pages = list(paginator.paginate(DomainId=domain["DomainId"], PaginationConfig={"PageSize": 1}))
    assert [job["JobId"] for page in pages for job in page["JobSummaries"]] == [ok["JobId"], failed["JobId"]]
    only_failed = voiceid.list_speaker_enrollment_jobs(DomainId=domain["DomainId"], JobStatus="FAILED")
    assert [job["JobId"] for job in only_failed["JobSummaries"]] == [failed["JobId"]]
    assert only_failed["JobSummaries"][0]["FailureDetails"]["StatusCode"] == 400
    assert voiceid.list_fraudster_registration_jobs(DomainId=domain["DomainId"])["JobSummaries"] == []


def test_an_unknown_job_is_not_found(voiceid: Any, domain: dict[str, Any]) -> None:
    with pytest.raises(ClientError) as error:
        voiceid.describe_fraudster_registration_job(DomainId=domain["DomainId"], JobId="B" * 22)
    assert error.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert error.value.response["ResourceType"] == "BATCH_JOB"


def test_an_output_key_encrypts_the_output_file(
    voiceid: Any, bucket: LocalBucket, domain: dict[str, Any]
) -> None:
    manifest = enrollment_manifest([("a", "alice", bucket.put_voice(ALICE, "alice"))])
    job = voiceid.start_speaker_enrollment_job(
        DomainId=domain["DomainId"],
        DataAccessRoleArn=ROLE,
        InputDataConfig={"S3Uri": bucket.put_json("enc.json", manifest)},
        OutputDataConfig={"S3Uri": "s3://recordings/output", "KmsKeyId": "alias/cc"},
    )["Job"]
    assert job["OutputDataConfig"]["KmsKeyId"] == "alias/cc"
    uri = f"s3://recordings/output/{job['JobId']}/enc.json.out"
    stored = bucket.path(uri.removeprefix("s3://recordings/")).read_bytes()
    assert b"alice" not in stored
    check_enrollment_output(json.loads(s3.read_output(uri)))


def test_a_job_reads_and_writes_a_real_s3_server(
    voiceid: Any, domain: dict[str, Any], s3_server: Any, settings: Any
) -> None:
    """The same job with its manifest, recordings and output on an S3 API (SeaweedFS, started by the tests)."""
    s3_server.apply(settings)
    s3_server.create_bucket("call-archive")
    client = s3_server.client()
    uris = []
    for path in ALICE.recordings()[: ALICE._split()]:
        key = f"2026/alice/{path.name}"
        client.put_object(Bucket="call-archive", Key=key, Body=path.read_bytes())
        uris.append(f"s3://call-archive/{key}")
    manifest = enrollment_manifest(
        [("req-1", "alice", uris), ("req-2", "ghost", ["s3://call-archive/missing.wav"])]
    )
    client.put_object(Bucket="call-archive", Key="jobs/input-file.json", Body=json.dumps(manifest).encode())

    s3_server.create_bucket("recordings")  # start_enrollment's output folder: s3://recordings/output
    job = start_enrollment(voiceid, domain["DomainId"], "s3://call-archive/jobs/input-file.json")
    job = enrollment_job(voiceid, domain["DomainId"], job["JobId"])
    assert job["JobStatus"] == "COMPLETED_WITH_ERRORS"
    body = client.get_object(Bucket="recordings", Key=f"output/{job['JobId']}/input-file.json.out")[
        "Body"
    ].read()
    output = json.loads(body)
    check_enrollment_output(output)
    assert [record["CustomerSpeakerId"] for record in output["SuccessfulEnrollments"]] == ["alice"]
    [error] = output["Errors"]
    assert (
        error["RequestId"] == "req-2" and error["ErrorCode"] == 400 and "missing.wav" in error["ErrorMessage"]
    )


def _refused_start(voiceid: Any, domain_id: str, *, output_uri: str) -> str:
    """Start an enrollment job writing to `output_uri`; it must be refused, and no job made: the message."""
    with pytest.raises(ClientError) as error:
        voiceid.start_speaker_enrollment_job(
            DomainId=domain_id,
            DataAccessRoleArn=ROLE,
            InputDataConfig={"S3Uri": "s3://recordings/manifest.json"},
            OutputDataConfig={"S3Uri": output_uri},
        )
    assert error.value.response["Error"]["Code"] == "ValidationException"
    assert voiceid.list_speaker_enrollment_jobs(DomainId=domain_id)["JobSummaries"] == []
    return str(error.value.response["Error"]["Message"])


@pytest.mark.parametrize(
    ("output_uri", "message_start"),
    [
        ("s3://recordings/a/../output", "OutputDataConfig.S3Uri"),  # no file can live under it
        # Otherwise the job would enroll every caller and then fail, unable to write its output.
        (
            "s3://no-such-bucket/out",
            "OutputDataConfig.S3Uri s3://no-such-bucket/out: bucket no-such-bucket does not exist",
        ),
    ],
)
def test_an_output_folder_the_job_could_not_write_to_is_refused_at_start(
    voiceid: Any, bucket: LocalBucket, domain: dict[str, Any], output_uri: str, message_start: str
) -> None:
    assert _refused_start(voiceid, domain["DomainId"], output_uri=output_uri).startswith(message_start)


def test_an_output_bucket_missing_from_a_real_s3_server_is_refused_at_start(
    voiceid: Any, domain: dict[str, Any], s3_server: Any, settings: Any
) -> None:
    s3_server.apply(settings)  # the server outlives the test: a bucket no test creates
    message = _refused_start(voiceid, domain["DomainId"], output_uri="s3://never-created/out")
    assert "bucket never-created does not exist at" in message
