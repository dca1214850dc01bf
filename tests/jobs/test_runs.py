"""Every sweep leaves a SweepRun saying what it did, how long it took, and whether it failed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jobs.models import SweepRun
from jobs.sweepers import erase_domains, expire_speakers, purge_audio, record_run

from .conftest import make_domain, make_speaker

NOW = datetime(2029, 6, 1, 12, 0, tzinfo=UTC)

pytestmark = pytest.mark.django_db


def test_each_sweeper_records_a_succeeded_run_with_its_counts_and_duration():
    make_speaker(make_domain(), "idle", last_accessed_at=NOW - timedelta(days=4 * 365))

    expire_speakers(now=NOW)
    purge_audio(now=NOW)
    erase_domains(now=NOW)

    runs = {run.sweeper: run for run in SweepRun.objects.all()}
    assert set(runs) == {"expire", "purge", "erase"}
    assert runs["expire"].counts == {"speakers_expired": 1}
    assert runs["purge"].counts == {
        "erasures": 0,
        "files_deleted": 0,
        "session_chunks_deleted": 0,
        "sessions_cleared": 0,
    }
    assert runs["erase"].counts["domains_erased"] == 0
    for run in runs.values():
        assert run.status == SweepRun.Status.SUCCEEDED
        assert run.as_of == NOW
        assert run.finished_at >= run.started_at
        assert timedelta(0) <= run.duration < timedelta(minutes=1)
        assert run.error == ""


def test_a_sweep_without_a_clock_judges_by_the_wall_clock():
    run = expire_speakers()

    assert run.started_at - timedelta(seconds=5) <= run.as_of <= run.finished_at


def test_a_failing_sweep_is_recorded_as_failed_with_what_it_did_so_far_and_the_error_goes_on():
    with (
        pytest.raises(OSError, match="disk on fire"),
        record_run(sweeper=SweepRun.Sweeper.PURGE, now=NOW) as run,
    ):
        run.counts = {"erasures": 2}
        raise OSError("disk on fire")

    saved = SweepRun.objects.get()
    assert saved.status == SweepRun.Status.FAILED
    assert saved.counts == {"erasures": 2}
    assert saved.error == "OSError: disk on fire"
    assert saved.duration is not None
