"""Key rotation: re-encrypting a domain's data under the data key of its new KmsKeyId (spec §6).

UpdateDomain with a new key adds a data-key generation wrapped by that key and seals every new value
under it at once; this job then re-seals the older rows, table by table, in small batches. Each row is
swapped only if it still holds what the job read (compare-and-swap), so writes during the job are never
overwritten, and each batch commits alone, so a killed worker loses nothing: the next run finds the rows
still marked with an older generation and carries on. Only when none remain are the old data keys
deleted, and the old master key stops being needed.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Model, Q
from django.utils import timezone

from domains import blobstore, envelope
from domains.keyproviders import provider_for
from domains.models import DataKey, Domain
from domains.sealing import SEALED_ATTRIBUTES, Sealed
from voiceid_site.exceptions import Conflict, ServiceError

logger = logging.getLogger(__name__)

Status = Domain.EncryptionUpdateStatus


class RotationStuck(ServiceError):
    """Rows that no pass could re-seal (they changed under every attempt or do not decrypt)."""


def rotation_start(domain: Domain, *, new_kms_key_id: str) -> None:
    """Switch `domain` (locked by the caller) to a new key; the caller saves the domain's other fields."""
    if domain.encryption_update_status == Status.IN_PROGRESS:
        raise Conflict(
            f"Domain {domain.domain_id} is still re-encrypting its data under {domain.kms_key_id}: wait until "
            "its ServerSideEncryptionUpdateDetails.UpdateStatus is COMPLETED or FAILED, then change the key.",
            conflict_type="DOMAIN_LOCKED_FROM_ENCRYPTION_UPDATES",
        )
    provider_for(new_kms_key_id).check_usable(new_kms_key_id)
    generation = domain.key_generation + 1
    envelope.provision(domain, kms_key_id=new_kms_key_id, generation=generation)
    domain.old_kms_key_id = domain.kms_key_id
    domain.kms_key_id = new_kms_key_id
    domain.key_generation = generation
    _restart(domain, message="")
    domain.save(update_fields=["old_kms_key_id", "kms_key_id", "key_generation"])


def rotation_retry(domain: Domain) -> None:
    """A FAILED update, asked again with the same configuration: run the job again."""
    _restart(domain, message="")


def _restart(domain: Domain, *, message: str) -> None:
    from domains import tasks

    domain.encryption_update_status = Status.IN_PROGRESS
    domain.encryption_update_message = message
    domain.encryption_update_heartbeat = timezone.now()
    domain.save(
        update_fields=["encryption_update_status", "encryption_update_message", "encryption_update_heartbeat"]
    )
    domain_pk = domain.pk
    transaction.on_commit(lambda: tasks.reencrypt_domain.delay(domain_pk))


def _scope(model: type[Model], domain: Domain) -> Q:
    return Q(pk=domain.pk) if model is Domain else Q(domain_id=domain.pk)


def _heartbeat(domain: Domain) -> None:
    Domain.objects.filter(pk=domain.pk).update(encryption_update_heartbeat=timezone.now())


def _reseal_row(domain: Domain, model: type[Model], attributes: list[Sealed], row: dict[str, Any]) -> bool:
    updates: dict[str, Any] = {"sealed_with": domain.key_generation}
    for attribute in attributes:
        blob = bytes(row[attribute.column] or b"")
        if not blob:
            continue
        context = f"{model._meta.label_lower}:{row[attribute.record_id]}:{attribute.name}"
        plaintext = envelope.open_sealed(domain, blob, context=context)
        updates[attribute.column] = envelope.seal(
            domain, plaintext, context=context, generation=domain.key_generation
        )
        if attribute.index:
            updates[attribute.index] = envelope.index_digest(
                domain, plaintext.decode(), generation=domain.key_generation
            )
    unchanged = {attribute.column: row[attribute.column] for attribute in attributes}
    return model.objects.filter(pk=row["pk"], **unchanged).update(**updates) == 1


def _reseal_model(domain: Domain, model: type[Model], attributes: list[Sealed]) -> int:
    """Re-seal every row of `model` in `domain` still under an older generation; returns how many."""
    batch_size = settings.VOICEID_ROTATION_BATCH_SIZE
    columns = {"pk", *(a.column for a in attributes), *(a.record_id for a in attributes)}
    stale = model.objects.filter(_scope(model, domain), sealed_with__lt=domain.key_generation)
    resealed = 0
    while True:  # passes: a row changed under the job in one pass is taken again in the next
        resealed_this_pass, last_pk = 0, 0
        while rows := list(stale.filter(pk__gt=last_pk).order_by("pk").values(*columns)[:batch_size]):
            with transaction.atomic():
                resealed_this_pass += sum(_reseal_row(domain, model, attributes, row) for row in rows)
            last_pk = rows[-1]["pk"]
            _heartbeat(domain)
            if settings.VOICEID_ROTATION_PAUSE_SECONDS:
                time.sleep(settings.VOICEID_ROTATION_PAUSE_SECONDS)
        resealed += resealed_this_pass
        if not stale.exists():
            return resealed
        if resealed_this_pass == 0:
            raise RotationStuck(
                f"{stale.count()} {model._meta.verbose_name_plural} of domain {domain.domain_id} could not be "
                "re-encrypted: they changed under every attempt."
            )


def _remaining(domain: Domain) -> bool:
    return (
        any(
            model.objects.filter(_scope(model, domain), sealed_with__lt=domain.key_generation).exists()
            for model in SEALED_ATTRIBUTES
        )
        or blobstore.stale_files(domain) > 0
    )


def reencrypt(domain_pk: int, *, final_attempt: bool = True) -> str:
    """Run (or resume) the domain's re-encryption; returns the domain's update status afterwards.

    A failure of the key (old or new) marks the update FAILED on the final attempt, with the reason; on
    earlier attempts it is recorded in the message and raised, for the task to retry later.
    """
    domain = Domain.objects.get(pk=domain_pk)
    if domain.encryption_update_status != Status.IN_PROGRESS:
        return domain.encryption_update_status
    target = domain.key_generation
    try:
        while True:
            counts = {
                model._meta.label: _reseal_model(domain, model, attrs)
                for model, attrs in SEALED_ATTRIBUTES.items()
            }
            # Stored files are written once under a fresh name and never updated, so no compare-and-swap.
            counts["files"] = blobstore.reseal_files(domain)
            logger.info("re-encrypted domain %s to generation %s: %s", domain.domain_id, target, counts)
            with transaction.atomic():
                locked = Domain.objects.select_for_update().get(pk=domain_pk)
                if locked.key_generation != target or locked.encryption_update_status != Status.IN_PROGRESS:
                    return locked.encryption_update_status  # superseded by a newer update
                if _remaining(locked):
                    continue  # a stale write slipped in after its table was done: go round again
                DataKey.objects.filter(domain=locked).exclude(generation=target).delete()
                locked.encryption_update_status = Status.COMPLETED
                locked.encryption_update_message = ""
                locked.encryption_update_heartbeat = None
                locked.save(
                    update_fields=[
                        "encryption_update_status",
                        "encryption_update_message",
                        "encryption_update_heartbeat",
                    ]
                )
                return Status.COMPLETED
    except ServiceError as error:
        if not final_attempt:
            Domain.objects.filter(pk=domain_pk).update(
                encryption_update_message=f"{error.message} The update will be retried.",
                encryption_update_heartbeat=timezone.now(),
            )
            raise
        Domain.objects.filter(pk=domain_pk, key_generation=target).update(
            encryption_update_status=Status.FAILED,
            encryption_update_message=(
                f"{error.message} Fix the key, then repeat UpdateDomain with the same configuration to retry."
            ),
            encryption_update_heartbeat=None,
        )
        return Status.FAILED


def _stalled(now: datetime) -> Q:
    cutoff = now - timedelta(seconds=settings.VOICEID_ROTATION_STALL_SECONDS)
    return Q(encryption_update_status=Status.IN_PROGRESS) & (
        Q(encryption_update_heartbeat__lt=cutoff) | Q(encryption_update_heartbeat__isnull=True)
    )


def resume_stalled(*, now: datetime | None = None) -> list[int]:
    """Start the job again wherever an update is IN_PROGRESS but silent too long (its worker died)."""
    from domains import tasks

    now = now or timezone.now()
    restarted = []
    for domain_pk in Domain.objects.filter(_stalled(now)).values_list("pk", flat=True):
        # Claim it by moving the heartbeat, so two watchdogs never both restart the same job.
        if Domain.objects.filter(_stalled(now), pk=domain_pk).update(
            encryption_update_heartbeat=timezone.now()
        ):
            tasks.reencrypt_domain.delay(domain_pk)
            restarted.append(domain_pk)
    return restarted
