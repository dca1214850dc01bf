"""LastAccessedAt bookkeeping (spec §5): accurate to one hour, written at most hourly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domains.models import Domain
from speakers import services
from speakers.models import Speaker

NOON = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


@pytest.fixture
def speaker(domain_model: Domain) -> Speaker:
    return services.speaker_get_or_create_pending(domain=domain_model, customer_speaker_id="c-1")


def stored(speaker: Speaker) -> datetime | None:
    return Speaker.objects.get(pk=speaker.pk).last_accessed_at


def test_the_first_access_is_recorded(speaker: Speaker) -> None:
    assert services.speaker_record_access(speaker=speaker, now=NOON) is True
    assert stored(speaker) == NOON


def test_an_access_within_the_hour_writes_nothing(speaker: Speaker) -> None:
    services.speaker_record_access(speaker=speaker, now=NOON)

    later = NOON + timedelta(minutes=59, seconds=59)
    assert services.speaker_record_access(speaker=speaker, now=later) is False
    assert stored(speaker) == NOON


def test_an_access_an_hour_later_is_recorded(speaker: Speaker) -> None:
    services.speaker_record_access(speaker=speaker, now=NOON)

    assert services.speaker_record_access(speaker=speaker, now=NOON + timedelta(hours=1)) is True
    assert stored(speaker) == NOON + timedelta(hours=1)


def test_a_stale_copy_of_the_speaker_cannot_write_twice_within_the_hour(speaker: Speaker) -> None:
    stale_copy = Speaker.objects.get(pk=speaker.pk)
    services.speaker_record_access(speaker=speaker, now=NOON)

    # The copy still believes LastAccessedAt is empty; the conditional update knows better.
    assert services.speaker_record_access(speaker=stale_copy, now=NOON + timedelta(minutes=5)) is False
    assert stored(speaker) == NOON
