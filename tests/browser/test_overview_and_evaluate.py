"""The domain overview draws its charts under the CSP without console errors, and evaluating an uploaded
recording against a speaker shows the decision. Headless Chromium against the live server
(fixtures in tests/browser/conftest.py)."""

from __future__ import annotations

import io
import re
import wave
from typing import Any

import numpy as np
import pytest

from calls import evaluation
from calls import services as call_services
from domains import services as domain_services
from domains.models import Domain
from fraudsters import screening
from voiceid_site import demo
from voiceprints import audio

pytestmark = pytest.mark.browser
ALICE, BOB = demo.CALLERS[0], demo.CALLERS[1]


@pytest.fixture
def domain(transactional_db: None) -> Domain:
    screening.forget()  # a flushed database reuses watchlist primary keys
    domain = domain_services.domain_create(
        name="Contact centre", kms_key_id="alias/browser", region="us-east-1"
    )
    demo.seed_voices(domain)
    return domain


def _call(domain: Domain, name: str, speaker_id: str, samples: np.ndarray) -> dict[str, Any]:
    """A real call: streamed, then evaluated as an integration would; returns its authentication result."""
    call_services.session_start(
        domain=domain, session_name=name, speaker_id=speaker_id, settings_=call_services.SessionSettings()
    )
    call_services.session_put_audio(
        domain=domain,
        session_name_or_id=name,
        data=audio.pcm16_bytes(samples),
        audio_format="PCM_S16LE_8000",
    )
    return evaluation.session_evaluate(domain=domain, session_name_or_id=name).authentication


def _wav(samples: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(audio.CANONICAL_RATE)
        out.writeframes(audio.pcm16_bytes(samples))
    return buffer.getvalue()


def test_the_overview_draws_its_charts_and_a_recording_is_evaluated(
    browser_page: Any, live_server: Any, sign_in: Any, screenshot: Any, domain: Domain
) -> None:
    from playwright.sync_api import expect

    assert _call(domain, "contact-1", ALICE.name, ALICE.call_audio())["Decision"] == "ACCEPT"
    assert _call(domain, "contact-2", BOB.name, demo.FRAUDSTER.call_audio())["Decision"] == "REJECT"

    page = browser_page
    sign_in(page, live_server, "analyst")
    page.goto(f"{live_server.url}/domains/")
    page.get_by_role("link", name="Overview of Contact centre").click()
    expect(page.get_by_role("heading", name="Overview of Contact centre")).to_be_visible()
    charts = page.locator("svg.chart")
    expect(charts).to_have_count(2)
    expect(charts.first.locator("rect.bar-accept")).to_have_count(1)
    expect(charts.first.locator("rect.bar-reject")).to_have_count(1)
    expect(charts.first.locator("rect.bar-risk")).to_have_count(1)  # the fraudster's call
    expect(charts.nth(1).locator("rect.bar-accept")).to_have_count(1)
    # The bars are drawn: classes give them colour and size (a CSP refusal would fail the test anyway).
    box = charts.first.locator("rect.bar-accept").bounding_box()
    assert box is not None and box["height"] > 10
    expect(page.get_by_text("No batch job is running in this domain.")).to_be_visible()
    screenshot(page, "domain-overview")

    page.get_by_role("link", name="Evaluate", exact=True).click()
    expect(page.get_by_role("heading", name="Evaluate a recording against a speaker")).to_be_visible()
    page.get_by_label("Speaker id").fill(ALICE.name)
    page.get_by_label("Recording (WAV, at most 20 MB)").set_input_files(
        {"name": "alice-call.wav", "mimeType": "audio/wav", "buffer": _wav(ALICE.call_audio())}
    )
    page.get_by_role("button", name="Evaluate").click()
    expect(page.locator('[data-decision="authentication"]')).to_have_text("ACCEPT")
    expect(page.locator('[data-decision="fraud"]')).to_have_text("LOW_RISK")
    expect(
        page.get_by_role("img", name=re.compile(r"Authentication score \d+, threshold 90"))
    ).to_be_visible()
    screenshot(page, "evaluate-recording")
    # Back from the speaker it names shows the result again, without asking to send the form again.
    page.locator("#evaluate-panel").get_by_role("link", name=re.compile(r"^id#")).click()
    page.get_by_role("heading", name=re.compile(ALICE.name)).wait_for()
    page.go_back()
    expect(page.locator('[data-decision="authentication"]')).to_have_text("ACCEPT")

    # Bad audio: the reason appears beside the field, in place.
    page.get_by_label("Recording (WAV, at most 20 MB)").set_input_files(
        {"name": "call.mp3", "mimeType": "audio/mpeg", "buffer": b"ID3\x04" + bytes(2000)}
    )
    page.get_by_role("button", name="Evaluate").click()
    expect(page.locator(".field.has-error .error")).to_contain_text("Accepted here: WAV")
    # The form comes back with a 400, which Chromium logs; that one is expected, anything else is not.
    assert all("status of 400" in problem for problem in page.problems.messages), page.problems.messages
    page.problems.messages.clear()
