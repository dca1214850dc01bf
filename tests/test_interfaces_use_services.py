"""House rule R1: the API, the views and the admin never write to models themselves."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INTERFACES = ("api.py", "views.py", "admin.py")
WRITE = re.compile(r"\.(save|create|update|delete|bulk_create|get_or_create|update_or_create)\(")


def test_interface_modules_make_no_direct_writes():
    offenders = []
    for app in ("accounts", "domains", "speakers", "fraudsters", "jobs", "calls", "voiceid_site"):
        for name in INTERFACES:
            path = ROOT / app / name
            if path.exists():
                for number, line in enumerate(path.read_text().splitlines(), 1):
                    if WRITE.search(line) and "services." not in line and "# service-call" not in line:
                        offenders.append(f"{app}/{name}:{number}: {line.strip()}")
    assert not offenders, "write through a service instead:\n" + "\n".join(offenders)
