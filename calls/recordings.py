"""Evaluate an uploaded recording against a speaker, as EvaluateSession would a call: read-only.

The dashboard's "what would this call get?" check. It decides exactly as a new session of the domain
would (the domain's session defaults: AcceptanceThreshold, minimum net speech and RiskThreshold, Voice ID's
90 / 10 s / 50 unless a superuser changed them; the domain's default watchlist) but stores nothing: no
session, no PENDING speaker for an unknown id, and no LastAccessedAt update on an ACCEPT, because a person
trying a recording is not the customer calling.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from calls import evaluation
from calls.selectors import Gauge
from domains.models import Domain
from fraudsters import selectors as fraudster_selectors
from fraudsters.models import Watchlist
from speakers import selectors as speaker_selectors
from speakers.models import Speaker, SpeakerVoiceprint
from voiceid_site.exceptions import ValidationError
from voiceprints import audio, engine

MAX_RECORDING_BYTES = audio.MAX_AUDIO_BYTES
TOO_LARGE = "The recording is larger than 20 MB, Voice ID's limit for one file: send a shorter one."


@dataclass(frozen=True)
class RecordingEvaluation:
    """The decisions a call with this recording would get, and what they were based on."""

    speaker_id: str
    speaker: Speaker | None
    audio_seconds: float
    net_speech_seconds: float
    minimum_speech_seconds: int
    authentication_decision: str
    authentication: Gauge
    fraud_decision: str
    risk: Gauge
    closest_fraudster_id: str | None
    watchlist: Watchlist

    @property
    def authentication_tone(self) -> str:
        return {"ACCEPT": "ok", "REJECT": "bad"}.get(self.authentication_decision, "")

    @property
    def fraud_tone(self) -> str:
        return {"LOW_RISK": "ok", "HIGH_RISK": "bad"}.get(self.fraud_decision, "")


def _voiceprint_of(speaker: Speaker) -> SpeakerVoiceprint | None:
    row = SpeakerVoiceprint.objects.filter(speaker=speaker).first()
    if row is not None:
        row.domain = speaker.domain  # already loaded: spare the query unsealing would make
    return row


def recording_evaluate(
    *, domain: Domain, speaker_id: str, wav: bytes, channel: int = 0
) -> RecordingEvaluation:
    """Authenticate `wav` (any WAV voiceid decodes) against the speaker (customer or generated id) and
    screen it against the domain's default watchlist; writes nothing (see the module).

    Raises AudioError when the audio cannot be decoded, ValidationError when it is too large.
    """
    if len(wav) > MAX_RECORDING_BYTES:
        raise ValidationError(TOO_LARGE)
    samples = engine.decode(wav, "WAV", channel=channel)
    caller = engine.voiceprint_of(samples, vad_kind=settings.VOICEID_VAD)
    speech_seconds = caller.speech_seconds if caller else 0.0
    # What a session of this domain starts with (its admin-set defaults, Voice ID's 90 / 50 / 10 unless changed).
    minimum = domain.session_minimum_speech_seconds
    acceptance_threshold, risk_threshold = domain.session_acceptance_threshold, domain.session_risk_threshold
    enough = caller is not None and speech_seconds >= minimum

    speaker = speaker_selectors.speaker_find(domain=domain, speaker_id=speaker_id)
    # The same rules as a session's evaluation (calls.evaluation), with a new session's settings.
    authentication = evaluation.authentication_decision(
        speaker=speaker,
        voiceprint_of=_voiceprint_of,
        caller_voiceprint=lambda: caller,
        enough_speech=enough,
        acceptance_threshold=acceptance_threshold,
    )
    watchlist = fraudster_selectors.watchlist_default(domain=domain)
    screened = evaluation.fraud_screening(
        watchlist=watchlist,
        caller_voiceprint=lambda: caller,
        enough_speech=enough,
        risk_threshold=risk_threshold,
    )

    return RecordingEvaluation(
        speaker_id=speaker_id,
        speaker=speaker,
        audio_seconds=round(len(samples) / audio.CANONICAL_RATE, 1),
        net_speech_seconds=round(speech_seconds, 1),
        minimum_speech_seconds=minimum,
        authentication_decision=authentication.decision,
        authentication=Gauge(
            score=authentication.score,
            threshold=acceptance_threshold,
            reaching_is_good=True,
        ),
        fraud_decision=screened.decision,
        risk=Gauge(score=screened.risk_score, threshold=risk_threshold, reaching_is_good=False),
        closest_fraudster_id=screened.closest_fraudster_id,
        watchlist=watchlist,
    )
