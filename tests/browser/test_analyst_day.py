"""The analyst's day in a real browser: sign in, find a speaker by customer id, open it, opt it out and see
the status change; manage watchlists and fraudsters; an auditor sees no opt-out and a forged one is refused.

Every page must load without console errors under the CSP (the `browser_page` fixture fails the test
otherwise); each screen is written to var/screenshots/.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

import numpy as np
import pytest
from django.urls import reverse

from domains import services as domain_services
from fraudsters import services as fraudster_services
from speakers import services as speaker_services
from speakers.models import Speaker
from voiceprints import scoring
from voiceprints.engine import Voiceprint

pytestmark = pytest.mark.browser


@pytest.fixture
def domain(transactional_db):
    domain = domain_services.domain_create(
        name="contact-centre", kms_key_id="alias/browser", region="us-east-1"
    )
    vector = np.full(4, 0.5, dtype=np.float32)
    for number in range(3):
        speaker = speaker_services.speaker_get_or_create_pending(
            domain=domain, customer_speaker_id=f"cust-{number}"
        )
        speaker_services.speaker_enroll(
            speaker=speaker,
            voiceprint=Voiceprint(vector, scoring.CohortStats(0.1, 0.05), "test-model", 42.0),
            source="BATCH_JOB",
            audio_pcm=b"\0" * 32,
        )
    return domain


def _speaker_on(page) -> Speaker:
    """The speaker whose page the browser shows (/speakers/<DomainId>/<GeneratedSpeakerId>/)."""
    return Speaker.objects.get(generated_speaker_id=unquote(page.url.rstrip("/").split("/")[-1]))


def test_an_analyst_finds_a_speaker_and_opts_it_out(browser_page, live_server, sign_in, screenshot, domain):
    page = browser_page
    sign_in(page, live_server, "analyst")
    # Signing in lands on the domains list.
    assert page.url.endswith("/domains/")
    page.get_by_role("link", name="contact-centre", exact=True).wait_for()
    screenshot(page, "domains-list")

    page.get_by_role("link", name="contact-centre", exact=True).click()
    page.get_by_role("link", name="cust-2").wait_for()
    screenshot(page, "speakers-list")

    page.get_by_label("Customer or generated id").fill("cust-1")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url(re.compile(r"q=cust-1"))  # hx-push-url keeps the search bookmarkable
    page.get_by_role("link", name="cust-2").wait_for(state="detached")
    screenshot(page, "speakers-search")

    page.get_by_role("link", name="cust-1").click()
    badge = page.locator("#speaker-summary h1 .status-badge")
    assert badge.inner_text() == "ENROLLED"
    assert page.get_by_text("batch enrollment job").is_visible()
    screenshot(page, "speaker-detail")

    page.get_by_role("link", name="Opt out…").click()
    confirm = page.get_by_role("alertdialog")
    confirm.wait_for()
    assert "retained enrollment audio" in confirm.inner_text()
    # The keyboard lands in the dialog, on its safe choice: Tab reaches no control behind it first.
    page.wait_for_function("document.activeElement && document.activeElement.textContent === 'Cancel'")
    screenshot(page, "speaker-opt-out-confirm")

    page.get_by_role("button", name="Opt out and erase the voiceprint").click()
    page.locator('#speaker-summary h1 .status-badge[data-status="OPTED_OUT"]').wait_for()
    assert page.get_by_text("Opted out: the voiceprint is erased").is_visible()
    assert page.get_by_role("link", name="Opt out…").count() == 0
    screenshot(page, "speaker-opted-out")
    assert _speaker_on(page).status == Speaker.Status.OPTED_OUT


def test_back_after_two_searches_shows_the_first_search_and_its_results(
    browser_page, live_server, sign_in, screenshot, domain
):
    page = browser_page
    sign_in(page, live_server, "analyst")
    page.goto(f"{reverse('speakers:list')}?domain={domain.domain_id}")
    search = page.get_by_label("Customer or generated id")
    for customer_id in ("cust-1", "cust-2"):
        search.fill(customer_id)
        page.get_by_role("button", name="Search").click()
        page.wait_for_url(re.compile(rf"q={customer_id}"))
        page.locator("#speaker-rows").get_by_role("link", name=customer_id).wait_for()

    page.go_back()

    page.wait_for_url(re.compile(r"q=cust-1"))
    page.locator("#speaker-rows").get_by_role("link", name="cust-1").wait_for()
    assert page.get_by_label("Customer or generated id").input_value() == "cust-1"
    assert page.locator("#speaker-rows").get_by_role("link", name="cust-2").count() == 0
    screenshot(page, "speakers-search-back")


def test_back_after_an_opt_out_shows_the_list_as_it_is_now(browser_page, live_server, sign_in, domain):
    page = browser_page
    sign_in(page, live_server, "analyst")
    page.goto(f"{reverse('speakers:list')}?domain={domain.domain_id}")
    page.get_by_role("link", name="cust-0").click()
    page.get_by_role("link", name="Opt out…").click()
    page.get_by_role("button", name="Opt out and erase the voiceprint").click()
    page.locator('#speaker-summary h1 .status-badge[data-status="OPTED_OUT"]').wait_for()

    page.go_back()

    row = page.locator("#speaker-rows tr", has=page.get_by_role("link", name="cust-0"))
    row.locator('.status-badge[data-status="OPTED_OUT"]').wait_for()


def test_a_speaker_deleted_in_another_tab_says_so_instead_of_a_dead_button(
    browser_page, live_server, sign_in, screenshot, domain
):
    page = browser_page
    sign_in(page, live_server, "analyst")
    speaker = Speaker.objects.filter(domain=domain, status=Speaker.Status.ENROLLED).first()
    page.goto(reverse("speakers:detail", args=[domain.domain_id, speaker.generated_speaker_id]))
    page.get_by_role("link", name="Delete…").click()
    page.get_by_role("alertdialog").wait_for()
    speaker_services.speaker_delete(domain=domain, speaker_id=speaker.generated_speaker_id)  # the other tab

    page.get_by_role("button", name="Delete the speaker and erase their data").click()
    page.get_by_role("heading", name="Not found").wait_for()
    assert "It may have been deleted" in page.locator("#main").inner_text()
    assert page.get_by_role("alertdialog").count() == 0
    assert page.get_by_role("link", name="Watchlists").is_visible()  # still inside the dashboard's frame
    screenshot(page, "speaker-deleted-elsewhere")
    # The 404 is the point of the test; Chromium logs it as a failed resource.
    page.problems.messages[:] = [m for m in page.problems.messages if "status of 404" not in m]


def test_an_analyst_manages_watchlists_and_fraudsters(browser_page, live_server, sign_in, screenshot, domain):
    fraudster = fraudster_services.fraudster_create(domain=domain)
    page = browser_page
    sign_in(page, live_server, "analyst")

    page.get_by_role("link", name="Watchlists").click()
    page.get_by_label("Name").fill("mule-ring")
    page.get_by_label("Description").fill("Seen in the Q3 campaign")
    page.get_by_role("button", name="Create watchlist").click()
    page.get_by_text("Watchlist mule-ring created").wait_for()
    screenshot(page, "watchlists")

    page.get_by_role("link", name="Fraudsters", exact=True).click()
    page.get_by_role("link", name=fraudster.generated_fraudster_id).click()
    # The only watchlist it is not in yet is the one just created: the form offers just that.
    assert "mule-ring" in page.get_by_label("Add to watchlist").inner_text()
    page.get_by_role("button", name="Add", exact=True).click()
    page.get_by_role("button", name="Remove from mule-ring").wait_for()
    screenshot(page, "fraudster-detail")

    page.get_by_role("link", name="Delete…").click()
    page.get_by_role("alertdialog").wait_for()
    assert "removes it from 2 watchlists" in page.get_by_role("alertdialog").inner_text()
    screenshot(page, "fraudster-delete-confirm")
    page.get_by_role("button", name="Delete the fraudster and erase its voiceprint").click()
    page.get_by_text("was deleted from every watchlist").wait_for()
    assert "No fraudsters in this domain yet" in page.content()
    screenshot(page, "fraudsters-list")

    page.get_by_role("link", name="Watchlists").click()
    page.get_by_role("link", name="mule-ring").click()
    page.get_by_text("No fraudsters in this watchlist yet").wait_for()
    screenshot(page, "watchlist-detail")


def test_an_auditor_cannot_opt_out(browser_page, live_server, sign_in, screenshot, domain):
    page = browser_page
    sign_in(page, live_server, "auditor")
    page.goto(f"{live_server.url}/speakers/?domain={domain.domain_id}&q=cust-0")
    page.get_by_role("link", name="cust-0").click()
    page.locator("#speaker-summary h1 .status-badge").wait_for()
    assert page.get_by_role("link", name="Opt out…").count() == 0
    assert page.get_by_role("link", name="Delete…").count() == 0
    screenshot(page, "speaker-detail-auditor")

    # A forged POST with the auditor's own session and a valid CSRF token is still refused.
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    response = page.request.post(page.url + "opt-out/", headers={"X-CSRFToken": token})
    assert response.status == 403
    assert "not opt them out" in response.text()
    assert _speaker_on(page).status == Speaker.Status.ENROLLED


def test_changing_the_fraudster_lists_domain_brings_that_domains_watchlists(
    browser_page, live_server, sign_in, domain
):
    other = domain_services.domain_create(name="second", kms_key_id="alias/browser", region="us-east-1")
    fraudster_services.watchlist_create(domain=other, name="suspects-elsewhere")
    mine = fraudster_services.watchlist_create(domain=domain, name="suspects-here")
    page = browser_page
    sign_in(page, live_server, "analyst")
    page.goto(f"{reverse('fraudsters:list')}?domain={domain.domain_id}&watchlist={mine.watchlist_id}")
    assert "suspects-here" in page.get_by_label("Watchlist").inner_text()

    page.get_by_label("Domain").select_option(other.domain_id)
    page.wait_for_url(re.compile(rf"domain={other.domain_id}"))
    page.get_by_label("Watchlist").locator("option", has_text="suspects-elsewhere").wait_for(state="attached")
    assert "suspects-here" not in page.get_by_label("Watchlist").inner_text()


def test_long_names_and_ids_wrap_instead_of_widening_the_page(browser_page, live_server, sign_in, domain):
    long_id = "c" + "0123456789" * 25  # 251 characters, a valid CustomerSpeakerId
    speaker_services.speaker_get_or_create_pending(domain=domain, customer_speaker_id=long_id)
    watchlist = fraudster_services.watchlist_create(domain=domain, name="w" * 256, description="d" * 1024)
    wordy = domain_services.domain_create(
        name="n" * 256, description="d" * 1024, kms_key_id="alias/browser", region="us-east-1"
    )
    page = browser_page
    page.set_viewport_size({"width": 800, "height": 900})  # a tablet
    sign_in(page, live_server, "analyst")
    for url in (
        f"{reverse('speakers:list')}?domain={domain.domain_id}",
        f"{reverse('fraudsters:watchlists')}?domain={domain.domain_id}",
        reverse("fraudsters:watchlist", args=[domain.domain_id, watchlist.watchlist_id]),
        reverse("domains:list"),
        reverse("domains:overview", args=[wordy.domain_id]),
    ):
        page.goto(url)
        assert page.evaluate("document.documentElement.scrollWidth") <= 800, url
    page.goto(f"{reverse('speakers:list')}?domain={domain.domain_id}")
    page.get_by_role("link", name=long_id).click()
    page.locator("#speaker-summary").wait_for()
    assert page.evaluate("document.documentElement.scrollWidth") <= 800
