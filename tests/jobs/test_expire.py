"""Expiry (spec §5): an ENROLLED speaker idle for VOICEID_SPEAKER_EXPIRY_YEARS becomes EXPIRED."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from jobs.sweepers import expire_speakers, years_before
from speakers.models import Speaker

from .conftest import make_domain, make_speaker, status_of

NOW = datetime(2029, 6, 1, 12, 0, tzinfo=UTC)
THREE_YEARS_AGO = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)

pytestmark = pytest.mark.django_db


def test_a_speaker_idle_for_just_over_three_years_expires_and_one_just_under_does_not():
    domain = make_domain()
    idle = make_speaker(domain, "idle", last_accessed_at=THREE_YEARS_AGO - SECOND)
    recent = make_speaker(domain, "recent", last_accessed_at=THREE_YEARS_AGO + SECOND)

    run = expire_speakers(now=NOW)

    assert status_of(idle) == Speaker.Status.EXPIRED
    assert status_of(recent) == Speaker.Status.ENROLLED
    assert run.counts == {"speakers_expired": 1}


def test_an_expired_speaker_records_when_it_expired():
    idle = make_speaker(make_domain(), "idle", last_accessed_at=THREE_YEARS_AGO - SECOND)

    expire_speakers(now=NOW)

    assert Speaker.objects.get(pk=idle.pk).updated_at == NOW


def test_a_speaker_never_accessed_ages_from_its_creation():
    domain = make_domain()
    old = make_speaker(domain, "old", created_at=THREE_YEARS_AGO - SECOND)
    new = make_speaker(domain, "new", created_at=THREE_YEARS_AGO + SECOND)

    expire_speakers(now=NOW)

    assert status_of(old) == Speaker.Status.EXPIRED
    assert status_of(new) == Speaker.Status.ENROLLED


def test_a_recent_access_keeps_an_old_speaker_enrolled():
    speaker = make_speaker(
        make_domain(), "back", created_at=THREE_YEARS_AGO - timedelta(days=400), last_accessed_at=NOW
    )

    expire_speakers(now=NOW)

    assert status_of(speaker) == Speaker.Status.ENROLLED


@pytest.mark.parametrize("status", [Speaker.Status.PENDING, Speaker.Status.OPTED_OUT, Speaker.Status.EXPIRED])
def test_only_enrolled_speakers_expire(status):
    long_ago = THREE_YEARS_AGO - timedelta(days=365)
    speaker = make_speaker(make_domain(), "other", status=status, last_accessed_at=long_ago)
    updated_at = speaker.updated_at

    run = expire_speakers(now=NOW)

    assert status_of(speaker) == status
    assert Speaker.objects.get(pk=speaker.pk).updated_at == updated_at
    assert run.counts == {"speakers_expired": 0}


def test_expiry_counts_calendar_years_and_29_february_becomes_28_february():
    leap_day = datetime(2028, 2, 29, 12, 0, tzinfo=UTC)
    cutoff = datetime(2025, 2, 28, 12, 0, tzinfo=UTC)
    domain = make_domain()
    idle = make_speaker(domain, "idle", last_accessed_at=cutoff - SECOND)
    recent = make_speaker(domain, "recent", last_accessed_at=cutoff + SECOND)

    expire_speakers(now=leap_day)

    assert years_before(leap_day, 3) == cutoff
    assert status_of(idle) == Speaker.Status.EXPIRED
    assert status_of(recent) == Speaker.Status.ENROLLED


def test_the_expiry_period_comes_from_the_setting(settings):
    settings.VOICEID_SPEAKER_EXPIRY_YEARS = 1
    speaker = make_speaker(make_domain(), "two-years", last_accessed_at=NOW - timedelta(days=2 * 365))

    expire_speakers(now=NOW)

    assert status_of(speaker) == Speaker.Status.EXPIRED


def test_expiry_works_in_batches_reading_ids_only(settings):
    settings.VOICEID_SWEEP_BATCH_SIZE = 2
    domain = make_domain()
    idle = [make_speaker(domain, f"idle-{n}", last_accessed_at=THREE_YEARS_AGO - SECOND) for n in range(5)]
    kept = make_speaker(domain, "kept", last_accessed_at=NOW)

    with CaptureQueriesContext(connection) as queries:
        run = expire_speakers(now=NOW)

    assert run.counts == {"speakers_expired": 5}
    assert all(status_of(speaker) == Speaker.Status.EXPIRED for speaker in idle)
    assert status_of(kept) == Speaker.Status.ENROLLED
    speaker_sql = [q["sql"] for q in queries.captured_queries if '"speakers_speaker"' in q["sql"]]
    updates = [sql for sql in speaker_sql if sql.startswith("UPDATE")]
    selects = [sql for sql in speaker_sql if sql.startswith("SELECT")]
    assert len(updates) == 3  # 2 + 2 + 1
    # Every read is a bounded page of ids: nothing loads the whole table or whole rows.
    assert selects and all("LIMIT 2" in sql for sql in selects)
    assert all("," not in sql.split(" FROM ")[0] for sql in selects)  # one column: the id
