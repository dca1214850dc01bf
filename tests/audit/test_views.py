"""The dashboard and admin are recorded by the middleware; the /audit/ screen, its CSV export, who may see
it, and an admin that refuses to change or delete an event."""

from __future__ import annotations

import csv
import io
import re

import pytest
from django.urls import reverse

from audit import services
from audit.models import AuditEvent
from domains import services as domain_services
from fraudsters import services as fraudster_services
from fraudsters.models import Watchlist
from speakers import services as speaker_services
from speakers.models import Speaker
from tests.conftest import role_client

CUSTOMER_ID = "cust-555-0100"


@pytest.fixture
def domain(db):
    return domain_services.domain_create(name="contact-centre", kms_key_id="alias/audit", region="us-east-1")


def test_a_dashboard_opt_out_is_recorded_with_the_speaker_and_a_search_by_customer_id_finds_it(
    analyst, auditor, domain
):
    speaker = speaker_services.speaker_get_or_create_pending(domain=domain, customer_speaker_id=CUSTOMER_ID)
    url = reverse("speakers:opt-out", args=[domain.domain_id, speaker.generated_speaker_id])
    response = analyst.post(url, REMOTE_ADDR="192.0.2.7")
    assert response.status_code < 400

    event = AuditEvent.objects.get()
    assert (event.channel, event.action, event.actor) == ("DASHBOARD", "speakers:opt-out", "user-Analysts")
    assert (event.domain_id, event.resource_type) == (domain.domain_id, "SPEAKER")
    assert event.resource_id == speaker.generated_speaker_id
    assert event.source_ip == "192.0.2.7"
    assert event.status == response.status_code and event.request_id == response["x-amzn-RequestId"]

    rows = auditor.get(
        reverse("audit:log"), {"resource": CUSTOMER_ID}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="audit-rows"
    )
    assert rows.text.lstrip().startswith('<div id="audit-rows">')
    assert speaker.generated_speaker_id in rows.text
    # Shown nowhere but in the queries of the pager and the export link, which carry the search.
    assert CUSTOMER_ID not in re.sub(r'href="[^"]*"', "", rows.text)


def test_a_search_by_customer_id_finds_the_dashboard_events_of_a_speaker_deleted_since(
    analyst, auditor, domain
):
    # Proving an erasure happened is when an auditor needs this most; the speaker row is gone by then.
    speaker = speaker_services.speaker_get_or_create_pending(domain=domain, customer_speaker_id=CUSTOMER_ID)
    generated = speaker.generated_speaker_id
    analyst.get(reverse("speakers:detail", args=[domain.domain_id, generated]))
    analyst.post(reverse("speakers:delete", args=[domain.domain_id, generated]))
    assert not Speaker.objects.filter(generated_speaker_id=generated).exists()

    rows = auditor.get(
        reverse("audit:log"), {"resource": CUSTOMER_ID}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="audit-rows"
    ).text
    assert "speakers:detail" in rows and "speakers:delete" in rows


def test_an_auditor_refused_an_opt_out_is_recorded_with_the_403(auditor, domain):
    speaker = speaker_services.speaker_get_or_create_pending(domain=domain, customer_speaker_id=CUSTOMER_ID)
    auditor.post(reverse("speakers:opt-out", args=[domain.domain_id, speaker.generated_speaker_id]))
    assert AuditEvent.objects.get().status == 403


@pytest.mark.parametrize("htmx", [True, False], ids=["in place", "after a redirect"])
def test_a_refused_dashboard_change_is_recorded_as_refused(analyst, domain, htmx):
    # The page answers 200 (a fragment with the message) or 302 (the message after a redirect): the audit
    # log must still say the change did not happen, and why.
    fraudster = fraudster_services.fraudster_create(domain=domain)
    default = Watchlist.objects.get(domain=domain, is_default=True)
    url = reverse("fraudsters:disassociate", args=[domain.domain_id, fraudster.generated_fraudster_id])
    response = analyst.post(
        url, {"watchlist": default.watchlist_id}, **({"HTTP_HX_REQUEST": "true"} if htmx else {})
    )
    assert response.status_code in (200, 302)
    event = AuditEvent.objects.get()
    assert (event.action, event.status, event.error_code) == (
        "fraudsters:disassociate",
        409,
        "ConflictException",
    )


def test_a_refused_dashboard_form_is_recorded_as_a_validation_error(analyst, domain):
    analyst.post(
        reverse("fraudsters:watchlists"),
        {"domain": domain.domain_id, "name": "My List!"},
        HTTP_HX_REQUEST="true",
    )
    event = AuditEvent.objects.get()
    assert (event.action, event.status, event.error_code) == (
        "fraudsters:watchlists",
        400,
        "ValidationException",
    )


def test_anonymous_requests_are_not_recorded(client, domain):
    client.post(reverse("speakers:opt-out", args=[domain.domain_id, "id#" + "b" * 22]))
    assert not AuditEvent.objects.exists()


def test_the_speakers_list_is_recorded_since_it_shows_customer_ids(analyst, domain):
    analyst.get(reverse("speakers:list"), {"domain": domain.domain_id, "q": "cust-secret"})
    [event] = AuditEvent.objects.all()
    assert event.action == "speakers:list" and event.domain_id == domain.domain_id
    assert "cust-secret" not in str(AuditEvent.objects.values().get())


def _seed():
    services.audit_event_record(
        actor="ann", channel="API", action="DeleteSpeaker", status=200, domain_id="D" * 22, resource_id="id#x"
    )
    services.audit_event_record(actor="=HYPERLINK(1)", channel="DASHBOARD", action="calls:detail", status=200)


def test_the_auditor_sees_the_log_filtered_and_paged_newest_first(auditor, db):
    _seed()
    page = auditor.get(reverse("audit:log"))
    assert page.status_code == 200
    rows = page.text.split('id="audit-rows"')[1]  # the action suggestions above list DeleteSpeaker too
    assert rows.index("calls:detail") < rows.index("DeleteSpeaker")
    filtered = auditor.get(reverse("audit:log"), {"channel": "API", "actor": "ANN"})
    rows = filtered.text.split('id="audit-rows"')[1]
    assert "DeleteSpeaker" in rows and "calls:detail" not in rows
    assert "channel=API" in filtered.text  # the export link keeps the filter
    empty = auditor.get(reverse("audit:log"), {"since": "2999-01-01"})
    assert "No event matches these filters" in empty.text


def test_a_date_that_is_not_one_is_said_so_and_left_out(auditor, db):
    _seed()
    page = auditor.get(reverse("audit:log"), {"since": "garbage", "until": "2999-01-01"})
    rows = page.text.split('id="audit-rows"')[1]
    assert "“garbage” (from) is not a date: use the date picker or YYYY-MM-DD." in rows
    assert "DeleteSpeaker" in rows  # the readable filter still applies; the other was left out


def test_a_search_in_place_moves_the_export_link_to_its_filter(auditor, db):
    _seed()
    rows = auditor.get(
        reverse("audit:log"),
        {"channel": "API", "actor": "ann"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="audit-rows",
    )
    link = rows.text.split('id="audit-export"')[1].split(">")[0]
    assert 'hx-swap-oob="true"' in link
    assert "channel=API" in link and "actor=ann" in link
    full = auditor.get(reverse("audit:log"), {"channel": "API"})
    assert full.text.count('id="audit-export"') == 1


@pytest.mark.parametrize("searched", ["OptOutSpeaker", "optoutspeaker", "speakers:opt-out"])
def test_an_action_searched_by_either_name_finds_the_api_and_the_dashboard_alike(auditor, db, searched):
    for channel, action in (
        ("API", "OptOutSpeaker"),
        ("DASHBOARD", "speakers:opt-out"),
        ("API", "DeleteSpeaker"),
    ):
        services.audit_event_record(actor="ann", channel=channel, action=action, status=200)
    rows = auditor.get(reverse("audit:log"), {"action": searched}).text.split('id="audit-rows"')[1]
    assert "OptOutSpeaker" in rows and "speakers:opt-out" in rows and "DeleteSpeaker" not in rows


def test_the_csv_export_streams_the_current_filter_and_defuses_formulas(auditor, db):
    _seed()
    response = auditor.get(reverse("audit:export"), {"channel": "DASHBOARD"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:5] == ["at", "actor", "access_key_id", "channel", "action"]
    assert len(rows) == 2
    assert rows[1][1] == "'=HYPERLINK(1)" and rows[1][4] == "calls:detail"


@pytest.mark.parametrize("url_name", ["audit:log", "audit:export"])
def test_analysts_and_plain_users_get_403_with_a_reason(django_user_model, analyst, url_name):
    plain = role_client(django_user_model, None)
    for client in (plain, analyst):
        response = client.get(reverse(url_name))
        assert response.status_code == 403
        assert "no permission to read the audit log" in response.text


def test_the_nav_shows_the_audit_log_to_auditors_only(auditor, analyst, db):
    assert reverse("audit:log") in auditor.get(reverse("speakers:list")).text
    assert reverse("audit:log") not in analyst.get(reverse("speakers:list")).text


def test_the_admin_shows_events_but_refuses_to_change_or_delete_them(admin_client, db):
    _seed()
    event = AuditEvent.objects.first()
    change = reverse("admin:audit_auditevent_change", args=[event.pk])
    assert admin_client.get(change).status_code == 200  # view-only
    assert admin_client.post(change, {"actor": "mallory"}).status_code == 403
    delete = reverse("admin:audit_auditevent_delete", args=[event.pk])
    assert admin_client.get(delete).status_code == 403
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    changelist = reverse("admin:audit_auditevent_changelist")
    admin_client.post(
        changelist, {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"}
    )
    assert AuditEvent.objects.filter(pk=event.pk, actor=event.actor).exists()
    assert admin_client.get(reverse("admin:audit_auditevent_add")).status_code == 403


def test_an_admin_change_of_a_domain_is_recorded_under_the_admin_channel(admin_client, domain):
    admin_client.get(reverse("admin:domains_domain_change", args=[domain.pk]))
    event = AuditEvent.objects.get()
    assert (event.channel, event.action) == ("ADMIN", "admin:domains_domain_change")
    assert (event.resource_type, event.resource_id, event.domain_id) == (
        "DOMAIN",
        domain.domain_id,
        domain.domain_id,
    )


def test_an_admin_change_the_service_refuses_is_recorded_as_refused(admin_client, domain):
    admin_client.post(
        reverse("admin:domains_domain_change", args=[domain.pk]),
        {
            "name": domain.name,
            "description": "",
            "kms_key_id": "not a key",
            "session_acceptance_threshold": 90,
            "session_risk_threshold": 50,
            "session_minimum_speech_seconds": 10,
            "tags-TOTAL_FORMS": "0",
            "tags-INITIAL_FORMS": "0",
        },
    )
    event = AuditEvent.objects.get(action="admin:domains_domain_change POST")
    # The page answers 200 (the form again, with the refusal on it), but nothing changed.
    assert (event.status, event.error_code) == (400, "ValidationException")


def test_a_page_part_refreshing_itself_is_not_recorded_again(auditor, domain):
    from calls import services as call_services

    session = call_services.session_start(
        domain=domain, session_name="live", settings_=call_services.SessionSettings()
    )
    url = reverse("calls:detail", args=[session.session_id])
    auditor.get(url)  # the person opens the call page: recorded
    for _ in range(3):  # the page's own poll while the call streams: not recorded again
        auditor.get(url, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="session-results")
    assert list(AuditEvent.objects.values_list("action", flat=True)) == ["calls:detail"]
