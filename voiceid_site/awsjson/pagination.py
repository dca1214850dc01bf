"""Opaque NextTokens: signed, bound to their operation and arguments, valid for 24 hours (spec §8.3)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.conf import settings
from django.core import signing

from voiceid_site.exceptions import ValidationError

_SALT = "voiceid.awsjson.next-token"
# Page size may change between pages (boto3's PaginationConfig allows it); every other argument may not.
_UNBOUND = {"NextToken", "MaxResults"}


def _fingerprint(operation: str, params: dict[str, Any]) -> str:
    bound = {key: value for key, value in params.items() if key not in _UNBOUND}
    canonical = json.dumps([operation, bound], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def encode(operation: str, params: dict[str, Any], position: Any) -> str:
    payload = {"f": _fingerprint(operation, params), "p": position}
    return signing.TimestampSigner(salt=_SALT).sign_object(payload, compress=True)


def decode(operation: str, params: dict[str, Any]) -> Any:
    """The position carried by params['NextToken'], or None on a first page."""
    token = params.get("NextToken")
    if not token:
        return None
    try:
        payload = signing.TimestampSigner(salt=_SALT).unsign_object(
            token, max_age=settings.VOICEID_NEXT_TOKEN_MAX_AGE_SECONDS
        )
    except signing.SignatureExpired:
        raise ValidationError(
            "NextToken has expired: tokens are valid for 24 hours. Start again without NextToken."
        ) from None
    except (signing.BadSignature, ValueError):
        raise ValidationError(
            "NextToken is invalid: pass back the NextToken of the previous page unchanged."
        ) from None
    if payload.get("f") != _fingerprint(operation, params):
        raise ValidationError(
            f"NextToken was issued for a different {operation} request: keep every argument except "
            "MaxResults the same while paging."
        )
    return payload.get("p")


def page_size(params: dict[str, Any], default: int) -> int:
    return int(params.get("MaxResults") or default)
