"""The analyst's day, jobs and calls: start a job from the form and watch its bar reach 100 %, open a call
and see its decision. Headless Chromium against the live server (fixtures in tests/browser/conftest.py)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from calls import evaluation
from calls import services as call_services
from domains import services as domain_services
from domains.models import Domain
from fraudsters import screening
from jobs import processing
from jobs import services as job_services
from jobs.models import BatchJob
from voiceid_site import demo
from voiceid_site.celery import app
from voiceprints import audio

pytestmark = pytest.mark.browser
POLL_TIMEOUT_MS = 20_000  # the bar polls every 2 s; the enrollment itself takes a few seconds


@pytest.fixture
def domain(transactional_db: None) -> Domain:
    screening.forget()  # a flushed database reuses watchlist primary keys
    return domain_services.domain_create(
        name="Contact centre", kms_key_id="alias/browser", region="us-east-1"
    )


@pytest.fixture
def no_worker() -> Any:
    """Started jobs wait for a worker, so the test plays the worker and the page shows each step."""
    app.conf.task_always_eager = False
    yield
    app.conf.task_always_eager = True


def _after_next_poll(page: Any) -> None:
    """Return right after the page's next progress poll was answered: the test's writes then fall between
    two polls rather than across one."""
    with page.expect_response(lambda response: "/progress/" in response.url, timeout=POLL_TIMEOUT_MS):
        pass


def test_an_analyst_starts_a_job_from_the_form_and_watches_it_reach_100_percent(
    browser_page: Any,
    live_server: Any,
    sign_in: Any,
    screenshot: Any,
    settings: Any,
    tmp_path: Path,
    domain: Domain,
    no_worker: None,
) -> None:
    from playwright.sync_api import expect

    settings.VOICEID_LOCAL_S3_ROOT = tmp_path / "s3"
    manifest_uri = demo.write_batch_demo(tmp_path / "s3")
    page = browser_page
    sign_in(page, live_server, "analyst")

    page.goto(f"{live_server.url}/jobs/")
    expect(page.get_by_text("No batch job has run yet")).to_be_visible()
    page.get_by_role("link", name="Start a job").click()
    page.get_by_label("Job name (optional)").fill("dave-migration")
    page.get_by_label("Manifest S3 URI").fill(manifest_uri)
    page.get_by_label("Output folder S3 URI").fill(f"s3://{demo.DEMO_BUCKET}/output")
    expect(page.get_by_label("Data access role ARN")).to_have_value(re.compile(r"^arn:aws:iam::\d{12}:role/"))
    screenshot(page, "jobs-start")
    page.get_by_role("button", name="Start the job").click()

    expect(page.get_by_role("heading", name="Speaker enrollment job dave-migration")).to_be_visible()
    expect(page.get_by_text("Started speaker enrollment job")).to_be_visible()
    bar = page.locator(".job-progress progress")
    expect(bar).to_have_attribute("value", "0")
    expect(page.locator(".job-progress .badge")).to_have_text("Submitted")
    job = BatchJob.objects.get()

    # The worker reads the manifest: the next poll shows the job in progress, still at 0 %.
    _after_next_poll(page)
    job_services.job_prepare(job_pk=job.pk)
    expect(page.locator(".job-progress .badge")).to_have_text("In Progress", timeout=POLL_TIMEOUT_MS)

    # The worker enrolls dave: the bar reaches 100 % and stops polling; the summary refreshes itself.
    _after_next_poll(page)
    processing.job_run(job_pk=job.pk)
    expect(bar).to_have_attribute("value", "100", timeout=POLL_TIMEOUT_MS)
    expect(page.locator(".job-progress .badge")).to_have_text("Completed")
    expect(page.locator(".job-progress")).not_to_have_attribute("hx-trigger", re.compile("every"))
    expect(page.get_by_role("link", name="Download the output file")).to_be_visible(timeout=POLL_TIMEOUT_MS)
    expect(page.get_by_text("None. Failed requests are listed here")).to_be_visible()
    screenshot(page, "jobs-detail")

    page.get_by_role("link", name=re.compile("Batch jobs of")).click()
    row = page.get_by_role("row", name=re.compile("dave-migration"))
    expect(row.locator("progress")).to_have_attribute("value", "100")
    screenshot(page, "jobs-list")


def test_an_auditor_opens_a_call_and_sees_its_decision(
    browser_page: Any, live_server: Any, sign_in: Any, screenshot: Any, domain: Domain
) -> None:
    from playwright.sync_api import expect

    alice = demo.CALLERS[0]
    demo.seed_voices(domain)
    session = call_services.session_start(
        domain=domain,
        session_name="contact-4711",
        speaker_id=alice.name,
        settings_=call_services.SessionSettings(),
    )
    call_services.session_put_audio(
        domain=domain,
        session_name_or_id="contact-4711",
        data=audio.pcm16_bytes(alice.call_audio()),
        audio_format="PCM_S16LE_8000",
    )
    result = evaluation.session_evaluate(domain=domain, session_name_or_id=session.session_id)
    assert result.authentication["Decision"] == "ACCEPT"

    page = browser_page
    sign_in(page, live_server, "auditor")
    page.goto(f"{live_server.url}/calls/?domain={domain.domain_id}")
    row = page.get_by_role("row", name=re.compile("contact-4711"))
    expect(row.get_by_text("ACCEPT", exact=True)).to_be_visible()
    expect(row.get_by_text("LOW_RISK", exact=True)).to_be_visible()
    expect(row.locator("svg.gauge-ok")).to_have_count(2)
    screenshot(page, "calls-list")

    row.get_by_role("link", name="contact-4711").click()
    expect(page.get_by_role("heading", name="Call contact-4711")).to_be_visible()
    score = result.authentication["Score"]
    expect(page.get_by_text(f"Score {score} against the acceptance threshold 90")).to_be_visible()
    expect(
        page.get_by_role("img", name=re.compile(rf"Authentication score {score}, threshold 90"))
    ).to_be_visible()
    expect(page.locator(".badge", has_text="ONGOING").first).to_be_visible()
    screenshot(page, "calls-detail")
