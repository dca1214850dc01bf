"""Stream a recording through the real API as a call would, printing each evaluation as it changes.

    python manage.py stream_call demo/librispeech/ls_367/367-130732-000[6-9].wav --domain <DomainId> \\
        --session call-1 --speaker alice [--realtime] [--enroll]

It signs with the access key in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (the one `make run` printed, or
`manage.py create_access_key`), talks to --endpoint-url over HTTP like any integration, and uses the
service model shipped with voiceid (with the session operations) instead of botocore's.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import boto3
import botocore.session
from botocore.exceptions import BotoCoreError, ClientError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from voiceid_site.awsjson.model import DATA_PATH
from voiceid_site.demo import DEFAULT_ENDPOINT_URL
from voiceprints import audio


def _client(endpoint_url: str, region: str) -> Any:
    if not (os.environ.get("AWS_ACCESS_KEY_ID") and os.environ.get("AWS_SECRET_ACCESS_KEY")):
        raise CommandError(
            "Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY to a voiceid access key: `make run` prints one "
            "on its first run, and `python manage.py create_access_key <username>` issues another."
        )
    session = botocore.session.get_session()
    session.set_config_variable("data_path", str(DATA_PATH))
    return boto3.Session(botocore_session=session).client(
        "voice-id", endpoint_url=endpoint_url, region_name=region
    )


def _summary(result: dict[str, Any]) -> str:
    auth = result.get("AuthenticationResult", {})
    fraud = result.get("FraudDetectionResult", {})
    auth_text = auth.get("Decision", "-")
    if "Score" in auth:
        auth_text += f" (score {auth['Score']} vs threshold {auth['Configuration']['AcceptanceThreshold']})"
    fraud_text = fraud.get("Decision", "-")
    known = fraud.get("RiskDetails", {}).get("KnownFraudsterRisk")
    if known:
        fraud_text += f" (risk {known['RiskScore']} vs threshold {fraud['Configuration']['RiskThreshold']}"
        fraud_text += (
            f", closest {known['GeneratedFraudsterId']})" if "GeneratedFraudsterId" in known else ")"
        )
    return f"authentication {auth_text}; fraud {fraud_text}"


class Command(BaseCommand):
    help = (
        "Stream a recording to a session through the API in chunks and print each evaluation as it changes."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "files",
            type=Path,
            nargs="+",
            help="WAV files (any accepted encoding and rate), streamed in order",
        )
        parser.add_argument("--domain", required=True, help="DomainId")
        parser.add_argument("--session", required=True, help="SessionName for this call")
        parser.add_argument("--speaker", help="the SpeakerId the caller claims (customer or generated id)")
        parser.add_argument("--channel", type=int, default=0, choices=[0, 1], help="channel of a stereo file")
        parser.add_argument("--chunk-seconds", type=float, default=0.25)
        parser.add_argument("--realtime", action="store_true", help="send chunks at the pace of speech")
        parser.add_argument("--enroll", action="store_true", help="ask to enroll the speaker from this call")
        parser.add_argument(
            "--endpoint-url",
            # As boto3 and the AWS CLI read them, then where `make run` serves by default.
            default=os.environ.get("AWS_ENDPOINT_URL_VOICE_ID") or os.environ.get("AWS_ENDPOINT_URL") or None,
            help=f"the voiceid server (default: $AWS_ENDPOINT_URL_VOICE_ID, else {DEFAULT_ENDPOINT_URL})",
        )
        parser.add_argument("--region", default="us-east-1")

    def handle(self, *args: Any, **options: Any) -> None:
        pcm = b"".join(self._pcm(path, options["channel"]) for path in options["files"])
        client = _client(options["endpoint_url"] or DEFAULT_ENDPOINT_URL, options["region"])
        try:
            self._stream(client, pcm, options)
        except (ClientError, BotoCoreError) as error:
            raise CommandError(str(error)) from None

    def _pcm(self, path: Path, channel: int) -> bytes:
        try:
            recording = audio.decode_wav(path.read_bytes(), channel=channel)
        except OSError as error:
            raise CommandError(f"Cannot read {path}: {error.strerror}.") from None
        except audio.AudioError as error:
            raise CommandError(f"{path}: {error}") from None
        samples = audio.to_canonical(recording)
        return audio.pcm16_bytes(samples)

    def _stream(self, client: Any, pcm: bytes, options: dict[str, Any]) -> None:
        domain, name = options["domain"], options["session"]
        start: dict[str, Any] = {"DomainId": domain, "SessionName": name}
        if options["speaker"]:
            start["SpeakerId"] = options["speaker"]
        session = client.start_session(**start)["Session"]
        self.stdout.write(f"session {session['SessionName']} ({session['SessionId']}) started")
        if options["enroll"]:
            client.enroll_by_session(DomainId=domain, SessionNameOrId=name)
        chunk_bytes = max(2, int(options["chunk_seconds"] * audio.CANONICAL_RATE) * 2)
        last = ""
        for offset in range(0, len(pcm), chunk_bytes):
            began = time.monotonic()
            put = client.put_session_audio(
                DomainId=domain, SessionNameOrId=name, Audio=pcm[offset : offset + chunk_bytes],
                AudioFormat="PCM_S16LE_8000",
            )  # fmt: skip
            summary = _summary(client.evaluate_session(DomainId=domain, SessionNameOrId=name))
            if summary != last:
                seconds = (offset + chunk_bytes) / 2 / audio.CANONICAL_RATE
                self.stdout.write(
                    f"{min(seconds, len(pcm) / 2 / audio.CANONICAL_RATE):6.2f} s audio, "
                    f"{put['NetSpeechInSeconds']:5.2f} s speech: {summary}"
                )
                last = summary
            if options["realtime"]:
                time.sleep(max(0.0, options["chunk_seconds"] - (time.monotonic() - began)))
        ended = client.end_session(DomainId=domain, SessionNameOrId=name)["Session"]
        final = client.evaluate_session(DomainId=domain, SessionNameOrId=name)
        self.stdout.write(f"session ended ({ended['NetSpeechInSeconds']:.2f} s speech): {_summary(final)}")
        if options["enroll"]:
            self._await_enrollment(client, domain, name)

    def _await_enrollment(self, client: Any, domain: str, name: str) -> None:
        for _ in range(120):
            details = client.describe_session(DomainId=domain, SessionNameOrId=name)["Session"].get(
                "EnrollmentRequestDetails", {}
            )
            if details.get("Status") != "IN_PROGRESS":
                break
            time.sleep(1)
        self.stdout.write(f"enrollment: {details.get('Status')} {details.get('Message', '')}".rstrip())
        if details.get("Status") == "COMPLETED":
            # A score of 100 above is no proof: once enrolled, the call was compared with itself.
            self.stdout.write(
                "(evaluations after the enrollment compared this call with the voiceprint built from it: "
                "stream another recording of the speaker to see a real score)"
            )
