"""The clients integrations use, unchanged but for the endpoint: boto3 with our model on AWS_DATA_PATH,
and AWS CLI v1 (installed by `make test` in .venv-awscli, because it pins an older botocore)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import make_client
from voiceid_site.awsjson.model import DATA_PATH

pytestmark = pytest.mark.django_db(transaction=True)
AWS_CLI = Path(__file__).resolve().parent.parent / ".venv-awscli" / "bin" / "aws"


def test_boto3_loads_our_model_from_aws_data_path_and_calls_the_server(live_server, api_credentials):
    client = make_client(live_server.url, api_credentials, data_path=str(DATA_PATH))
    # Our copy has no documentation strings; botocore's own has them, so this proves which was loaded.
    assert client.meta.service_model.operation_model("CreateDomain").documentation == ""
    domain = client.create_domain(Name="via-data-path", ServerSideEncryptionConfiguration={"KmsKeyId": "k"})[
        "Domain"
    ]
    pages = list(client.get_paginator("list_domains").paginate())
    assert [d["DomainId"] for d in pages[0]["DomainSummaries"]] == [domain["DomainId"]]


@pytest.fixture
def aws(live_server, api_credentials):
    if not AWS_CLI.exists():
        pytest.skip("AWS CLI v1 is not installed in .venv-awscli (`make install-test` installs it)")
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": api_credentials.access_key_id,
        "AWS_SECRET_ACCESS_KEY": api_credentials.secret_access_key,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_VOICE_ID": live_server.url,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }

    def run(*args: str) -> dict:
        result = subprocess.run([str(AWS_CLI), "voice-id", *args, "--output", "json"], env=env,
                                capture_output=True, text=True, timeout=60)  # fmt: skip
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout) if result.stdout.strip() else {}

    return run


def test_the_aws_cli_runs_the_control_plane(aws):
    domain = aws(
        "create-domain", "--name", "cli", "--server-side-encryption-configuration", "KmsKeyId=alias/cli"
    )["Domain"]
    did = domain["DomainId"]
    assert aws("describe-domain", "--domain-id", did)["Domain"]["Name"] == "cli"
    aws("tag-resource", "--resource-arn", domain["Arn"], "--tags", "Key=team,Value=fraud")
    assert aws("list-tags-for-resource", "--resource-arn", domain["Arn"])["Tags"] == [
        {"Key": "team", "Value": "fraud"}
    ]
    speaker = aws("opt-out-speaker", "--domain-id", did, "--speaker-id", "caller-1")["Speaker"]
    assert (
        aws("list-speakers", "--domain-id", did)["SpeakerSummaries"][0]["GeneratedSpeakerId"]
        == speaker["GeneratedSpeakerId"]
    )
    watchlist = aws("create-watchlist", "--domain-id", did, "--name", "cli-list")["Watchlist"]
    assert len(aws("list-watchlists", "--domain-id", did)["WatchlistSummaries"]) == 2
    aws("delete-watchlist", "--domain-id", did, "--watchlist-id", watchlist["WatchlistId"])
    aws("delete-speaker", "--domain-id", did, "--speaker-id", "caller-1")
    aws("delete-domain", "--domain-id", did)
    assert aws("list-domains")["DomainSummaries"][0]["DomainStatus"] == "SUSPENDED"


def test_the_aws_cli_reports_a_bad_secret(live_server, api_credentials):
    if not AWS_CLI.exists():
        pytest.skip("AWS CLI v1 is not installed in .venv-awscli")
    env = {**os.environ, "AWS_ACCESS_KEY_ID": api_credentials.access_key_id, "AWS_SECRET_ACCESS_KEY": "wrong",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}  # fmt: skip
    result = subprocess.run([str(AWS_CLI), "voice-id", "list-domains", "--endpoint-url", live_server.url],
                            env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 255
    assert "InvalidSignatureException" in result.stderr


def test_the_aws_cli_runs_the_demos_batch_enrollment(aws, settings, tmp_path):
    """What `make run` prints for the batch demo: the demo's manifest, started and read with the CLI."""
    from voiceid_site import demo

    settings.VOICEID_LOCAL_S3_ROOT = tmp_path
    manifest = demo.write_batch_demo(tmp_path)
    did = aws(
        "create-domain", "--name", "cli", "--server-side-encryption-configuration", "KmsKeyId=alias/cli"
    )["Domain"]["DomainId"]
    job = aws(
        "start-speaker-enrollment-job",
        "--domain-id", did,
        "--data-access-role-arn", "arn:aws:iam::000000000000:role/voiceid-demo",
        "--input-data-config", f"S3Uri={manifest}",
        "--output-data-config", f"S3Uri=s3://{demo.DEMO_BUCKET}/output",
    )["Job"]  # fmt: skip
    described = aws("describe-speaker-enrollment-job", "--domain-id", did, "--job-id", job["JobId"])["Job"]
    assert described["JobStatus"] == "COMPLETED"
    assert (
        aws("describe-speaker", "--domain-id", did, "--speaker-id", "dave")["Speaker"]["Status"] == "ENROLLED"
    )
    output = json.loads(
        (tmp_path / demo.DEMO_BUCKET / "output" / job["JobId"] / "manifest.json.out").read_text()
    )
    assert output["SuccessfulEnrollments"][0]["EnrollmentStatus"] == "NEW_ENROLLMENT"
    assert aws("list-speaker-enrollment-jobs", "--domain-id", did)["JobSummaries"][0]["JobId"] == job["JobId"]
