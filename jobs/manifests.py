"""Batch-job manifests (spec §3.3, §3.5): parsed and checked before any entry runs.

Two levels of wrong: a manifest that cannot be read as a whole (not JSON, wrong Version, no request list,
a request without a usable RequestId, RequestIds repeated) fails the job, because its entries could not be
reported one by one; a request that is wrong on its own (no SpeakerId, a bad S3 URI, a ChannelId of 2, more
than 10 audio files) becomes that request's 400 in the output file and the others still run.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from voiceid_site.ids import is_generated_id

VERSION = "1.0"
MAX_AUDIO_FILES = 10
MAX_REQUEST_ID_LENGTH = 256
# The service model's S3Uri and CustomerSpeakerId patterns.
S3_URI = re.compile(r"^s3://[a-z0-9][\.\-a-z0-9]{1,61}[a-z0-9](/.*)?$")
CUSTOMER_SPEAKER_ID = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_-]*$")
ENROLLMENT_LIST = "SpeakerEnrollmentRequests"
REGISTRATION_LIST = "FraudsterRegistrationRequests"


class ManifestError(Exception):
    """The manifest as a whole is unusable: the job fails with FailureDetails (StatusCode 400)."""

    status_code = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class AudioFile:
    uri: str
    channel: int


@dataclass(frozen=True)
class Request:
    """One manifest request. `problem` is set when the request itself is unusable (a 400 for it alone)."""

    request_id: str
    speaker_id: str = ""  # enrollment only: the CustomerSpeakerId
    audio: tuple[AudioFile, ...] = ()
    problem: str = ""

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "RequestId": self.request_id,
                "SpeakerId": self.speaker_id,
                "Audio": [[audio.uri, audio.channel] for audio in self.audio],
                "Problem": self.problem,
            },
            separators=(",", ":"),
        ).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Request:
        raw = json.loads(data)
        return cls(
            request_id=raw["RequestId"],
            speaker_id=raw["SpeakerId"],
            audio=tuple(AudioFile(uri, channel) for uri, channel in raw["Audio"]),
            problem=raw["Problem"],
        )


@dataclass
class _Problems:
    messages: list[str] = field(default_factory=list)

    def add(self, message: str) -> None:
        self.messages.append(message)

    def text(self) -> str:
        return " ".join(self.messages)


def parse_enrollment(data: bytes) -> list[Request]:
    return _parse(data, list_key=ENROLLMENT_LIST, with_speaker=True)


def parse_registration(data: bytes) -> list[Request]:
    return _parse(data, list_key=REGISTRATION_LIST, with_speaker=False)


def _parse(data: bytes, *, list_key: str, with_speaker: bool) -> list[Request]:
    document = _document(data)
    version = document.get("Version")
    if version != VERSION:
        raise ManifestError(
            f'The manifest\'s "Version" is {json.dumps(version)}: it must be the string "{VERSION}".'
        )
    raw_requests = document.get(list_key)
    if not isinstance(raw_requests, list) or not raw_requests:
        raise ManifestError(
            f'The manifest has no "{list_key}": it must be a non-empty list of requests '
            f"(see the manifest format in docs/jobs.md)."
        )
    requests: list[Request] = []
    positions: dict[str, int] = {}
    for position, raw in enumerate(raw_requests):
        request_id = _request_id(raw, position, list_key)
        if request_id in positions:
            raise ManifestError(
                f'RequestId "{request_id}" appears twice in "{list_key}" (requests {positions[request_id] + 1} '
                f"and {position + 1}): every RequestId must be unique within the manifest."
            )
        positions[request_id] = position
        requests.append(_request(raw, request_id, with_speaker=with_speaker))
    return requests


def _document(data: bytes) -> dict[str, Any]:
    try:
        document = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise ManifestError("The manifest is not UTF-8 text: it must be a JSON document.") from None
    except json.JSONDecodeError as error:
        raise ManifestError(
            f"The manifest is not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}."
        ) from None
    if not isinstance(document, dict):
        raise ManifestError('The manifest must be a JSON object with "Version" and a list of requests.')
    return document


def _request_id(raw: Any, position: int, list_key: str) -> str:
    where = f'request {position + 1} of "{list_key}"'
    if not isinstance(raw, dict):
        raise ManifestError(f"{where[0].upper()}{where[1:]} is not a JSON object.")
    request_id = raw.get("RequestId")
    if not isinstance(request_id, str) or not request_id.strip():
        raise ManifestError(
            f'{where[0].upper()}{where[1:]} has no "RequestId": every request needs one, '
            "so that its result can be reported in the output file."
        )
    if len(request_id) > MAX_REQUEST_ID_LENGTH:
        raise ManifestError(
            f'The "RequestId" of {where} is {len(request_id)} characters long: at most '
            f"{MAX_REQUEST_ID_LENGTH} are allowed."
        )
    return request_id


def _request(raw: dict[str, Any], request_id: str, *, with_speaker: bool) -> Request:
    problems = _Problems()
    speaker_id = _speaker_id(raw, problems) if with_speaker else ""
    audio = _audio_files(raw, problems)
    return Request(request_id=request_id, speaker_id=speaker_id, audio=audio, problem=problems.text())


def _speaker_id(raw: dict[str, Any], problems: _Problems) -> str:
    speaker_id = raw.get("SpeakerId")
    if not isinstance(speaker_id, str) or not speaker_id:
        problems.add('"SpeakerId" is missing: give the caller\'s own id (a CustomerSpeakerId).')
        return ""
    if is_generated_id(speaker_id):
        problems.add(
            f'"SpeakerId" {speaker_id} is a GeneratedSpeakerId: enrollment jobs take the caller\'s own id '
            "(a CustomerSpeakerId)."
        )
    elif len(speaker_id) > 256 or not CUSTOMER_SPEAKER_ID.match(speaker_id):
        problems.add(
            '"SpeakerId" must be 1-256 letters, digits, "_" or "-", starting with a letter or digit.'
        )
    return speaker_id


def _audio_files(raw: dict[str, Any], problems: _Problems) -> tuple[AudioFile, ...]:
    specs = raw.get("AudioSpecifications")
    if not isinstance(specs, list) or not specs:
        problems.add('"AudioSpecifications" is missing: list 1 to 10 recordings as {"S3Uri", "ChannelId"}.')
        return ()
    if len(specs) > MAX_AUDIO_FILES:
        problems.add(
            f'"AudioSpecifications" lists {len(specs)} recordings: at most {MAX_AUDIO_FILES} are allowed.'
        )
        return ()
    files = []
    for number, spec in enumerate(specs, start=1):
        # Counted as people count, and said so: "[1]" reads as the second item to anyone used to JSON paths.
        where = f"Recording {number} of {len(specs)} in AudioSpecifications"
        if not isinstance(spec, dict):
            problems.add(f'{where} is not an object with "S3Uri" and "ChannelId".')
            continue
        # The schema spells it S3Uri, the prose S3URI: both are accepted (spec §3.3).
        uri = spec.get("S3Uri", spec.get("S3URI"))
        if uri is None:
            problems.add(f'{where} has no "S3Uri": give the s3://bucket/key of the recording.')
            continue
        if not isinstance(uri, str) or not S3_URI.match(uri) or len(uri) > 1024:
            problems.add(f'{where}: "S3Uri" must be an s3://bucket/key URI, got {json.dumps(uri)}.')
            continue
        channel = spec.get("ChannelId")
        if channel is None:
            problems.add(f'{where} has no "ChannelId": give 0 or 1, the channel that carries the caller.')
            continue
        if channel not in (0, 1) or isinstance(channel, bool):
            problems.add(
                f'{where}: "ChannelId" must be 0 or 1 (the channel that carries the caller), '
                f"got {json.dumps(channel)}."
            )
            continue
        files.append(AudioFile(uri=uri, channel=int(channel)))
    return tuple(files)
