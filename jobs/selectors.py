"""Reads of batch jobs: one job, and keyset pages of a domain's jobs of one kind."""

from __future__ import annotations

from dataclasses import dataclass

from domains.models import Domain
from jobs.models import BatchJob, JobEntry
from voiceid_site.exceptions import ResourceNotFound
from voiceid_site.paging import Page, keyset_page, keyset_page_newest


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


# --- the dashboard's reads -------------------------------------------------------------------------


@dataclass(frozen=True)
class EntryError:
    """One failed request of a job, as its output file records it."""

    request_id: str
    error_code: int | None
    error_message: str


@dataclass(frozen=True)
class EntryErrorPage:
    errors: list[EntryError]
    next_position: int | None  # the last entry handed out, when more failed entries follow


def job_find(*, job_id: str) -> BatchJob:
    """A job of either kind by its JobId, which is unique across domains (the dashboard's job URLs)."""
    job = BatchJob.objects.select_related("domain").filter(job_id=job_id).first()
    if job is None:
        raise ResourceNotFound(
            f"No batch job {job_id} exists: it may belong to a deleted domain, or the link is mistyped.",
            resource_type="BATCH_JOB",
        )
    return job


def job_recent_page(
    *, domain: Domain | None, kind: str | None, status: str | None, before: int | None, limit: int
) -> Page[BatchJob]:
    """Jobs of both kinds, newest first, keyset-paged backwards (`before` is the last position shown)."""
    jobs = BatchJob.objects.select_related("domain")
    if domain is not None:
        jobs = jobs.filter(domain=domain)
    if kind:
        jobs = jobs.filter(kind=kind)
    if status:
        jobs = jobs.filter(status=status)
    return keyset_page_newest(jobs, before=before, limit=limit)


def job_entry_errors(*, job: BatchJob, after: int | None, limit: int) -> EntryErrorPage:
    """The failed entries of a job in manifest order, with the RequestId, ErrorCode and ErrorMessage each
    recorded for the output file (unsealed here: the output file may be encrypted or already gone)."""
    entries = JobEntry.objects.filter(job=job, state=JobEntry.State.FAILED)
    page = keyset_page(entries, after=after, limit=limit)
    errors = []
    for entry in page.items:
        entry.domain = job.domain  # already loaded: spare a query per entry when unsealing
        record = entry.outcome_record()
        errors.append(
            EntryError(
                request_id=record.get("RequestId", entry.request_id),
                error_code=record.get("ErrorCode", entry.error_code),
                error_message=record.get("ErrorMessage", ""),
            )
        )
    return EntryErrorPage(errors=errors, next_position=page.next_position)
