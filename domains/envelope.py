"""Envelope encryption of a domain's biometric data and metadata.

Each domain has a data key (AES-256-GCM) per key generation, stored only wrapped by the master key its
KmsKeyId names (domains.keyproviders). Values are sealed under the domain's current generation:

    blob = 0x01 | generation (4 bytes, big-endian) | nonce (12 bytes) | AES-GCM ciphertext and tag

The associated data binds the blob to the domain and to the record and attribute it belongs to, so it
cannot be moved. Unwrapped data keys are cached per process for VOICEID_DATA_KEY_CACHE_SECONDS: a disabled
master key stops every process within that time; `forget_data_keys` clears this process at once.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.db import transaction

from domains.keyproviders import provider_for
from domains.models import DataKey, Domain
from voiceid_site.exceptions import AccessDenied

_FORMAT = 1
_HEADER = struct.Struct(">BI")
HEADER_BYTES = _HEADER.size
_NONCE_BYTES = 12


class SealBroken(AccessDenied):
    """A blob that does not open: tampered with, or copied from another record, field or domain."""


@dataclass(frozen=True)
class _UnwrappedKey:
    cipher: AESGCM
    index_key: bytes
    expires_at: float


_cache: dict[tuple[int, int], _UnwrappedKey] = {}
_cache_lock = threading.Lock()


def forget_data_keys() -> None:
    with _cache_lock:
        _cache.clear()


def wrapping_context(domain: Domain) -> dict[str, str]:
    return {"aws:voiceid:domain:arn": domain.arn}


def _derive(data_key: bytes, ttl: float) -> _UnwrappedKey:
    index_key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"voiceid.index").derive(data_key)
    return _UnwrappedKey(AESGCM(data_key), index_key, time.monotonic() + ttl)


def _key(domain: Domain, generation: int) -> _UnwrappedKey:
    now = time.monotonic()
    cached = _cache.get((domain.pk, generation))
    if cached is not None and cached.expires_at > now:
        return cached
    data_key = DataKey.objects.filter(domain_id=domain.pk, generation=generation).first()
    if data_key is None:
        raise SealBroken(
            f"Domain {domain.domain_id} has no data key of generation {generation}: the data sealed under it "
            "cannot be read."
        )
    plaintext = provider_for(data_key.kms_key_id).unwrap(
        data_key.kms_key_id, bytes(data_key.wrapped), context=wrapping_context(domain)
    )
    unwrapped = _derive(plaintext, settings.VOICEID_DATA_KEY_CACHE_SECONDS)
    if settings.VOICEID_DATA_KEY_CACHE_SECONDS > 0:
        with _cache_lock:
            _cache[(domain.pk, generation)] = unwrapped
    return unwrapped


def provision(domain: Domain, *, kms_key_id: str, generation: int) -> None:
    """Create the domain's data key of `generation`, wrapped by `kms_key_id` (which must be usable)."""
    plaintext, wrapped = provider_for(kms_key_id).generate_data_key(
        kms_key_id, context=wrapping_context(domain)
    )
    DataKey.objects.create(domain=domain, generation=generation, kms_key_id=kms_key_id, wrapped=wrapped)
    if settings.VOICEID_DATA_KEY_CACHE_SECONDS > 0:
        with _cache_lock:
            _cache[(domain.pk, generation)] = _derive(plaintext, settings.VOICEID_DATA_KEY_CACHE_SECONDS)


def _aad(domain: Domain, context: str) -> bytes:
    return f"voiceid:{domain.domain_id}:{context}".encode()


def generation_for_write(domain: Domain) -> int:
    """The generation to seal new values under, read afresh and, inside a transaction, locked.

    `domain` may have been loaded before a key change committed. Sealing under its stale generation
    could land a row after the rotation finished and deleted that generation's key, leaving the row
    unreadable. Locking the domain row until the writer commits orders every write either before a key
    change (the rotation then sees it) or after (it uses the new generation).

    The lock is PostgreSQL's FOR KEY SHARE: it conflicts only with the FOR UPDATE that a key change and the
    end of a rotation take (domains.selectors / domains.rotation), so writers of one domain do not queue
    for each other, and a writer that then updates the domain row (a speaker count) needs no stronger
    lock that two writers could deadlock upgrading to. SQLite serialises writers anyway and has no row locks.
    """
    connection = transaction.get_connection()
    held = _generation_held.get()
    if connection.in_atomic_block and held is not None and held[0] == domain.pk:
        current = held[1]
    else:
        locks = connection.in_atomic_block and connection.vendor == "postgresql"
        with connection.cursor() as cursor:
            cursor.execute(_KEY_SHARE_SQL if locks else _GENERATION_SQL, [domain.pk])
            row = cursor.fetchone()
        current = row[0] if row else None
    if current is not None:
        domain.key_generation = current
    return domain.key_generation


# Hand-written, as every chunk of a live call runs one (voiceid_site/rows.py says why).
_GENERATION_SQL = f"SELECT key_generation FROM {Domain._meta.db_table} WHERE id = %s"
_KEY_SHARE_SQL = f"{_GENERATION_SQL} FOR KEY SHARE"
# (domain pk, generation) read and locked by `generation_held`, for the seals of one transaction.
_generation_held: ContextVar[tuple[int, int] | None] = ContextVar("voiceid_generation_held", default=None)


@contextmanager
def generation_held(domain: Domain) -> Iterator[int]:
    """Inside a transaction: read and lock the domain's generation once for every value sealed in the block
    (a live call's chunk seals two), instead of once per value. The lock lasts until the transaction ends,
    so the generation cannot change before the block does."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("generation_held() needs a transaction: the generation is locked only inside one")
    generation = generation_for_write(domain)
    token = _generation_held.set((domain.pk, generation))
    try:
        yield generation
    finally:
        _generation_held.reset(token)


def seal(domain: Domain, plaintext: bytes, *, context: str, generation: int | None = None) -> bytes:
    """Seal under `generation`, by default the domain's current one (see generation_for_write)."""
    generation = generation_for_write(domain) if generation is None else generation
    nonce = os.urandom(_NONCE_BYTES)
    header = _HEADER.pack(_FORMAT, generation)
    return (
        header
        + nonce
        + _key(domain, generation).cipher.encrypt(nonce, plaintext, header + _aad(domain, context))
    )


def generation_of(blob: bytes) -> int:
    version, generation = _HEADER.unpack_from(blob)
    if version != _FORMAT:
        raise SealBroken(f"Unknown sealed-data format {version}.")
    return generation


def open_sealed(domain: Domain, blob: bytes, *, context: str) -> bytes:
    generation = generation_of(blob)
    header, nonce = blob[: _HEADER.size], blob[_HEADER.size : _HEADER.size + _NONCE_BYTES]
    try:
        return _key(domain, generation).cipher.decrypt(
            nonce, blob[_HEADER.size + _NONCE_BYTES :], header + _aad(domain, context)
        )
    except InvalidTag:
        raise SealBroken(
            f"Sealed data for {context} in domain {domain.domain_id} does not open: it was altered, or it "
            "belongs to another record or domain."
        ) from None


def seal_text(domain: Domain, value: str, *, context: str, generation: int | None = None) -> bytes:
    return seal(domain, value.encode(), context=context, generation=generation)


def open_text(domain: Domain, blob: bytes, *, context: str) -> str:
    return open_sealed(domain, blob, context=context).decode()


def index_digest(domain: Domain, value: str, *, generation: int | None = None) -> bytes:
    """A keyed hash of `value` for exact-match lookups: equal values match, nothing else is revealed."""
    key = _key(domain, domain.key_generation if generation is None else generation)
    return hmac.new(key.index_key, value.encode(), hashlib.sha256).digest()


def lookup_digests(domain: Domain, value: str) -> list[bytes]:
    """The digests `value` may be stored under: one per live generation while a key update is pending."""
    if not domain.key_update_pending:
        return [index_digest(domain, value)]
    # Every live generation must be readable: a lookup that skipped one could create a duplicate speaker.
    generations = DataKey.objects.filter(domain_id=domain.pk).values_list("generation", flat=True)
    return [index_digest(domain, value, generation=generation) for generation in generations]
