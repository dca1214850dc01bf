"""Reads of API access keys."""

from __future__ import annotations

from accounts.models import AccessKey
from voiceid_site import secretbox

SECRET_PURPOSE = b"voiceid.access-key-secret"


def access_key_for_signing(*, access_key_id: str) -> AccessKey | None:
    return AccessKey.objects.select_related("user").filter(access_key_id=access_key_id).first()


def access_key_secret(access_key: AccessKey) -> str:
    return secretbox.open_sealed(
        bytes(access_key.sealed_secret), purpose=SECRET_PURPOSE, bound_to=access_key.access_key_id
    )
