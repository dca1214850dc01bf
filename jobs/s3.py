"""Every `s3://bucket/key` a batch job reads or writes goes through this module.

Where a URI resolves:

* Embedded default (`VOICEID_S3_ENDPOINT_URL` empty): `s3://bucket/a/b.wav` is the file
  `VOICEID_LOCAL_S3_ROOT/bucket/a/b.wav`. A bucket is a folder that must exist, as a bucket must on S3;
  folders below it are created on write. Writes go to a temporary file renamed into place, so a reader sees
  the old file or the new one, never half of one.
* `VOICEID_S3_ENDPOINT_URL` set: the S3 API at that URL (AWS S3 or any S3-compatible store), path-style
  addressing, SigV4 in `VOICEID_S3_REGION`, with `VOICEID_S3_ACCESS_KEY_ID`/`VOICEID_S3_SECRET_ACCESS_KEY`
  (boto3's usual credential chain when they are empty). boto3 is used directly rather than through
  django-storages' `S3Storage`: a URI may name any bucket, and a job needs the size before the download and
  the exact S3 error to tell "missing" from "denied" from "unreachable".

Keys with `.` or `..` segments or a leading `/` are refused in both modes: locally they would leave the
bucket's folder, and S3-compatible stores disagree about them.

Failures raise `StorageError` with an HTTP-like `status_code` (400 bad or missing object, or too large;
403 access denied; 503 store unreachable) and a `message` that names the URI and says what to do.

Encrypted output files. With a `kms_key_id`, `write_bytes` stores an envelope, the same in both modes (an
S3-compatible store has no KMS behind it):

    b"VOICEID-ENCRYPTED\\n"               magic, 18 bytes
    header length                          4 bytes, big-endian
    header                                 UTF-8 JSON object:
        {"format": 1, "algorithm": "AES-256-GCM", "key_id": <KmsKeyId>,
         "wrapped_key": <base64 data key, wrapped by the key provider>, "nonce": <base64, 12 bytes>,
         "context": {"voiceid:purpose": "batch-job-output", "voiceid:location": <s3:// URI written to>}}
    ciphertext                             AES-256-GCM of the contents, 16-byte tag at the end

A fresh 256-bit data key per file comes from the key provider that `key_id` names (domains.keyproviders:
the local keyring, or AWS KMS), wrapped under `context` as its encryption context. The AES-GCM associated
data is everything before the ciphertext, so the header cannot be altered. `read_output` refuses a file
whose recorded location is not the URI it reads (a file moved or swapped) unless told to allow it.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import struct
from dataclasses import dataclass
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar

import regex
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

from domains.keyproviders import KeyUnavailable, provider_for
from voiceid_site.exceptions import ValidationError

# The model's S3Uri shape (spec §3.1): bucket rules of S3, any key; 0-1024 characters.
_S3_URI = regex.compile(r"^s3://(?P<bucket>[a-z0-9][\.\-a-z0-9]{1,61}[a-z0-9])(?:/(?P<key>.*))?\Z")
_S3_URI_MAX_LENGTH = 1024
_EXPECTED_FORM = "s3://<bucket>/<key>, e.g. s3://my-bucket/folder/file.json"

MAGIC = b"VOICEID-ENCRYPTED\n"
_HEADER_LENGTH = struct.Struct(">I")
_FORMAT_VERSION = 1
_ALGORITHM = "AES-256-GCM"
_NONCE_BYTES = 12
OUTPUT_PURPOSE = "batch-job-output"
# Output files are small JSON documents (10,000 entries make a few MB); this only stops a runaway read.
OUTPUT_MAX_BYTES = 512 * 1024 * 1024
_TEMPORARY_PREFIX = ".voiceid-tmp-"


class StorageError(Exception):
    """An s3:// read or write failed. `status_code` is HTTP-like, for FailureDetails or an output ErrorCode."""

    status_code: ClassVar[int] = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidLocation(StorageError):
    """The URI is malformed, escapes its bucket, or names a folder where an object is needed."""


class BucketMissing(StorageError):
    pass


class ObjectMissing(StorageError):
    pass


class ObjectTooLarge(StorageError):
    pass


class StorageAccessDenied(StorageError):
    status_code = 403


class StoreUnavailable(StorageError):
    status_code = 503


class OutputUnreadable(StorageError):
    """An encrypted output file that does not decrypt: damaged, altered, or moved (an unusable key is a 403)."""


@dataclass(frozen=True)
class S3Location:
    bucket: str
    key: str

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def parse_uri(uri: str, *, field: str) -> S3Location:
    """Split an s3:// URI, refusing malformed ones and keys that leave their bucket; names `field` in errors."""
    if len(uri) > _S3_URI_MAX_LENGTH:
        raise ValidationError(f"{field} is longer than {_S3_URI_MAX_LENGTH} characters.")
    match = _S3_URI.match(uri)
    if match is None:
        raise ValidationError(
            f"{field} {uri!r} is not an S3 URI: expected {_EXPECTED_FORM} (lower-case bucket name of 3 to 63 "
            "letters, digits, dots and hyphens)."
        )
    key = match["key"] or ""
    segments = key.split("/")
    if key.startswith("/") or any(segment in {".", ".."} for segment in segments) or "\x00" in key:
        raise ValidationError(
            f"{field} {uri!r} has a key that starts with '/' or contains '.' or '..' segments or a NUL "
            f"character; voiceid refuses such keys. Expected {_EXPECTED_FORM}."
        )
    return S3Location(bucket=match["bucket"], key=key)


def _object_location(uri: str) -> S3Location:
    try:
        location = parse_uri(uri, field="S3Uri")
    except ValidationError as error:
        raise InvalidLocation(error.message) from None
    if not location.key or location.key.endswith("/"):
        raise InvalidLocation(
            f"{uri} names a folder, not a file: give the full key, e.g. s3://bucket/file.json."
        )
    return location


def output_uri(output_folder: str, job_id: str, input_uri: str) -> str:
    """Where a job writes its output (spec §3.1): `<output folder>/<JobId>/<input file name>.out`."""
    folder = parse_uri(output_folder, field="OutputDataConfig.S3Uri")
    source = parse_uri(input_uri, field="InputDataConfig.S3Uri")
    input_name = source.key.rsplit("/", 1)[-1]
    if not input_name:
        raise ValidationError(
            f"InputDataConfig.S3Uri {input_uri!r} names a folder: it must name the manifest file, "
            "e.g. s3://my-bucket/folder/input-file.json."
        )
    prefix = folder.key.rstrip("/")
    key = f"{prefix}/{job_id}/{input_name}.out" if prefix else f"{job_id}/{input_name}.out"
    return S3Location(bucket=folder.bucket, key=key).uri


# Backends.


def _uses_local_folder() -> bool:
    return not settings.VOICEID_S3_ENDPOINT_URL


def _local_paths(location: S3Location) -> tuple[Path, Path]:
    """The bucket's folder and the object's file. parse_uri already refused escaping keys; this re-checks."""
    root = Path(settings.VOICEID_LOCAL_S3_ROOT)
    bucket_folder = root / location.bucket
    target = bucket_folder.joinpath(*PurePosixPath(location.key).parts)
    # Lexical check (no symlink resolution): an operator may link a bucket folder to another disk.
    if os.path.commonpath([os.path.normpath(bucket_folder), os.path.normpath(target)]) != os.path.normpath(
        bucket_folder
    ):
        raise InvalidLocation(f"{location.uri} would leave the bucket folder {bucket_folder}; refused.")
    return bucket_folder, target


def _local_missing(location: S3Location, bucket_folder: Path, target: Path) -> StorageError:
    if not bucket_folder.is_dir():
        return BucketMissing(
            f"{location.uri}: bucket {location.bucket} does not exist: voiceid looked for the folder "
            f"{bucket_folder} (VOICEID_LOCAL_S3_ROOT/<bucket>). Create the folder, correct the URI, or set "
            "VOICEID_S3_ENDPOINT_URL to use an S3 store."
        )
    return ObjectMissing(
        f"{location.uri} does not exist: voiceid looked for the file {target}. Put the file there or "
        "correct the URI."
    )


def _local_os_error(location: S3Location, target: Path, error: OSError, *, writing: bool) -> StorageError:
    verb = "write" if writing else "read"
    if isinstance(error, PermissionError):
        return StorageAccessDenied(
            f"{location.uri}: voiceid (user id {os.getuid()}) may not {verb} {target}: {error.strerror}. "
            "Fix the file's or folder's permissions."
        )
    if isinstance(error, IsADirectoryError | NotADirectoryError | FileExistsError):
        return InvalidLocation(
            f"{location.uri}: {target} (or a folder above it) is a folder where a file is expected, or a "
            "file where a folder is expected. Correct the URI."
        )
    return StoreUnavailable(
        f"{location.uri}: the local folder failed to {verb} {target}: {error.strerror or error}. "
        "Check the disk (space, mount) and retry."
    )


def _local_read(location: S3Location, max_bytes: int) -> bytes:
    bucket_folder, target = _local_paths(location)
    try:
        with open(target, "rb") as source:
            size = os.fstat(source.fileno()).st_size
            if size > max_bytes:
                raise _too_large(location, size, max_bytes)
            data = source.read(max_bytes + 1)
    except FileNotFoundError:
        raise _local_missing(location, bucket_folder, target) from None
    except OSError as error:
        raise _local_os_error(location, target, error, writing=False) from None
    if len(data) > max_bytes:  # grew after the size check
        raise _too_large(location, len(data), max_bytes)
    return data


def _local_write(location: S3Location, data: bytes) -> None:
    bucket_folder, target = _local_paths(location)
    if not bucket_folder.is_dir():
        raise _local_missing(location, bucket_folder, target)
    # Our own random name (not mkstemp) so the file gets the umask's permissions, like any other file.
    temporary = target.parent / f"{_TEMPORARY_PREFIX}{target.name}.{secrets.token_hex(8)}"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with os.fdopen(descriptor, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, target)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
    except OSError as error:
        raise _local_os_error(location, target, error, writing=True) from None


@cache
def _s3_client(endpoint_url: str, region: str, access_key_id: str, secret_access_key: str) -> Any:
    import boto3
    from botocore.config import Config

    credentials = (
        {"aws_access_key_id": access_key_id, "aws_secret_access_key": secret_access_key}
        if access_key_id
        else {}  # boto3's chain: environment, profile, instance or task role
    )
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=region,
        config=Config(
            s3={"addressing_style": "path"},
            signature_version="s3v4",
            retries={"mode": "standard", "max_attempts": 3},
            connect_timeout=10,
            read_timeout=60,
        ),
        **credentials,
    )


def _client() -> Any:
    return _s3_client(
        settings.VOICEID_S3_ENDPOINT_URL,
        settings.VOICEID_S3_REGION,
        settings.VOICEID_S3_ACCESS_KEY_ID,
        settings.VOICEID_S3_SECRET_ACCESS_KEY,
    )


_MISSING_CODES = {"NoSuchKey", "NotFound", "404"}
_DENIED_CODES = {
    "AccessDenied",
    "403",
    "SignatureDoesNotMatch",
    "InvalidAccessKeyId",
    "AllAccessDisabled",
    "AccountProblem",
    "ExpiredToken",
    "InvalidToken",
}


def _bucket_missing(location: S3Location) -> BucketMissing:
    return BucketMissing(
        f"{location.uri}: bucket {location.bucket} does not exist at {settings.VOICEID_S3_ENDPOINT_URL}. "
        "Create it or correct the URI."
    )


def _s3_error(location: S3Location, error: Exception) -> StorageError:
    import botocore.exceptions

    endpoint = settings.VOICEID_S3_ENDPOINT_URL
    if isinstance(error, botocore.exceptions.NoCredentialsError):
        return StorageAccessDenied(
            f"{location.uri}: no S3 credentials are configured for {endpoint}. Set VOICEID_S3_ACCESS_KEY_ID "
            "and VOICEID_S3_SECRET_ACCESS_KEY (or give voiceid's host an AWS role)."
        )
    if isinstance(error, botocore.exceptions.ParamValidationError):
        return InvalidLocation(f"{location.uri} cannot be sent to S3: {error}")
    if not isinstance(error, botocore.exceptions.ClientError):
        return StoreUnavailable(
            f"{location.uri}: the S3 store at {endpoint} could not be reached ({error}). Check "
            "VOICEID_S3_ENDPOINT_URL and that the store is running, then retry."
        )
    code = str(error.response.get("Error", {}).get("Code", ""))
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    if code == "NoSuchBucket":
        return _bucket_missing(location)
    if code in _MISSING_CODES:
        return ObjectMissing(
            f"{location.uri} does not exist at {endpoint}. Upload the object or correct the URI."
        )
    if code in _DENIED_CODES or status == 403:
        return StorageAccessDenied(
            f"{location.uri}: the S3 store at {endpoint} denied access ({code}). The credentials in "
            "VOICEID_S3_ACCESS_KEY_ID/VOICEID_S3_SECRET_ACCESS_KEY need s3:GetObject on input and "
            "s3:PutObject on output locations; check them and the bucket policy."
        )
    if status >= 500 or code in {"SlowDown", "ServiceUnavailable", "InternalError"}:
        return StoreUnavailable(
            f"{location.uri}: the S3 store at {endpoint} failed ({code or status}). Retry later."
        )
    return InvalidLocation(
        f"{location.uri}: the S3 store at {endpoint} refused the request ({code}: {error})."
    )


def _s3_read(location: S3Location, max_bytes: int) -> bytes:
    import botocore.exceptions

    try:
        answer = _client().get_object(Bucket=location.bucket, Key=location.key)
        body = answer["Body"]
        try:
            size = int(answer.get("ContentLength") or 0)
            if size > max_bytes:
                raise _too_large(location, size, max_bytes)
            data: bytes = body.read(max_bytes + 1)
        finally:
            body.close()  # without reading the rest of a large object
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
        raise _s3_error(location, error) from None
    if len(data) > max_bytes:
        raise _too_large(location, len(data), max_bytes)
    return data


def _s3_write(location: S3Location, data: bytes) -> None:
    import botocore.exceptions

    try:
        # One PUT replaces the object atomically.
        _client().put_object(Bucket=location.bucket, Key=location.key, Body=data)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
        raise _s3_error(location, error) from None


def _too_large(location: S3Location, size: int, max_bytes: int) -> ObjectTooLarge:
    return ObjectTooLarge(
        f"{location.uri} is {size} bytes; at most {max_bytes} bytes are accepted here. Split or shorten it."
    )


# The interface the jobs call.


def read_bytes(uri: str, *, max_bytes: int) -> bytes:
    """The object's contents; ObjectTooLarge (without reading it all) when it exceeds `max_bytes`."""
    location = _object_location(uri)
    if _uses_local_folder():
        return _local_read(location, max_bytes)
    return _s3_read(location, max_bytes)


def write_bytes(uri: str, data: bytes, *, kms_key_id: str | None = None) -> None:
    """Create or replace the object; encrypted under `kms_key_id` (see the module docstring) when given."""
    location = _object_location(uri)
    if kms_key_id:
        data = _encrypt(location, data, kms_key_id)
    if _uses_local_folder():
        _local_write(location, data)
    else:
        _s3_write(location, data)


def delete_objects(uri_prefix: str) -> int:
    """Delete every object whose key starts with the URI's key (a "folder" ending in /); returns how many.

    For voiceid's own uploads once their job no longer needs them; missing objects are not an error.
    """
    location = parse_uri(uri_prefix, field="S3 URI")
    if not location.key:
        raise InvalidLocation(f"{uri_prefix}: refusing to delete a whole bucket.")
    if _uses_local_folder():
        _, target = _local_paths(location)
        paths = [path for path in target.rglob("*") if path.is_file()] if target.is_dir() else []
        if target.is_file():
            paths = [target]
        for path in paths:
            path.unlink(missing_ok=True)
        return len(paths)
    import botocore.exceptions

    client, deleted = _client(), 0
    try:
        for page in client.get_paginator("list_objects_v2").paginate(
            Bucket=location.bucket, Prefix=location.key
        ):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if keys:
                client.delete_objects(Bucket=location.bucket, Delete={"Objects": keys, "Quiet": True})
                deleted += len(keys)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
        raise _s3_error(location, error) from None
    return deleted


def read_output(uri: str, *, allow_moved: bool = False) -> bytes:
    """A file written by write_bytes, decrypted if it was encrypted.

    An encrypted file records where it was written; read from elsewhere it is refused unless
    `allow_moved`, so one job's output cannot silently stand in for another's.
    """
    data = read_bytes(uri, max_bytes=OUTPUT_MAX_BYTES)
    if not data.startswith(MAGIC):
        return data
    return _decrypt(_object_location(uri), data, allow_moved=allow_moved)


def ensure_output_bucket(output_folder: str) -> None:
    """Raise ValidationError naming OutputDataConfig.S3Uri when its bucket surely does not exist, so that a
    job never applies every request only to fail writing its output. Anything less sure (a store that does
    not answer, credentials allowed to write objects but not to look at the bucket) is left to the job."""
    location = parse_uri(output_folder, field="OutputDataConfig.S3Uri")
    missing: StorageError | None = None
    if _uses_local_folder():
        bucket_folder = Path(settings.VOICEID_LOCAL_S3_ROOT) / location.bucket
        if not bucket_folder.is_dir():
            missing = _local_missing(location, bucket_folder, bucket_folder)
    else:
        import botocore.exceptions

        try:
            _client().head_bucket(Bucket=location.bucket)
        except botocore.exceptions.ClientError as error:
            # HeadBucket has no body: a missing bucket is a bare 404.
            if str(error.response.get("Error", {}).get("Code", "")) in {"404", "NoSuchBucket", "NotFound"}:
                missing = _bucket_missing(location)
        except botocore.exceptions.BotoCoreError:
            pass
    if missing is not None:
        raise ValidationError(f"OutputDataConfig.S3Uri {missing}")


def ensure_output_key_usable(kms_key_id: str) -> None:
    """Raise ValidationError naming OutputDataConfig.KmsKeyId unless its key provider can encrypt with it."""
    provider = provider_for(kms_key_id)
    try:
        provider.check_usable(kms_key_id)
    except ValidationError as error:
        message = error.message
        if message.startswith("KmsKeyId "):
            message = message.removeprefix("KmsKeyId ")
        raise ValidationError(f"OutputDataConfig.KmsKeyId {message}") from None
    try:
        # check_usable answers for the key's state; this proves the material (or KMS grant) is there too.
        provider.generate_data_key(
            kms_key_id, context={"voiceid:purpose": OUTPUT_PURPOSE, "voiceid:location": "check"}
        )
    except KeyUnavailable as error:
        raise ValidationError(
            f"OutputDataConfig.KmsKeyId {kms_key_id} cannot be used: {error.reason}"
        ) from None


# The envelope.


def _context(location: S3Location) -> dict[str, str]:
    return {"voiceid:purpose": OUTPUT_PURPOSE, "voiceid:location": location.uri}


def _encrypt(location: S3Location, plaintext: bytes, kms_key_id: str) -> bytes:
    context = _context(location)
    try:
        data_key, wrapped = provider_for(kms_key_id).generate_data_key(kms_key_id, context=context)
    except KeyUnavailable as error:
        raise StorageAccessDenied(
            f"{location.uri}: the output cannot be encrypted with OutputDataConfig.KmsKeyId {kms_key_id}: "
            f"{error.reason}"
        ) from None
    nonce = os.urandom(_NONCE_BYTES)
    header = json.dumps(
        {
            "format": _FORMAT_VERSION,
            "algorithm": _ALGORITHM,
            "key_id": kms_key_id,
            "wrapped_key": base64.b64encode(wrapped).decode(),
            "nonce": base64.b64encode(nonce).decode(),
            "context": context,
        },
        sort_keys=True,
        separators=(",", ":"),
    ).encode()
    prefix = MAGIC + _HEADER_LENGTH.pack(len(header)) + header
    return prefix + AESGCM(data_key).encrypt(nonce, plaintext, prefix)


def _decrypt(location: S3Location, blob: bytes, *, allow_moved: bool) -> bytes:
    def unreadable(reason: str) -> OutputUnreadable:
        return OutputUnreadable(f"{location.uri} is an encrypted voiceid output file but {reason}")

    start = len(MAGIC) + _HEADER_LENGTH.size
    if len(blob) < start:
        raise unreadable("it is truncated.")
    (header_length,) = _HEADER_LENGTH.unpack_from(blob, len(MAGIC))
    try:
        header = json.loads(blob[start : start + header_length])
        key_id, context = header["key_id"], header["context"]
        wrapped, nonce = base64.b64decode(header["wrapped_key"]), base64.b64decode(header["nonce"])
    except (ValueError, KeyError, TypeError):
        raise unreadable("its header is damaged.") from None
    if header.get("format") != _FORMAT_VERSION or header.get("algorithm") != _ALGORITHM:
        raise unreadable(f"it uses format {header.get('format')} / {header.get('algorithm')}, unknown here.")
    if not isinstance(context, dict) or context.get("voiceid:purpose") != OUTPUT_PURPOSE:
        raise unreadable("it was not written as a batch job's output.")
    written_to = context.get("voiceid:location")
    if written_to != location.uri and not allow_moved:
        raise unreadable(
            f"it was written to {written_to}: it was moved or copied. Read it from there, or allow moved "
            "files (`manage.py job_output --allow-moved`) if you moved it yourself."
        )
    try:
        data_key = provider_for(key_id).unwrap(key_id, wrapped, context=context)
    except KeyUnavailable as error:
        raise StorageAccessDenied(
            f"{location.uri} is an encrypted voiceid output file but its data key could not be unwrapped "
            f"with {key_id}: {error.reason}"
        ) from None
    prefix = blob[: start + header_length]
    try:
        return AESGCM(data_key).decrypt(nonce, blob[start + header_length :], prefix)
    except (InvalidTag, ValueError):
        raise unreadable("it was altered or damaged after it was written.") from None
