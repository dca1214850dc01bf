"""Writes to speakers: opt-out, delete, access bookkeeping, and registering an id a call names."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from domains import selectors as domain_selectors
from domains.models import Domain
from jobs import erasure
from speakers import selectors
from speakers.models import Speaker
from voiceid_site import quotas
from voiceid_site.exceptions import ResourceNotFound
from voiceid_site.ids import is_generated_id


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
        return _speaker_create(domain=domain, customer_speaker_id=speaker_id, status=Speaker.Status.OPTED_OUT)
    # Voiceprints arrive with the voice engine and will be deleted here at once; retained audio goes
    # with the purge sweeper, within 24 hours (spec §5).
    speaker.status = Speaker.Status.OPTED_OUT
    speaker.updated_at = timezone.now()
    speaker.save(update_fields=["status", "updated_at"])
    _schedule_audio_erasure(domain, speaker, reason="speaker opted out")
    return speaker


@transaction.atomic
def speaker_delete(*, domain: Domain, speaker_id: str) -> None:
    """Remove the speaker and both its ids at once; this is also how an opt-out is lifted."""
    # Erasure is allowed on a deleted (SUSPENDED) domain too: removing a person's data is never refused.
    speaker = selectors.speaker_get(domain=domain, speaker_id=speaker_id)
    _schedule_audio_erasure(domain, speaker, reason="speaker deleted")
    speaker.delete()
    Domain.objects.filter(pk=domain.pk).update(speaker_count=F("speaker_count") - 1)


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
