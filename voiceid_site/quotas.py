"""Resource quotas (spec §8.1) from settings.VOICEID_QUOTAS, enforced with ServiceQuotaExceededException."""

from __future__ import annotations

from django.conf import settings

from voiceid_site.exceptions import ServiceQuotaExceeded

_SETTING_NAMES = {
    "domains_per_account": "VOICEID_QUOTA_DOMAINS",
    "speakers_per_domain": "VOICEID_QUOTA_SPEAKERS_PER_DOMAIN",
    "watchlists_per_domain": "VOICEID_QUOTA_WATCHLISTS_PER_DOMAIN",
    "fraudsters_per_watchlist": "VOICEID_QUOTA_FRAUDSTERS_PER_WATCHLIST",
    "tags_per_domain": "VOICEID_QUOTA_TAGS_PER_DOMAIN",
    "active_sessions_per_domain": "VOICEID_QUOTA_ACTIVE_SESSIONS_PER_DOMAIN",
    "active_enrollment_jobs_per_domain": "VOICEID_QUOTA_ACTIVE_ENROLLMENT_JOBS_PER_DOMAIN",
    "active_registration_jobs_per_domain": "VOICEID_QUOTA_ACTIVE_REGISTRATION_JOBS_PER_DOMAIN",
    "speakers_per_enrollment_job": "VOICEID_QUOTA_SPEAKERS_PER_ENROLLMENT_JOB",
    "fraudsters_per_registration_job": "VOICEID_QUOTA_FRAUDSTERS_PER_REGISTRATION_JOB",
}


def limit(name: str) -> int:
    return int(settings.VOICEID_QUOTAS[name])


def ensure_room(name: str, *, current: int, adding: int = 1, what: str) -> None:
    allowed = limit(name)
    if current + adding > allowed:
        raise ServiceQuotaExceeded(
            f"Quota exceeded: {what} would reach {current + adding}, above the limit of {allowed} "
            f"(raise it with the {_SETTING_NAMES[name]} setting)."
        )
