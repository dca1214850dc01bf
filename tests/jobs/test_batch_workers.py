"""Batch jobs with real workers on the real broker: end to end, a worker killed mid-job, the broker down.

Each test starts a whole voiceid in processes (tests/jobs/stack.py): on SQLite + the filesystem broker in
the embedded run, on a database of its own on PostgreSQL + Redis in the PostgreSQL run.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.jobs.batch import ROLE, LocalBucket, by_request, check_enrollment_output, enrollment_manifest
from tests.jobs.stack import Stack, free_port, wait_for
from voiceid_site import demo
from voiceprints import audio

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL and POSIX processes")
FINISHED = {"COMPLETED", "COMPLETED_WITH_ERRORS", "FAILED"}
# A lease short enough for a test to watch it expire, and a recovery sweep every second.
FAST_RECOVERY = {"VOICEID_JOB_LEASE_SECONDS": "3", "VOICEID_JOB_RECOVERY_SECONDS": "1"}


@pytest.fixture
def make_stack(tmp_path: Path) -> Iterator[Any]:
    stacks: list[Stack] = []

    def make(**settings: str) -> Stack:
        stack = Stack(tmp_path, **settings)
        stacks.append(stack)
        stack.start()
        return stack

    yield make
    for stack in stacks:
        stack.stop()


def create_domain(client: Any) -> str:
    return client.create_domain(Name="batch", ServerSideEncryptionConfiguration={"KmsKeyId": "alias/batch"})[
        "Domain"
    ]["DomainId"]


def start_job(client: Any, domain_id: str, manifest_uri: str) -> str:
    return client.start_speaker_enrollment_job(
        DomainId=domain_id,
        DataAccessRoleArn=ROLE,
        InputDataConfig={"S3Uri": manifest_uri},
        OutputDataConfig={"S3Uri": "s3://recordings/output"},
        EnrollmentConfig={"FraudDetectionConfig": {"FraudDetectionAction": "IGNORE"}},
    )["Job"]["JobId"]


def describe(client: Any, domain_id: str, job_id: str) -> dict[str, Any]:
    return client.describe_speaker_enrollment_job(DomainId=domain_id, JobId=job_id)["Job"]


def wait_until_finished(
    stack: Stack, client: Any, domain_id: str, job_id: str, seconds: float = 240
) -> dict[str, Any]:
    try:
        return wait_for(
            lambda: (job := describe(client, domain_id, job_id))["JobStatus"] in FINISHED and job,
            seconds=seconds,
            what=f"job {job_id} to finish",
        )
    except AssertionError:
        raise AssertionError(stack.logs()) from None


def test_a_real_worker_enrolls_a_manifest_and_the_callers_are_then_accepted(make_stack: Any) -> None:
    stack = make_stack()
    client = stack.client()
    domain_id = create_domain(client)
    bucket = LocalBucket(stack.folder / "s3")
    manifest = enrollment_manifest(
        [(f"req-{voice.name}", voice.name, bucket.put_voice(voice, voice.name)) for voice in demo.CALLERS]
    )
    stack.worker()
    job_id = start_job(client, domain_id, bucket.put_json("manifest.json", manifest))
    job = wait_until_finished(stack, client, domain_id, job_id)
    assert job["JobStatus"] == "COMPLETED", job
    output = bucket.read_json(f"s3://recordings/output/{job_id}/manifest.json.out")
    check_enrollment_output(output)
    assert {record["CustomerSpeakerId"] for record in output["SuccessfulEnrollments"]} == {
        "alice",
        "bob",
        "carol",
    }

    client.start_session(DomainId=domain_id, SessionName="later-call", SpeakerId="bob")
    client.put_session_audio(
        DomainId=domain_id,
        SessionNameOrId="later-call",
        Audio=audio.pcm16_bytes(demo.CALLERS[1].call_audio()),
        AudioFormat="PCM_S16LE_8000",
    )
    decision = client.evaluate_session(DomainId=domain_id, SessionNameOrId="later-call")
    assert decision["AuthenticationResult"]["Decision"] == "ACCEPT"


ENTRY_EVENTS = """
import json
from collections import Counter
from events.models import Event
from speakers.models import Speaker, SpeakerVoiceprint
events = Counter(
    e.envelope["detail"]["sourceId"] for e in Event.objects.filter(detail_type="VoiceId Speaker Action")
)
print(json.dumps({
    "events": sorted(events.values()),
    "enrolled": Speaker.objects.filter(status="ENROLLED").count(),
    "voiceprints": SpeakerVoiceprint.objects.count(),
}))
"""


def test_a_worker_killed_mid_job_is_replaced_and_every_entry_is_applied_exactly_once(make_stack: Any) -> None:
    entries = 10
    stack = make_stack(**FAST_RECOVERY)
    client = stack.client()
    domain_id = create_domain(client)
    bucket = LocalBucket(stack.folder / "s3")
    recordings = bucket.put_voice(demo.CALLERS[0], "voice")
    manifest = enrollment_manifest([(f"req-{n:02}", f"caller-{n:02}", recordings) for n in range(entries)])
    first = stack.worker(name="first")
    job_id = start_job(client, domain_id, bucket.put_json("crash.json", manifest))

    wait_for(
        lambda: describe(client, domain_id, job_id)["JobProgress"]["PercentComplete"] >= 20,
        seconds=180,
        what="the first worker to finish some entries",
        every=0.05,
    )
    stack.kill(first)
    assert describe(client, domain_id, job_id)["JobStatus"] == "IN_PROGRESS", "the kill must land mid-job"

    stack.worker(beat=True, name="second")  # with beat: the recovery sweep finds the stalled job
    job = wait_until_finished(stack, client, domain_id, job_id)
    assert job["JobStatus"] == "COMPLETED", job
    output = bucket.read_json(f"s3://recordings/output/{job_id}/crash.json.out")
    check_enrollment_output(output)
    results = by_request(output["SuccessfulEnrollments"])
    assert len(output["SuccessfulEnrollments"]) == len(results) == entries
    assert {record["EnrollmentStatus"] for record in results.values()} == {"NEW_ENROLLMENT"}
    applied = stack.shell(ENTRY_EVENTS)
    # One enrollment event per request: no entry was applied twice, even the one the kill interrupted.
    assert applied == {"events": [1] * entries, "enrolled": entries, "voiceprints": entries}


def test_two_workers_share_one_jobs_entries(make_stack: Any) -> None:
    entries = 6
    stack = make_stack()
    client = stack.client()
    domain_id = create_domain(client)
    bucket = LocalBucket(stack.folder / "s3")
    recordings = bucket.put_voice(demo.CALLERS[2], "voice")
    manifest = enrollment_manifest([(f"req-{n}", f"caller-{n}", recordings) for n in range(entries)])
    stack.worker(name="one")
    stack.worker(name="two")
    stack.wait_for_workers(2)  # else the first to start could take every entry before the other is up
    job_id = start_job(client, domain_id, bucket.put_json("shared.json", manifest))
    assert wait_until_finished(stack, client, domain_id, job_id)["JobStatus"] == "COMPLETED"
    workers = stack.shell(
        "import json; from jobs.models import JobEntry; "
        "print(json.dumps(sorted({e.claimed_by for e in JobEntry.objects.all()})))"
    )
    assert len(workers) == 2, f"both workers should have taken entries, got {workers}"


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs the redis-server program")
def test_a_job_started_while_the_broker_is_down_runs_when_it_returns(make_stack: Any, tmp_path: Path) -> None:
    port = free_port()

    def start_redis() -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
        )
        wait_for(lambda: _answers(port), seconds=20, what="redis-server")
        return process

    redis_server = start_redis()
    try:
        stack = make_stack(broker_url=f"redis://127.0.0.1:{port}/0", **FAST_RECOVERY)
        client = stack.client()
        domain_id = create_domain(client)
        bucket = LocalBucket(stack.folder / "s3")
        manifest = enrollment_manifest([("a", "alice", bucket.put_voice(demo.CALLERS[0], "alice"))])
        Stack.kill(redis_server)

        job_id = start_job(client, domain_id, bucket.put_json("outage.json", manifest))
        assert describe(client, domain_id, job_id)["JobStatus"] == "SUBMITTED"
        time.sleep(1)

        redis_server = start_redis()
        stack.worker(beat=True)
        assert wait_until_finished(stack, client, domain_id, job_id)["JobStatus"] == "COMPLETED"
    finally:
        if redis_server.poll() is None:
            Stack.kill(redis_server)


def _answers(port: int) -> bool:
    import socket

    try:
        socket.create_connection(("127.0.0.1", port), 0.5).close()
        return True
    except OSError:
        return False
