"""Call sessions: the audio of one call streaming in, and the latest authentication and fraud results."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from domains.models import Domain
from domains.sealing import Sealed, SealedBytes
from voiceid_site.ids import new_generated_id, new_id


class Session(models.Model):
    """One call, named by the caller (Connect used the contact id), identified by voiceid as `id#…`."""

    class EnrollmentStatus(models.TextChoices):
        NOT_ENOUGH_SPEECH = "NOT_ENOUGH_SPEECH"
        IN_PROGRESS = "IN_PROGRESS"
        COMPLETED = "COMPLETED"
        FAILED = "FAILED"

    domain = models.ForeignKey(Domain, on_delete=models.CASCADE, related_name="sessions")
    session_id = models.CharField(max_length=25, unique=True, default=new_generated_id, editable=False)
    session_name = models.CharField(max_length=36, editable=False)
    # The SpeakerId as the caller gave it (a customer id is personal data, so sealed); "" when not set.
    speaker_ref_sealed = models.BinaryField(default=b"", editable=False)
    # Its keyed hash, so a speaker's sessions are found without decrypting every session (b"" when never set).
    speaker_ref_index = models.BinaryField(max_length=32, default=b"", editable=False)
    speaker_ref = Sealed("speaker_ref_sealed", record_id="session_id", index="speaker_ref_index")
    sealed_with = models.PositiveIntegerField(default=1, editable=False)
    acceptance_threshold = models.PositiveSmallIntegerField(default=90, editable=False)
    minimum_speech_seconds = models.PositiveSmallIntegerField(default=10, editable=False)
    risk_threshold = models.PositiveSmallIntegerField(default=50, editable=False)
    watchlist_id = models.CharField(max_length=22, editable=False)

    # The engine's running state (speech detector, resampler, running voiceprint): sealed, it holds speech.
    stream_state_sealed = models.BinaryField(default=b"", editable=False)
    stream_state = SealedBytes("stream_state_sealed", record_id="session_id")
    chunks_received = models.PositiveIntegerField(default=0, editable=False)
    audio_seconds = models.FloatField(default=0.0, editable=False)
    speech_seconds = models.FloatField(default=0.0, editable=False)
    audio_started_at = models.DateTimeField(null=True, blank=True, editable=False)
    audio_ended_at = models.DateTimeField(null=True, blank=True, editable=False)

    enrollment_status = models.CharField(max_length=20, choices=EnrollmentStatus.choices, blank=True)
    enrollment_message = models.CharField(max_length=500, blank=True, editable=False)
    enrollment_requested_at = models.DateTimeField(null=True, blank=True, editable=False)

    # The cached results: reused, with their ids, while their inputs (the `*_key` columns) are unchanged.
    auth_result_id = models.CharField(max_length=22, blank=True, editable=False)
    auth_result_key = models.CharField(max_length=200, blank=True, editable=False)
    auth_result = models.JSONField(null=True, blank=True, editable=False)
    fraud_result_id = models.CharField(max_length=22, blank=True, editable=False)
    fraud_result_key = models.CharField(max_length=200, blank=True, editable=False)
    fraud_result = models.JSONField(null=True, blank=True, editable=False)
    evaluated_at = models.DateTimeField(null=True, blank=True, editable=False)

    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)
    ended_at = models.DateTimeField(null=True, blank=True, editable=False)
    # When the audio was erased (24 h after the call, spec §5); the session's results stay.
    audio_erased_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(fields=["domain", "session_name"], name="unique_session_name_per_domain")
        ]
        indexes = [
            models.Index(fields=["domain", "id"], name="session_domain_keyset"),
            models.Index(fields=["domain", "sealed_with"], name="session_sealed_with"),
            models.Index(fields=["domain", "ended_at"], name="session_active"),
            # The speaker page lists the sessions that named the speaker (calls.selectors.sessions_of_speaker).
            models.Index(fields=["domain", "speaker_ref_index"], name="session_speaker_ref"),
            # The purge sweeper clears the running state of calls quiet for 24 hours.
            models.Index(fields=["audio_erased_at", "created_at"], name="session_audio_retention"),
        ]

    def __str__(self) -> str:
        return f"{self.session_name} ({self.session_id})"

    @property
    def sealing_domain(self) -> Domain:
        return self.domain


class SessionAudio(models.Model):
    """One chunk of a session's audio as the engine heard it (8 kHz PCM-16), sealed; kept for 24 hours,
    or, when it became enrollment audio, copied into the speaker's storage folder first."""

    domain = models.ForeignKey(Domain, on_delete=models.CASCADE, related_name="session_audio")
    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="audio_chunks")
    chunk_id = models.CharField(max_length=22, unique=True, default=new_id, editable=False)
    sequence = models.PositiveIntegerField(editable=False)
    pcm_sealed = models.BinaryField(default=b"", editable=False)
    pcm = SealedBytes("pcm_sealed", record_id="chunk_id")
    sealed_with = models.PositiveIntegerField(default=1, editable=False)
    received_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["session", "sequence"]
        constraints = [
            models.UniqueConstraint(fields=["session", "sequence"], name="unique_chunk_sequence"),
        ]
        indexes = [
            models.Index(fields=["domain", "sealed_with"], name="session_audio_sealed_with"),
            # The purge sweeper drops call audio older than 24 hours.
            models.Index(fields=["received_at"], name="session_audio_received"),
        ]

    def __str__(self) -> str:
        return f"chunk {self.sequence} of {self.session_id}"

    @property
    def sealing_domain(self) -> Domain:
        return self.domain
