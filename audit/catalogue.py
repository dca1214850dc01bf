"""What the audit log records: the API operations, dashboard URL names and admin models that read or change
biometric data. Kept here, in one greppable place, so adding a screen or an operation means adding a line."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ApiOperation:
    resource_type: str
    member: str | None  # the request member naming the resource
    # Where the response names the resource by its generated id: the members to follow, outermost first.
    from_response: tuple[str, ...] | None = None
    speaker_member: str | None = None  # a SpeakerId that is not the resource itself (sessions)


SPEAKER, FRAUDSTER, WATCHLIST, SESSION, JOB, DOMAIN, ACCESS_KEY = (
    "SPEAKER",
    "FRAUDSTER",
    "WATCHLIST",
    "SESSION",
    "JOB",
    "DOMAIN",
    "ACCESS_KEY",
)

# Operations that read or change biometric data. Not recorded: PutSessionAudio (one call per audio chunk
# would flood the log; the session's StartSession/EvaluateSession/EndSession are recorded), watchlist
# CRUD and tags (no biometric data), job Describe/List (progress only), CreateDomain/DescribeDomain/ListDomains.
API_OPERATIONS: dict[str, ApiOperation] = {
    "DescribeSpeaker": ApiOperation(SPEAKER, "SpeakerId", ("Speaker", "GeneratedSpeakerId")),
    "OptOutSpeaker": ApiOperation(SPEAKER, "SpeakerId", ("Speaker", "GeneratedSpeakerId")),
    "DeleteSpeaker": ApiOperation(SPEAKER, "SpeakerId"),
    "ListSpeakers": ApiOperation(DOMAIN, "DomainId"),
    "DescribeFraudster": ApiOperation(FRAUDSTER, "FraudsterId"),
    "DeleteFraudster": ApiOperation(FRAUDSTER, "FraudsterId"),
    "AssociateFraudster": ApiOperation(FRAUDSTER, "FraudsterId"),
    "DisassociateFraudster": ApiOperation(FRAUDSTER, "FraudsterId"),
    "ListFraudsters": ApiOperation(DOMAIN, "DomainId"),
    "StartSession": ApiOperation(SESSION, None, ("Session", "SessionId"), speaker_member="SpeakerId"),
    # A call is named by its SessionName or its id (id#...): its events are recorded under the id, which the
    # answer gives, so that a search by the id the call page shows finds all of them.
    "UpdateSession": ApiOperation(
        SESSION, "SessionNameOrId", ("Session", "SessionId"), speaker_member="SpeakerId"
    ),
    "DescribeSession": ApiOperation(SESSION, "SessionNameOrId", ("Session", "SessionId")),
    "EvaluateSession": ApiOperation(SESSION, "SessionNameOrId", ("SessionId",)),
    "EnrollBySession": ApiOperation(SESSION, "SessionNameOrId", ("Session", "SessionId")),
    "EndSession": ApiOperation(SESSION, "SessionNameOrId", ("Session", "SessionId")),
    "StartSpeakerEnrollmentJob": ApiOperation(JOB, None, ("Job", "JobId")),
    "StartFraudsterRegistrationJob": ApiOperation(JOB, None, ("Job", "JobId")),
    "UpdateDomain": ApiOperation(DOMAIN, "DomainId"),  # a new KMS key re-encrypts every voiceprint
    "DeleteDomain": ApiOperation(DOMAIN, "DomainId"),  # erases every speaker and fraudster after 30 days
}

# Dashboard pages recorded on GET (they show one speaker, fraudster, watchlist, job or call). Lists, the
# job progress poll and the overview are not: they would record every refresh and show no one's data alone.
DASHBOARD_READS = frozenset(
    {
        "speakers:detail",
        "speakers:list",  # shows a page of decrypted customer ids
        "fraudsters:detail",
        "fraudsters:watchlist",
        "jobs:detail",
        "jobs:output",
        "calls:detail",
    }
)
# Parts of an audited page that keep themselves current (htmx polls while a job runs or a call streams): their
# refreshes are the page the person opened, already recorded, not new reads (a job page open for 150 s wrote
# 77 rows before).
SELF_REFRESHING_PARTS = frozenset({"job-summary", "session-results"})
# The dashboard action that does what an API operation does: a search by either name finds both (an
# auditor asking for OptOutSpeaker means the opt-outs, however they were made).
DASHBOARD_EQUIVALENTS: dict[str, frozenset[str]] = {
    "DescribeSpeaker": frozenset({"speakers:detail"}),
    "OptOutSpeaker": frozenset({"speakers:opt-out"}),
    "DeleteSpeaker": frozenset({"speakers:delete"}),
    "ListSpeakers": frozenset({"speakers:list"}),
    "DescribeFraudster": frozenset({"fraudsters:detail"}),
    "DeleteFraudster": frozenset({"fraudsters:delete"}),
    "AssociateFraudster": frozenset({"fraudsters:associate"}),
    "DisassociateFraudster": frozenset({"fraudsters:disassociate"}),
    "StartSpeakerEnrollmentJob": frozenset({"jobs:start"}),
    "StartFraudsterRegistrationJob": frozenset({"jobs:start"}),
}


def actions_meaning(action: str) -> set[str]:
    """Every recorded action name that does what `action` (an API operation or a dashboard action) names."""
    meaning = {action}
    for operation, pages in DASHBOARD_EQUIVALENTS.items():
        if action.lower() == operation.lower() or action.lower() in pages:
            meaning |= {operation, *pages}
    return meaning


# Every POST to these namespaces is recorded (opt out, delete, associate, start a job, evaluate a recording
# ...), so a new form in one of these apps is audited without a change here.
DASHBOARD_POST_NAMESPACES = frozenset({"domains", "speakers", "fraudsters", "jobs", "calls"})

# URL keyword arguments that name a resource, in order of precedence.
URL_RESOURCE_KWARGS: tuple[tuple[str, str], ...] = (
    ("speaker_id", SPEAKER),
    ("fraudster_id", FRAUDSTER),
    ("watchlist_id", WATCHLIST),
    ("job_id", JOB),
    ("session_id", SESSION),
    ("domain_id", DOMAIN),
)

# Admin models whose add/change/delete pages and changelist actions are recorded (GET of a change page
# too: it shows the record). Value: the resource type and the field that holds the object's generated id.
ADMIN_MODELS: dict[str, tuple[str, str]] = {
    "speakers_speaker": (SPEAKER, "generated_speaker_id"),
    "fraudsters_fraudster": (FRAUDSTER, "generated_fraudster_id"),
    "fraudsters_watchlist": (WATCHLIST, "watchlist_id"),
    "domains_domain": (DOMAIN, "domain_id"),
    "accounts_accesskey": (ACCESS_KEY, "access_key_id"),
}
ADMIN_VIEWS = ("add", "change", "delete", "changelist")
