"""One error hierarchy for services; the API, the views and the admin each render it their own way."""

from __future__ import annotations

from typing import Any, ClassVar


class ServiceError(Exception):
    """A failure a caller can act on. `code` is the AWS error name, `status` its HTTP status."""

    code: ClassVar[str] = "InternalServerException"
    status: ClassVar[int] = 500

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = {key: value for key, value in extra.items() if value is not None}

    def to_body(self) -> dict[str, Any]:
        return {"__type": self.code, "Message": self.message, **self.extra}


class ValidationError(ServiceError):
    code, status = "ValidationException", 400


class AccessDenied(ServiceError):
    code, status = "AccessDeniedException", 403


class ResourceNotFound(ServiceError):
    code, status = "ResourceNotFoundException", 404

    def __init__(self, message: str, *, resource_type: str) -> None:
        super().__init__(message, ResourceType=resource_type)


class Conflict(ServiceError):
    code, status = "ConflictException", 409

    def __init__(self, message: str, *, conflict_type: str | None = None) -> None:
        super().__init__(message, ConflictType=conflict_type)


class ServiceQuotaExceeded(ServiceError):
    code, status = "ServiceQuotaExceededException", 402


class Throttling(ServiceError):
    code, status = "ThrottlingException", 429


class InternalServer(ServiceError):
    code, status = "InternalServerException", 500


# Errors raised in front of the service model (protocol and authentication). AWS's front door answers
# these with names outside the Voice ID model; boto3 surfaces them as a plain ClientError.
class UnknownOperation(ServiceError):
    code, status = "UnknownOperationException", 400


class SerializationError(ServiceError):
    code, status = "SerializationException", 400


class MissingAuthenticationToken(ServiceError):
    code, status = "MissingAuthenticationTokenException", 403


class IncompleteSignature(ServiceError):
    code, status = "IncompleteSignatureException", 403


class UnrecognizedClient(ServiceError):
    code, status = "UnrecognizedClientException", 403


class InvalidSignature(ServiceError):
    code, status = "InvalidSignatureException", 403
