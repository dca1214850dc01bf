"""`POST /`: authenticate, resolve X-Amz-Target, validate against the model, call the handler, serialise."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, UnreadablePostError

from audit import recording as audit_recording
from voiceid_site.awsjson import auth, model, registry, validate, wire
from voiceid_site.awsjson.context import ApiContext
from voiceid_site.exceptions import (
    InternalServer,
    SerializationError,
    ServiceError,
    UnknownOperation,
    ValidationError,
)

logger = logging.getLogger("voiceid.api")


def _operation_name(request: HttpRequest) -> str:
    target = request.META.get("HTTP_X_AMZ_TARGET", "")
    prefix, _, name = target.partition(".")
    if prefix != model.target_prefix() or name not in model.service_model()["operations"]:
        raise UnknownOperation(
            f"X-Amz-Target {target[:100]!r} is not a Voice ID operation: expected 'VoiceID.<Operation>'."
        )
    return name


def _parse_body(request: HttpRequest) -> dict[str, Any]:
    if not request.body.strip():
        return {}
    try:
        body = json.loads(request.body)
    except ValueError as error:  # not JSON, not UTF-8, or a number over Python's 4,300 digits
        raise SerializationError(f"The request body is not valid JSON: {error}.") from None
    except RecursionError:
        raise SerializationError("The request body is not valid JSON: it is nested too deeply.") from None
    if not isinstance(body, dict):
        raise SerializationError("The request body must be a JSON object.")
    return body


def _validated(operation: str, body: dict[str, Any]) -> dict[str, Any]:
    """``body`` checked against the operation's input shape, with its null members left out."""
    shape = model.input_shape_name(operation)
    if not shape:
        return body
    validator = validate.validator()
    violations = validator.validate(shape, body)
    if violations:
        raise ValidationError(validate.summarise(violations))
    return validator.without_nulls(shape, body)


def dispatch(request: HttpRequest) -> HttpResponse:
    started = time.perf_counter()
    request_id: str = getattr(request, "request_id", "-")
    operation, access_key_id = "-", "-"
    signer: auth.Authenticated | None = None
    params: dict[str, Any] | None = None
    try:
        signer = auth.authenticate(request)
        access_key_id = signer.access_key.access_key_id
        operation = _operation_name(request)
        params = _validated(operation, _parse_body(request))
        ctx = ApiContext(
            request_id=request_id, operation=operation, access_key=signer.access_key, region=signer.region
        )
        response = wire.json_response(registry.handlers()[operation](ctx, params) or {})
    except ServiceError as error:
        response = wire.error_response(error)
    except UnreadablePostError:
        # The body stopped arriving before its Content-Length (voiceid_site/gunicorn_conf.py).
        response = wire.error_response(
            SerializationError(
                "The request body stopped arriving before the length its Content-Length header announced: "
                "send the whole body."
            )
        )
    except RequestDataTooBig:
        response = wire.error_response(
            ValidationError(
                f"The request body is over {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes: send audio in smaller "
                "chunks (PutSessionAudio takes at most 20 MiB of audio per call)."
            )
        )
    except Exception:
        logger.exception("unhandled error in %s", operation, extra={"operation": operation})
        response = wire.error_response(
            InternalServer(f"An internal error occurred. Quote request id {request_id} to the operator.")
        )
    # After the handler and outside its transaction; never fails the request (audit/recording.py).
    audit_recording.record_api_call(
        request,
        operation=operation,
        access_key=signer.access_key if signer else None,
        params=params,
        response=response,
    )
    logger.info(
        "api %s %s",
        operation,
        response.status_code,
        extra={
            "operation": operation,
            "status": response.status_code,
            "error": response.get("X-Amzn-ErrorType"),
            "access_key_id": access_key_id,
            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
        },
    )
    return response
