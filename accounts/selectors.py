"""Reads of API access keys."""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings

from accounts.models import AccessKey
from voiceid_site import secretbox

SECRET_PURPOSE = b"voiceid.access-key-secret"


@dataclass(frozen=True)
class SigningKey:
    """An access key (with its user) and its secret, as the SigV4 check needs them."""

    access_key: AccessKey
    secret: str


# Every API request looks its key up and opens the sealed secret: a query and a decryption that a live call's
# four chunks a second would pay each time. Each process keeps what it read for
# VOICEID_ACCESS_KEY_CACHE_SECONDS; a change made in this process drops the entry at once
# (forget_signing_keys).
# Unknown keys are not cached, so a key issued a moment ago works on its first request.
_signing_keys: dict[str, tuple[float, SigningKey]] = {}


def signing_key(*, access_key_id: str) -> SigningKey | None:
    """The key `access_key_id` names (None: no such key), from this process's cache while it is fresh."""
    now = time.monotonic()
    cached = _signing_keys.get(access_key_id)
    if cached is not None and cached[0] > now:
        return cached[1]
    access_key = AccessKey.objects.select_related("user").filter(access_key_id=access_key_id).first()
    if access_key is None:
        _signing_keys.pop(access_key_id, None)
        return None
    found = SigningKey(access_key=access_key, secret=access_key_secret(access_key))
    lifetime = settings.VOICEID_ACCESS_KEY_CACHE_SECONDS
    if lifetime > 0:
        _signing_keys[access_key_id] = (now + lifetime, found)
    return found


def forget_signing_keys(access_key_id: str | None = None) -> None:
    """Drop one cached key (after it changed here) or, with no id, all of them (a user changed)."""
    if access_key_id is None:
        _signing_keys.clear()
    else:
        _signing_keys.pop(access_key_id, None)


def access_key_secret(access_key: AccessKey) -> str:
    return secretbox.open_sealed(
        bytes(access_key.sealed_secret), purpose=SECRET_PURPOSE, bound_to=access_key.access_key_id
    )
