"""Celery tasks for the retention sweepers; beat runs them on CELERY_BEAT_SCHEDULE (settings.py).

Each sweep is safe to repeat and resumes where an interrupted one stopped, so a late ack that redelivers
a sweep after a worker crash costs only time. The time limits end a stuck sweep before its next turn.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task

MINUTE = 60
HOURLY: dict[str, Any] = {
    "acks_late": True,
    "ignore_result": True,
    "soft_time_limit": 50 * MINUTE,
    "time_limit": 55 * MINUTE,
}
DAILY: dict[str, Any] = {**HOURLY, "soft_time_limit": 22 * 60 * MINUTE, "time_limit": 23 * 60 * MINUTE}


@shared_task(name="jobs.sweep_expire", **HOURLY)
def sweep_expire() -> None:
    from jobs import sweepers

    sweepers.expire_speakers()


@shared_task(name="jobs.sweep_purge", **HOURLY)
def sweep_purge() -> None:
    from jobs import sweepers

    sweepers.purge_audio()


@shared_task(name="jobs.sweep_erase", **DAILY)
def sweep_erase() -> None:
    from jobs import sweepers

    sweepers.erase_domains()


# Batch jobs: doorbells. The job and entry rows say what is left to do, so a redelivered or repeated
# message only costs a lookup (jobs/services.py explains the crash safety).
JOB: dict[str, Any] = {"acks_late": True, "ignore_result": True}


@shared_task(name="jobs.prepare_job", **JOB)
def prepare_job(job_pk: int) -> None:
    from jobs import services

    services.job_prepare(job_pk=job_pk)


@shared_task(name="jobs.run_job", **JOB)
def run_job(job_pk: int) -> int:
    from jobs import processing

    return processing.job_run(job_pk=job_pk)


@shared_task(name="jobs.resume_stalled_jobs", **JOB)
def resume_stalled_jobs() -> int:
    from jobs import services

    return services.job_resume_stalled()
