"""Voice ID's Speaker and Fraudster Action events for what was done to one speaker or fraudster directly:
an opt-out or a deletion, through the API or the dashboard (spec §9).

Enrollments and registrations by batch job have theirs in jobs.notifications. Each event is recorded in the
transaction that made the change, so it exists exactly when the change committed. A request that fails
changes nothing and records nothing: its caller has the error (the choice is docs/events.md's).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from domains.models import Domain
from events.models import DetailType
from events.services import event_record

OPT_OUT = "OPT_OUT"
DELETE = "DELETE"


def speaker_opted_out(*, domain: Domain, generated_speaker_id: str) -> None:
    _record(domain, DetailType.SPEAKER, OPT_OUT, {"generatedSpeakerId": generated_speaker_id})


def speaker_deleted(*, domain: Domain, generated_speaker_id: str) -> None:
    _record(domain, DetailType.SPEAKER, DELETE, {"generatedSpeakerId": generated_speaker_id})


def fraudster_deleted(*, domain: Domain, generated_fraudster_id: str, watchlist_ids: Iterable[str]) -> None:
    """`watchlist_ids`: the watchlists the fraudster was in until it was deleted."""
    ids = {"generatedFraudsterId": generated_fraudster_id, "watchlistIds": sorted(watchlist_ids)}
    _record(domain, DetailType.FRAUDSTER, DELETE, ids)


def _record(domain: Domain, detail_type: str, action: str, ids: dict[str, Any]) -> None:
    subject = ids.get("generatedSpeakerId") or ids["generatedFraudsterId"]
    detail = {
        # One occurrence each: opting the same caller out twice is two opt-outs.
        "sourceId": f"{subject}:{action}:{uuid.uuid4().hex}",
        "action": action,
        "status": "SUCCESS",
        **ids,
    }
    event_record(domain=domain, detail_type=detail_type, detail=detail)
