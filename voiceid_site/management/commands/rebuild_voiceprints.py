"""Rebuild every voiceprint from its retained audio: `manage.py rebuild_voiceprints [--domain ID] [--stale-only]`.

Run it after the speaker model changes (a new model's voiceprints cannot be compared with the old one's).
Enrollment and registration audio is kept, sealed, for exactly this (spec §5). Safe to interrupt and run
again: each voiceprint is replaced in its own transaction, and --stale-only skips those already built
by the current model.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from domains import blobstore
from fraudsters import services as fraudster_services
from fraudsters.models import FraudsterVoiceprint
from jobs.erasure import fraudster_prefix
from speakers import services as speaker_services
from speakers.models import SpeakerVoiceprint
from voiceprints import audio, engine


def _rebuilt(domain: Any, path: str) -> engine.Voiceprint | None:
    pcm = blobstore.load(domain, path)
    return engine.voiceprint_of(audio.pcm16_samples(pcm))


class Command(BaseCommand):
    help = "Rebuild speaker and fraudster voiceprints from their retained audio with the current model."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--domain", help="only this DomainId")
        parser.add_argument("--stale-only", action="store_true", help="skip voiceprints of the current model")

    def handle(self, *args: Any, **options: Any) -> None:
        model_name = engine.encoder().name
        counts = {"rebuilt": 0, "skipped": 0, "missing_audio": 0}
        speakers = SpeakerVoiceprint.objects.select_related("speaker", "domain").order_by("pk")
        fraudsters = FraudsterVoiceprint.objects.select_related("fraudster", "domain").order_by("pk")
        if options["domain"]:
            speakers = speakers.filter(domain__domain_id=options["domain"])
            fraudsters = fraudsters.filter(domain__domain_id=options["domain"])
        if options["stale_only"]:
            speakers = speakers.exclude(model_name=model_name)
            fraudsters = fraudsters.exclude(model_name=model_name)
        for row in speakers.iterator():
            row.speaker.domain = row.domain
            self._one(
                counts,
                f"speaker {row.speaker.generated_speaker_id}",
                lambda row=row: _rebuilt(row.domain, speaker_services.enrollment_audio_path(row.speaker)),
                lambda voiceprint, row=row: speaker_services.speaker_voiceprint_replace(
                    speaker_voiceprint=row, voiceprint=voiceprint
                ),
            )
        for row in fraudsters.iterator():
            fraudster_id = row.fraudster.generated_fraudster_id
            path = (
                fraudster_prefix(row.domain.domain_id, fraudster_id)
                + fraudster_services.REGISTRATION_AUDIO_NAME
            )
            self._one(
                counts,
                f"fraudster {fraudster_id}",
                lambda row=row, path=path: _rebuilt(row.domain, path),
                lambda voiceprint, row=row: fraudster_services.fraudster_voiceprint_replace(
                    fraudster_voiceprint=row, voiceprint=voiceprint
                ),
            )
        self.stdout.write(
            f"{counts['rebuilt']} voiceprints rebuilt with {model_name}; {counts['missing_audio']} without "
            f"retained audio (re-enroll those callers); {counts['skipped']} without speech."
        )

    def _one(self, counts: dict[str, int], label: str, build: Any, replace: Any) -> None:
        try:
            voiceprint = build()
        except FileNotFoundError:
            counts["missing_audio"] += 1
            self.stderr.write(f"{label}: no retained audio")
            return
        if voiceprint is None:
            counts["skipped"] += 1
            return
        replace(voiceprint)
        counts["rebuilt"] += 1
