"""Writes to watchlists, fraudsters and their memberships (spec §7)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from domains import blobstore
from domains import selectors as domain_selectors
from domains.models import Domain
from events import actions as event_actions
from fraudsters import selectors
from fraudsters.models import Fraudster, FraudsterVoiceprint, Watchlist, WatchlistMembership
from jobs.erasure import fraudster_prefix, schedule_erasure
from voiceid_site import idempotency, quotas
from voiceid_site.exceptions import Conflict, ResourceNotFound, ValidationError

if TYPE_CHECKING:
    from voiceprints.engine import Voiceprint

DEFAULT_WATCHLIST_NAME = "default"
DEFAULT_WATCHLIST_DESCRIPTION = "Default watchlist"
# The StorageErasure reason recorded when a fraudster is deleted (shown in the admin).
FRAUDSTER_DELETED_ERASURE_REASON = "fraudster deleted"


def watchlist_create_default(*, domain: Domain) -> Watchlist:
    return Watchlist.objects.create(
        domain=domain, name=DEFAULT_WATCHLIST_NAME, description=DEFAULT_WATCHLIST_DESCRIPTION, is_default=True
    )


@transaction.atomic
def watchlist_create(
    *, domain: Domain, name: str, description: str = "", client_token: str | None = None
) -> Watchlist:
    """A custom watchlist; a repeated ClientToken returns the first one."""
    domain_selectors.ensure_active(domain)
    request_fingerprint = idempotency.fingerprint({"Name": name, "Description": description})
    if client_token:
        existing = Watchlist.objects.filter(domain=domain, client_token=client_token).first()
        if existing is not None:
            idempotency.ensure_same_request(
                stored=existing.request_fingerprint,
                requested=request_fingerprint,
                client_token=client_token,
                operation="CreateWatchlist",
            )
            return existing
    Domain.objects.select_for_update().filter(pk=domain.pk).first()
    quotas.ensure_room(
        "watchlists_per_domain",
        current=domain.watchlists.count(),
        what="the domain's watchlists (default included)",
    )
    try:
        with transaction.atomic():
            return Watchlist.objects.create(
                domain=domain,
                name=name,
                description=description,
                client_token=client_token or None,
                request_fingerprint=request_fingerprint,
            )
    except IntegrityError:
        if not client_token:
            raise
        return watchlist_create(domain=domain, name=name, description=description, client_token=client_token)


def _ensure_custom(watchlist: Watchlist, action: str) -> None:
    if watchlist.is_default:
        raise ValidationError(
            f"Watchlist {watchlist.watchlist_id} is the domain's default watchlist, which cannot be {action}."
        )


@transaction.atomic
def watchlist_update(
    *, domain: Domain, watchlist_id: str, name: str | None = None, description: str | None = None
) -> Watchlist:
    """Change a custom watchlist's name and/or description; members left out are kept."""
    domain_selectors.ensure_active(domain)
    watchlist = selectors.watchlist_get(domain=domain, watchlist_id=watchlist_id)
    _ensure_custom(watchlist, "renamed or changed")
    if name is not None:
        watchlist.name = name
    if description is not None:
        watchlist.description = description
    watchlist.updated_at = timezone.now()
    watchlist.save(update_fields=["name_sealed", "description_sealed", "updated_at"])
    return watchlist


@transaction.atomic
def watchlist_delete(*, domain: Domain, watchlist_id: str) -> None:
    domain_selectors.ensure_active(domain)
    watchlist = selectors.watchlist_get(domain=domain, watchlist_id=watchlist_id)
    _ensure_custom(watchlist, "deleted")
    if watchlist.memberships.exists():
        raise Conflict(
            f"Watchlist {watchlist_id} still has fraudsters: disassociate or delete them first.",
            conflict_type="CANNOT_DELETE_NON_EMPTY_WATCHLIST",
        )
    watchlist.delete()


def _ensure_room_in(watchlist: Watchlist) -> None:
    quotas.ensure_room(
        "fraudsters_per_watchlist",
        current=watchlist.memberships.count(),
        what=f"the fraudsters in watchlist {watchlist.watchlist_id}",
    )


@transaction.atomic
def fraudster_create(*, domain: Domain, watchlist: Watchlist | None = None) -> Fraudster:
    """A new fraudster in `watchlist` (the default one if not given). Registration jobs call this."""
    domain_selectors.ensure_active(domain)
    watchlist = watchlist or selectors.watchlist_default(domain=domain)
    _ensure_room_in(watchlist)
    fraudster = Fraudster.objects.create(domain=domain)
    WatchlistMembership.objects.create(watchlist=watchlist, fraudster=fraudster)
    return selectors.fraudster_get(domain=domain, fraudster_id=fraudster.generated_fraudster_id)


REGISTRATION_AUDIO_NAME = "registration.pcm"


@transaction.atomic
def fraudster_register(
    *, domain: Domain, voiceprint: Voiceprint, audio_pcm: bytes, watchlist: Watchlist | None = None
) -> Fraudster:
    """A new fraudster with its voiceprint, screened from now on by every watchlist it is in.

    The audio (canonical 8 kHz PCM-16) is kept sealed in the fraudster's folder, for rebuilding the
    voiceprint when the model changes, until the fraudster is deleted.
    """
    fraudster = fraudster_create(domain=domain, watchlist=watchlist)
    blobstore.save(
        domain,
        fraudster_prefix(domain.domain_id, fraudster.generated_fraudster_id) + REGISTRATION_AUDIO_NAME,
        audio_pcm,
    )
    FraudsterVoiceprint.objects.create(
        domain=domain,
        fraudster=fraudster,
        packed=voiceprint.pack(),
        model_name=voiceprint.model_name,
        speech_seconds=voiceprint.speech_seconds,
    )
    _screening_changed(list(fraudster.memberships.values_list("watchlist_id", flat=True)))
    return fraudster


@transaction.atomic
def fraudster_voiceprint_replace(
    *, fraudster_voiceprint: FraudsterVoiceprint, voiceprint: Voiceprint
) -> None:
    """Swap in a voiceprint rebuilt from the retained audio (a model change)."""
    fraudster_voiceprint.packed = voiceprint.pack()
    fraudster_voiceprint.model_name = voiceprint.model_name
    fraudster_voiceprint.speech_seconds = voiceprint.speech_seconds
    fraudster_voiceprint.save(update_fields=["packed_sealed", "model_name", "speech_seconds"])
    _screening_changed(
        list(fraudster_voiceprint.fraudster.memberships.values_list("watchlist_id", flat=True))
    )


def _screening_changed(watchlist_pks: list[int]) -> None:
    """Tell every process's screening cache (fraudsters.screening) that these watchlists changed."""
    Watchlist.objects.filter(pk__in=watchlist_pks).update(screening_version=F("screening_version") + 1)


def _locked_fraudster(*, domain: Domain, fraudster_id: str) -> Fraudster:
    # Lock the row so two concurrent disassociations cannot leave a fraudster in no watchlist.
    fraudster = (
        Fraudster.objects.select_for_update()
        .filter(domain=domain, generated_fraudster_id=fraudster_id)
        .first()
    )
    if fraudster is None:
        raise ResourceNotFound(
            f"Fraudster {fraudster_id} does not exist in domain {domain.domain_id}.",
            resource_type="FRAUDSTER",
        )
    return fraudster


@transaction.atomic
def fraudster_associate(*, domain: Domain, fraudster_id: str, watchlist_id: str) -> Fraudster:
    """Add the fraudster to another watchlist; associating it where it already is changes nothing."""
    domain_selectors.ensure_active(domain)
    fraudster = _locked_fraudster(domain=domain, fraudster_id=fraudster_id)
    watchlist = selectors.watchlist_get(domain=domain, watchlist_id=watchlist_id)
    if not WatchlistMembership.objects.filter(watchlist=watchlist, fraudster=fraudster).exists():
        _ensure_room_in(watchlist)
        WatchlistMembership.objects.create(watchlist=watchlist, fraudster=fraudster)
        _screening_changed([watchlist.pk])
    return selectors.fraudster_get(domain=domain, fraudster_id=fraudster_id)


@transaction.atomic
def fraudster_disassociate(*, domain: Domain, fraudster_id: str, watchlist_id: str) -> Fraudster:
    """Remove the fraudster from one watchlist; it must stay in at least one (DeleteFraudster removes it)."""
    domain_selectors.ensure_active(domain)
    fraudster = _locked_fraudster(domain=domain, fraudster_id=fraudster_id)
    watchlist = selectors.watchlist_get(domain=domain, watchlist_id=watchlist_id)
    membership = WatchlistMembership.objects.filter(watchlist=watchlist, fraudster=fraudster).first()
    if membership is None:
        raise ResourceNotFound(
            f"Fraudster {fraudster_id} is not in watchlist {watchlist_id}.", resource_type="FRAUDSTER"
        )
    if fraudster.memberships.count() == 1:
        raise Conflict(
            f"Fraudster {fraudster_id} must belong to at least one watchlist and {watchlist_id} is its last: "
            "associate it with another watchlist first, or delete the fraudster.",
            conflict_type="FRAUDSTER_MUST_BELONG_TO_AT_LEAST_ONE_WATCHLIST",
        )
    membership.delete()
    _screening_changed([watchlist.pk])
    return selectors.fraudster_get(domain=domain, fraudster_id=fraudster_id)


@transaction.atomic
def fraudster_delete(*, domain: Domain, fraudster_id: str) -> None:
    """Remove the fraudster from every watchlist and delete it; its stored audio goes with the next purge."""
    # Erasure is allowed on a deleted (SUSPENDED) domain too: removing a person's data is never refused.
    fraudster = _locked_fraudster(domain=domain, fraudster_id=fraudster_id)
    memberships = list(fraudster.memberships.select_related("watchlist"))
    _screening_changed([membership.watchlist_id for membership in memberships])
    event_actions.fraudster_deleted(
        domain=domain,
        generated_fraudster_id=fraudster.generated_fraudster_id,
        watchlist_ids=[membership.watchlist.watchlist_id for membership in memberships],
    )
    fraudster.delete()
    schedule_erasure(
        prefix=fraudster_prefix(domain.domain_id, fraudster_id), reason=FRAUDSTER_DELETED_ERASURE_REASON
    )
