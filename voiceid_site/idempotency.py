"""ClientToken idempotency: the same token with the same request returns the first result."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from voiceid_site import secretbox
from voiceid_site.exceptions import ValidationError


def fingerprint(request: dict[str, Any]) -> str:
    # Keyed, because requests carry names and descriptions that are stored only encrypted: a plain hash
    # would let anyone holding the database confirm a guessed name.
    key = secretbox.derived_key(b"voiceid.idempotency")
    payload = json.dumps(request, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(key, payload, hashlib.sha256).hexdigest()


def ensure_same_request(*, stored: str, requested: str, client_token: str, operation: str) -> None:
    if stored != requested:
        raise ValidationError(
            f"ClientToken '{client_token}' was already used for a {operation} request with different "
            "parameters. Repeat the original request unchanged, or use a new ClientToken."
        )
