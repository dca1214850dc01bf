"""The output file of a job (spec §3.4, §3.6): every entry's record, successes and errors, in manifest order."""

from __future__ import annotations

import json
from typing import Any

from jobs.models import BatchJob

_SUCCESS_LIST = {
    BatchJob.Kind.SPEAKER_ENROLLMENT: "SuccessfulEnrollments",
    BatchJob.Kind.FRAUDSTER_REGISTRATION: "SuccessfulRegistrations",
}


def success(**record: Any) -> dict[str, Any]:
    """An entry that worked: the members of a SuccessfulEnrollments / SuccessfulRegistrations item."""
    return {key: value for key, value in record.items() if value is not None}


def error(*, request_id: str, code: int, message: str) -> dict[str, Any]:
    return {"RequestId": request_id, "ErrorCode": code, "ErrorMessage": message}


def is_error(record: dict[str, Any]) -> bool:
    return "ErrorCode" in record


def document(job: BatchJob, records: list[dict[str, Any]]) -> bytes:
    """The output file's bytes: the same records always give the same bytes, so a re-run rewrites it equal."""
    body = {
        "Version": "1.0",
        "Errors": [record for record in records if is_error(record)],
        _SUCCESS_LIST[BatchJob.Kind(job.kind)]: [record for record in records if not is_error(record)],
    }
    return json.dumps(body, indent=2).encode() + b"\n"
