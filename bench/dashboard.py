"""The dashboard bench: how fast the analysts' pages render over a big domain (issue 6: < 200 ms at 1,000,000).

For each database: a domain of N speakers seeded the way the api bench seeds it (bench.prepare), a
superuser signed in through the real sign-in form, gunicorn as `make run` serves, then each page fetched
sequentially (one client, so the time is the page's own, not queueing) and timed end to end over HTTP:
the speakers list (first page, a page deep in the domain, filtered by status, a search by customer id), a
speaker's page, the domains list and the domain's overview.
"""

from __future__ import annotations

import argparse
import http.client
import re
import secrets
import statistics
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import quote, urlencode

from bench.console import say, wait_quiet
from bench.server import Server
from bench.targets import Skipped, Target, prepare

TARGET_MS = 200.0
USERNAME = "bench-analyst"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("dashboard")
    group.add_argument(
        "--dashboard-size", type=int, default=1_000_000, help="speakers in the domain (1000000)"
    )
    group.add_argument("--dashboard-requests", type=int, default=40, help="timed requests per page (40)")


@dataclass
class PageTiming:
    name: str
    path: str
    p50_ms: float
    p99_ms: float
    status: int


@dataclass
class DashboardDatabase:
    key: str
    title: str
    skipped: str = ""
    version: str = ""
    seed_seconds: float = 0.0
    pages: list[PageTiming] = field(default_factory=list)


@dataclass
class DashboardBench:
    started_at: datetime
    seconds: float
    machine: dict[str, str]
    size: int
    requests: int
    background_cores: float | None
    databases: list[DashboardDatabase]


class _Browser:
    """Just enough of a browser: cookies, and the CSRF token of the sign-in form."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}

    def request(
        self, method: str, path: str, body: str | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, str]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        all_headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items()), **(headers or {})}
        connection.request(method, path, body=body, headers=all_headers)
        response = connection.getresponse()
        text = response.read().decode(errors="replace")
        for header in response.headers.get_all("Set-Cookie") or []:
            cookie = SimpleCookie(header)
            self.cookies.update({name: morsel.value for name, morsel in cookie.items()})
        connection.close()
        return response.status, text

    def sign_in(self, password: str) -> None:
        _, page = self.request("GET", "/accounts/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        assert token, "the sign-in page has no CSRF token"
        form = urlencode({"csrfmiddlewaretoken": token.group(1), "username": USERNAME, "password": password})
        status, _ = self.request(
            "POST",
            "/accounts/login/",
            form,
            {
                "Content-Type": "application/x-www-form-urlencoded",
                "Referer": f"http://127.0.0.1:{self.port}/",
            },
        )
        if status != 302 or "sessionid" not in self.cookies:
            raise RuntimeError(f"signing in failed (HTTP {status})")


_USER = """
from django.contrib.auth import get_user_model
get_user_model().objects.create_superuser("%s", email="", password="%s")
"""


def _pages(seeded: dict[str, Any], speaker_pks: dict[str, int]) -> list[tuple[str, str]]:
    domain = seeded["domain_id"]
    middle = seeded["describe_ids"][len(seeded["describe_ids"]) // 2]
    return [
        ("Speakers, first page", f"/speakers/?domain={domain}"),
        ("Speakers, a page 99 % deep", f"/speakers/?domain={domain}&after={speaker_pks['deep']}"),
        (
            "Speakers, status filter",
            f"/speakers/?domain={domain}&status=ENROLLED&after={speaker_pks['deep']}",
        ),
        ("Speakers, search by customer id", f"/speakers/?domain={domain}&q=bench-caller-000500000"),
        ("A speaker's page", f"/speakers/{domain}/{quote(middle, safe='')}/"),
        ("Domains list", "/domains/"),
        ("Domain overview", f"/domains/{domain}/overview/"),
    ]


_DEEP = """
import json
from speakers.models import Speaker
from domains.models import Domain
domain = Domain.objects.get(domain_id="%s")
ids = Speaker.objects.filter(domain=domain).order_by("pk").values_list("pk", flat=True)
count = ids.count()
print(json.dumps({"deep": ids[int(count * 0.99)]}))
"""


def _database(target: Target, args: argparse.Namespace) -> DashboardDatabase:
    import json
    import subprocess
    import sys

    from bench.targets import ROOT

    result = DashboardDatabase(key=target.key, title=target.title)
    say(f"{target.title}:")
    try:
        target.check_reachable()
        target.reset()
    except Skipped as reason:
        result.skipped = str(reason)
        return result
    env = target.env(secret_key=secrets.token_urlsafe(48))
    try:
        result.version = prepare(env, "setup")["version"]
        say(f"  seeding {args.dashboard_size:,} speakers …")
        started = time.monotonic()
        seeded = prepare(env, "seed", "--size", str(args.dashboard_size))
        result.seed_seconds = time.monotonic() - started
        password = secrets.token_urlsafe(16)

        def shell(code: str) -> str:
            done = subprocess.run(
                [sys.executable, "manage.py", "shell", "-c", code],
                cwd=ROOT, env=env, capture_output=True, text=True, check=True,
            )  # fmt: skip
            return done.stdout

        shell(_USER % (USERNAME, password))
        speaker_pks = json.loads(shell(_DEEP % seeded["domain_id"]).strip().splitlines()[-1])
        with Server(env, target.var_dir / "gunicorn.log") as server:
            browser = _Browser(server.port)
            browser.sign_in(password)
            for name, path in _pages(seeded, speaker_pks):
                result.pages.append(_time_page(browser, name, path, args.dashboard_requests))
                page = result.pages[-1]
                say(f"    {name}: p50 {page.p50_ms:.0f} ms, p99 {page.p99_ms:.0f} ms (HTTP {page.status})")
    finally:
        target.teardown()
    return result


def _time_page(browser: _Browser, name: str, path: str, requests: int) -> PageTiming:
    status = 0
    for _ in range(3):  # warm: templates compiled, data keys unwrapped, pages cached by the database
        status, _ = browser.request("GET", path)
    samples = []
    for _ in range(requests):
        started = time.perf_counter()
        status, _ = browser.request("GET", path)
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return PageTiming(
        name=name,
        path=path,
        p50_ms=statistics.median(samples),
        p99_ms=samples[max(0, int(0.99 * len(samples)) - 1)],
        status=status,
    )


def run(
    targets: list[Target], args: argparse.Namespace, *, machine: dict[str, str]
) -> tuple[DashboardBench, str]:
    started_at, started = datetime.now(UTC), time.monotonic()
    background = wait_quiet(getattr(args, "quiet_wait", 60.0))
    databases = [_database(target, args) for target in targets]
    bench = DashboardBench(
        started_at=started_at,
        seconds=time.monotonic() - started,
        machine=machine,
        size=args.dashboard_size,
        requests=args.dashboard_requests,
        background_cores=background,
        databases=databases,
    )
    return bench, render(bench)


def render(bench: DashboardBench) -> str:
    lines = [
        "## Dashboard pages over a big domain",
        "",
        f"Measured {bench.started_at:%Y-%m-%d %H:%M} UTC on {bench.machine.get('cpu', 'this machine')} "
        f"({bench.machine.get('cores', '?')} cores); `python -m bench --only dashboard`. One domain of "
        f"{bench.size:,} speakers (seeded as the api group seeds), a signed-in superuser, gunicorn as "
        f"`make run` serves; each page fetched {bench.requests} times in a row by one client after 3 warm-up "
        f"fetches, timed end to end over HTTP. Target: every page under {TARGET_MS:.0f} ms.",
        "",
    ]
    for database in bench.databases:
        if database.skipped:
            lines += [f"**{database.title}**: skipped: {database.skipped}", ""]
            continue
        lines += [
            f"**{database.title}** ({database.version}; seeding took {database.seed_seconds / 60:.1f} min)",
            "",
            "| page | p50 | p99 | HTTP | under 200 ms |",
            "|---|---:|---:|---:|---|",
        ]
        for page in database.pages:
            met = page.p99_ms < TARGET_MS and page.status == 200
            lines.append(
                f"| {page.name} | {page.p50_ms:.0f} ms | {page.p99_ms:.0f} ms | {page.status} | "
                f"{'yes' if met else '**no**'} |"
            )
        lines.append("")
    if bench.background_cores and bench.background_cores > 0.3:
        lines.append(f"Other processes kept {bench.background_cores:.1f} cores busy when the run started.")
    return "\n".join(lines).rstrip()
