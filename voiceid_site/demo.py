"""The demo's voices: three enrolled callers and one fraudster from the recordings committed in demo/.

The recordings are LibriSpeech read speech (CC BY 4.0, demo/librispeech/ATTRIBUTION.txt). Each demo voice
enrolls from its first recordings, up to ENROLL_SECONDS of audio; the rest are never enrolled, so they
can play a later call.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db import transaction

from domains.models import Domain
from fraudsters import services as fraudster_services
from fraudsters.models import FraudsterVoiceprint
from speakers import services as speaker_services
from speakers.models import Speaker, SpeakerVoiceprint
from voiceprints import audio, engine

DEMO_AUDIO = Path(settings.BASE_DIR) / "demo" / "librispeech"
DEFAULT_ENDPOINT_URL = "http://127.0.0.1:8000"  # where `make run` serves unless HOST or PORT say otherwise
ENROLL_SECONDS = 40.0  # of audio: comfortably over the 30 s of net speech an enrollment needs


@dataclass(frozen=True)
class DemoVoice:
    name: str  # the CustomerSpeakerId it is enrolled under ("" for the fraudster and the stranger)
    folder: str
    description: str

    def recordings(self) -> list[Path]:
        return sorted((DEMO_AUDIO / self.folder).glob("*.wav"))

    def _split(self) -> int:
        """How many leading recordings the enrollment uses."""
        seconds = 0.0
        for count, path in enumerate(self.recordings(), start=1):
            seconds += len(_canonical(path)) / audio.CANONICAL_RATE
            if seconds >= ENROLL_SECONDS:
                return count
        raise RuntimeError(f"demo/librispeech/{self.folder} holds under {ENROLL_SECONDS} s of audio")

    def enrollment_recordings(self) -> list[Path]:
        """The recordings the demo enrolls this voice from (over 30 s of speech)."""
        return self.recordings()[: self._split()]

    def enrollment_audio(self) -> np.ndarray:
        return np.concatenate([_canonical(path) for path in self.enrollment_recordings()])

    def call_recordings(self) -> list[Path]:
        """Recordings never used for enrollment: what this voice says on a later call (over 20 s)."""
        return self.recordings()[self._split() :]

    def call_audio(self) -> np.ndarray:
        return np.concatenate([_canonical(path) for path in self.call_recordings()])


def _canonical(path: Path) -> np.ndarray:
    return audio.to_canonical(audio.decode_wav(path.read_bytes()))


CALLERS = (
    DemoVoice("alice", "ls_367", "enrolled caller (female)"),
    DemoVoice("bob", "ls_1688", "enrolled caller (male)"),
    DemoVoice("carol", "ls_1998", "enrolled caller (female)"),
)
FRAUDSTER = DemoVoice("", "ls_2033", "known fraudster (male), in the default watchlist")
STRANGER = DemoVoice("", "ls_533", "a voice voiceid has never heard (female)")


def _voiceprint(voice: DemoVoice) -> tuple[engine.Voiceprint, bytes]:
    samples = voice.enrollment_audio()
    voiceprint = engine.voiceprint_of(samples)
    if voiceprint is None:  # pragma: no cover - the committed recordings are speech
        raise RuntimeError(f"no speech found in {voice.folder}")
    return voiceprint, audio.pcm16_bytes(samples)


def seed_voices(domain: Domain) -> list[str]:
    """Enroll the demo callers and register the fraudster, unless already done; returns what was done."""
    done = []
    for voice in CALLERS:
        with transaction.atomic():
            speaker = speaker_services.speaker_get_or_create_pending(
                domain=domain, customer_speaker_id=voice.name
            )
            if SpeakerVoiceprint.objects.filter(speaker=speaker).exists():
                continue
            if speaker.status == Speaker.Status.OPTED_OUT:
                continue  # someone opted the demo caller out: respect it
            voiceprint, pcm = _voiceprint(voice)
            speaker_services.speaker_enroll(
                speaker=speaker, voiceprint=voiceprint, source=SpeakerVoiceprint.Source.DEMO, audio_pcm=pcm
            )
            done.append(f"enrolled {voice.name} ({speaker.generated_speaker_id})")
    if not FraudsterVoiceprint.objects.filter(domain=domain).exists():
        voiceprint, pcm = _voiceprint(FRAUDSTER)
        fraudster = fraudster_services.fraudster_register(domain=domain, voiceprint=voiceprint, audio_pcm=pcm)
        done.append(f"registered fraudster {fraudster.generated_fraudster_id}")
    return done


DEMO_BUCKET = "demo-recordings"


def write_batch_demo(s3_root: Path) -> str:
    """A bucket of the embedded S3 with a manifest enrolling the stranger as "dave"; returns its URI.

    What a contact centre's migration looks like: recordings of a caller, and a manifest naming them.
    """
    import json
    import shutil

    folder = s3_root / DEMO_BUCKET
    (folder / "dave").mkdir(parents=True, exist_ok=True)
    specs = []
    for path in STRANGER.recordings()[: STRANGER._split()]:
        shutil.copyfile(path, folder / "dave" / path.name)
        specs.append({"S3Uri": f"s3://{DEMO_BUCKET}/dave/{path.name}", "ChannelId": 0})
    manifest = {
        "Version": "1.0",
        "SpeakerEnrollmentRequests": [
            {"RequestId": "req-dave", "SpeakerId": "dave", "AudioSpecifications": specs}
        ],
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return f"s3://{DEMO_BUCKET}/manifest.json"
