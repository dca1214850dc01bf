"""Where biometric audio lives in storage, and how it is erased (spec §5/§6).

Layout under `default_storage` (FileSystemStorage in VAR_DIR/media, or S3Storage in production):

    biometrics/<DomainId>/                                  everything of one domain
    biometrics/<DomainId>/speakers/<GeneratedSpeakerId>/     one speaker's audio
    biometrics/<DomainId>/fraudsters/<GeneratedFraudsterId>/ one fraudster's audio

Generated ids look like `id#` + 22 alphanumerics. `#` starts the fragment of a URL and is awkward in
shells and S3 consoles, so in paths it is written as `-`: `id#AbC…` becomes `id-AbC…`. Only the exact id
shapes Voice ID issues are accepted, so no id can climb out of its folder (`..`, `/`) or reach another's.
"""

from __future__ import annotations

import regex
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction

from jobs.models import StorageErasure

ROOT = "biometrics/"

# The shapes of the voice-id model's DomainId and GeneratedSpeakerId / GeneratedFraudsterId.
_DOMAIN_ID = regex.compile(r"[a-zA-Z0-9]{22}")
_GENERATED_ID = regex.compile(r"id#[a-zA-Z0-9]{22}")


def _checked(value: str, shape: regex.Pattern[str], what: str) -> str:
    if not shape.fullmatch(value):
        raise ValueError(f"{value!r} is not a {what}, so it names no storage folder.")
    return value


def domain_prefix(domain_id: str) -> str:
    """The folder holding every stored file of a domain."""
    return f"{ROOT}{_checked(domain_id, _DOMAIN_ID, 'DomainId')}/"


def speaker_prefix(domain_id: str, generated_speaker_id: str) -> str:
    """The folder holding one speaker's audio; `#` in the generated id becomes `-`."""
    speaker = _checked(generated_speaker_id, _GENERATED_ID, "GeneratedSpeakerId").replace("#", "-")
    return f"{domain_prefix(domain_id)}speakers/{speaker}/"


def fraudster_prefix(domain_id: str, generated_fraudster_id: str) -> str:
    """The folder holding one fraudster's audio; `#` in the generated id becomes `-`."""
    fraudster = _checked(generated_fraudster_id, _GENERATED_ID, "GeneratedFraudsterId").replace("#", "-")
    return f"{domain_prefix(domain_id)}fraudsters/{fraudster}/"


def schedule_erasure(*, prefix: str, reason: str) -> None:
    """Have the purge sweeper erase everything under `prefix`; scheduling a pending prefix again is a no-op.

    Runs inside the caller's transaction, so the erasure is scheduled if and only if the deletion that
    asked for it commits. Files are erased later, not here: storage is not transactional, and a rolled
    back deletion must not have lost its audio.
    """
    _ensure_erasable(prefix)
    if StorageErasure.objects.filter(prefix=prefix, erased_at__isnull=True).exists():
        return
    try:
        # A savepoint, so that losing a race to the same pending prefix leaves the caller's transaction
        # usable: the unique constraint on pending prefixes made the other transaction's row the one.
        with transaction.atomic():
            StorageErasure.objects.create(prefix=prefix, reason=reason)
    except IntegrityError:
        if not StorageErasure.objects.filter(prefix=prefix, erased_at__isnull=True).exists():
            raise


def _ensure_erasable(prefix: str) -> None:
    # A wrong prefix ("" or "biometrics/") would erase every domain's audio: only a domain folder or one
    # below it may be erased.
    parts = prefix.split("/")
    if (
        not prefix.startswith(ROOT)
        or not prefix.endswith("/")
        or len(parts) < 3
        or not _DOMAIN_ID.fullmatch(parts[1])
        or any(part in {"", ".", ".."} for part in parts[1:-1])
    ):
        raise ValueError(f"{prefix!r} is not a folder under a domain's {ROOT}<DomainId>/ folder.")


def erase_prefix(prefix: str) -> int:
    """Delete every stored file under `prefix` and return how many there were; a missing prefix gives 0.

    Uses only `listdir` and `delete`, which both FileSystemStorage and S3Storage provide: the walk goes
    folder by folder and deletes as it goes, so even a domain with millions of files is never listed
    whole. Emptied folders are deleted last (on S3 that removes any folder marker object, if there is one).
    """
    _ensure_erasable(prefix)
    deleted = 0
    to_list = [prefix]
    listed: list[str] = []
    while to_list:
        folder = to_list.pop()
        try:
            subfolders, files = default_storage.listdir(folder)
        except FileNotFoundError:
            # FileSystemStorage for a folder that was never written (S3 simply lists nothing).
            continue
        for name in files:
            default_storage.delete(folder + name)
            deleted += 1
        to_list.extend(f"{folder}{sub}/" for sub in subfolders)
        listed.append(folder)
    # Each folder was listed before its subfolders, so the reverse order empties children first.
    for folder in reversed(listed):
        default_storage.delete(folder)
    return deleted
