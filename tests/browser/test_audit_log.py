"""The audit page in headless Chromium: an auditor opens it without console errors or CSP refusals."""

from __future__ import annotations

import pytest

from audit import services

pytestmark = pytest.mark.browser


def test_an_auditor_opens_the_audit_log_and_filters_it(browser_page, live_server, sign_in, screenshot):
    services.audit_event_record(
        actor="integration", access_key_id="AKIAEXAMPLE", channel="API", action="OptOutSpeaker", status=200,
        domain_id="D" * 22, resource_type="SPEAKER", resource_id="id#" + "c" * 22, source_ip="192.0.2.1",
    )  # fmt: skip
    services.audit_event_record(
        actor="ann", channel="DASHBOARD", action="calls:detail", status=200, source_ip="192.0.2.2"
    )
    sign_in(browser_page, live_server, "auditor")
    browser_page.get_by_role("link", name="Audit log").click()
    browser_page.wait_for_load_state()
    assert browser_page.get_by_role("heading", name="Audit log").is_visible()
    assert browser_page.get_by_text("OptOutSpeaker").first.is_visible()
    screenshot(browser_page, "audit-log")

    browser_page.get_by_label("Channel").select_option("DASHBOARD")
    browser_page.get_by_role("button", name="Search").click()
    browser_page.wait_for_url("**channel=DASHBOARD**")
    browser_page.get_by_text("calls:detail").wait_for()
    assert browser_page.locator("#audit-rows").get_by_text("OptOutSpeaker").count() == 0
