"""The webhook wire format: the body, its signature and one HTTP POST (stdlib only, no Django models).

A receiver checks `X-Voiceid-Signature: v1=<hex>`, the HMAC-SHA256 of `f"{timestamp}.{body}"` under the
subscription's secret, where `timestamp` is the `X-Voiceid-Timestamp` header (Unix seconds) and `body` the
raw request body. Signing the timestamp with the body lets a receiver refuse old requests replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

SIGNATURE_VERSION = "v1"
USER_AGENT = "voiceid-webhooks/1"
# A receiver should refuse a timestamp further than this from its clock (the docs' example does).
DEFAULT_TOLERANCE_SECONDS = 5 * 60
# EventBridge's own order of the envelope's keys: the body reads like the events people know.
ENVELOPE_KEYS = ("version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail")
# Enough of a failed response to tell what went wrong, without storing whatever page the receiver sent.
_ERROR_EXCERPT_BYTES = 300
_MAX_RESPONSE_BYTES = 64 * 1024


@dataclass(frozen=True)
class PostResult:
    delivered: bool
    status_code: int | None
    error: str


def _sorted_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _sorted_keys(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_sorted_keys(item) for item in value]
    return value


def envelope_body(envelope: dict[str, Any]) -> bytes:
    """The exact bytes POSTed for an envelope: the same on every attempt and on every database.

    PostgreSQL's jsonb does not keep key order, so the order is set here: EventBridge's for the envelope,
    sorted inside `detail`. Receivers must not depend on key order anyway.
    """
    ordered = {key: envelope[key] for key in ENVELOPE_KEYS if key in envelope}
    ordered.update({key: value for key, value in envelope.items() if key not in ordered})
    if "detail" in ordered:
        ordered["detail"] = _sorted_keys(ordered["detail"])
    return json.dumps(ordered, ensure_ascii=False, separators=(",", ":")).encode()


def signature(*, secret: str, timestamp: int, body: bytes) -> str:
    """The `X-Voiceid-Signature` value for a body sent at `timestamp` (Unix seconds)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"{SIGNATURE_VERSION}={mac.hexdigest()}"


def signature_is_valid(
    *,
    secret: str,
    timestamp_header: str,
    signature_header: str,
    body: bytes,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """What a receiver checks: the signature matches and the timestamp is recent (replays are refused)."""
    try:
        timestamp = int(timestamp_header)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance_seconds:
        return False
    expected = signature(secret=secret, timestamp=timestamp, body=body)
    return hmac.compare_digest(expected, signature_header.strip())


def request_headers(
    *, event_id: str, attempt: int, timestamp: int, secret: str, body: bytes
) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Voiceid-Event-Id": event_id,
        "X-Voiceid-Delivery-Attempt": str(attempt),
        "X-Voiceid-Timestamp": str(timestamp),
        "X-Voiceid-Signature": signature(secret=secret, timestamp=timestamp, body=body),
    }


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # urllib would follow a 301/302/303 with a GET and no body, and a receiver answering that GET with
    # 200 would make a lost event look delivered. A redirect is a failed attempt that names its target.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def _excerpt(raw: bytes) -> str:
    text = raw[:_ERROR_EXCERPT_BYTES].decode("utf-8", errors="replace").strip()
    return f": {text}" if text else ""


def post(*, url: str, body: bytes, headers: dict[str, str], timeout: float) -> PostResult:
    """POST once. Any 2xx answer is a delivery; every other answer and every network error is not."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with _opener.open(request, timeout=timeout) as response:
            # Read (a bounded amount) so that the receiver sees the request through before we hang up.
            response.read(_MAX_RESPONSE_BYTES)
            return PostResult(delivered=True, status_code=response.status, error="")
    except urllib.error.HTTPError as error:
        try:
            excerpt = _excerpt(error.read(_ERROR_EXCERPT_BYTES))
        except (OSError, http.client.HTTPException, AttributeError):
            excerpt = ""  # the answer's body broke off (or there was none): the status says enough
        finally:
            error.close()
        if 300 <= error.code < 400:
            excerpt = f" (redirects are not followed: {error.headers.get('Location', 'no Location')})"
        return PostResult(delivered=False, status_code=error.code, error=f"HTTP {error.code}{excerpt}")
    except urllib.error.URLError as error:
        return PostResult(delivered=False, status_code=None, error=f"{type(error).__name__}: {error.reason}")
    except (OSError, http.client.HTTPException, ValueError) as error:
        # Timeouts, resets and malformed answers; ValueError covers a URL urllib cannot use.
        return PostResult(delivered=False, status_code=None, error=f"{type(error).__name__}: {error}")
