"""R1: the admin writes only through services, so no admin module calls the ORM's write methods."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ADMIN_MODULES = [
    "accounts/admin.py",
    "domains/admin.py",
    "speakers/admin.py",
    "fraudsters/admin.py",
    "jobs/admin.py",
    "events/admin.py",
    "voiceid_site/admin_support.py",
]
ORM_WRITE = re.compile(
    r"\.(save|create|update|delete|bulk_create|bulk_update|get_or_create|update_or_create)\("
)


def test_admin_modules_write_only_through_services() -> None:
    offenders = [
        f"{path}:{number}: {line.strip()}"
        for path in ADMIN_MODULES
        for number, line in enumerate((ROOT / path).read_text().splitlines(), start=1)
        if ORM_WRITE.search(line)
    ]

    assert offenders == []
