"""Reads of speakers, by either id form."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Q

from domains import envelope
from domains.models import Domain
from speakers.models import Speaker, SpeakerVoiceprint
from voiceid_site import rows
from voiceid_site.exceptions import ResourceNotFound
from voiceid_site.ids import is_generated_id
from voiceid_site.paging import Page, keyset_page


def speaker_find(*, domain: Domain, speaker_id: str, with_voiceprint: bool = False) -> Speaker | None:
    """`speaker_id` is a GeneratedSpeakerId (`id#…`) or a CustomerSpeakerId; the patterns cannot overlap.

    `with_voiceprint` reads the speaker's voiceprint row along (see `speaker_voiceprint`). Hand-written SQL
    (voiceid_site.rows): every evaluation of a live call reads its claimed speaker and voiceprint.
    """
    if is_generated_id(speaker_id):
        speaker = rows.row_by_key(
            Speaker, columns=["domain_id", "generated_speaker_id"], values=[domain.pk, speaker_id]
        )
    else:
        # Found by keyed hash: the clear id is never stored, and the lookup stays one index probe per data
        # key generation the hash may be under (one, or two while a rotation runs).
        speaker = None
        for digest in envelope.lookup_digests(domain, speaker_id):
            speaker = rows.row_by_key(
                Speaker, columns=["domain_id", "customer_speaker_index"], values=[domain.pk, digest]
            )
            if speaker is not None:
                break
    if speaker is None:
        return None
    speaker.domain = domain  # already loaded: spare the query speaker_to_api would make
    if with_voiceprint:
        # A second statement, not a join: a change committed between the two (an opt-out, a deletion, a new
        # enrollment) is seen by the second only. An opted-out or deleted speaker's voiceprint is then already
        # gone, so it is never scored; a new one is scored against the speaker row as read just before.
        voiceprint = rows.row_by_key(SpeakerVoiceprint, columns=["speaker_id"], values=[speaker.pk])
        if voiceprint is not None:
            voiceprint.domain = domain  # likewise for the query sealing would make
            voiceprint.speaker = speaker
        # As select_related would: `speaker.voiceprint` then needs no query (and raises if there is none).
        Speaker.voiceprint.related.set_cached_value(speaker, voiceprint)
    return speaker


def speaker_voiceprint(speaker: Speaker) -> SpeakerVoiceprint | None:
    """The speaker's voiceprint row, None if it has none (a query unless speaker_find read it along)."""
    try:
        return speaker.voiceprint
    except SpeakerVoiceprint.DoesNotExist:
        return None


def speaker_get(*, domain: Domain, speaker_id: str) -> Speaker:
    speaker = speaker_find(domain=domain, speaker_id=speaker_id)
    if speaker is None:
        raise ResourceNotFound(
            f"Speaker {speaker_id if is_generated_id(speaker_id) else '(customer id)'} does not exist in domain "
            f"{domain.domain_id}.",
            resource_type="SPEAKER",
        )
    return speaker


def speaker_list(*, domain: Domain, after: int | None, limit: int) -> Page[Speaker]:
    page = keyset_page(Speaker.objects.filter(domain=domain), after=after, limit=limit)
    for speaker in page.items:
        speaker.domain = domain  # already loaded: spare a query per row
    return page


def speaker_ids_with_customer_id(*, customer_speaker_id: str) -> list[int]:
    """Primary keys of the speakers with this exact CustomerSpeakerId, in any domain whose key is usable."""
    from voiceid_site.exceptions import AccessDenied

    ids: list[int] = []
    for domain in Domain.objects.all():
        try:
            digests = envelope.lookup_digests(domain, customer_speaker_id)
        except AccessDenied:
            continue  # that domain's key is unavailable: its speakers cannot be searched
        ids.extend(
            Speaker.objects.filter(domain=domain, customer_speaker_index__in=digests).values_list(
                "pk", flat=True
            )
        )
    return ids


def speaker_search(
    *,
    domain: Domain,
    speaker_id: str = "",
    status: str = "",
    accessed_before: datetime | None = None,
    after: int | None,
    limit: int,
) -> Page[Speaker]:
    """The dashboard's speaker list: an exact id (either form) or a filtered keyset page.

    Customer ids are sealed, so there is no partial match: an id is found through its keyed hash or not at
    all. `accessed_before` keeps speakers last accessed before that moment or never (the stale ones).
    """
    if speaker_id:
        speaker = speaker_find(domain=domain, speaker_id=speaker_id)
        found = [speaker] if speaker is not None and _matches(speaker, status, accessed_before) else []
        for match in found:
            _add_display_id(match)
        return Page(items=found, next_position=None)
    speakers = Speaker.objects.filter(domain=domain)
    if status:
        speakers = speakers.filter(status=status)
    if accessed_before is not None:
        speakers = speakers.filter(Q(last_accessed_at__lt=accessed_before) | Q(last_accessed_at__isnull=True))
    page = keyset_page(speakers, after=after, limit=limit)
    for speaker in page.items:
        speaker.domain = domain  # already loaded: spare a query per row (and per decrypted id)
    for speaker in page.items:
        _add_display_id(speaker)
    return page


def _matches(speaker: Speaker, status: str, accessed_before: datetime | None) -> bool:
    """Whether the speaker an exact id found passes the other filters, as a filtered page would test them."""
    if status and speaker.status != status:
        return False
    last = speaker.last_accessed_at
    return accessed_before is None or last is None or last < accessed_before


def _add_display_id(speaker: Speaker) -> None:
    from domains.sealing import readable

    speaker.display_customer_id = readable(speaker, "customer_speaker_id")  # type: ignore[attr-defined]


def speaker_describe(*, domain: Domain, speaker_id: str) -> Speaker:
    """The speaker (either id form) with its customer id readable for display; ResourceNotFound if absent."""
    speaker = speaker_get(domain=domain, speaker_id=speaker_id)
    _add_display_id(speaker)
    return speaker


def speaker_enrollment(*, speaker: Speaker) -> SpeakerVoiceprint | None:
    """The speaker's voiceprint row without its sealed payload: where the enrollment came from, and when."""
    return SpeakerVoiceprint.objects.filter(speaker=speaker).defer("packed_sealed").first()
