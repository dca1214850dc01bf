"""Key providers: where a domain's `KmsKeyId` points, and how data keys are wrapped and unwrapped there.

Two providers exist. The local keyring (`domains.models.MasterKey`) is the default for every key id.
AWS KMS takes over the ids that are KMS key or alias ARNs when `VOICEID_AWS_KMS=true`; it talks to
`VOICEID_KMS_ENDPOINT_URL` (any KMS-compatible endpoint) or AWS itself, with boto3's usual credentials.
Both bind every data key to its domain's ARN, the encryption context Voice ID used.
"""

from __future__ import annotations

import base64
import json
import logging
import os
from functools import cache
from typing import Any, Protocol

import regex
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from domains.models import MasterKey
from voiceid_site import secretbox
from voiceid_site.exceptions import AccessDenied, ValidationError

logger = logging.getLogger(__name__)

DATA_KEY_BYTES = 32
_NONCE_BYTES = 12
_KEYRING_PURPOSE = b"voiceid.keyring"
_KMS_ARN = regex.compile(r"^arn:aws[a-z-]*:kms:(?P<region>[a-z0-9-]+):[0-9]{12}:(?:key|alias)/.+\Z")
# What AWS KMS would take as a key's name: an alias (alias/ then letters, digits, '/', '_', '-'), a key id
# (a UUID, or mrk-… for a multi-Region key) or a key or alias ARN. Only such a name is created on first use:
# a typo with a control character in it is a mistake to point out, not a key to make.
_CREATABLE_KEY_ID = regex.compile(
    r"^(?:alias/[A-Za-z0-9/_-]{1,250}|(?:mrk-)?[A-Za-z0-9-]{1,64}"
    r"|arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:(?:key/(?:mrk-)?[A-Za-z0-9-]{1,64}|alias/[A-Za-z0-9/_-]{1,250}))\Z"
)


class KeyUnavailable(AccessDenied):
    """The master key cannot wrap or unwrap: missing, disabled, or refused by KMS. Nothing is lost."""

    def __init__(self, key_id: str, reason: str) -> None:
        super().__init__(f"The KMS key {key_id} cannot be used: {reason}")
        self.key_id = key_id
        self.reason = reason


class KeyProvider(Protocol):
    def check_usable(self, key_id: str) -> None:
        """Raise ValidationError if the key cannot serve a new domain or key update."""

    def generate_data_key(self, key_id: str, *, context: dict[str, str]) -> tuple[bytes, bytes]:
        """A fresh data key: (plaintext, wrapped)."""

    def unwrap(self, key_id: str, wrapped: bytes, *, context: dict[str, str]) -> bytes: ...


def _aad(context: dict[str, str]) -> bytes:
    return json.dumps(context, sort_keys=True, separators=(",", ":")).encode()


def configured_master_keys() -> dict[str, bytes]:
    """Key id → material from VOICEID_LOCAL_MASTER_KEYS (`id=base64,…`) and VOICEID_LOCAL_MASTER_KEYS_FILE."""
    return dict(
        _configured_master_keys(settings.VOICEID_LOCAL_MASTER_KEYS, settings.VOICEID_LOCAL_MASTER_KEYS_FILE)
    )


@cache
def _configured_master_keys(inline: str, path: str) -> tuple[tuple[str, bytes], ...]:
    entries: dict[str, str] = {}
    if path:
        with open(path) as key_file:
            entries.update(json.load(key_file))
    for item in filter(None, (part.strip() for part in inline.split(","))):
        key_id, _, encoded = item.partition("=")
        entries[key_id.strip()] = encoded.strip()
    keys = []
    for key_id, encoded in entries.items():
        material = base64.b64decode(encoded, validate=True)
        if len(material) != DATA_KEY_BYTES:
            raise ValueError(
                f"Master key {key_id}: expected {DATA_KEY_BYTES} bytes of base64, got {len(material)}."
            )
        keys.append((key_id, material))
    return tuple(keys)


class LocalKeyring:
    """Master keys held by voiceid itself; the material never leaves this module."""

    def _material(self, key_id: str) -> bytes:
        row = MasterKey.objects.filter(key_id=key_id).first()
        if row is not None and not row.enabled:
            raise KeyUnavailable(key_id, "it is disabled in the local keyring. Enable it to restore service.")
        configured = configured_master_keys().get(key_id)
        if configured is not None:
            return configured
        if row is None or row.material_sealed is None:
            raise KeyUnavailable(
                key_id,
                "it is not in the local keyring. It was removed from the key file or the environment, "
                "or the database was restored without it.",
            )
        return base64.b64decode(
            secretbox.open_sealed(bytes(row.material_sealed), purpose=_KEYRING_PURPOSE, bound_to=key_id)
        )

    def check_usable(self, key_id: str) -> None:
        row = MasterKey.objects.filter(key_id=key_id).first()
        if row is None:
            if key_id in configured_master_keys():
                _register_configured(key_id)
                return
            if not settings.VOICEID_KMS_AUTO_CREATE:
                raise ValidationError(
                    f"KmsKeyId {key_id} is not a key of the local keyring. Create it in the admin "
                    "(Encryption keys), add it to VOICEID_LOCAL_MASTER_KEYS_FILE, or set "
                    "VOICEID_KMS_AUTO_CREATE=true to create unknown keys on first use."
                )
            if not _CREATABLE_KEY_ID.match(key_id):
                raise ValidationError(
                    f"KmsKeyId {ascii(key_id)[1:-1]!r} is not a key the local keyring has, nor a KMS key name to "
                    "create on first use: give an alias (alias/ followed by letters, digits, '/', '_' or '-'), "
                    "a key id or a KMS key ARN."
                )
            master_key_create(key_id=key_id, origin=MasterKey.Origin.AUTO_CREATED)
            logger.warning("created local master key %s on first use (VOICEID_KMS_AUTO_CREATE)", key_id)
            return
        if not row.enabled:
            raise ValidationError(f"KmsKeyId {key_id} is disabled in the local keyring: enable it first.")

    def generate_data_key(self, key_id: str, *, context: dict[str, str]) -> tuple[bytes, bytes]:
        plaintext = os.urandom(DATA_KEY_BYTES)
        nonce = os.urandom(_NONCE_BYTES)
        wrapped = nonce + AESGCM(self._material(key_id)).encrypt(nonce, plaintext, _aad(context))
        return plaintext, wrapped

    def unwrap(self, key_id: str, wrapped: bytes, *, context: dict[str, str]) -> bytes:
        material = self._material(key_id)
        try:
            return AESGCM(material).decrypt(wrapped[:_NONCE_BYTES], wrapped[_NONCE_BYTES:], _aad(context))
        except InvalidTag:
            raise KeyUnavailable(
                key_id, "the domain's data key was not wrapped by this key (was its material replaced?)."
            ) from None


class AwsKms:
    """AWS KMS, or anything speaking its API at VOICEID_KMS_ENDPOINT_URL."""

    _REFUSALS = {
        "DisabledException": "it is disabled in KMS. Enable it to restore service.",
        "NotFoundException": "KMS has no such key.",
        "KMSInvalidStateException": "KMS reports it is not usable (pending deletion or import?).",
        "AccessDeniedException": "KMS denied voiceid access to it (check the key policy and grants).",
        "InvalidCiphertextException": "KMS could not decrypt the domain's data key with it.",
        "IncorrectKeyException": "the domain's data key was not wrapped by this key.",
    }

    def _client(self, key_id: str) -> Any:
        match = _KMS_ARN.match(key_id)
        region = match["region"] if match else None
        return _kms_client(region, settings.VOICEID_KMS_ENDPOINT_URL or None)

    def _call(self, key_id: str, method: str, **kwargs: Any) -> dict[str, Any]:
        import botocore.exceptions

        try:
            return getattr(self._client(key_id), method)(**kwargs)
        except botocore.exceptions.ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            reason = self._REFUSALS.get(code, f"KMS answered {code}: {error}")
            raise KeyUnavailable(key_id, reason) from None
        except botocore.exceptions.BotoCoreError as error:
            raise KeyUnavailable(key_id, f"KMS could not be reached ({error}).") from None

    def check_usable(self, key_id: str) -> None:
        try:
            metadata = self._call(key_id, "describe_key", KeyId=key_id)["KeyMetadata"]
        except KeyUnavailable as error:
            raise ValidationError(f"KmsKeyId {key_id} cannot be used: {error.reason}") from None
        if metadata.get("KeySpec", "SYMMETRIC_DEFAULT") != "SYMMETRIC_DEFAULT":
            raise ValidationError(f"KmsKeyId {key_id} is asymmetric: Voice ID domains need a symmetric key.")
        if metadata.get("KeyState") != "Enabled":
            raise ValidationError(f"KmsKeyId {key_id} is {metadata.get('KeyState')} in KMS: enable it first.")

    def generate_data_key(self, key_id: str, *, context: dict[str, str]) -> tuple[bytes, bytes]:
        answer = self._call(
            key_id, "generate_data_key", KeyId=key_id, KeySpec="AES_256", EncryptionContext=context
        )
        return answer["Plaintext"], answer["CiphertextBlob"]

    def unwrap(self, key_id: str, wrapped: bytes, *, context: dict[str, str]) -> bytes:
        return self._call(key_id, "decrypt", KeyId=key_id, CiphertextBlob=wrapped, EncryptionContext=context)[
            "Plaintext"
        ]


@cache
def _kms_client(region: str | None, endpoint_url: str | None) -> Any:
    import boto3

    return boto3.session.Session().client("kms", region_name=region or "us-east-1", endpoint_url=endpoint_url)


_LOCAL = LocalKeyring()
_AWS = AwsKms()


def provider_for(key_id: str) -> KeyProvider:
    if settings.VOICEID_AWS_KMS and _KMS_ARN.match(key_id):
        return _AWS
    return _LOCAL


# The local keyring's writes (the admin calls these).


def _register_configured(key_id: str) -> None:
    try:
        with transaction.atomic():
            MasterKey.objects.create(key_id=key_id, origin=MasterKey.Origin.CONFIGURED)
    except IntegrityError:
        pass  # registered concurrently


@transaction.atomic
def master_key_create(
    *, key_id: str, description: str = "", origin: str = MasterKey.Origin.CREATED
) -> MasterKey:
    """A new local master key with fresh random material, stored sealed under SECRET_KEY."""
    key_id = key_id.strip()
    if not key_id:
        raise ValidationError("A key id is required.")
    if len(key_id) > 2048:
        raise ValidationError("A key id is at most 2048 characters long, as KmsKeyId is.")
    if MasterKey.objects.filter(key_id=key_id).exists() or key_id in configured_master_keys():
        raise ValidationError(f"The local keyring already has a key {key_id}.")
    material = base64.b64encode(os.urandom(DATA_KEY_BYTES)).decode()
    return MasterKey.objects.create(
        key_id=key_id,
        description=description,
        origin=origin,
        material_sealed=secretbox.seal(material, purpose=_KEYRING_PURPOSE, bound_to=key_id),
    )


@transaction.atomic
def master_key_set_enabled(*, key_id: str, enabled: bool) -> MasterKey:
    """Disable (every domain under the key is refused, nothing is lost) or enable again."""
    from domains import envelope

    row = MasterKey.objects.select_for_update().filter(key_id=key_id).first()
    if row is None:
        if key_id not in configured_master_keys():
            raise ValidationError(f"The local keyring has no key {key_id}.")
        row = MasterKey.objects.create(key_id=key_id, origin=MasterKey.Origin.CONFIGURED)
    row.enabled = enabled
    row.updated_at = timezone.now()
    row.save(update_fields=["enabled", "updated_at"])
    # This process stops using (or may use again) the key at once; others within the cache lifetime.
    transaction.on_commit(envelope.forget_data_keys)
    return row


@transaction.atomic
def master_key_update_description(*, key_id: str, description: str) -> MasterKey:
    row = MasterKey.objects.select_for_update().get(key_id=key_id)
    row.description = description
    row.updated_at = timezone.now()
    row.save(update_fields=["description", "updated_at"])
    return row


def master_key_sync_configured() -> int:
    """Register configured keys so the admin lists them; returns how many were new."""
    known = set(MasterKey.objects.values_list("key_id", flat=True))
    new = [key_id for key_id in configured_master_keys() if key_id not in known]
    for key_id in new:
        _register_configured(key_id)
    return len(new)
