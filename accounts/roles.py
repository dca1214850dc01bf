"""The dashboard's roles as Django groups, kept in step with the permissions each one needs.

Analysts work cases: they see everything and may opt out and delete speakers, manage fraudsters and
watchlists and start jobs. Auditors see everything, change nothing, and read the audit log. Superusers
have every permission and the admin. Analysts do not read the audit log: it records their own work, and
reviewing it is the auditors' job (separation of duties, docs/audit.md). Views check the model
permissions below, so a role is only a named set of them.
"""

from __future__ import annotations

from typing import Any

ANALYSTS = "Analysts"
AUDITORS = "Auditors"

VIEW = [
    "domains.view_domain",
    "speakers.view_speaker",
    "fraudsters.view_fraudster",
    "fraudsters.view_watchlist",
    "jobs.view_batchjob",
    "calls.view_session",
]
ROLE_PERMISSIONS: dict[str, list[str]] = {
    AUDITORS: [*VIEW, "audit.view_auditevent"],
    ANALYSTS: [
        *VIEW,
        "speakers.change_speaker",  # opt out
        "speakers.delete_speaker",
        "fraudsters.add_fraudster",
        "fraudsters.change_fraudster",  # associate / disassociate
        "fraudsters.delete_fraudster",
        "fraudsters.add_watchlist",
        "fraudsters.change_watchlist",
        "fraudsters.delete_watchlist",
        "jobs.add_batchjob",  # start jobs
    ],
}


def ensure_roles(**_: Any) -> None:
    """Create the groups and give each exactly its permissions (post_migrate: after every migrate)."""
    from django.contrib.auth.models import Group, Permission

    for name, wanted in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        permissions = []
        for dotted in wanted:
            app_label, codename = dotted.split(".")
            permission = Permission.objects.filter(
                content_type__app_label=app_label, codename=codename
            ).first()
            if permission is not None:  # absent only while the app's own migrations are still to run
                permissions.append(permission)
        group.permissions.set(permissions)
