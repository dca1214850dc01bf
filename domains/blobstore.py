"""Sealed files: biometric audio kept in storage only as ciphertext under its domain's data key.

Files live under the domain's folder (jobs.erasure: `biometrics/<DomainId>/…`) in `default_storage`, a
local folder or S3. Each is one envelope blob (domains.envelope) whose encryption context is its path, so
a file copied to another path, speaker or domain fails to open. Key rotation re-seals them in place with
`reseal_files`; an overwrite is atomic (a rename locally, a single PUT on S3), so a killed job leaves
either the old or the new file, both readable until the rotation completes.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from domains import envelope
from domains.models import Domain
from jobs.erasure import domain_prefix


def _context(name: str) -> str:
    return f"file:{name}"


def _checked_name(domain: Domain, name: str) -> str:
    if not name.startswith(domain_prefix(domain.domain_id)) or ".." in name.split("/"):
        raise ValueError(f"{name!r} is not a path inside domain {domain.domain_id}'s storage folder.")
    return name


def _write(name: str, data: bytes) -> None:
    try:
        target = default_storage.path(name)
    except NotImplementedError:
        # Remote storage (S3): one PUT replaces the object atomically; overwriting must be on (the
        # django-storages default), or a second name would be invented.
        if default_storage.exists(name):
            default_storage.delete(name)
        default_storage.save(name, ContentFile(data))
        return
    os.makedirs(os.path.dirname(target), exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=os.path.dirname(target), prefix=".sealing-")
    with os.fdopen(handle, "wb") as out:
        out.write(data)
    os.replace(temporary, target)


def save(domain: Domain, name: str, data: bytes) -> None:
    """Store `data` at `name` (inside the domain's folder), sealed under the domain's current key."""
    _write(_checked_name(domain, name), envelope.seal(domain, data, context=_context(name)))


def load(domain: Domain, name: str) -> bytes:
    with default_storage.open(_checked_name(domain, name), "rb") as sealed:
        return envelope.open_sealed(domain, sealed.read(), context=_context(name))


def _walk(folder: str) -> Iterator[str]:
    try:
        directories, files = default_storage.listdir(folder)
    except FileNotFoundError:
        return
    for file_name in files:
        if not file_name.startswith(".sealing-"):
            yield f"{folder}{file_name}"
    for directory in directories:
        yield from _walk(f"{folder}{directory}/")


def reseal_files(domain: Domain) -> int:
    """Re-seal every file of the domain still under an older data key; returns how many were rewritten."""
    rewritten = 0
    for name in _walk(domain_prefix(domain.domain_id)):
        with default_storage.open(name, "rb") as sealed:
            blob = sealed.read()
        if envelope.generation_of(blob) == domain.key_generation:
            continue
        plaintext = envelope.open_sealed(domain, blob, context=_context(name))
        _write(
            name, envelope.seal(domain, plaintext, context=_context(name), generation=domain.key_generation)
        )
        rewritten += 1
    return rewritten


def stale_files(domain: Domain) -> int:
    """How many of the domain's files are still sealed under an older data key."""
    stale = 0
    for name in _walk(domain_prefix(domain.domain_id)):
        with default_storage.open(name, "rb") as sealed:
            stale += envelope.generation_of(sealed.read(envelope.HEADER_BYTES)) != domain.key_generation
    return stale
