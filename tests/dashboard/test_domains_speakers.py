"""The home page, the domains list and the speaker screens, as analysts, auditors and strangers see them."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts import roles
from calls import services as call_services
from calls.models import Session
from domains import services as domain_services
from speakers import services as speaker_services
from speakers.models import Speaker, SpeakerVoiceprint
from tests.conftest import role_client
from voiceprints import scoring
from voiceprints.engine import Voiceprint

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def domain(db):
    return domain_services.domain_create(name="contact-centre", kms_key_id="alias/dash", region="us-east-1")


def _speaker(domain, customer_id: str, *, enrolled: bool = False) -> Speaker:
    speaker = speaker_services.speaker_get_or_create_pending(domain=domain, customer_speaker_id=customer_id)
    if enrolled:
        vector = np.full(4, 0.5, dtype=np.float32)
        voiceprint = Voiceprint(vector, scoring.CohortStats(0.1, 0.05), "test-model", 31.5)
        speaker_services.speaker_enroll(
            speaker=speaker, voiceprint=voiceprint, source="BATCH_JOB", audio_pcm=b"\0" * 32
        )
    return speaker


def _detail_url(domain, speaker: Speaker, action: str = "detail") -> str:
    return reverse(f"speakers:{action}", args=[domain.domain_id, speaker.generated_speaker_id])


# --- home and domains -----------------------------------------------------------------------------


def test_anonymous_browsers_get_the_home_page_with_a_sign_in_link(client, db):
    response = client.get("/")
    assert response.status_code == 200
    assert reverse("accounts:login") in response.text
    assert "Sign in" in response.text


def test_a_signed_in_user_goes_from_the_root_to_the_domains(analyst):
    response = analyst.get("/")
    assert response.status_code == 302
    assert response["Location"] == reverse("domains:list")


@pytest.mark.parametrize(
    "url", ["/domains/", "/speakers/", "/speakers/x/id%23abc/", "/fraudsters/", "/fraudsters/watchlists/"]
)
def test_anonymous_visitors_are_sent_to_sign_in(client, db, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login") + "?next=")


def test_the_domains_list_shows_counts_and_the_key(analyst, domain):
    from fraudsters import services as fraudster_services

    _speaker(domain, "cust-1")
    _speaker(domain, "cust-2")
    fraudster_services.fraudster_create(domain=domain)
    response = analyst.get(reverse("domains:list"))
    assert response.status_code == 200
    row = response.text.split("<tbody>")[1].split("</tr>")[0]
    assert "contact-centre" in response.text
    assert "ACTIVE" in row
    assert "<td>2</td>" in row  # speakers
    assert "<td>1</td>" in row  # fraudsters
    assert "alias/dash" in row
    assert "never rotated" in row
    assert f"{reverse('speakers:list')}?domain={domain.domain_id}" in response.text


def test_the_domains_list_shows_a_key_rotation_in_progress(analyst, domain):
    from domains.models import Domain

    # The rotation status is written by the re-encryption job; set it as that job would have.
    Domain.objects.filter(pk=domain.pk).update(
        encryption_update_status="IN_PROGRESS", old_kms_key_id="alias/old-key"
    )
    response = analyst.get(reverse("domains:list"))
    assert "IN_PROGRESS" in response.text
    assert "alias/old-key" in response.text


def test_an_empty_domains_list_says_what_to_do(analyst, db):
    response = analyst.get(reverse("domains:list"))
    assert "No domains yet" in response.text
    assert "CreateDomain" in response.text


def test_a_user_without_a_role_is_told_why_not(django_user_model, db):
    client = role_client(django_user_model, None)
    response = client.get(reverse("domains:list"))
    assert response.status_code == 403
    assert "may not see domains" in response.text


# --- speaker search ---------------------------------------------------------------------------------


def test_a_speaker_is_found_by_exact_customer_id(analyst, domain):
    wanted = _speaker(domain, "cust-1042")
    _speaker(domain, "cust-1043")
    response = analyst.get(reverse("speakers:list"), {"domain": domain.domain_id, "q": "cust-1042"})
    assert response.status_code == 200
    assert wanted.generated_speaker_id in response.text
    assert "cust-1043" not in response.text


def test_a_speaker_is_found_by_generated_id(analyst, domain):
    wanted = _speaker(domain, "cust-7")
    response = analyst.get(
        reverse("speakers:list"), {"domain": domain.domain_id, "q": wanted.generated_speaker_id}
    )
    assert "cust-7" in response.text


def test_a_partial_customer_id_finds_nothing_and_says_so(analyst, domain):
    _speaker(domain, "cust-1042")
    response = analyst.get(reverse("speakers:list"), {"domain": domain.domain_id, "q": "cust-10"})
    assert "No speaker in this domain has the id" in response.text
    assert "must match exactly" in response.text


def test_speakers_filter_by_status_and_last_access(analyst, domain):
    stale = _speaker(domain, "stale", enrolled=True)
    Speaker.objects.filter(pk=stale.pk).update(last_accessed_at=timezone.now() - timedelta(days=800))
    _speaker(domain, "fresh", enrolled=True)
    _speaker(domain, "pending")
    response = analyst.get(reverse("speakers:list"), {"domain": domain.domain_id, "status": "ENROLLED"})
    assert ">stale<" in response.text and ">fresh<" in response.text and ">pending<" not in response.text
    cutoff = (timezone.now() - timedelta(days=365)).date().isoformat()
    response = analyst.get(
        reverse("speakers:list"),
        {"domain": domain.domain_id, "status": "ENROLLED", "accessed_before": cutoff},
    )
    assert ">stale<" in response.text and ">fresh<" not in response.text


@pytest.mark.parametrize(
    ("query", "explanation"),
    [
        ({"accessed_before": "soon"}, "is not a date"),
        ({"status": "BOGUS"}, "“BOGUS” is not a speaker status (ENROLLED, EXPIRED, OPTED_OUT, PENDING)"),
    ],
)
def test_a_filter_the_list_cannot_apply_is_explained_and_left_out(analyst, domain, query, explanation):
    _speaker(domain, "cust-1")
    response = analyst.get(reverse("speakers:list"), {"domain": domain.domain_id, **query})
    assert response.status_code == 200
    assert explanation in response.text
    assert "cust-1" in response.text


def test_the_speaker_list_pages_by_keyset_keeping_the_filters(analyst, domain):
    for number in range(27):
        _speaker(domain, f"cust-{number:02}")
    first = analyst.get(reverse("speakers:list"), {"domain": domain.domain_id, "status": "PENDING"})
    assert "cust-24" in first.text and "cust-25" not in first.text
    last_pk = Speaker.objects.filter(domain=domain).order_by("pk")[24].pk
    assert f"status=PENDING&amp;after={last_pk}" in first.text
    second = analyst.get(
        reverse("speakers:list"), {"domain": domain.domain_id, "status": "PENDING", "after": last_pk}
    )
    assert "cust-25" in second.text and "cust-26" in second.text and "cust-24" not in second.text
    assert "Next page" not in second.text


def test_an_htmx_search_returns_only_the_rows(analyst, domain):
    _speaker(domain, "cust-1")
    response = analyst.get(reverse("speakers:list"), {"domain": domain.domain_id}, **HTMX)
    assert response.text.lstrip().startswith('<div id="speaker-rows">')
    assert "<html" not in response.text


def test_an_unknown_domain_is_a_404_that_says_so(analyst, db):
    response = analyst.get(reverse("speakers:list"), {"domain": "a" * 22})
    assert response.status_code == 404
    assert "does not exist" in response.text
    assert f'<a href="{reverse("domains:list")}">Back to the domains</a>' in response.text


def test_no_domains_means_an_empty_state_that_says_what_to_do(analyst, db):
    response = analyst.get(reverse("speakers:list"))
    assert "No domains yet" in response.text


# --- speaker describe, opt out, delete -------------------------------------------------------------------


def test_the_speaker_page_shows_status_dates_and_enrollment_source(analyst, domain):
    speaker = _speaker(domain, "cust-1", enrolled=True)
    response = analyst.get(_detail_url(domain, speaker))
    assert response.status_code == 200
    assert 'data-status="ENROLLED"' in response.text
    assert "batch enrollment job" in response.text
    assert "31.5 s of speech" in response.text
    assert "Last access" in response.text
    assert "Sessions involving this speaker" in response.text
    assert "Opt out…" in response.text and "Delete…" in response.text


def test_an_auditor_sees_the_speaker_but_no_buttons(auditor, domain):
    speaker = _speaker(domain, "cust-1", enrolled=True)
    response = auditor.get(_detail_url(domain, speaker))
    assert response.status_code == 200
    assert "cust-1" in response.text
    assert "Opt out…" not in response.text and "Delete…" not in response.text
    # Even asking for the confirmation directly shows none.
    response = auditor.get(_detail_url(domain, speaker), {"confirm": "opt-out"})
    assert "Opt out and erase" not in response.text


def test_the_opt_out_confirmation_says_what_will_be_erased(analyst, domain):
    speaker = _speaker(domain, "cust-1", enrolled=True)
    response = analyst.get(_detail_url(domain, speaker), {"confirm": "opt-out"}, **HTMX)
    assert response.text.lstrip().startswith('<section id="speaker-summary"')
    assert "voiceprint" in response.text and "retained enrollment audio" in response.text
    assert _detail_url(domain, speaker, "opt-out") in response.text


def test_opting_out_updates_the_status_in_place(analyst, domain):
    speaker = _speaker(domain, "cust-1", enrolled=True)
    response = analyst.post(_detail_url(domain, speaker, "opt-out"), **HTMX)
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<section id="speaker-summary"')
    assert 'data-status="OPTED_OUT"' in response.text
    assert "no voiceprint" in response.text
    speaker.refresh_from_db()
    assert speaker.status == Speaker.Status.OPTED_OUT
    assert not SpeakerVoiceprint.objects.filter(speaker=speaker).exists()


def test_opting_out_without_htmx_redirects_back_with_a_message(analyst, domain):
    speaker = _speaker(domain, "cust-1", enrolled=True)
    response = analyst.post(_detail_url(domain, speaker, "opt-out"), follow=True)
    assert response.redirect_chain[-1][0] == _detail_url(domain, speaker)
    assert "Opted out" in response.text


def test_opting_out_on_a_deleted_domain_is_refused_with_the_reason(analyst, domain):
    speaker = _speaker(domain, "cust-1")
    domain_services.domain_delete(domain_id=domain.domain_id)
    response = analyst.post(_detail_url(domain, speaker, "opt-out"), **HTMX)
    assert response.status_code == 200
    assert "not active" in response.text
    speaker.refresh_from_db()
    assert speaker.status == Speaker.Status.PENDING


def test_the_delete_confirmation_names_the_id_mapping(analyst, domain):
    speaker = _speaker(domain, "cust-1", enrolled=True)
    response = analyst.get(_detail_url(domain, speaker), {"confirm": "delete"}, **HTMX)
    assert "mapping between customer id cust-1 and generated id" in response.text
    assert "retained enrollment audio" in response.text


def test_deleting_replaces_the_summary_in_place(analyst, domain):
    speaker = _speaker(domain, "cust-1", enrolled=True)
    response = analyst.post(_detail_url(domain, speaker, "delete"), **HTMX)
    assert response.status_code == 200
    assert "DELETED" in response.text
    assert not Speaker.objects.filter(pk=speaker.pk).exists()


def test_an_auditor_posting_an_opt_out_gets_403_with_the_reason(auditor, domain):
    speaker = _speaker(domain, "cust-1", enrolled=True)
    response = auditor.post(_detail_url(domain, speaker, "opt-out"))
    assert response.status_code == 403
    assert "not opt them out" in response.text
    response = auditor.post(_detail_url(domain, speaker, "delete"))
    assert response.status_code == 403
    speaker.refresh_from_db()
    assert speaker.status == Speaker.Status.ENROLLED


def test_an_opt_out_without_a_csrf_token_is_refused(django_user_model, domain):
    client = role_client(django_user_model, roles.ANALYSTS, enforce_csrf_checks=True)
    speaker = _speaker(domain, "cust-1", enrolled=True)
    response = client.post(_detail_url(domain, speaker, "opt-out"))
    assert response.status_code == 403
    speaker.refresh_from_db()
    assert speaker.status == Speaker.Status.ENROLLED


def test_an_unknown_speaker_is_a_404_page(analyst, domain):
    response = analyst.get(reverse("speakers:detail", args=[domain.domain_id, "id#nobodyhereatallxxxxx"]))
    assert response.status_code == 404
    assert "does not exist" in response.text
    back = f"{reverse('speakers:list')}?domain={domain.domain_id}"
    assert f'<a href="{back}">Back to the speakers</a>' in response.text  # the list it was looked for in


def test_opt_out_only_accepts_post(analyst, domain):
    speaker = _speaker(domain, "cust-1")
    assert analyst.get(_detail_url(domain, speaker, "opt-out")).status_code == 405


# --- the speaker's calls ------------------------------------------------------------------------------


def _call(domain, name: str, speaker_id: str | None) -> Session:
    return call_services.session_start(
        domain=domain, session_name=name, speaker_id=speaker_id, settings_=call_services.SessionSettings()
    )


def _sessions_section(response) -> str:
    return response.text.split('id="speaker-sessions"')[1].split("</section>")[0]


def test_the_speaker_page_lists_the_calls_naming_it_by_either_id_newest_first(analyst, domain):
    speaker = _speaker(domain, "cust-1", enrolled=True)
    by_customer_id = _call(domain, "contact-by-customer-id", "cust-1")
    # Results as EvaluateSession stores them on the row (the engine itself is exercised in tests/calls).
    Session.objects.filter(pk=by_customer_id.pk).update(
        auth_result={"Decision": "ACCEPT", "Score": 97, "Configuration": {"AcceptanceThreshold": 90}},
        fraud_result={"Decision": "LOW_RISK", "RiskDetails": {"KnownFraudsterRisk": {"RiskScore": 3}}},
        evaluated_at=timezone.now(),
    )
    by_generated_id = _call(domain, "contact-by-generated-id", speaker.generated_speaker_id)
    _speaker(domain, "cust-2")
    _call(domain, "contact-of-another-speaker", "cust-2")
    _call(domain, "contact-naming-nobody", None)

    response = analyst.get(_detail_url(domain, speaker))

    assert response.status_code == 200
    calls = _sessions_section(response)
    assert calls.index("contact-by-generated-id") < calls.index("contact-by-customer-id")
    assert "contact-of-another-speaker" not in calls and "contact-naming-nobody" not in calls
    assert reverse("calls:detail", args=[by_customer_id.session_id]) in calls
    assert reverse("calls:detail", args=[by_generated_id.session_id]) in calls
    assert ">ACCEPT<" in calls and ">LOW_RISK<" in calls and "NOT EVALUATED" in calls
    assert '<rect class="gauge-fill" x="2" y="4" width="97"' in calls
    assert "PENDING_CONFIGURATION" in calls  # streaming status: started, no audio yet
    assert speaker.generated_speaker_id in calls  # the id the call named
    assert "No call has named this speaker yet." not in calls


def test_a_speaker_no_call_named_says_so(analyst, domain):
    speaker = _speaker(domain, "cust-1")
    _speaker(domain, "cust-2")
    _call(domain, "contact-of-another-speaker", "cust-2")
    response = analyst.get(_detail_url(domain, speaker))
    calls = _sessions_section(response)
    assert "No call has named this speaker yet." in calls
    assert "contact-of-another-speaker" not in calls


def test_calls_of_the_same_customer_id_in_another_domain_are_not_listed(analyst, domain):
    speaker = _speaker(domain, "cust-1")
    other = domain_services.domain_create(name="other", kms_key_id="alias/dash", region="us-east-1")
    _speaker(other, "cust-1")
    _call(other, "contact-elsewhere", "cust-1")
    response = analyst.get(_detail_url(domain, speaker))
    assert "No call has named this speaker yet." in _sessions_section(response)


def test_the_speakers_calls_cost_the_same_queries_however_many_are_listed(analyst, domain):
    speaker = _speaker(domain, "cust-1")
    _call(domain, "contact-0", "cust-1")
    with CaptureQueriesContext(connection) as one_call:
        analyst.get(_detail_url(domain, speaker))
    for number in range(1, 5):
        _call(domain, f"contact-{number}", "cust-1" if number % 2 else speaker.generated_speaker_id)
    with CaptureQueriesContext(connection) as five_calls:
        response = analyst.get(_detail_url(domain, speaker))
    assert _sessions_section(response).count("<tr>") == 1 + 5  # the header row and the calls
    assert len(five_calls) == len(one_call)
    assert sum("calls_session" in query["sql"] for query in five_calls.captured_queries) == 1


def test_only_the_newest_calls_are_listed_with_a_pointer_to_the_calls_page(analyst, domain, monkeypatch):
    from speakers import views

    monkeypatch.setattr(views, "SESSIONS_SHOWN", 2)
    speaker = _speaker(domain, "cust-1")
    for number in range(3):
        _call(domain, f"contact-{number}", "cust-1")
    calls = _sessions_section(analyst.get(_detail_url(domain, speaker)))
    assert "contact-2" in calls and "contact-1" in calls and "contact-0" not in calls
    assert "Only the 2 most recent are shown" in calls


def test_an_htmx_refresh_of_the_summary_does_not_look_up_the_calls(analyst, domain):
    speaker = _speaker(domain, "cust-1")
    _call(domain, "contact-0", "cust-1")
    with CaptureQueriesContext(connection) as queries:
        response = analyst.get(_detail_url(domain, speaker), **HTMX)
    assert response.text.lstrip().startswith('<section id="speaker-summary"')
    assert not any("calls_session" in query["sql"] for query in queries.captured_queries)


def test_an_unexpected_failure_shows_a_page_that_leads_back(analyst, domain, monkeypatch):
    def explode(**_kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("speakers.views.selectors.speaker_search", explode)
    analyst.raise_request_exception = False
    response = analyst.get(reverse("speakers:list"), {"domain": domain.domain_id})
    html = response.content.decode()
    assert response.status_code == 500
    assert "Something went wrong" in html and 'href="/"' in html
    assert "boom" not in html and "Traceback" not in html


def test_pages_are_not_stored_by_the_browser(analyst, domain):
    response = analyst.get(reverse("speakers:list"), {"domain": domain.domain_id})
    assert "no-store" in response["Cache-Control"] and "private" in response["Cache-Control"]


def test_an_id_search_also_honours_the_last_access_filter(analyst, domain):
    recent = _speaker(domain, "recent", enrolled=True)
    Speaker.objects.filter(pk=recent.pk).update(last_accessed_at=timezone.now())
    cutoff = (timezone.now() - timedelta(days=365)).date().isoformat()
    params = {"domain": domain.domain_id, "q": "recent"}
    assert ">recent<" in analyst.get(reverse("speakers:list"), params).text
    html = analyst.get(reverse("speakers:list"), {**params, "accessed_before": cutoff}).text
    assert ">recent<" not in html
    assert f"has the id “recent” and no access since {cutoff}." in html


def test_a_speaker_never_accessed_says_never_without_a_precision(analyst, domain):
    pending = _speaker(domain, "waiting")
    html = analyst.get(_detail_url(domain, pending)).text
    assert "<dt>Last access</dt><dd>never</dd>" in html


def test_a_page_answering_a_form_stays_in_history_for_back(analyst, domain):
    # Stored by the browser only for history (private): no-store would make Back ask to send the form again.
    response = analyst.post(reverse("calls:evaluate"), {"domain": domain.domain_id})
    assert response["Cache-Control"] == "private"


def test_an_htmx_action_after_signing_out_elsewhere_signs_in_as_a_page_and_comes_back(client, domain):
    speaker = _speaker(domain, "signed-out", enrolled=True)
    page = _detail_url(domain, speaker)
    response = client.post(
        _detail_url(domain, speaker, "opt-out"),
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL=f"http://testserver{page}",
    )
    # Not the sign-in page swapped into the speaker card: the whole page goes to sign in, then back here.
    assert response["HX-Redirect"] == f"{reverse('accounts:login')}?{urlencode({'next': page})}"
    assert Speaker.objects.get(pk=speaker.pk).status == Speaker.Status.ENROLLED
