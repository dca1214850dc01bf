"""The EventBridge-shaped events of batch jobs (spec §9), recorded through the events app's outbox.

Each is recorded inside the transaction that made the change it reports, so an event exists exactly when
its change committed. No event carries a customer speaker id: generated ids only.
"""

from __future__ import annotations

from typing import Any

from events.services import event_record
from jobs.models import BatchJob

SOURCE_BATCH = "BATCH"
_JOB_DETAIL = {
    BatchJob.Kind.SPEAKER_ENROLLMENT: ("VoiceId Batch Speaker Enrollment Action", "BATCH_ENROLLMENT_REQUEST"),
    BatchJob.Kind.FRAUDSTER_REGISTRATION: (
        "VoiceId Batch Fraudster Registration Action",
        "BATCH_REGISTRATION_REQUEST",
    ),
}


def _status(job: BatchJob) -> str:
    if job.status == BatchJob.Status.FAILED:
        return "FAILURE"
    if job.status in BatchJob.ACTIVE_STATUSES:
        return job.status  # SUBMITTED (or IN_PROGRESS): the job was accepted, not yet finished
    return "SUCCESS"


def _config(job: BatchJob) -> dict[str, Any]:
    config = job.config
    if job.kind == BatchJob.Kind.SPEAKER_ENROLLMENT:
        fraud = config["FraudDetectionConfig"]
        return {
            "enrollmentConfig": {
                "existingEnrollmentAction": config["ExistingEnrollmentAction"],
                "fraudDetectionConfig": {
                    "fraudDetectionAction": fraud["FraudDetectionAction"],
                    "riskThreshold": fraud["RiskThreshold"],
                    "watchlistIds": fraud["WatchlistIds"],
                },
            }
        }
    return {
        "registrationConfig": {
            "duplicateRegistrationAction": config["DuplicateRegistrationAction"],
            "fraudsterSimilarityThreshold": config["FraudsterSimilarityThreshold"],
            "watchlistIds": config["WatchlistIds"],
        }
    }


def job_event(job: BatchJob) -> None:
    """Job submitted, succeeded (COMPLETED or COMPLETED_WITH_ERRORS) or failed."""
    detail_type, action = _JOB_DETAIL[BatchJob.Kind(job.kind)]
    output = {"s3Uri": job.output_s3_uri}
    if job.output_kms_key_id:
        output["kmsKeyId"] = job.output_kms_key_id
    detail: dict[str, Any] = {
        "sourceId": f"{job.job_id}:{job.status}",
        "action": action,
        "status": _status(job),
        "batchJobId": job.job_id,
        "jobStatus": job.status,
        "data": {
            "dataAccessRoleArn": job.data_access_role_arn,
            **_config(job),
            "inputDataConfig": {"s3Uri": job.input_s3_uri},
            "outputDataConfig": output,
        },
    }
    if job.status == BatchJob.Status.FAILED:
        detail["errorInfo"] = {
            "errorMessage": job.failure_message,
            "errorType": "JobFailed",
            "errorCode": job.failure_status_code,
        }
    event_record(domain=job.domain, detail_type=detail_type, detail=detail, resources=[job.domain.arn])


def speaker_enrollment_event(
    job: BatchJob,
    *,
    request_id: str,
    generated_speaker_id: str | None,
    enrollment_status: str | None,
    error: tuple[int, str] | None = None,
) -> None:
    """One entry of an enrollment job: enrolled (NEW_ENROLLMENT / ENROLLMENT_OVERWRITE) or refused."""
    _entry_event(
        job,
        detail_type="VoiceId Speaker Action",
        request_id=request_id,
        action="ENROLL",
        ids={"generatedSpeakerId": generated_speaker_id},
        data={
            "enrollmentSource": SOURCE_BATCH,
            "enrollmentSourceId": job.job_id,
            "enrollmentStatus": enrollment_status,
        },
        error=error,
    )


def fraudster_registration_event(
    job: BatchJob,
    *,
    request_id: str,
    generated_fraudster_id: str | None,
    watchlist_ids: list[str],
    registration_status: str | None,
    error: tuple[int, str] | None = None,
) -> None:
    """One entry of a registration job: registered (NEW_REGISTRATION) or refused."""
    _entry_event(
        job,
        detail_type="VoiceId Fraudster Action",
        request_id=request_id,
        action="REGISTER",
        ids={"generatedFraudsterId": generated_fraudster_id, "watchlistIds": watchlist_ids},
        data={
            "registrationSource": SOURCE_BATCH,
            "registrationSourceId": job.job_id,
            "registrationStatus": registration_status,
        },
        error=error,
    )


def _entry_event(
    job: BatchJob,
    *,
    detail_type: str,
    request_id: str,
    action: str,
    ids: dict[str, Any],
    data: dict[str, Any],
    error: tuple[int, str] | None,
) -> None:
    detail: dict[str, Any] = {
        "sourceId": f"{job.job_id}:{request_id}",
        "action": action,
        "status": "FAILURE" if error else "SUCCESS",
        **{key: value for key, value in ids.items() if value},
        "data": data,
    }
    if error:
        detail["errorInfo"] = {
            "errorCode": error[0],
            "errorMessage": error[1],
            "errorType": _error_type(error[0]),
        }
    event_record(domain=job.domain, detail_type=detail_type, detail=detail, resources=[job.domain.arn])


def _error_type(code: int) -> str:
    return {
        400: "ValidationException",
        402: "ServiceQuotaExceededException",
        403: "AccessDeniedException",
        404: "ResourceNotFoundException",
        409: "ConflictException",
    }.get(code, "InternalServerException")
