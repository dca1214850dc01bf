"""Fixtures for the retention sweepers: a throwaway media folder, domains and speakers of a given age."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from domains import services as domain_services
from domains.models import Domain
from speakers import services as speaker_services
from speakers.models import Speaker
from tests.jobs.batch import LocalBucket
from voiceid_site.celery import app


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Any) -> Any:
    """Each test gets its own empty FileSystemStorage, so files never leak between tests."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path / "media"},
        },
    }
    return tmp_path / "media"


def make_domain(name: str = "Contact centre") -> Domain:
    return domain_services.domain_create(name=name, kms_key_id="demo-key", region="us-east-1")


def make_speaker(
    domain: Domain,
    customer_speaker_id: str,
    *,
    status: str = Speaker.Status.ENROLLED,
    last_accessed_at: datetime | None = None,
    created_at: datetime | None = None,
) -> Speaker:
    speaker = speaker_services.speaker_get_or_create_pending(
        domain=domain, customer_speaker_id=customer_speaker_id
    )
    changes: dict[str, Any] = {"status": status, "last_accessed_at": last_accessed_at}
    if created_at is not None:
        changes["created_at"] = created_at
    Speaker.objects.filter(pk=speaker.pk).update(**changes)
    return Speaker.objects.get(pk=speaker.pk)


def suspend(domain: Domain, *, at: datetime) -> None:
    domain_services.domain_delete(domain_id=domain.domain_id)
    Domain.objects.filter(pk=domain.pk).update(suspended_at=at)


def write_file(name: str, content: bytes = b"RIFF....WAVE") -> str:
    return default_storage.save(name, ContentFile(content))


def status_of(speaker: Speaker) -> str:
    return Speaker.objects.values_list("status", flat=True).get(pk=speaker.pk)


@pytest.fixture
def bucket(settings: Any, tmp_path: Any) -> LocalBucket:
    """A bucket of the embedded S3, in a folder of this test's own."""
    settings.VOICEID_LOCAL_S3_ROOT = tmp_path / "s3"
    settings.VOICEID_S3_ENDPOINT_URL = ""
    return LocalBucket(tmp_path / "s3")


@pytest.fixture
def queued_only() -> Iterator[None]:
    """Job doorbells go to the (test) broker and nobody answers: what a job sees while no worker runs."""
    app.conf.task_always_eager = False
    yield
    app.conf.task_always_eager = True
