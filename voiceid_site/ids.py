"""Identifiers in the shapes Voice ID uses: 22 alphanumerics, or `id#` + 22 for speakers and fraudsters."""

from __future__ import annotations

import secrets
import string

_ALPHABET = string.ascii_letters + string.digits
GENERATED_PREFIX = "id#"


_ID_LENGTH = 22
# Bytes below this are used (b % 62); the rest are dropped, so every letter is equally likely.
_UNBIASED_BELOW = 256 - 256 % len(_ALPHABET)


def new_id() -> str:
    """A DomainId / WatchlistId / JobId: 22 random alphanumerics (about 131 bits)."""
    # One read of the system's randomness per id (secrets.choice made one per letter: 22 system calls, and
    # every chunk of a live call gets an id).
    letters: list[str] = []
    while len(letters) < _ID_LENGTH:
        letters += [
            _ALPHABET[byte % len(_ALPHABET)] for byte in secrets.token_bytes(32) if byte < _UNBIASED_BELOW
        ]
    return "".join(letters[:_ID_LENGTH])


def new_generated_id() -> str:
    """A GeneratedSpeakerId / GeneratedFraudsterId / SessionId."""
    return GENERATED_PREFIX + new_id()


def is_generated_id(value: str) -> bool:
    return value.startswith(GENERATED_PREFIX)
