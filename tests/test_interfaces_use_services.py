"""House rule R1: the API, the views, the admin, Celery tasks and management commands never write to models."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = ("accounts", "domains", "speakers", "fraudsters", "jobs", "calls", "events", "audit", "voiceid_site")
INTERFACES = ("api.py", "views.py", "admin.py", "tasks.py", "management/commands/*.py")
WRITE = re.compile(r"\.(save|create|update|delete|bulk_create|get_or_create|update_or_create)\(")


def test_interface_modules_make_no_direct_writes():
    offenders = []
    for app in APPS:
        for pattern in INTERFACES:
            for path in sorted((ROOT / app).glob(pattern)):
                for number, line in enumerate(path.read_text().splitlines(), 1):
                    if WRITE.search(line) and "services." not in line and "# service-call" not in line:
                        offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "write through a service instead:\n" + "\n".join(offenders)


def test_the_check_finds_the_interface_modules():
    # A glob that matched nothing would make the test above pass vacuously.
    found = {
        path.relative_to(ROOT).as_posix() for app in APPS for p in INTERFACES for path in (ROOT / app).glob(p)
    }
    assert {"jobs/admin.py", "jobs/tasks.py", "jobs/management/commands/sweep.py"} <= found
