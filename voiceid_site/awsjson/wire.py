"""JSON 1.0 wire format: epoch-second timestamps in, AWS error bodies out."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django.http import HttpResponse

from voiceid_site.exceptions import ServiceError

CONTENT_TYPE = "application/x-amz-json-1.0"


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return round(value.timestamp(), 3)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def drop_nones(value: Any) -> Any:
    """botocore treats null as absent; we leave absent members out so other SDKs see the same."""
    if isinstance(value, dict):
        return {key: drop_nones(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [drop_nones(item) for item in value]
    return value


def json_response(body: dict[str, Any], status: int = 200) -> HttpResponse:
    response = HttpResponse(
        json.dumps(drop_nones(body), default=_default), status=status, content_type=CONTENT_TYPE
    )
    # As AWS sends it. API calls skip CommonMiddleware, which would have set it; without it gunicorn sends
    # the body chunked, which some SDKs' checks of the response length do not expect.
    response["Content-Length"] = str(len(response.content))
    return response


def error_response(error: ServiceError) -> HttpResponse:
    response = json_response(error.to_body(), status=error.status)
    response["X-Amzn-ErrorType"] = error.code
    return response
