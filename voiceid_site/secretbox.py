"""AES-256-GCM sealing of server-side secrets (API secret keys) under a key derived from SECRET_KEY.

Binding each ciphertext to its row through associated data means a value copied to another row fails to
open. Rotating SECRET_KEY makes existing API secrets unreadable: issue new access keys after a rotation.
"""

from __future__ import annotations

import os
from functools import cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

_NONCE_BYTES = 12


@cache
def _derive(secret_key: str, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"voiceid.secretbox", info=purpose).derive(
        secret_key.encode()
    )


def derived_key(purpose: bytes) -> bytes:
    """A 256-bit key for one purpose, derived from SECRET_KEY (for MACs that must not be guessable)."""
    return _derive(settings.SECRET_KEY, purpose)


@cache
def _cipher(secret_key: str, purpose: bytes) -> AESGCM:
    return AESGCM(_derive(secret_key, purpose))


def seal(plaintext: str, *, purpose: bytes, bound_to: str) -> bytes:
    nonce = os.urandom(_NONCE_BYTES)
    return nonce + _cipher(settings.SECRET_KEY, purpose).encrypt(nonce, plaintext.encode(), bound_to.encode())


def open_sealed(sealed: bytes, *, purpose: bytes, bound_to: str) -> str:
    nonce, ciphertext = sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:]
    return _cipher(settings.SECRET_KEY, purpose).decrypt(nonce, ciphertext, bound_to.encode()).decode()
