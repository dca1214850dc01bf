"""Reads of batch jobs: one job, and keyset pages of a domain's jobs of one kind."""

from __future__ import annotations

from domains.models import Domain
from jobs.models import BatchJob
from voiceid_site.exceptions import ResourceNotFound
from voiceid_site.paging import Page, keyset_page


def job_get(*, domain: Domain, kind: str, job_id: str) -> BatchJob:
    job = BatchJob.objects.select_related("domain").filter(domain=domain, kind=kind, job_id=job_id).first()
    if job is None:
        noun = (
            "speaker enrollment job"
            if kind == BatchJob.Kind.SPEAKER_ENROLLMENT
            else "fraudster registration job"
        )
        raise ResourceNotFound(f"No {noun} {job_id} in domain {domain.domain_id}.", resource_type="BATCH_JOB")
    return job


def job_list(
    *, domain: Domain, kind: str, status: str | None, after: int | None, limit: int
) -> Page[BatchJob]:
    jobs = BatchJob.objects.select_related("domain").filter(domain=domain, kind=kind)
    if status:
        jobs = jobs.filter(status=status)
    return keyset_page(jobs, after=after, limit=limit)
