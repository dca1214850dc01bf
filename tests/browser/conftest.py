"""Fixtures for the browser tests: a Playwright page on the live server that fails on console errors or CSP
violations, signing in as a role, and screenshots into var/screenshots/ (CI keeps that folder).

Debian's `chromium` is driven through `executable_path`: Playwright's own browser downloads are never used.
Tests skip, saying why, when Playwright or Chromium is missing.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
# CI can collect them from anywhere it keeps: VOICEID_SCREENSHOTS_DIR (default var/screenshots).
SCREENSHOTS = Path(os.environ.get("VOICEID_SCREENSHOTS_DIR") or ROOT / "var" / "screenshots")
CHROMIUM = os.environ.get("VOICEID_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
# --no-sandbox: the tests may run as root (CI containers); the rest stop connection attempts to Google's
# services, which this network refuses and which would only slow the start.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "correct horse battery staple"
ROLES = ("analyst", "auditor", "superuser")

# Reported to the console by the page itself: Chromium logs most CSP refusals, but not every one.
CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error(`CSP violation: ${event.violatedDirective} blocked ${event.blockedURI || "inline"}`);
});
"""


@dataclass
class PageProblems:
    """What went wrong in the browser while a test ran: console errors, uncaught exceptions, CSP refusals."""

    messages: list[str] = field(default_factory=list)

    def add(self, kind: str, text: str, url: str) -> None:
        self.messages.append(f"{kind} on {url}: {text}")


@pytest.fixture(scope="session")
def _playwright_browser() -> Iterator[Any]:
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="Playwright is not installed (pip install .[test])"
    )
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM}: apt-get install chromium (make install-test does)")
    # Playwright's sync API keeps an asyncio loop running in this thread; Django would then refuse the
    # test's own ORM calls as "async unsafe" although they are plain synchronous code.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def browser_page(_playwright_browser: Any, live_server: Any) -> Iterator[Any]:
    """A fresh browser context's page (own cookies) on the live server; the test fails if the page logged
    a console error, threw, or had anything refused by the Content-Security-Policy."""
    context = _playwright_browser.new_context(
        base_url=live_server.url, viewport={"width": 1280, "height": 860}, locale="en-GB"
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.add_init_script(CSP_LISTENER)
    problems = PageProblems()

    def on_console(message: Any) -> None:
        if message.type != "error":
            return
        # "Failed to load resource" names no URL in its text; the location does.
        source = (message.location or {}).get("url") or ""
        problems.add("console error", f"{message.text} [{source}]" if source else message.text, page.url)

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.add("uncaught exception", str(error), page.url))
    page.problems = problems  # tests that provoke an error on purpose may inspect and clear it
    yield page
    context.close()
    if problems.messages:
        pytest.fail("the browser reported problems:\n" + "\n".join(problems.messages), pytrace=False)


def sign_in_as(page: Any, live_server: Any, role: str) -> Any:
    """Create a user with `role` ("analyst", "auditor" or "superuser") and sign in through the form."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from accounts import roles

    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}: one of {ROLES}")
    user_model = get_user_model()
    username = f"{role}-{user_model.objects.count() + 1}"
    if role == "superuser":
        user = user_model.objects.create_superuser(username, password=PASSWORD)
    else:
        # Groups come from post_migrate; a flushed test database gets them back the same way.
        roles.ensure_roles()
        user = user_model.objects.create_user(username, password=PASSWORD)
        user.groups.add(Group.objects.get(name=roles.ANALYSTS if role == "analyst" else roles.AUDITORS))
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    assert "/accounts/login/" not in page.url, f"signing in as {role} failed"
    return user


def take_screenshot(page: Any, name: str) -> Path:
    """Write the full page to <SCREENSHOTS>/<name>.png (overwritten on each run) and return the path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.fixture
def sign_in() -> Callable[[Any, Any, str], Any]:
    return sign_in_as


@pytest.fixture
def screenshot() -> Callable[[Any, str], Path]:
    return take_screenshot
