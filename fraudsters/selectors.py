"""Reads of watchlists and fraudsters."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from django.db.models import Prefetch, QuerySet

from domains.models import Domain
from fraudsters.models import Fraudster, Watchlist, WatchlistMembership
from voiceid_site.exceptions import ResourceNotFound
from voiceid_site.paging import Page, keyset_page


def watchlist_get(*, domain: Domain, watchlist_id: str) -> Watchlist:
    watchlist = Watchlist.objects.filter(domain=domain, watchlist_id=watchlist_id).first()
    if watchlist is None:
        raise ResourceNotFound(
            f"Watchlist {watchlist_id} does not exist in domain {domain.domain_id}.",
            resource_type="WATCHLIST",
        )
    watchlist.domain = domain
    return watchlist


def watchlist_default(*, domain: Domain) -> Watchlist:
    return Watchlist.objects.get(domain=domain, is_default=True)


def watchlist_list(*, domain: Domain, after: int | None, limit: int) -> Page[Watchlist]:
    page = keyset_page(Watchlist.objects.filter(domain=domain), after=after, limit=limit)
    for watchlist in page.items:
        watchlist.domain = domain
    return page


def with_watchlist_ids(queryset: QuerySet[Fraudster]) -> QuerySet[Fraudster]:
    """Prefetch memberships so that fraudster_watchlist_ids costs no query per fraudster."""
    memberships = WatchlistMembership.objects.select_related("watchlist").order_by("pk")
    return queryset.prefetch_related(Prefetch("memberships", queryset=memberships))


def fraudster_watchlist_ids(fraudster: Fraudster) -> list[str]:
    return [membership.watchlist.watchlist_id for membership in fraudster.memberships.all()]


def fraudster_get(*, domain: Domain, fraudster_id: str) -> Fraudster:
    fraudster = with_watchlist_ids(
        Fraudster.objects.filter(domain=domain, generated_fraudster_id=fraudster_id)
    ).first()
    if fraudster is None:
        raise ResourceNotFound(
            f"Fraudster {fraudster_id} does not exist in domain {domain.domain_id}.",
            resource_type="FRAUDSTER",
        )
    fraudster.domain = domain
    return fraudster


def fraudster_list(
    *, domain: Domain, watchlist: Watchlist | None = None, after: int | None, limit: int
) -> Page[Fraudster]:
    fraudsters = Fraudster.objects.filter(domain=domain)
    if watchlist is not None:
        fraudsters = fraudsters.filter(memberships__watchlist=watchlist)
    page = keyset_page(with_watchlist_ids(fraudsters), after=after, limit=limit)
    for fraudster in page.items:
        fraudster.domain = domain
        for membership in fraudster.memberships.all():  # prefetched
            membership.watchlist.domain = domain  # spare a query per row when its name is unsealed
    return page


def watchlist_dashboard_list(*, domain: Domain, after: int | None, limit: int) -> Page[Watchlist]:
    """Watchlists with their member counts, for the dashboard (one query for the page)."""
    from django.db.models import Count

    page = keyset_page(
        Watchlist.objects.filter(domain=domain).annotate(fraudster_count=Count("memberships")),
        after=after,
        limit=limit,
    )
    for watchlist in page.items:
        watchlist.domain = domain
    return page


def watchlist_all(*, domain: Domain) -> list[Watchlist]:
    """Every watchlist of the domain (a quota keeps them few), for the forms' choices.

    Each carries `choice_label`: its name, and its id too where another watchlist has the same name (names
    need not be unique, as in Voice ID), so that a choice can always be told apart.
    """
    return watchlists_by_domain(domains=[domain])[domain.pk]


def watchlists_by_domain(*, domains: Sequence[Domain]) -> dict[int, list[Watchlist]]:
    """`watchlist_all` of each of `domains` in one query, by domain pk (a form listing every domain's)."""
    by_pk = {domain.pk: domain for domain in domains}
    grouped: dict[int, list[Watchlist]] = {pk: [] for pk in by_pk}
    for watchlist in Watchlist.objects.filter(domain_id__in=list(by_pk)).order_by("pk"):
        watchlist.domain = by_pk[watchlist.domain_id]
        grouped[watchlist.domain_id].append(watchlist)
    for watchlists in grouped.values():
        names = Counter(watchlist.name for watchlist in watchlists)
        for watchlist in watchlists:
            label = watchlist.name
            watchlist.choice_label = label if names[label] == 1 else f"{label} ({watchlist.watchlist_id})"  # type: ignore[attr-defined]
    return grouped


def fraudster_memberships(*, fraudster: Fraudster) -> list[WatchlistMembership]:
    """The fraudster's watchlists with when it joined each, oldest first."""
    memberships = list(fraudster.memberships.all())  # prefetched by fraudster_get
    for membership in memberships:
        membership.watchlist.domain = fraudster.domain
    return memberships


def fraudster_has_voiceprint(*, fraudster: Fraudster) -> bool:
    from fraudsters.models import FraudsterVoiceprint

    return FraudsterVoiceprint.objects.filter(fraudster=fraudster).exists()
