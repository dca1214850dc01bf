"""The Celery tasks run the sweepers, and beat's schedule names all three."""

from __future__ import annotations

import pytest
from django.conf import settings

from jobs import tasks
from jobs.models import SweepRun
from voiceid_site.celery import app

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("task", "sweeper"),
    [(tasks.sweep_expire, "expire"), (tasks.sweep_purge, "purge"), (tasks.sweep_erase, "erase")],
)
def test_each_task_runs_its_sweeper(task, sweeper):
    result = task.apply()

    assert result.successful()
    run = SweepRun.objects.get()
    assert (run.sweeper, run.status) == (sweeper, SweepRun.Status.SUCCEEDED)


def test_beat_runs_every_sweeper_expire_and_purge_hourly_and_erase_daily():
    schedule = {entry["task"]: entry["schedule"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}

    sweeps = {"jobs.sweep_expire": 3600, "jobs.sweep_purge": 3600, "jobs.sweep_erase": 86400}
    assert {name: schedule.get(name) for name in sweeps} == sweeps  # other apps schedule tasks too
    app.autodiscover_tasks(force=True)  # what a worker does at start-up
    assert all(name in app.tasks for name in sweeps)
