"""Identifiers in the shapes Voice ID uses: 22 alphanumerics, or `id#` + 22 for speakers and fraudsters."""

from __future__ import annotations

import secrets
import string

_ALPHABET = string.ascii_letters + string.digits
GENERATED_PREFIX = "id#"


def new_id() -> str:
    """A DomainId / WatchlistId / JobId: 22 random alphanumerics (about 131 bits)."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(22))


def new_generated_id() -> str:
    """A GeneratedSpeakerId / GeneratedFraudsterId / SessionId."""
    return GENERATED_PREFIX + new_id()


def is_generated_id(value: str) -> bool:
    return value.startswith(GENERATED_PREFIX)
