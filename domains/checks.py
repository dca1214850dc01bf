"""System checks for encryption settings: `manage.py check --deploy` reports them before traffic does."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register


@register(Tags.security)
def check_master_keys(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    from domains.keyproviders import configured_master_keys

    try:
        configured_master_keys()
    except (OSError, ValueError) as error:
        return [
            Error(
                f"The configured master keys cannot be read: {error}",
                hint="VOICEID_LOCAL_MASTER_KEYS is `key-id=<base64 of 32 bytes>,…`; "
                "VOICEID_LOCAL_MASTER_KEYS_FILE is a JSON object of the same pairs.",
                id="voiceid.E001",
            )
        ]
    return []


@register(Tags.security, deploy=True)
def check_key_auto_creation(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    if settings.VOICEID_KMS_AUTO_CREATE:
        return [
            Warning(
                "VOICEID_KMS_AUTO_CREATE is on: any unknown KmsKeyId, a typo included, silently gets a new "
                "local master key.",
                hint="Set VOICEID_KMS_AUTO_CREATE=false and create keys in the admin (Encryption keys) or "
                "configure them in VOICEID_LOCAL_MASTER_KEYS_FILE.",
                id="voiceid.W001",
            )
        ]
    return []
