"""Sealed files: stored audio is ciphertext in storage, bound to its path, and follows key rotation."""

from __future__ import annotations

import os

import pytest
from django.core.files.storage import default_storage

from domains import blobstore, envelope, keyproviders, rotation
from domains import services as domain_services
from domains import tasks as domain_tasks
from domains.models import Domain
from jobs.erasure import speaker_prefix
from speakers import services as speaker_services

AUDIO = b"RIFF....WAVEfmt " + os.urandom(64) + b"caller says: my account number is 4471"


@pytest.fixture
def speaker_file(domain_model: Domain) -> str:
    speaker = speaker_services.speaker_get_or_create_pending(domain=domain_model, customer_speaker_id="c-1")
    name = f"{speaker_prefix(domain_model.domain_id, speaker.generated_speaker_id)}utterance-1.sealed"
    blobstore.save(domain_model, name, AUDIO)
    return name


def test_stored_audio_is_ciphertext_in_storage(domain_model: Domain, speaker_file: str) -> None:
    with default_storage.open(speaker_file, "rb") as raw:
        stored = raw.read()

    assert b"account number" not in stored and b"RIFF" not in stored
    assert blobstore.load(domain_model, speaker_file) == AUDIO


def test_a_file_copied_to_another_path_does_not_open(domain_model: Domain, speaker_file: str) -> None:
    copy = speaker_file.replace("utterance-1", "utterance-2")
    with default_storage.open(speaker_file, "rb") as raw:
        default_storage.save(copy, raw)

    with pytest.raises(envelope.SealBroken):
        blobstore.load(domain_model, copy)


def test_a_path_outside_the_domain_folder_is_refused(domain_model: Domain) -> None:
    with pytest.raises(ValueError, match="not a path inside domain"):
        blobstore.save(domain_model, "biometrics/elsewhere/x", b"")


@pytest.mark.django_db(transaction=True)
def test_rotation_reseals_stored_files_under_the_new_key(
    domain_model: Domain, speaker_file: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(domain_tasks.reencrypt_domain, "delay", lambda pk: None)
    domain_services.domain_update(domain_id=domain_model.domain_id, name="unit", kms_key_id="alias/rotated")

    assert rotation.reencrypt(domain_model.pk) == Domain.EncryptionUpdateStatus.COMPLETED

    keyproviders.master_key_set_enabled(key_id="alias/unit", enabled=False)
    envelope.forget_data_keys()
    rotated = Domain.objects.get(pk=domain_model.pk)
    assert blobstore.stale_files(rotated) == 0
    assert blobstore.load(rotated, speaker_file) == AUDIO
