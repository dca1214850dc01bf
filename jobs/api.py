"""Batch job operations: start, describe and list speaker enrollment and fraudster registration jobs."""

from __future__ import annotations

from typing import Any

from domains import selectors as domain_selectors
from jobs import selectors, services
from jobs.models import BatchJob
from voiceid_site.awsjson import pagination
from voiceid_site.awsjson.context import ApiContext
from voiceid_site.awsjson.registry import operation

Kind = BatchJob.Kind
_CONFIG_MEMBER = {
    Kind.SPEAKER_ENROLLMENT: "EnrollmentConfig",
    Kind.FRAUDSTER_REGISTRATION: "RegistrationConfig",
}


def _summary(job: BatchJob) -> dict[str, Any]:
    failure = (
        {"StatusCode": job.failure_status_code, "Message": job.failure_message}
        if job.status == BatchJob.Status.FAILED
        else None
    )
    return {
        "CreatedAt": job.created_at,
        "DomainId": job.domain.domain_id,
        "EndedAt": job.ended_at,
        "FailureDetails": failure,
        "JobId": job.job_id,
        "JobName": job.job_name or None,
        "JobProgress": {"PercentComplete": job.percent_complete},
        "JobStatus": job.status,
    }


def job_to_api(job: BatchJob) -> dict[str, Any]:
    output = {"S3Uri": job.output_s3_uri, "KmsKeyId": job.output_kms_key_id or None}
    return {
        **_summary(job),
        "DataAccessRoleArn": job.data_access_role_arn,
        _CONFIG_MEMBER[Kind(job.kind)]: job.config,
        "InputDataConfig": {"S3Uri": job.input_s3_uri},
        "OutputDataConfig": output,
    }


def _start(kind: str, req: dict[str, Any]) -> dict[str, Any]:
    domain = domain_selectors.domain_get(domain_id=req["DomainId"])
    output = req["OutputDataConfig"]
    job = services.job_start(
        domain=domain,
        request=services.JobRequest(
            kind=kind,
            data_access_role_arn=req["DataAccessRoleArn"],
            input_s3_uri=req["InputDataConfig"]["S3Uri"],
            output_s3_uri=output["S3Uri"],
            output_kms_key_id=output.get("KmsKeyId", ""),
            job_name=req.get("JobName", ""),
            config=req.get(_CONFIG_MEMBER[Kind(kind)]),
            client_token=req.get("ClientToken"),
        ),
    )
    return {"Job": job_to_api(job)}


def _describe(kind: str, req: dict[str, Any]) -> dict[str, Any]:
    domain = domain_selectors.domain_get(domain_id=req["DomainId"])
    return {"Job": job_to_api(selectors.job_get(domain=domain, kind=kind, job_id=req["JobId"]))}


def _list(ctx: ApiContext, kind: str, req: dict[str, Any]) -> dict[str, Any]:
    domain = domain_selectors.domain_get(domain_id=req["DomainId"])
    page = selectors.job_list(
        domain=domain,
        kind=kind,
        status=req.get("JobStatus"),
        after=pagination.decode(ctx.operation, req),
        limit=pagination.page_size(req, default=100),
    )
    token = pagination.encode(ctx.operation, req, page.next_position) if page.next_position else None
    return {"JobSummaries": [_summary(job) for job in page.items], "NextToken": token}


@operation("StartSpeakerEnrollmentJob")
def start_speaker_enrollment_job(ctx: ApiContext, req: dict[str, Any]) -> dict[str, Any]:
    return _start(Kind.SPEAKER_ENROLLMENT, req)


@operation("DescribeSpeakerEnrollmentJob")
def describe_speaker_enrollment_job(ctx: ApiContext, req: dict[str, Any]) -> dict[str, Any]:
    return _describe(Kind.SPEAKER_ENROLLMENT, req)


@operation("ListSpeakerEnrollmentJobs")
def list_speaker_enrollment_jobs(ctx: ApiContext, req: dict[str, Any]) -> dict[str, Any]:
    return _list(ctx, Kind.SPEAKER_ENROLLMENT, req)


@operation("StartFraudsterRegistrationJob")
def start_fraudster_registration_job(ctx: ApiContext, req: dict[str, Any]) -> dict[str, Any]:
    return _start(Kind.FRAUDSTER_REGISTRATION, req)


@operation("DescribeFraudsterRegistrationJob")
def describe_fraudster_registration_job(ctx: ApiContext, req: dict[str, Any]) -> dict[str, Any]:
    return _describe(Kind.FRAUDSTER_REGISTRATION, req)


@operation("ListFraudsterRegistrationJobs")
def list_fraudster_registration_jobs(ctx: ApiContext, req: dict[str, Any]) -> dict[str, Any]:
    return _list(ctx, Kind.FRAUDSTER_REGISTRATION, req)
