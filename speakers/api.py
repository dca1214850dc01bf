"""Speaker operations of the Voice ID API."""

from __future__ import annotations

from typing import Any

from domains import selectors as domain_selectors
from speakers import selectors, services
from speakers.models import Speaker
from voiceid_site.awsjson import pagination
from voiceid_site.awsjson.context import ApiContext
from voiceid_site.awsjson.registry import operation


def speaker_to_api(speaker: Speaker) -> dict[str, Any]:
    return {
        "CreatedAt": speaker.created_at,
        "CustomerSpeakerId": speaker.customer_speaker_id,
        "DomainId": speaker.domain.domain_id,
        "GeneratedSpeakerId": speaker.generated_speaker_id,
        "LastAccessedAt": speaker.last_accessed_at,
        "Status": speaker.status,
        "UpdatedAt": speaker.updated_at,
    }


@operation("DescribeSpeaker")
def describe_speaker(ctx: ApiContext, req: dict[str, Any]) -> dict[str, Any]:
    domain = domain_selectors.domain_get(domain_id=req["DomainId"])
    return {"Speaker": speaker_to_api(selectors.speaker_get(domain=domain, speaker_id=req["SpeakerId"]))}


@operation("OptOutSpeaker")
def opt_out_speaker(ctx: ApiContext, req: dict[str, Any]) -> dict[str, Any]:
    domain = domain_selectors.domain_get(domain_id=req["DomainId"])
    return {"Speaker": speaker_to_api(services.speaker_opt_out(domain=domain, speaker_id=req["SpeakerId"]))}


@operation("DeleteSpeaker")
def delete_speaker(ctx: ApiContext, req: dict[str, Any]) -> None:
    domain = domain_selectors.domain_get(domain_id=req["DomainId"])
    services.speaker_delete(domain=domain, speaker_id=req["SpeakerId"])


@operation("ListSpeakers")
def list_speakers(ctx: ApiContext, req: dict[str, Any]) -> dict[str, Any]:
    domain = domain_selectors.domain_get(domain_id=req["DomainId"])
    page = selectors.speaker_list(
        domain=domain,
        after=pagination.decode(ctx.operation, req),
        limit=pagination.page_size(req, default=100),
    )
    return {
        "SpeakerSummaries": [speaker_to_api(speaker) for speaker in page.items],
        "NextToken": pagination.encode(ctx.operation, req, page.next_position)
        if page.next_position
        else None,
    }
