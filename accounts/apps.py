from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_delete, post_migrate, post_save


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "API access"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model

        from accounts.models import AccessKey
        from accounts.roles import ensure_roles

        post_migrate.connect(ensure_roles, dispatch_uid="accounts.ensure_roles")
        # A key's cached copy must not outlive a change to it, or to its user (disabled, deleted), made here.
        for signal in (post_save, post_delete):
            signal.connect(_forget_access_key, sender=AccessKey, dispatch_uid=f"accounts.forget_key.{signal}")
            signal.connect(
                _forget_user_keys, sender=get_user_model(), dispatch_uid=f"accounts.forget_user.{signal}"
            )


def _forget_access_key(sender: type, instance: Any, **kwargs: Any) -> None:
    from accounts.selectors import forget_signing_keys

    forget_signing_keys(instance.access_key_id)


def _forget_user_keys(sender: type, instance: Any, **kwargs: Any) -> None:
    from accounts.selectors import forget_signing_keys

    forget_signing_keys()
