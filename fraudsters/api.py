"""Watchlist and fraudster operations of the Voice ID API."""

from __future__ import annotations

from typing import Any

from domains import selectors as domain_selectors
from fraudsters import selectors, services
from fraudsters.models import Fraudster, Watchlist
from voiceid_site.awsjson import pagination
from voiceid_site.awsjson.context import ApiContext
from voiceid_site.awsjson.registry import operation


def watchlist_to_api(watchlist: Watchlist) -> dict[str, Any]:
    return {
        "CreatedAt": watchlist.created_at,
        "DefaultWatchlist": watchlist.is_default,
        "Description": watchlist.description or None,
        "DomainId": watchlist.domain.domain_id,
        "Name": watchlist.name,
        "UpdatedAt": watchlist.updated_at,
        "WatchlistId": watchlist.watchlist_id,
    }


def fraudster_to_api(fraudster: Fraudster) -> dict[str, Any]:
    return {
        "CreatedAt": fraudster.created_at,
        "DomainId": fraudster.domain.domain_id,
        "GeneratedFraudsterId": fraudster.generated_fraudster_id,
        "WatchlistIds": selectors.fraudster_watchlist_ids(fraudster),
    }


def _page_token(ctx: ApiContext, req: dict[str, Any], position: int | None) -> str | None:
    return pagination.encode(ctx.operation, req, position) if position else None


@operation("CreateWatchlist")
def create_watchlist(ctx: ApiContext, req: dict[str, Any]) -> dict[str, Any]:
    watchlist = services.watchlist_create(
        domain=domain_selectors.domain_get(domain_id=req["DomainId"]),
        name=req["Name"],
        description=req.get("Description", ""),
        client_token=req.get("ClientToken"),
    )
    return {"Watchlist": watchlist_to_api(watchlist)}


@operation("DescribeWatchlist")
def describe_watchlist(ctx: ApiContext, req: dict[str, Any]) -> dict[str, Any]:
    domain = domain_selectors.domain_get(domain_id=req["DomainId"])
    return {
        "Watchlist": watchlist_to_api(selectors.watchlist_get(domain=domain, watchlist_id=req["WatchlistId"]))
    }


@operation("UpdateWatchlist")
def update_watchlist(ctx: ApiContext, req: dict[str, Any]) -> dict[str, Any]:
    watchlist = services.watchlist_update(
        domain=domain_selectors.domain_get(domain_id=req["DomainId"]),
        watchlist_id=req["WatchlistId"],
        name=req.get("Name"),
        description=req.get("Description"),
    )
    return {"Watchlist": watchlist_to_api(watchlist)}


@operation("DeleteWatchlist")
def delete_watchlist(ctx: ApiContext, req: dict[str, Any]) -> None:
    services.watchlist_delete(
        domain=domain_selectors.domain_get(domain_id=req["DomainId"]), watchlist_id=req["WatchlistId"]
    )


@operation("ListWatchlists")
def list_watchlists(ctx: ApiContext, req: dict[str, Any]) -> dict[str, Any]:
    domain = domain_selectors.domain_get(domain_id=req["DomainId"])
    page = selectors.watchlist_list(
        domain=domain,
        after=pagination.decode(ctx.operation, req),
        limit=pagination.page_size(req, default=100),
    )
    return {
        "WatchlistSummaries": [watchlist_to_api(watchlist) for watchlist in page.items],
        "NextToken": _page_token(ctx, req, page.next_position),
    }


@operation("DescribeFraudster")
def describe_fraudster(ctx: ApiContext, req: dict[str, Any]) -> dict[str, Any]:
    domain = domain_selectors.domain_get(domain_id=req["DomainId"])
    return {
        "Fraudster": fraudster_to_api(selectors.fraudster_get(domain=domain, fraudster_id=req["FraudsterId"]))
    }


@operation("DeleteFraudster")
def delete_fraudster(ctx: ApiContext, req: dict[str, Any]) -> None:
    services.fraudster_delete(
        domain=domain_selectors.domain_get(domain_id=req["DomainId"]), fraudster_id=req["FraudsterId"]
    )


@operation("ListFraudsters")
def list_fraudsters(ctx: ApiContext, req: dict[str, Any]) -> dict[str, Any]:
    domain = domain_selectors.domain_get(domain_id=req["DomainId"])
    watchlist = None
    if req.get("WatchlistId"):
        watchlist = selectors.watchlist_get(domain=domain, watchlist_id=req["WatchlistId"])
    page = selectors.fraudster_list(
        domain=domain,
        watchlist=watchlist,
        after=pagination.decode(ctx.operation, req),
        limit=pagination.page_size(req, default=100),
    )
    return {
        "FraudsterSummaries": [fraudster_to_api(fraudster) for fraudster in page.items],
        "NextToken": _page_token(ctx, req, page.next_position),
    }


@operation("AssociateFraudster")
def associate_fraudster(ctx: ApiContext, req: dict[str, Any]) -> dict[str, Any]:
    fraudster = services.fraudster_associate(
        domain=domain_selectors.domain_get(domain_id=req["DomainId"]),
        fraudster_id=req["FraudsterId"],
        watchlist_id=req["WatchlistId"],
    )
    return {"Fraudster": fraudster_to_api(fraudster)}


@operation("DisassociateFraudster")
def disassociate_fraudster(ctx: ApiContext, req: dict[str, Any]) -> dict[str, Any]:
    fraudster = services.fraudster_disassociate(
        domain=domain_selectors.domain_get(domain_id=req["DomainId"]),
        fraudster_id=req["FraudsterId"],
        watchlist_id=req["WatchlistId"],
    )
    return {"Fraudster": fraudster_to_api(fraudster)}
