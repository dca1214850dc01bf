"""Helpers for batch-job tests: recordings and manifests in an S3 folder, output files checked by schema."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from voiceid_site import demo

ROLE = "arn:aws:iam::123456789012:role/VoiceIdBatchAccess"
ENROLLMENT_STATUSES = {"NEW_ENROLLMENT", "DUPLICATE_SKIPPED", "ENROLLMENT_OVERWRITE"}
REGISTRATION_STATUSES = {"NEW_REGISTRATION", "DUPLICATE_SKIPPED"}


class LocalBucket:
    """A bucket of the embedded S3 (VOICEID_LOCAL_S3_ROOT/<bucket>), filled the way a user would fill S3."""

    def __init__(self, root: Path, name: str = "recordings") -> None:
        self.root, self.name = root, name
        (root / name).mkdir(parents=True, exist_ok=True)

    def uri(self, key: str) -> str:
        return f"s3://{self.name}/{key}"

    def path(self, key: str) -> Path:
        return self.root / self.name / key

    def put(self, key: str, data: bytes) -> str:
        self.path(key).parent.mkdir(parents=True, exist_ok=True)
        self.path(key).write_bytes(data)
        return self.uri(key)

    def put_voice(self, voice: demo.DemoVoice, prefix: str, *, enrollment: bool = True) -> list[str]:
        """The voice's enrollment recordings (or its later-call ones) as WAV objects; returns their URIs."""
        recordings = voice.recordings()[: voice._split()] if enrollment else voice.call_recordings()
        uris = []
        for path in recordings:
            target = self.path(f"{prefix}/{path.name}")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
            uris.append(self.uri(f"{prefix}/{path.name}"))
        return uris

    def put_json(self, key: str, document: Any) -> str:
        return self.put(key, json.dumps(document).encode())

    def read_json(self, uri: str) -> Any:
        assert uri.startswith(f"s3://{self.name}/")
        return json.loads(self.path(uri.removeprefix(f"s3://{self.name}/")).read_bytes())


def audio_specs(uris: list[str], channel: int = 0) -> list[dict[str, Any]]:
    return [{"S3Uri": uri, "ChannelId": channel} for uri in uris]


def enrollment_manifest(requests: list[tuple[str, str, list[str]]]) -> dict[str, Any]:
    """(RequestId, SpeakerId, recording URIs) per request."""
    return {
        "Version": "1.0",
        "SpeakerEnrollmentRequests": [
            {"RequestId": request_id, "SpeakerId": speaker_id, "AudioSpecifications": audio_specs(uris)}
            for request_id, speaker_id, uris in requests
        ],
    }


def registration_manifest(requests: list[tuple[str, list[str]]]) -> dict[str, Any]:
    return {
        "Version": "1.0",
        "FraudsterRegistrationRequests": [
            {"RequestId": request_id, "AudioSpecifications": audio_specs(uris)}
            for request_id, uris in requests
        ],
    }


def check_enrollment_output(document: dict[str, Any]) -> None:
    """Spec §3.4, exactly: no member missing, none added, every type and enum as documented."""
    assert set(document) == {"Version", "Errors", "SuccessfulEnrollments"}
    assert document["Version"] == "1.0"
    _check_errors(document["Errors"])
    for record in document["SuccessfulEnrollments"]:
        assert set(record) == {"RequestId", "GeneratedSpeakerId", "CustomerSpeakerId", "EnrollmentStatus"}
        assert record["GeneratedSpeakerId"].startswith("id#") and len(record["GeneratedSpeakerId"]) == 25
        assert record["EnrollmentStatus"] in ENROLLMENT_STATUSES


def check_registration_output(document: dict[str, Any]) -> None:
    """Spec §3.6: FraudsterSimilarityScore appears on duplicates only."""
    assert set(document) == {"Version", "Errors", "SuccessfulRegistrations"}
    assert document["Version"] == "1.0"
    _check_errors(document["Errors"])
    for record in document["SuccessfulRegistrations"]:
        expected = {"RequestId", "GeneratedFraudsterId", "RegistrationStatus"}
        if record["RegistrationStatus"] == "DUPLICATE_SKIPPED":
            expected.add("FraudsterSimilarityScore")
            assert isinstance(record["FraudsterSimilarityScore"], int)
            assert 0 <= record["FraudsterSimilarityScore"] <= 100
        assert set(record) == expected
        assert record["GeneratedFraudsterId"].startswith("id#")
        assert record["RegistrationStatus"] in REGISTRATION_STATUSES


def _check_errors(errors: list[dict[str, Any]]) -> None:
    for record in errors:
        assert set(record) == {"RequestId", "ErrorCode", "ErrorMessage"}
        assert isinstance(record["ErrorCode"], int) and isinstance(record["ErrorMessage"], str)
        assert record["ErrorMessage"]


def by_request(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {record["RequestId"]: record for record in records}
