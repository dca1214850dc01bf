"""jobs.s3, the one way batch jobs reach s3:// URIs: the local folder and a real S3 server, same tests."""

from __future__ import annotations

import base64
import json
import os
import struct
import subprocess
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from domains import keyproviders
from jobs import s3
from tests.s3server import S3TestServer
from voiceid_site.exceptions import ValidationError

MANIFEST = json.dumps({"Version": "1.0", "SpeakerEnrollmentRequests": []}).encode()
OUTPUT = json.dumps(
    {"Version": "1.0", "Errors": [], "SuccessfulEnrollments": [{"CustomerSpeakerId": "caller-secret-42"}]}
).encode()


@dataclass
class Store:
    """Where s3:// URIs go in this test, and a way to put and get objects around jobs.s3."""

    kind: str
    bucket: str
    put: Callable[[str, bytes], None]
    get: Callable[[str], bytes]
    server: S3TestServer | None = None
    local_root: Path | None = None

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, settings: Any, tmp_path: Path) -> Store:
    bucket = f"voiceid-{uuid.uuid4().hex[:12]}"
    if request.param == "local":
        root = tmp_path / "s3root"
        (root / bucket).mkdir(parents=True)
        settings.VOICEID_LOCAL_S3_ROOT = root
        settings.VOICEID_S3_ENDPOINT_URL = ""

        def put_file(key: str, data: bytes) -> None:
            (root / bucket / key).parent.mkdir(parents=True, exist_ok=True)
            (root / bucket / key).write_bytes(data)

        return Store(
            "local", bucket, put_file, lambda key: (root / bucket / key).read_bytes(), local_root=root
        )
    server: S3TestServer = request.getfixturevalue("s3_server")
    server.apply(settings)
    server.create_bucket(bucket)
    client = server.client()
    return Store(
        "s3",
        bucket,
        lambda key, data: client.put_object(Bucket=bucket, Key=key, Body=data),
        lambda key: client.get_object(Bucket=bucket, Key=key)["Body"].read(),
        server=server,
    )


@pytest.fixture
def output_key(db: None) -> str:
    key_id = f"alias/job-output-{uuid.uuid4().hex[:8]}"
    keyproviders.master_key_create(key_id=key_id)
    return key_id


# Reading and writing.


def test_it_reads_an_object(store: Store) -> None:
    store.put("manifests/enroll.json", MANIFEST)

    assert s3.read_bytes(store.uri("manifests/enroll.json"), max_bytes=1024) == MANIFEST


def test_it_writes_creating_folders_and_overwrites(store: Store) -> None:
    uri = store.uri("out/JOB123/enroll.json.out")

    s3.write_bytes(uri, b"first")
    s3.write_bytes(uri, b"second run")

    assert store.get("out/JOB123/enroll.json.out") == b"second run"
    assert s3.read_bytes(uri, max_bytes=100) == b"second run"
    if store.local_root is not None:  # the temporary file was renamed into place, not left behind
        assert sorted(p.name for p in (store.local_root / store.bucket / "out/JOB123").iterdir()) == [
            "enroll.json.out"
        ]


def test_a_missing_object_is_a_400_naming_the_uri(store: Store) -> None:
    uri = store.uri("manifests/absent.json")

    with pytest.raises(s3.ObjectMissing) as caught:
        s3.read_bytes(uri, max_bytes=1024)

    assert caught.value.status_code == 400
    assert uri in caught.value.message
    if store.local_root is not None:
        assert str(store.local_root / store.bucket / "manifests" / "absent.json") in caught.value.message


def test_a_missing_bucket_is_refused_for_reads_and_writes(store: Store) -> None:
    uri = "s3://no-such-bucket-here/manifest.json"

    with pytest.raises(s3.BucketMissing) as read_error:
        s3.read_bytes(uri, max_bytes=1024)
    with pytest.raises(s3.BucketMissing) as write_error:
        s3.write_bytes(uri, b"{}")

    assert read_error.value.status_code == write_error.value.status_code == 400
    assert "no-such-bucket-here" in read_error.value.message
    if store.local_root is not None:
        assert str(store.local_root / "no-such-bucket-here") in write_error.value.message
        assert not (store.local_root / "no-such-bucket-here").exists()


def test_an_object_over_the_limit_is_refused(store: Store) -> None:
    store.put("audio/call.wav", b"x" * 1000)

    with pytest.raises(s3.ObjectTooLarge) as caught:
        s3.read_bytes(store.uri("audio/call.wav"), max_bytes=999)

    assert caught.value.status_code == 400
    assert "1000 bytes" in caught.value.message and "999" in caught.value.message
    assert s3.read_bytes(store.uri("audio/call.wav"), max_bytes=1000) == b"x" * 1000


class _ReadSpy:
    """Wraps a file or an S3 body and records each read, to prove an oversized object is not downloaded."""

    def __init__(self, wrapped: Any, reads: list[Any]) -> None:
        self._wrapped, self._reads = wrapped, reads

    def read(self, *args: Any) -> bytes:
        self._reads.append(args)
        return self._wrapped.read(*args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._wrapped, name)

    def __enter__(self) -> _ReadSpy:
        return self

    def __exit__(self, *exc: object) -> None:
        self._wrapped.close()


def test_an_object_over_the_limit_is_refused_before_it_is_read(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.put("audio/long.wav", b"x" * 50_000)
    reads: list[Any] = []
    if store.kind == "local":
        # The spy is the context manager: jobs.s3 opens it with `with`, and __exit__ closes the file.
        spying_open = lambda *a, **k: _ReadSpy(open(*a, **k), reads)  # noqa: E731, SIM115
        monkeypatch.setattr(s3, "open", spying_open, raising=False)
    else:
        client = s3._client()

        class SpyingClient:
            def get_object(self, **kwargs: Any) -> dict[str, Any]:
                answer = client.get_object(**kwargs)
                return {**answer, "Body": _ReadSpy(answer["Body"], reads)}

        monkeypatch.setattr(s3, "_client", SpyingClient)

    with pytest.raises(s3.ObjectTooLarge):
        s3.read_bytes(store.uri("audio/long.wav"), max_bytes=1000)

    assert reads == []


@pytest.mark.parametrize(
    "key", ["../outside.json", "a/../../outside.json", "/etc/passwd", "a/./b.json", "a/.."]
)
def test_keys_that_would_leave_the_bucket_are_refused(store: Store, key: str, tmp_path: Path) -> None:
    uri = f"s3://{store.bucket}/{key}"

    with pytest.raises(s3.InvalidLocation) as read_error:
        s3.read_bytes(uri, max_bytes=1024)
    with pytest.raises(s3.InvalidLocation):
        s3.write_bytes(uri, b"escaped")
    with pytest.raises(ValidationError) as parse_error:
        s3.parse_uri(uri, field="InputDataConfig.S3Uri")

    assert read_error.value.status_code == 400
    assert "InputDataConfig.S3Uri" in parse_error.value.message
    assert not (tmp_path / "outside.json").exists()
    assert not (tmp_path / "s3root" / "outside.json").exists()


@pytest.mark.parametrize("uri", ["s3://{bucket}", "s3://{bucket}/", "s3://{bucket}/folder/"])
def test_a_folder_is_not_an_object(store: Store, uri: str) -> None:
    with pytest.raises(s3.InvalidLocation) as caught:
        s3.read_bytes(uri.format(bucket=store.bucket), max_bytes=10)

    assert "names a folder" in caught.value.message


def test_a_malformed_uri_is_a_storage_error_for_reads(store: Store) -> None:
    with pytest.raises(s3.InvalidLocation) as caught:
        s3.read_bytes("https://example.com/call.wav", max_bytes=10)

    assert caught.value.status_code == 400
    assert "s3://<bucket>/<key>" in caught.value.message


@pytest.mark.parametrize("store", ["s3"], indirect=True)
def test_wrong_credentials_are_a_403(store: Store, settings: Any) -> None:
    assert store.server is not None
    if not store.server.checks_signatures:
        pytest.skip(f"{store.server.kind} accepts any credentials")
    store.put("manifest.json", MANIFEST)
    settings.VOICEID_S3_SECRET_ACCESS_KEY = "not-the-secret"

    with pytest.raises(s3.StorageAccessDenied) as caught:
        s3.read_bytes(store.uri("manifest.json"), max_bytes=1024)

    assert caught.value.status_code == 403
    assert store.uri("manifest.json") in caught.value.message
    assert "VOICEID_S3_SECRET_ACCESS_KEY" in caught.value.message


def test_an_unreachable_store_is_a_503(settings: Any) -> None:
    settings.VOICEID_S3_ENDPOINT_URL = "http://127.0.0.1:9"  # discard port: nothing listens
    settings.VOICEID_S3_ACCESS_KEY_ID = "key"
    settings.VOICEID_S3_SECRET_ACCESS_KEY = "secret"

    with pytest.raises(s3.StoreUnavailable) as caught:
        s3.read_bytes("s3://in-bucket/manifest.json", max_bytes=10)

    assert caught.value.status_code == 503
    assert "http://127.0.0.1:9" in caught.value.message


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_local_file_is_a_403(settings: Any, tmp_path: Path) -> None:
    settings.VOICEID_S3_ENDPOINT_URL = ""
    settings.VOICEID_LOCAL_S3_ROOT = tmp_path
    (tmp_path / "in-bucket").mkdir()
    (tmp_path / "in-bucket" / "secret.json").write_bytes(b"{}")
    (tmp_path / "in-bucket" / "secret.json").chmod(0)

    with pytest.raises(s3.StorageAccessDenied) as caught:
        s3.read_bytes("s3://in-bucket/secret.json", max_bytes=10)

    assert str(tmp_path / "in-bucket" / "secret.json") in caught.value.message


# URIs.


def test_parse_uri_splits_bucket_and_key() -> None:
    location = s3.parse_uri("s3://my.bucket-1/folder/a b/c.wav", field="S3Uri")

    assert location == s3.S3Location(bucket="my.bucket-1", key="folder/a b/c.wav")
    assert location.uri == "s3://my.bucket-1/folder/a b/c.wav"
    assert s3.parse_uri("s3://out-bucket", field="S3Uri") == s3.S3Location("out-bucket", "")


@pytest.mark.parametrize(
    "uri",
    [
        "",
        "https://bucket/key",
        "s3:/bucket/key",
        "s3://Bucket/key",
        "s3://ab/key",
        "s3://-bucket/key",
        "s3://bucket_name/key",
        "s3://bucket/line\nbreak",
        "s3://bucket/" + "k" * 1013,
    ],
)
def test_a_malformed_uri_names_the_field_and_the_expected_form(uri: str) -> None:
    with pytest.raises(ValidationError) as caught:
        s3.parse_uri(uri, field="InputDataConfig.S3Uri")

    assert caught.value.message.startswith("InputDataConfig.S3Uri ")
    if len(uri) <= 1024:
        assert "s3://<bucket>/<key>" in caught.value.message


@pytest.mark.parametrize(
    ("folder", "input_uri", "expected"),
    [
        (
            "s3://output-bucket/output-folder",
            "s3://input-bucket/input-file.json",
            "s3://output-bucket/output-folder/JOBID/input-file.json.out",
        ),
        (
            "s3://out-bucket/folder/",
            "s3://in-bucket/x/input-file.json",
            "s3://out-bucket/folder/JOBID/input-file.json.out",
        ),
        ("s3://out-bucket/a/b//", "s3://in-bucket/x/y/z.json", "s3://out-bucket/a/b/JOBID/z.json.out"),
        ("s3://out-bucket", "s3://in-bucket/manifest", "s3://out-bucket/JOBID/manifest.out"),
        ("s3://out-bucket/", "s3://in-bucket/m.json", "s3://out-bucket/JOBID/m.json.out"),
    ],
)
def test_output_uri_follows_the_spec(folder: str, input_uri: str, expected: str) -> None:
    assert s3.output_uri(folder, "JOBID", input_uri) == expected


def test_output_uri_names_the_field_at_fault() -> None:
    with pytest.raises(ValidationError) as bad_folder:
        s3.output_uri("s3://OUT/folder", "JOBID", "s3://in-bucket/m.json")
    with pytest.raises(ValidationError) as folder_as_input:
        s3.output_uri("s3://out-bucket/folder", "JOBID", "s3://in-bucket/manifests/")

    assert "OutputDataConfig.S3Uri" in bad_folder.value.message
    assert "InputDataConfig.S3Uri" in folder_as_input.value.message


# Encrypted output.


def test_encrypted_output_round_trips_and_is_not_stored_in_clear(store: Store, output_key: str) -> None:
    uri = store.uri("out/JOBID/enroll.json.out")

    s3.write_bytes(uri, OUTPUT, kms_key_id=output_key)

    stored = store.get("out/JOBID/enroll.json.out")
    assert stored.startswith(s3.MAGIC)
    assert b"caller-secret-42" not in stored and b"SuccessfulEnrollments" not in stored
    (header_length,) = struct.unpack_from(">I", stored, len(s3.MAGIC))
    header = json.loads(stored[len(s3.MAGIC) + 4 : len(s3.MAGIC) + 4 + header_length])
    assert header["key_id"] == output_key
    assert header["context"] == {"voiceid:purpose": "batch-job-output", "voiceid:location": uri}
    assert len(base64.b64decode(header["nonce"])) == 12
    assert s3.read_output(uri) == OUTPUT


def test_each_encrypted_write_uses_a_fresh_data_key(store: Store, output_key: str) -> None:
    s3.write_bytes(store.uri("a.out"), OUTPUT, kms_key_id=output_key)
    s3.write_bytes(store.uri("b.out"), OUTPUT, kms_key_id=output_key)

    headers = [store.get(name)[: len(s3.MAGIC) + 400] for name in ("a.out", "b.out")]
    assert headers[0] != headers[1]


def test_an_unencrypted_output_reads_as_written(store: Store) -> None:
    s3.write_bytes(store.uri("plain.out"), OUTPUT)

    assert store.get("plain.out") == OUTPUT
    assert s3.read_output(store.uri("plain.out")) == OUTPUT


def test_an_altered_encrypted_output_is_refused(store: Store, output_key: str) -> None:
    s3.write_bytes(store.uri("x.out"), OUTPUT, kms_key_id=output_key)
    stored = bytearray(store.get("x.out"))
    stored[-20] ^= 0x01
    store.put("x.out", bytes(stored))

    with pytest.raises(s3.OutputUnreadable) as caught:
        s3.read_output(store.uri("x.out"))

    assert "altered or damaged" in caught.value.message


def test_a_moved_encrypted_output_is_refused_unless_allowed(store: Store, output_key: str) -> None:
    s3.write_bytes(store.uri("job-a/in.json.out"), OUTPUT, kms_key_id=output_key)
    store.put("job-b/in.json.out", store.get("job-a/in.json.out"))

    with pytest.raises(s3.OutputUnreadable) as caught:
        s3.read_output(store.uri("job-b/in.json.out"))

    assert store.uri("job-a/in.json.out") in caught.value.message
    assert s3.read_output(store.uri("job-b/in.json.out"), allow_moved=True) == OUTPUT


def test_a_disabled_key_stops_writes_and_reads_of_encrypted_output(store: Store, output_key: str) -> None:
    s3.write_bytes(store.uri("done.out"), OUTPUT, kms_key_id=output_key)
    keyproviders.master_key_set_enabled(key_id=output_key, enabled=False)

    with pytest.raises(s3.StorageAccessDenied) as write_error:
        s3.write_bytes(store.uri("next.out"), OUTPUT, kms_key_id=output_key)
    with pytest.raises(s3.StorageAccessDenied) as read_error:
        s3.read_output(store.uri("done.out"))

    assert write_error.value.status_code == read_error.value.status_code == 403
    assert output_key in write_error.value.message and "disabled" in read_error.value.message
    with pytest.raises(s3.ObjectMissing):
        s3.read_bytes(store.uri("next.out"), max_bytes=10)


# The output key, checked when a job starts.


def test_a_usable_key_passes(output_key: str) -> None:
    s3.ensure_output_key_usable(output_key)


def test_a_disabled_key_is_refused_naming_the_field(output_key: str) -> None:
    keyproviders.master_key_set_enabled(key_id=output_key, enabled=False)

    with pytest.raises(ValidationError) as caught:
        s3.ensure_output_key_usable(output_key)

    assert caught.value.message.startswith(f"OutputDataConfig.KmsKeyId {output_key} ")
    assert "disabled" in caught.value.message


@pytest.mark.django_db
def test_an_unknown_key_is_refused_when_keys_are_not_created_on_first_use(settings: Any) -> None:
    settings.VOICEID_KMS_AUTO_CREATE = False

    with pytest.raises(ValidationError) as caught:
        s3.ensure_output_key_usable("alias/never-made")

    assert caught.value.message.startswith("OutputDataConfig.KmsKeyId alias/never-made ")


@pytest.mark.django_db
def test_a_key_whose_material_is_gone_is_refused(settings: Any) -> None:
    # A key registered from the key file, then removed from it: the row exists, the material does not.
    material = base64.b64encode(b"k" * 32).decode()
    settings.VOICEID_LOCAL_MASTER_KEYS = f"alias/from-file={material}"
    s3.ensure_output_key_usable("alias/from-file")
    settings.VOICEID_LOCAL_MASTER_KEYS = ""

    with pytest.raises(ValidationError) as caught:
        s3.ensure_output_key_usable("alias/from-file")

    assert "OutputDataConfig.KmsKeyId alias/from-file" in caught.value.message


# manage.py job_output


def test_job_output_prints_the_decrypted_file(store: Store, output_key: str) -> None:
    s3.write_bytes(store.uri("o/in.json.out"), OUTPUT, kms_key_id=output_key)
    out = StringIO()

    call_command("job_output", store.uri("o/in.json.out"), stdout=out)

    assert out.getvalue().encode() == OUTPUT


def test_job_output_writes_a_file(store: Store, output_key: str, tmp_path: Path) -> None:
    s3.write_bytes(store.uri("o/in.json.out"), OUTPUT, kms_key_id=output_key)
    target = tmp_path / "result.json"

    call_command("job_output", store.uri("o/in.json.out"), "-o", str(target), stderr=StringIO())

    assert target.read_bytes() == OUTPUT
    assert target.stat().st_mode & 0o077 == 0


@pytest.mark.parametrize("store", ["s3"], indirect=True)
def test_job_output_in_another_process_reaches_the_store_through_env(store: Store) -> None:
    # How workers and operators' shells are pointed at the store: the VOICEID_S3_* variables alone.
    assert store.server is not None
    store.put("o/plain.json.out", OUTPUT)
    environment = {**os.environ, **store.server.env(), "DJANGO_SETTINGS_MODULE": "voiceid_site.settings_test"}

    result = subprocess.run(
        [sys.executable, "manage.py", "job_output", store.uri("o/plain.json.out")],
        cwd=Path(__file__).resolve().parents[2],
        env=environment,
        capture_output=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == OUTPUT


def test_job_output_explains_a_failure(store: Store, output_key: str) -> None:
    s3.write_bytes(store.uri("a/in.json.out"), OUTPUT, kms_key_id=output_key)
    store.put("b/in.json.out", store.get("a/in.json.out"))

    with pytest.raises(CommandError, match="does not exist"):
        call_command("job_output", store.uri("absent.out"))
    with pytest.raises(CommandError, match="moved or copied"):
        call_command("job_output", store.uri("b/in.json.out"))
    out = StringIO()
    call_command("job_output", store.uri("b/in.json.out"), "--allow-moved", stdout=out)
    assert out.getvalue().encode() == OUTPUT
