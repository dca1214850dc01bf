"""`manage.py sweep` runs the sweepers once and prints what they did."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from jobs.management.commands import sweep as sweep_command
from jobs.models import SweepRun
from speakers.models import Speaker

from .conftest import make_domain, make_speaker, status_of

pytestmark = pytest.mark.django_db


def sweep(*args: str) -> str:
    out = StringIO()
    call_command("sweep", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_sweep_expire_judges_ages_at_the_given_moment_and_prints_the_counts():
    speaker = make_speaker(make_domain(), "idle", last_accessed_at=datetime(2026, 1, 1, tzinfo=UTC))

    output = sweep("expire", "--now", "2029-01-01T00:00:01Z")

    assert status_of(speaker) == Speaker.Status.EXPIRED
    assert output.startswith("expire: speakers_expired=1 (")
    assert SweepRun.objects.get().as_of == datetime(2029, 1, 1, 0, 0, 1, tzinfo=UTC)


def test_a_moment_without_an_offset_is_read_as_utc():
    sweep("purge", "--now", "2029-01-01T00:00:00")

    assert SweepRun.objects.get().as_of == datetime(2029, 1, 1, tzinfo=UTC)


def test_sweep_all_runs_every_sweeper():
    output = sweep("all")

    assert [line.split(":")[0] for line in output.splitlines()] == ["expire", "purge", "erase"]
    assert SweepRun.objects.count() == 3


def test_sweep_refuses_an_unknown_sweeper_or_moment():
    with pytest.raises(CommandError):
        sweep("tidy")
    with pytest.raises(CommandError):
        sweep("expire", "--now", "next tuesday")


def test_a_failed_sweep_fails_the_command_after_the_others_ran(monkeypatch):
    def broken(**_):
        raise RuntimeError("storage unreachable")

    monkeypatch.setitem(sweep_command.SWEEPERS, "purge", broken)

    with pytest.raises(CommandError, match="purge"):
        sweep("all")
    assert set(SweepRun.objects.values_list("sweeper", flat=True)) == {"expire", "erase"}


def test_the_command_leaves_recent_speakers_alone_with_the_real_clock():
    speaker = make_speaker(make_domain(), "fresh", last_accessed_at=datetime.now(UTC) - timedelta(days=1))

    sweep("expire")

    assert status_of(speaker) == Speaker.Status.ENROLLED
    assert SweepRun.objects.get().counts == {"speakers_expired": 0}
