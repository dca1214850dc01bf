"""A batch job's input uploaded through the dashboard: the manifest and its recordings, stored in S3.

The recordings go to `s3://<VOICEID_UPLOAD_BUCKET>/uploads/<random>/recordings/<name>` and the manifest
beside them, with each recording it names by file name rewritten to that URI, so the job reads them like
any other S3 input. Only storage is written, never the database: a refused upload leaves files under a
random prefix no job names, and the job itself is recorded by `services.job_start` afterwards.
"""

from __future__ import annotations

import json
import logging
import secrets
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from jobs import manifests, s3
from jobs.models import BatchJob

logger = logging.getLogger(__name__)

_REQUEST_LIST = {
    BatchJob.Kind.SPEAKER_ENROLLMENT: manifests.ENROLLMENT_LIST,
    BatchJob.Kind.FRAUDSTER_REGISTRATION: manifests.REGISTRATION_LIST,
}


@dataclass(frozen=True)
class Upload:
    """Where an uploaded manifest and its recordings go."""

    folder: str
    manifest_name: str

    @property
    def manifest_uri(self) -> str:
        return f"{self.folder}/{self.manifest_name}"

    @property
    def output_uri(self) -> str:
        return f"{self.folder}/output"


class UploadRefused(Exception):
    """The upload cannot make a job; `field` is the form field the message belongs to."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


def _bucket() -> str:
    return str(settings.VOICEID_UPLOAD_BUCKET)


def safe_name(name: str) -> str:
    """A browser-given file name reduced to one harmless S3 key segment."""
    base = Path(name.replace("\\", "/")).name
    cleaned = "".join(c if c.isalnum() or c in "-_." else "-" for c in base).lstrip(".")
    return cleaned or "file"


def upload_plan(*, manifest_name: str) -> Upload:
    name = safe_name(manifest_name or "manifest.json")
    folder = f"s3://{_bucket()}/uploads/{secrets.token_hex(8)}"
    return Upload(folder=folder, manifest_name=name if name.endswith(".json") else f"{name}.json")


def upload_store(*, upload: Upload, kind: str, manifest: bytes, recordings: dict[str, bytes]) -> None:
    """Write the recordings, then the manifest with each relative recording name rewritten to its URI."""
    try:
        document = json.loads(manifest)
    except (UnicodeDecodeError, ValueError) as error:
        raise UploadRefused("manifest_file", f"The manifest is not JSON: {error}.") from None
    list_key = _REQUEST_LIST[BatchJob.Kind(kind)]
    requests = document.get(list_key) if isinstance(document, dict) else None
    if not isinstance(requests, list):
        raise UploadRefused(
            "manifest_file", f'The manifest has no "{list_key}" list: is it a manifest for this kind of job?'
        )
    by_name = {safe_name(name): data for name, data in recordings.items()}
    written: dict[str, str] = {}
    missing: list[str] = []
    for request in requests:
        specs = request.get("AudioSpecifications") if isinstance(request, dict) else None
        # Entries the job cannot read are left as they are: the job reports each one as a failed request.
        for spec in specs if isinstance(specs, list) else []:
            if not isinstance(spec, dict):
                continue
            given = spec.get("S3Uri", spec.get("S3URI"))
            if not isinstance(given, str) or given.startswith("s3://"):
                continue  # already an S3 object: the job reads it from there
            name = safe_name(given)
            if name not in by_name:
                missing.append(given)
                continue
            written.setdefault(name, f"{upload.folder}/recordings/{name}")
            spec.pop("S3URI", None)
            spec["S3Uri"] = written[name]
    if missing:
        raise UploadRefused(
            "recordings",
            "The manifest names recordings that were not uploaded: "
            + ", ".join(sorted(set(missing))[:10])
            + ". Add them to the upload, or name them by s3:// URI.",
        )
    if not settings.VOICEID_S3_ENDPOINT_URL:  # the embedded S3 needs the bucket's folder
        (Path(settings.VOICEID_LOCAL_S3_ROOT) / _bucket()).mkdir(parents=True, exist_ok=True)
    try:
        for name, uri in written.items():
            s3.write_bytes(uri, by_name[name])
        s3.write_bytes(upload.manifest_uri, json.dumps(document, indent=2).encode())
    except s3.StorageError as error:
        raise UploadRefused("manifest_file", f"The upload could not be stored: {error.message}") from None


def upload_discard(*, manifest_uri: str) -> int:
    """Delete an uploaded manifest and its recordings (they name callers and carry their voices) once the
    job is over or was never started; the job's output folder beside them stays. Other URIs are left alone.

    Best effort: a store that cannot be reached leaves the files, and says so in the log.
    """
    prefix = f"s3://{_bucket()}/uploads/"
    if not manifest_uri.startswith(prefix):
        return 0
    folder = manifest_uri.rsplit("/", 1)[0]
    try:
        return s3.delete_objects(f"{folder}/recordings/") + s3.delete_objects(manifest_uri)
    except s3.StorageError as error:
        logger.warning("uploaded files under %s were not deleted: %s", folder, error.message)
        return 0
