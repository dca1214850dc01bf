"""Reads of domains and their tags."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import regex
from django.conf import settings
from django.db.models import OuterRef, QuerySet, Subquery

from domains.models import Domain, Tag
from voiceid_site import rows
from voiceid_site.exceptions import Conflict, ResourceNotFound
from voiceid_site.paging import Page, keyset_page

if TYPE_CHECKING:
    from jobs.models import BatchJob

_DOMAIN_ARN = regex.compile(
    r"^arn:aws(?:-[^:]+)?:voiceid:(?P<region>[^:]*):(?P<account>[0-9]{12}):domain/(?P<id>[a-zA-Z0-9]{22})\Z"
)


def _with_default_watchlist(queryset: QuerySet[Domain]) -> QuerySet[Domain]:
    from fraudsters.models import Watchlist

    default = Watchlist.objects.filter(domain=OuterRef("pk"), is_default=True).values("watchlist_id")[:1]
    return queryset.annotate(default_watchlist_id=Subquery(default))


def _domain_or_404(domain: Domain | None, domain_id: str) -> Domain:
    if domain is None:
        raise ResourceNotFound(f"Domain {domain_id} does not exist.", resource_type="DOMAIN")
    return domain


def domain_find(*, domain_id: str, for_update: bool = False) -> Domain | None:
    """The domain row alone, None if there is none. Read by hand-written SQL (voiceid_site.rows): every API
    request on a domain starts here."""
    return rows.row_by_key(Domain, columns=["domain_id"], values=[domain_id], for_update=for_update)


def domain_get(*, domain_id: str, for_update: bool = False) -> Domain:
    """The domain row alone: what every speaker, watchlist, fraudster and session operation needs."""
    return _domain_or_404(domain_find(domain_id=domain_id, for_update=for_update), domain_id)


def domain_describe(*, domain_id: str) -> Domain:
    """The domain with its default watchlist id, as the Domain shape presents it."""
    found = _with_default_watchlist(Domain.objects.all()).filter(domain_id=domain_id).first()
    return _domain_or_404(found, domain_id)


def domain_get_active(*, domain_id: str, for_update: bool = False) -> Domain:
    """The domain, refusing with DOMAIN_NOT_ACTIVE once it was deleted (SUSPENDED).

    `for_update` locks the row until the caller's transaction ends.
    """
    domain = domain_get(domain_id=domain_id, for_update=for_update)
    ensure_active(domain)
    return domain


def ensure_active(domain: Domain) -> None:
    if not domain.is_active:
        raise Conflict(
            f"The domain {domain.domain_id} is not active (status {domain.status}): it was deleted and "
            "accepts no new data.",
            conflict_type="DOMAIN_NOT_ACTIVE",
        )


def domain_get_by_arn(*, arn: str) -> Domain:
    match = _DOMAIN_ARN.match(arn)
    if match is None or match["account"] != settings.VOICEID_ACCOUNT_ID:
        raise ResourceNotFound(f"No domain has the ARN {arn}.", resource_type="DOMAIN")
    domain = domain_get(domain_id=match["id"])
    if domain.arn != arn:
        raise ResourceNotFound(
            f"No domain has the ARN {arn} (did you mean {domain.arn}?).", resource_type="DOMAIN"
        )
    return domain


def domain_list(*, after: int | None, limit: int) -> Page[Domain]:
    return keyset_page(_with_default_watchlist(Domain.objects.all()), after=after, limit=limit)


def domain_tags(*, domain: Domain) -> list[Tag]:
    return list(domain.tags.order_by("key"))


# --- dashboard reads ---------------------------------------------------------------------------------


def domain_dashboard_list(*, after: int | None, limit: int) -> Page[Domain]:
    """Domains with their fraudster count (speakers are counted on the row) and a readable name.

    One query for the page, whatever its size: the count is a correlated subquery, not a query per row.
    """
    from django.db.models import Count, IntegerField

    from domains.sealing import readable
    from fraudsters.models import Fraudster

    fraudsters = (
        Fraudster.objects.filter(domain=OuterRef("pk"))
        .order_by()
        .values("domain")
        .annotate(total=Count("pk"))
        .values("total")
    )
    queryset = Domain.objects.annotate(fraudster_count=Subquery(fraudsters, output_field=IntegerField()))
    page = keyset_page(queryset, after=after, limit=limit)
    for domain in page.items:
        domain.display_name = readable(domain, "name")  # type: ignore[attr-defined]
    return page


def domain_choices() -> list[tuple[str, str]]:
    """(DomainId, label) of every domain, for the dashboard's domain picker."""
    from domains.sealing import readable

    return [(domain.domain_id, readable(domain, "name")) for domain in Domain.objects.order_by("pk")]


def domain_default() -> Domain | None:
    """The domain a dashboard page shows when the URL names none: the first active one, else the first."""
    return (
        Domain.objects.filter(status=Domain.Status.ACTIVE).order_by("pk").first()
        or Domain.objects.order_by("pk").first()
    )


@dataclass(frozen=True)
class DomainCounts:
    """What a domain holds, for its overview page."""

    speakers_by_status: dict[str, int]  # every status, zeros included, in Speaker.Status order
    fraudsters: int
    watchlists: int

    @property
    def speakers(self) -> int:
        return sum(self.speakers_by_status.values())


def domain_counts(*, domain: Domain) -> DomainCounts:
    """Speakers by status, fraudsters and watchlists of the domain: three counting queries.

    The speaker count groups the domain's speakers by status through the (domain, id) index, so it reads
    every speaker of the domain once (a domain of a million speakers: a few hundred milliseconds on
    PostgreSQL); fraudsters and watchlists are counted the same way and are far fewer.
    """
    from django.db.models import Count

    from fraudsters.models import Fraudster, Watchlist
    from speakers.models import Speaker

    by_status = dict.fromkeys(Speaker.Status.values, 0)
    counted = Speaker.objects.filter(domain=domain).order_by().values("status").annotate(total=Count("pk"))
    for row in counted:
        by_status[row["status"]] = row["total"]
    return DomainCounts(
        speakers_by_status=by_status,
        fraudsters=Fraudster.objects.filter(domain=domain).count(),
        watchlists=Watchlist.objects.filter(domain=domain).count(),
    )


def domain_running_jobs(*, domain: Domain) -> list[BatchJob]:
    """The domain's batch jobs still SUBMITTED or IN_PROGRESS, oldest first.

    Bounded by the quotas (one active job of each kind per domain by default), so there are only ever a few.
    """
    from jobs.models import BatchJob

    jobs = BatchJob.objects.filter(domain=domain, status__in=BatchJob.ACTIVE_STATUSES).order_by("pk")
    found = list(jobs)
    for job in found:
        job.domain = domain  # already loaded: spare the query per job that reading its sealed name makes
    return found


def domain_quota_usage(*, domain: Domain) -> list[tuple[str, int, int]]:
    """(what, in use, limit) for each per-domain quota (spec §8.1), for the admin's domain page."""
    from calls.selectors import active_session_count
    from jobs.models import BatchJob
    from voiceid_site import quotas

    active_jobs = BatchJob.objects.filter(domain=domain, status__in=BatchJob.ACTIVE_STATUSES)
    return [
        ("speakers", domain.speaker_count, quotas.limit("speakers_per_domain")),
        ("watchlists", domain.watchlists.count(), quotas.limit("watchlists_per_domain")),
        ("tags", domain.tags.count(), quotas.limit("tags_per_domain")),
        ("active sessions", active_session_count(domain=domain), quotas.limit("active_sessions_per_domain")),
        (
            "active enrollment jobs",
            active_jobs.filter(kind=BatchJob.Kind.SPEAKER_ENROLLMENT).count(),
            quotas.limit("active_enrollment_jobs_per_domain"),
        ),
        (
            "active registration jobs",
            active_jobs.filter(kind=BatchJob.Kind.FRAUDSTER_REGISTRATION).count(),
            quotas.limit("active_registration_jobs_per_domain"),
        ),
    ]
