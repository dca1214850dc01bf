"""The call screens: recent sessions with decisions and gauges, and one session, live while it streams."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission
from django.urls import reverse
from django.utils import timezone

from accounts import roles
from calls import evaluation, services
from calls.models import Session
from domains import services as domain_services
from domains.models import Domain
from fraudsters import screening
from speakers import selectors as speaker_selectors
from voiceid_site import demo
from voiceprints import audio

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_screening_cache() -> None:
    screening.forget()  # rolled-back test databases reuse watchlist primary keys


@pytest.fixture
def domain() -> Domain:
    return domain_services.domain_create(
        name="Retail bank", kms_key_id="alias/calls-dash", region="us-east-1"
    )


@pytest.fixture
def viewer(client: Any, django_user_model: Any) -> Any:
    """An auditor: seeing calls needs only the view permission."""
    user = django_user_model.objects.create_user("auditor", password="pw")
    roles.ensure_roles()
    user.groups.add(Group.objects.get(name=roles.AUDITORS))
    client.force_login(user)
    return client


def _session(domain: Domain, name: str, *, speaker_id: str | None = None) -> Session:
    return services.session_start(
        domain=domain, session_name=name, speaker_id=speaker_id, settings_=services.SessionSettings()
    )


def _store_results(
    session: Session, *, auth: dict[str, Any], fraud: dict[str, Any], **columns: Any
) -> Session:
    """Results as EvaluateSession stores them on the row (the engine itself is exercised in tests/calls)."""
    Session.objects.filter(pk=session.pk).update(
        auth_result=auth, fraud_result=fraud, evaluated_at=timezone.now(), **columns
    )
    return Session.objects.get(pk=session.pk)


ACCEPTED = {"Decision": "ACCEPT", "Score": 97, "Configuration": {"AcceptanceThreshold": 90}}
HIGH_RISK = {
    "Decision": "HIGH_RISK",
    "Reasons": ["KNOWN_FRAUDSTER"],
    "Configuration": {"RiskThreshold": 50, "WatchlistId": "w" * 22},
    "RiskDetails": {"KnownFraudsterRisk": {"RiskScore": 88, "GeneratedFraudsterId": "id#" + "f" * 22}},
}


def test_the_list_shows_recent_calls_newest_first_with_decisions_and_gauges(
    viewer: Any, domain: Domain
) -> None:
    older = _session(domain, "contact-older", speaker_id="alice")
    _store_results(
        older,
        auth=ACCEPTED,
        fraud=HIGH_RISK,
        chunks_received=3,
        speech_seconds=12.34,
        audio_ended_at=timezone.now(),
    )
    _session(domain, "contact-newer")
    response = viewer.get(reverse("calls:list"), {"domain": domain.domain_id})
    html = response.content.decode()
    assert response.status_code == 200
    assert html.index("contact-newer") < html.index("contact-older")
    assert "claims alice" in html
    assert ">ACCEPT<" in html and ">HIGH_RISK<" in html
    assert "12.3 s" in html
    assert "id#" + "f" * 22 in html
    # The gauges: score bars against a threshold mark, coloured by class, no inline style anywhere.
    assert 'class="gauge gauge-ok"' in html and 'class="gauge gauge-bad"' in html
    assert '<rect class="gauge-fill" x="2" y="4" width="97"' in html
    assert '<line class="gauge-threshold" x1="92"' in html  # threshold 90, drawn 2 units in
    assert "style=" not in html
    assert "NOT EVALUATED" in html  # the newer call has no results yet


def test_the_list_refreshes_while_a_call_is_live(viewer: Any, domain: Domain) -> None:
    session = _session(domain, "contact-1")
    html = viewer.get(reverse("calls:list")).content.decode()
    assert 'hx-trigger="every 3s"' in html  # PENDING_CONFIGURATION: audio may start any moment
    services.session_end(domain=domain, session_name_or_id=session.session_name)
    html = viewer.get(reverse("calls:list")).content.decode()
    assert 'hx-trigger="every' not in html


def test_the_list_filters_by_domain_and_htmx_gets_only_the_rows(viewer: Any, domain: Domain) -> None:
    other = domain_services.domain_create(name="Insurance", kms_key_id="alias/calls-dash", region="us-east-1")
    _session(domain, "bank-call")
    _session(other, "insurance-call")
    html = viewer.get(
        reverse("calls:list"), {"domain": other.domain_id}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="call-rows"
    ).content.decode()
    assert "insurance-call" in html and "bank-call" not in html
    assert html.lstrip().startswith('<div id="call-rows"')


def test_an_empty_list_says_where_calls_come_from(viewer: Any) -> None:
    html = viewer.get(reverse("calls:list")).content.decode()
    assert "No call session yet" in html and "StartSession" in html


def test_the_list_pages_newest_first(viewer: Any, domain: Domain, monkeypatch: Any) -> None:
    from calls import views

    monkeypatch.setattr(views, "PAGE_SIZE", 1)
    first = _session(domain, "first-call")
    _session(domain, "second-call")
    html = viewer.get(reverse("calls:list")).content.decode()
    assert "second-call" in html and "first-call" not in html
    html = viewer.get(reverse("calls:list"), {"before": first.pk + 1}).content.decode()
    assert "first-call" in html and "second-call" not in html


def test_the_session_page_shows_decisions_in_full_and_polls_while_ongoing(
    viewer: Any, domain: Domain
) -> None:
    session = _store_results(
        _session(domain, "contact-7", speaker_id="bob"),
        auth=ACCEPTED,
        fraud=HIGH_RISK,
        chunks_received=1,
        speech_seconds=21.0,
        audio_seconds=25.0,
        audio_ended_at=timezone.now(),
    )
    url = reverse("calls:detail", args=[session.session_id])
    assert "%23" in url  # the `#` of id#… is escaped in the link
    html = viewer.get(url).content.decode()
    assert "ONGOING" in html
    assert "Score 97 against the acceptance threshold 90" in html
    assert "Risk 88 against the risk threshold 50 (KNOWN_FRAUDSTER)" in html
    assert "21.0 s of 25.0 s received" in html
    assert f'hx-get="{url}" hx-trigger="every 2s"' in html
    fragment = viewer.get(url, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="session-results").content.decode()
    assert fragment.lstrip().startswith('<div id="session-results"') and "<html" not in fragment

    services.session_end(domain=domain, session_name_or_id=session.session_name)
    fragment = viewer.get(url, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="session-results").content.decode()
    assert "ENDED" in fragment and "hx-trigger" not in fragment


def test_the_session_page_links_its_speaker_closest_fraudster_and_watchlist(
    viewer: Any, domain: Domain
) -> None:
    session = _store_results(_session(domain, "contact-8", speaker_id="bob"), auth=ACCEPTED, fraud=HIGH_RISK)
    html = viewer.get(reverse("calls:detail", args=[session.session_id])).content.decode()
    fraudster_id = HIGH_RISK["RiskDetails"]["KnownFraudsterRisk"]["GeneratedFraudsterId"]
    bob = speaker_selectors.speaker_find(domain=domain, speaker_id="bob")  # PENDING: the call named it
    # By the generated id: a customer id in a URL would reach access logs and browser history.
    assert (
        f'href="{reverse("speakers:detail", args=[domain.domain_id, bob.generated_speaker_id])}">bob</a>'
        in html
    )
    assert reverse("speakers:detail", args=[domain.domain_id, "bob"]) not in html
    assert f'href="{reverse("fraudsters:detail", args=[domain.domain_id, fraudster_id])}">' in html
    assert f'href="{reverse("fraudsters:watchlist", args=[domain.domain_id, session.watchlist_id])}">' in html


def test_the_session_page_links_only_what_the_user_may_open(
    client: Any, django_user_model: Any, domain: Domain
) -> None:
    user = django_user_model.objects.create_user("calls-only")
    user.user_permissions.add(
        Permission.objects.get(codename="view_session", content_type__app_label="calls")
    )
    client.force_login(user)
    session = _store_results(_session(domain, "contact-9", speaker_id="bob"), auth=ACCEPTED, fraud=HIGH_RISK)
    html = client.get(reverse("calls:detail", args=[session.session_id])).content.decode()
    assert "<dd>bob</dd>" in html
    assert reverse("speakers:detail", args=[domain.domain_id, "bob"]) not in html
    assert "/fraudsters/" not in html


def test_results_older_than_the_audio_say_so(viewer: Any, domain: Domain) -> None:
    session = _store_results(_session(domain, "c"), auth=ACCEPTED, fraud=HIGH_RISK)
    Session.objects.filter(pk=session.pk).update(audio_ended_at=timezone.now(), chunks_received=2)
    html = viewer.get(reverse("calls:detail", args=[session.session_id])).content.decode()
    assert "Audio arrived since" in html


def test_an_unknown_session_is_a_404_page(viewer: Any) -> None:
    response = viewer.get(reverse("calls:detail", args=["id#" + "x" * 22]))
    assert response.status_code == 404
    assert "No session id#" in response.content.decode()


def test_a_user_without_a_role_is_refused(client: Any, django_user_model: Any) -> None:
    client.force_login(django_user_model.objects.create_user("nobody"))
    response = client.get(reverse("calls:list"))
    assert response.status_code == 403
    assert "no permission to view call sessions" in response.content.decode()


def test_a_real_call_shows_the_decision_evaluate_session_stored(viewer: Any, domain: Domain) -> None:
    """End to end below the page: enrolled demo voice, its later call streamed, EvaluateSession, the page."""
    alice = demo.CALLERS[0]
    demo.seed_voices(domain)
    session = _session(domain, "real-call", speaker_id=alice.name)
    pcm = audio.pcm16_bytes(alice.call_audio())
    services.session_put_audio(
        domain=domain, session_name_or_id="real-call", data=pcm, audio_format="PCM_S16LE_8000"
    )
    result = evaluation.session_evaluate(domain=domain, session_name_or_id="real-call")
    assert result.authentication["Decision"] == "ACCEPT"
    html = viewer.get(reverse("calls:detail", args=[session.session_id])).content.decode()
    assert ">ACCEPT<" in html and ">LOW_RISK<" in html
    assert f"Score {result.authentication['Score']} against the acceptance threshold 90" in html
