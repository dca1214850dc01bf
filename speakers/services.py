"""Writes to speakers: opt-out, delete, access bookkeeping, and registering an id a call names."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from domains import blobstore
from domains import selectors as domain_selectors
from domains.models import Domain
from events import actions as event_actions
from jobs import erasure
from speakers import selectors
from speakers.models import Speaker, SpeakerVoiceprint
from voiceid_site import quotas
from voiceid_site.exceptions import ResourceNotFound
from voiceid_site.ids import is_generated_id

if TYPE_CHECKING:
    from voiceprints.engine import Voiceprint


def _speaker_create(*, domain: Domain, customer_speaker_id: str, status: str) -> Speaker:
    # Lock the domain row so concurrent creations cannot both pass the quota check.
    locked = Domain.objects.select_for_update().get(pk=domain.pk)
    quotas.ensure_room("speakers_per_domain", current=locked.speaker_count, what="the domain's speakers")
    speaker = Speaker.objects.create(domain=domain, customer_speaker_id=customer_speaker_id, status=status)
    Domain.objects.filter(pk=domain.pk).update(speaker_count=F("speaker_count") + 1)
    return speaker


@transaction.atomic
def speaker_get_or_create_pending(*, domain: Domain, customer_speaker_id: str) -> Speaker:
    """The speaker a call names; an unknown id becomes a PENDING speaker until an enrollment completes."""
    domain_selectors.ensure_active(domain)
    speaker = selectors.speaker_find(domain=domain, speaker_id=customer_speaker_id)
    if speaker is not None:
        return speaker
    if is_generated_id(customer_speaker_id):
        # Only voiceid issues generated ids, so an unknown one names no caller: refuse it, as DescribeSpeaker does.
        selectors.speaker_get(domain=domain, speaker_id=customer_speaker_id)
    return _speaker_create(
        domain=domain, customer_speaker_id=customer_speaker_id, status=Speaker.Status.PENDING
    )


@transaction.atomic
def speaker_opt_out(*, domain: Domain, speaker_id: str) -> Speaker:
    """OPTED_OUT, whether or not the speaker existed: an unknown customer id is created opted out.

    An unknown GeneratedSpeakerId is refused instead: only voiceid issues those, so it names no caller.
    """
    domain_selectors.ensure_active(domain)
    speaker = selectors.speaker_find(domain=domain, speaker_id=speaker_id)
    if speaker is None:
        if is_generated_id(speaker_id):
            raise ResourceNotFound(
                f"Speaker {speaker_id} does not exist in domain {domain.domain_id}: to opt out a caller who "
                "was never enrolled, pass their CustomerSpeakerId.",
                resource_type="SPEAKER",
            )
        speaker = _speaker_create(
            domain=domain, customer_speaker_id=speaker_id, status=Speaker.Status.OPTED_OUT
        )
    else:
        speaker.status = Speaker.Status.OPTED_OUT
        speaker.updated_at = timezone.now()
        speaker.save(update_fields=["status", "updated_at"])
        # The voiceprint goes at once; retained enrollment audio with the purge sweeper, within 24 hours.
        SpeakerVoiceprint.objects.filter(speaker=speaker).delete()
        _schedule_audio_erasure(domain, speaker, reason="speaker opted out")
    event_actions.speaker_opted_out(domain=domain, generated_speaker_id=speaker.generated_speaker_id)
    return speaker


@transaction.atomic
def speaker_delete(*, domain: Domain, speaker_id: str) -> None:
    """Remove the speaker and both its ids at once; this is also how an opt-out is lifted."""
    # Erasure is allowed on a deleted (SUSPENDED) domain too: removing a person's data is never refused.
    speaker = selectors.speaker_get(domain=domain, speaker_id=speaker_id)
    _schedule_audio_erasure(domain, speaker, reason="speaker deleted")
    event_actions.speaker_deleted(domain=domain, generated_speaker_id=speaker.generated_speaker_id)
    speaker.delete()
    Domain.objects.filter(pk=domain.pk).update(speaker_count=F("speaker_count") - 1)


ENROLLMENT_AUDIO_NAME = "enrollment.pcm"


def enrollment_audio_path(speaker: Speaker) -> str:
    """Where the audio a speaker's voiceprint was built from is kept (sealed), for rebuilding it later."""
    return (
        erasure.speaker_prefix(speaker.domain.domain_id, speaker.generated_speaker_id) + ENROLLMENT_AUDIO_NAME
    )


@transaction.atomic
def speaker_enroll(
    *, speaker: Speaker, voiceprint: Voiceprint, source: str, audio_pcm: bytes, now: datetime | None = None
) -> Speaker:
    """Make `voiceprint` the speaker's (a re-enrollment replaces the old one) and mark it ENROLLED.

    The caller has checked the speaker may enroll (not OPTED_OUT) under a lock on its row. The audio
    (canonical 8 kHz PCM-16) is kept sealed in the speaker's folder until the speaker is deleted or opts
    out, so `manage.py rebuild_voiceprints` can rebuild the voiceprint when the model changes.
    """
    now = now or timezone.now()
    domain = speaker.domain
    # Storage is not transactional: written first, it is at worst an orphan overwritten by the next
    # enrollment or erased with the speaker's folder; written last, a crash could leave a voiceprint
    # whose audio is missing.
    blobstore.save(domain, enrollment_audio_path(speaker), audio_pcm)
    SpeakerVoiceprint.objects.filter(speaker=speaker).delete()
    SpeakerVoiceprint.objects.create(
        domain=domain,
        speaker=speaker,
        packed=voiceprint.pack(),
        model_name=voiceprint.model_name,
        speech_seconds=voiceprint.speech_seconds,
        source=source,
        enrolled_at=now,
    )
    speaker.status = Speaker.Status.ENROLLED
    speaker.updated_at = now
    speaker.save(update_fields=["status", "updated_at"])
    speaker_record_access(speaker=speaker, now=now)
    return speaker


@transaction.atomic
def speaker_voiceprint_replace(*, speaker_voiceprint: SpeakerVoiceprint, voiceprint: Voiceprint) -> None:
    """Swap in a voiceprint rebuilt from the retained audio (a model change); status and dates stay."""
    speaker_voiceprint.packed = voiceprint.pack()
    speaker_voiceprint.model_name = voiceprint.model_name
    speaker_voiceprint.speech_seconds = voiceprint.speech_seconds
    speaker_voiceprint.save(update_fields=["packed_sealed", "model_name", "speech_seconds"])


def _schedule_audio_erasure(domain: Domain, speaker: Speaker, *, reason: str) -> None:
    erasure.schedule_erasure(
        prefix=erasure.speaker_prefix(domain.domain_id, speaker.generated_speaker_id), reason=reason
    )


# LastAccessedAt is "accurate to one hour" (spec §5): writing it at most hourly keeps authentication from
# turning every successful call into a row update.
LAST_ACCESS_RESOLUTION = timedelta(hours=1)


def speaker_record_access(*, speaker: Speaker, now: datetime | None = None) -> bool:
    """Note an enrollment, a re-enrollment or a successful authentication; True if the row was written.

    The three-year expiry counts from this (jobs.sweepers). The update is conditional in SQL, so
    concurrent calls for one speaker write at most once per hour.
    """
    now = now or timezone.now()
    if speaker.last_accessed_at is not None and now - speaker.last_accessed_at < LAST_ACCESS_RESOLUTION:
        return False
    written = (
        Speaker.objects.filter(pk=speaker.pk)
        .filter(Q(last_accessed_at__isnull=True) | Q(last_accessed_at__lte=now - LAST_ACCESS_RESOLUTION))
        .update(last_accessed_at=now)
    )
    if written:
        speaker.last_accessed_at = now
    return bool(written)
