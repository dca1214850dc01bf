"""Domain and tag operations of the Voice ID API."""

from __future__ import annotations

from typing import Any

from domains import selectors, services
from domains.models import Domain
from voiceid_site.awsjson import pagination
from voiceid_site.awsjson.context import ApiContext
from voiceid_site.awsjson.registry import operation


def domain_to_api(domain: Domain) -> dict[str, Any]:
    body: dict[str, Any] = {
        "Arn": domain.arn,
        "CreatedAt": domain.created_at,
        "Description": domain.description or None,
        "DomainId": domain.domain_id,
        "DomainStatus": domain.status,
        "Name": domain.name,
        "ServerSideEncryptionConfiguration": {"KmsKeyId": domain.kms_key_id},
        "UpdatedAt": domain.updated_at,
    }
    # Annotated by selectors.domain_describe / domain_list: every domain has its default watchlist.
    body["WatchlistDetails"] = {"DefaultWatchlistId": domain.default_watchlist_id}  # type: ignore[attr-defined]
    # Present only once the key was changed, as on AWS (spec: DescribeDomain).
    if domain.encryption_update_status:
        body["ServerSideEncryptionUpdateDetails"] = {
            "UpdateStatus": domain.encryption_update_status,
            "OldKmsKeyId": domain.old_kms_key_id or None,
            "Message": domain.encryption_update_message or None,
        }
    return body


@operation("CreateDomain")
def create_domain(ctx: ApiContext, req: dict[str, Any]) -> dict[str, Any]:
    domain = services.domain_create(
        name=req["Name"],
        description=req.get("Description", ""),
        kms_key_id=req["ServerSideEncryptionConfiguration"]["KmsKeyId"],
        tags=req.get("Tags"),
        client_token=req.get("ClientToken"),
        region=ctx.region,
    )
    return {"Domain": domain_to_api(domain)}


@operation("DescribeDomain")
def describe_domain(ctx: ApiContext, req: dict[str, Any]) -> dict[str, Any]:
    return {"Domain": domain_to_api(selectors.domain_describe(domain_id=req["DomainId"]))}


@operation("UpdateDomain")
def update_domain(ctx: ApiContext, req: dict[str, Any]) -> dict[str, Any]:
    domain = services.domain_update(
        domain_id=req["DomainId"],
        name=req["Name"],
        description=req.get("Description", ""),
        kms_key_id=req["ServerSideEncryptionConfiguration"]["KmsKeyId"],
    )
    return {"Domain": domain_to_api(domain)}


@operation("DeleteDomain")
def delete_domain(ctx: ApiContext, req: dict[str, Any]) -> None:
    services.domain_delete(domain_id=req["DomainId"])


@operation("ListDomains")
def list_domains(ctx: ApiContext, req: dict[str, Any]) -> dict[str, Any]:
    page = selectors.domain_list(
        after=pagination.decode(ctx.operation, req), limit=pagination.page_size(req, default=10)
    )
    return {
        "DomainSummaries": [domain_to_api(domain) for domain in page.items],
        "NextToken": pagination.encode(ctx.operation, req, page.next_position)
        if page.next_position
        else None,
    }


@operation("TagResource")
def tag_resource(ctx: ApiContext, req: dict[str, Any]) -> dict[str, Any]:
    services.domain_tag(domain=selectors.domain_get_by_arn(arn=req["ResourceArn"]), tags=req["Tags"])
    return {}


@operation("UntagResource")
def untag_resource(ctx: ApiContext, req: dict[str, Any]) -> dict[str, Any]:
    services.domain_untag(domain=selectors.domain_get_by_arn(arn=req["ResourceArn"]), keys=req["TagKeys"])
    return {}


@operation("ListTagsForResource")
def list_tags_for_resource(ctx: ApiContext, req: dict[str, Any]) -> dict[str, Any]:
    tags = selectors.domain_tags(domain=selectors.domain_get_by_arn(arn=req["ResourceArn"]))
    return {"Tags": [{"Key": tag.key, "Value": tag.value} for tag in tags]}
