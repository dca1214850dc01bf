"""Storage paths and erase_prefix, on FileSystemStorage and on a storage with S3's flat keys."""

from __future__ import annotations

import posixpath

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import Storage, default_storage

from jobs import erasure
from jobs.erasure import domain_prefix, erase_prefix, fraudster_prefix, schedule_erasure, speaker_prefix

from .conftest import write_file

DOMAIN_ID = "Dom4in0123456789abcdef"
OTHER_DOMAIN_ID = "Other0123456789abcdefg"
SPEAKER_ID = "id#Sp3aker0123456789abcde"
FRAUDSTER_ID = "id#Fraud0123456789abcdefg"


def test_paths_put_each_owner_in_its_own_folder_without_a_hash_sign():
    assert domain_prefix(DOMAIN_ID) == f"biometrics/{DOMAIN_ID}/"
    assert (
        speaker_prefix(DOMAIN_ID, SPEAKER_ID) == f"biometrics/{DOMAIN_ID}/speakers/id-Sp3aker0123456789abcde/"
    )
    assert (
        fraudster_prefix(DOMAIN_ID, FRAUDSTER_ID)
        == f"biometrics/{DOMAIN_ID}/fraudsters/id-Fraud0123456789abcdefg/"
    )


@pytest.mark.parametrize(
    "make",
    [
        lambda: domain_prefix("../" + DOMAIN_ID[3:]),
        lambda: domain_prefix(""),
        lambda: speaker_prefix(DOMAIN_ID, "customer-123"),
        lambda: speaker_prefix(DOMAIN_ID, "id#../../../../etc/passwd1"),
        lambda: fraudster_prefix(DOMAIN_ID, "id#" + "a" * 21 + "/"),
    ],
)
def test_paths_refuse_anything_but_voice_id_shaped_ids(make):
    with pytest.raises(ValueError):
        make()


@pytest.mark.parametrize("prefix", ["", "biometrics/", "biometrics", f"biometrics/{DOMAIN_ID}/../", "media/"])
def test_erase_prefix_refuses_to_erase_more_than_one_domain(prefix):
    with pytest.raises(ValueError):
        erase_prefix(prefix)


def test_schedule_erasure_refuses_a_prefix_outside_a_domain():
    with pytest.raises(ValueError):
        schedule_erasure(prefix="biometrics/", reason="oops")


def test_erase_prefix_deletes_nested_files_on_the_file_system_and_nothing_beside_them(media):
    prefix = speaker_prefix(DOMAIN_ID, SPEAKER_ID)
    write_file(f"{prefix}a.wav")
    write_file(f"{prefix}deep/er/b.wav")
    beside = write_file(f"{domain_prefix(DOMAIN_ID)}speakers/id-other0123456789abcdefg/c.wav")
    elsewhere = write_file(f"{domain_prefix(OTHER_DOMAIN_ID)}d.wav")

    assert erase_prefix(prefix) == 2

    assert not (media / prefix).exists()
    assert default_storage.exists(beside) and default_storage.exists(elsewhere)


def test_erase_prefix_of_a_folder_never_written_deletes_nothing():
    assert erase_prefix(domain_prefix(DOMAIN_ID)) == 0


class FlatKeyStorage(Storage):
    """Keys without folders, listed the way django-storages' S3Storage lists a bucket (Delimiter="/")."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def _save(self, name, content):
        self.objects[name] = content.read()
        return name

    def exists(self, name):
        return name in self.objects

    def delete(self, name):
        self.objects.pop(name, None)

    def listdir(self, path):
        path = path if path.endswith("/") else path + "/"
        folders, files = set(), []
        for key in self.objects:
            if key.startswith(path) and key != path:
                rest = key[len(path) :]
                if "/" in rest:
                    folders.add(rest.split("/", 1)[0])
                else:
                    files.append(posixpath.relpath(key, path))
        return sorted(folders), files


def test_erase_prefix_works_on_a_storage_with_flat_keys_like_s3(monkeypatch):
    storage = FlatKeyStorage()
    monkeypatch.setattr(erasure, "default_storage", storage)
    prefix = speaker_prefix(DOMAIN_ID, SPEAKER_ID)
    for name in (f"{prefix}a.wav", f"{prefix}x/y/b.wav", f"{prefix}x/c.wav", "biometrics/keep.wav"):
        storage.save(name, ContentFile(b"audio"))
    storage.objects[prefix] = b""  # a folder marker, as the S3 console creates
    other = f"{domain_prefix(DOMAIN_ID)}speakers/id-other0123456789abcdefg/d.wav"
    storage.save(other, ContentFile(b"audio"))

    assert erase_prefix(prefix) == 3

    assert set(storage.objects) == {"biometrics/keep.wav", other}  # the folder marker went too
    assert erase_prefix(prefix) == 0
