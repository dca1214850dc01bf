"""Issuing, disabling and recording the use of API access keys."""

from __future__ import annotations

import secrets
import string
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from accounts import selectors
from accounts.models import AccessKey
from accounts.selectors import SECRET_PURPOSE
from voiceid_site import secretbox

_ID_ALPHABET = string.ascii_uppercase + string.digits
# Writing last_used_at on every call would turn every read into a write; a minute's accuracy is plenty.
_LAST_USED_RESOLUTION = timedelta(minutes=1)


def _new_access_key_id() -> str:
    return "VKIA" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(16))


@transaction.atomic
def access_key_create(*, user: AbstractBaseUser, description: str = "") -> tuple[AccessKey, str]:
    """A new key pair for `user`. The secret is returned once; store it, it is not shown again."""
    access_key_id = _new_access_key_id()
    secret = secrets.token_urlsafe(30)
    access_key = AccessKey.objects.create(
        user=user,
        access_key_id=access_key_id,
        sealed_secret=secretbox.seal(secret, purpose=SECRET_PURPOSE, bound_to=access_key_id),
        description=description,
    )
    return access_key, secret


@transaction.atomic
def access_key_create_for_username(*, username: str, description: str = "") -> tuple[AccessKey, str]:
    """Create the user if needed (as an API-only user without a password), then issue a key."""
    user_model = get_user_model()
    user, created = user_model.objects.get_or_create(username=username)
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return access_key_create(user=user, description=description)


def access_key_set_active(*, access_key: AccessKey, active: bool) -> AccessKey:
    AccessKey.objects.filter(pk=access_key.pk).update(is_active=active)
    access_key.is_active = active
    selectors.forget_signing_keys(access_key.access_key_id)  # an UPDATE sends no post_save
    return access_key


def access_key_delete(*, access_key: AccessKey) -> None:
    access_key.delete()


def access_key_mark_used(*, access_key: AccessKey) -> None:
    now = timezone.now()
    if access_key.last_used_at is None or now - access_key.last_used_at >= _LAST_USED_RESOLUTION:
        AccessKey.objects.filter(pk=access_key.pk).update(last_used_at=now)
        access_key.last_used_at = now
