"""Writes to domains and their tags."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

from domains import envelope, rotation, selectors
from domains.keyproviders import provider_for
from domains.models import Domain, Tag
from voiceid_site import idempotency, quotas
from voiceid_site.exceptions import ValidationError

RESERVED_TAG_PREFIX = "aws:"


def _checked_tags(tags: list[dict[str, str]]) -> dict[str, str]:
    checked: dict[str, str] = {}
    for tag in tags:
        key = tag["Key"]
        if key.lower().startswith(RESERVED_TAG_PREFIX):
            raise ValidationError(f"Tag key '{key}' is not allowed: keys starting with 'aws:' are reserved.")
        if key in checked:
            raise ValidationError(f"Tag key '{key}' appears more than once in Tags.")
        checked[key] = tag["Value"]
    return checked


def _ensure_tag_room(*, current: int, adding: int) -> None:
    # TagResource's model has no ServiceQuotaExceededException: too many tags is a bad request there.
    allowed = quotas.limit("tags_per_domain")
    if current + adding > allowed:
        raise ValidationError(
            f"A domain can have at most {allowed} tags; this request would give it {current + adding}."
        )


@transaction.atomic
def domain_create(
    *,
    name: str,
    kms_key_id: str,
    region: str,
    description: str = "",
    tags: list[dict[str, str]] | None = None,
    client_token: str | None = None,
) -> Domain:
    """A new ACTIVE domain with its default watchlist; a repeated ClientToken returns the first domain."""
    from fraudsters import services as fraudster_services

    request_fingerprint = idempotency.fingerprint(
        {"Name": name, "Description": description, "KmsKeyId": kms_key_id, "Tags": tags or []}
    )
    if client_token:
        existing = Domain.objects.filter(client_token=client_token).first()
        if existing is not None:
            idempotency.ensure_same_request(
                stored=existing.request_fingerprint,
                requested=request_fingerprint,
                client_token=client_token,
                operation="CreateDomain",
            )
            return selectors.domain_describe(domain_id=existing.domain_id)
    checked_tags = _checked_tags(tags or [])
    _ensure_tag_room(current=0, adding=len(checked_tags))
    provider_for(kms_key_id).check_usable(kms_key_id)
    quotas.ensure_room("domains_per_account", current=Domain.objects.count(), what="the number of domains")
    try:
        with transaction.atomic():
            domain = Domain.objects.create(
                kms_key_id=kms_key_id,
                region=region,
                client_token=client_token or None,
                request_fingerprint=request_fingerprint,
            )
    except IntegrityError:
        if not client_token:
            raise
        # A concurrent retry with the same ClientToken won the race: answer as it did.
        return domain_create(
            name=name,
            kms_key_id=kms_key_id,
            region=region,
            description=description,
            tags=tags,
            client_token=client_token,
        )
    # The name can be sealed only once the domain (the key's encryption context) and its data key exist.
    envelope.provision(domain, kms_key_id=kms_key_id, generation=domain.key_generation)
    domain.name = name
    domain.description = description
    domain.save(update_fields=["name_sealed", "description_sealed"])
    Tag.objects.bulk_create(Tag(domain=domain, key=key, value=value) for key, value in checked_tags.items())
    fraudster_services.watchlist_create_default(domain=domain)
    return selectors.domain_describe(domain_id=domain.domain_id)


@transaction.atomic
def domain_update(*, domain_id: str, name: str, kms_key_id: str, description: str = "") -> Domain:
    """Replace every attribute, as UpdateDomain does: an omitted description is cleared.

    A new KmsKeyId starts re-encrypting the domain's data under it (domains.rotation); repeating the call
    with the same key after a FAILED update retries it.
    """
    domain = selectors.domain_get_active(domain_id=domain_id, for_update=True)
    if kms_key_id != domain.kms_key_id:
        rotation.rotation_start(domain, new_kms_key_id=kms_key_id)
    elif domain.encryption_update_status == Domain.EncryptionUpdateStatus.FAILED:
        rotation.rotation_retry(domain)
    # Sealed under the newest generation, so a new key never waits on the old one for these two.
    domain.name = name
    domain.description = description
    domain.updated_at = timezone.now()
    domain.save(update_fields=["name_sealed", "description_sealed", "updated_at"])
    return selectors.domain_describe(domain_id=domain_id)


@transaction.atomic
def domain_session_defaults_update(
    *, domain_id: str, acceptance_threshold: int, risk_threshold: int, minimum_speech_seconds: int
) -> Domain:
    """The thresholds a session of the domain applies when StartSession does not name its own."""
    problems = [
        f"{name} must be between {low} and {high}, got {value}"
        for name, value, low, high in (
            ("AcceptanceThreshold", acceptance_threshold, 0, 100),
            ("RiskThreshold", risk_threshold, 0, 100),
            ("MinimumSpeechInSeconds", minimum_speech_seconds, 5, 10),
        )
        if not low <= value <= high
    ]
    if problems:
        raise ValidationError("; ".join(problems) + ".")
    domain = selectors.domain_get_active(domain_id=domain_id, for_update=True)
    domain.session_acceptance_threshold = acceptance_threshold
    domain.session_risk_threshold = risk_threshold
    domain.session_minimum_speech_seconds = minimum_speech_seconds
    domain.updated_at = timezone.now()
    domain.save(
        update_fields=[
            "session_acceptance_threshold",
            "session_risk_threshold",
            "session_minimum_speech_seconds",
            "updated_at",
        ]
    )
    return domain


@transaction.atomic
def domain_delete(*, domain_id: str) -> Domain:
    """Soft delete: SUSPENDED, still described and listed, refusing new data. Repeating it is harmless."""
    domain = selectors.domain_get(domain_id=domain_id)
    if domain.status != Domain.Status.SUSPENDED:
        now = timezone.now()
        domain.status = Domain.Status.SUSPENDED
        domain.suspended_at = now
        domain.updated_at = now
        domain.save(update_fields=["status", "suspended_at", "updated_at"])
    return domain


@transaction.atomic
def domain_tag(*, domain: Domain, tags: list[dict[str, str]]) -> None:
    """Add tags or overwrite their values."""
    selectors.ensure_active(domain)
    checked = _checked_tags(tags)
    existing = set(domain.tags.values_list("key", flat=True))
    _ensure_tag_room(current=len(existing), adding=len(set(checked) - existing))
    for key, value in checked.items():
        Tag.objects.update_or_create(domain=domain, key=key, defaults={"value": value})


@transaction.atomic
def domain_untag(*, domain: Domain, keys: list[str]) -> None:
    """Remove tags by key; keys the domain does not have are ignored."""
    selectors.ensure_active(domain)
    for key in keys:
        if key.lower().startswith(RESERVED_TAG_PREFIX):
            raise ValidationError(f"Tag key '{key}' is not allowed: keys starting with 'aws:' are reserved.")
    domain.tags.filter(key__in=keys).delete()
