"""ClientToken idempotency: the same token with the same request returns the first result."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from voiceid_site.exceptions import ValidationError


def fingerprint(request: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(request, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def ensure_same_request(*, stored: str, requested: str, client_token: str, operation: str) -> None:
    if stored != requested:
        raise ValidationError(
            f"ClientToken '{client_token}' was already used for a {operation} request with different "
            "parameters. Repeat the original request unchanged, or use a new ClientToken."
        )
