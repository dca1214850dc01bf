"""The overview of one domain: decisions per day and the score histogram as server-drawn SVG, the jobs
running now, and what the domain holds."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from accounts import roles
from calls import services as call_services
from calls.models import Session
from domains import services as domain_services
from domains.models import Domain
from fraudsters import services as fraudster_services
from jobs.models import BatchJob
from speakers import services as speaker_services

pytestmark = pytest.mark.django_db


@pytest.fixture
def domain() -> Domain:
    return domain_services.domain_create(name="Retail bank", kms_key_id="alias/overview", region="us-east-1")


@pytest.fixture
def auditor(client: Any, django_user_model: Any) -> Any:
    user = django_user_model.objects.create_user("auditor", password="pw")
    roles.ensure_roles()
    user.groups.add(Group.objects.get(name=roles.AUDITORS))
    client.force_login(user)
    return client


def _auth(decision: str, score: int | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {"Decision": decision, "Configuration": {"AcceptanceThreshold": 90}}
    if score is not None:
        result["Score"] = score
    return result


def _fraud(decision: str) -> dict[str, Any]:
    return {"Decision": decision, "Configuration": {"RiskThreshold": 50}}


_calls = 0


def _call(domain: Domain, *, days_ago: int, auth: dict[str, Any] | None, fraud: str = "LOW_RISK") -> Session:
    """A call started `days_ago` days ago with the results EvaluateSession stored (None: never evaluated)."""
    global _calls
    _calls += 1
    session = call_services.session_start(
        domain=domain, session_name=f"call-{_calls}", settings_=call_services.SessionSettings()
    )
    started = timezone.now() - timedelta(days=days_ago)
    results: dict[str, Any] = {"created_at": started}
    if auth is not None:
        results.update(auth_result=auth, fraud_result=_fraud(fraud), evaluated_at=started)
    Session.objects.filter(pk=session.pk).update(**results)
    return session


def test_the_overview_charts_decisions_per_day_and_scores_of_the_last_14_days(
    auditor: Any, domain: Domain, django_assert_max_num_queries: Any
) -> None:
    # Oldest first, as calls arrive: a session's key grows with its start time.
    _call(domain, days_ago=20, auth=_auth("REJECT", 12))  # before the window: not counted
    _call(domain, days_ago=3, auth=_auth("ACCEPT", 95))
    _call(domain, days_ago=0, auth=_auth("ACCEPT", 97), fraud="HIGH_RISK")
    _call(domain, days_ago=0, auth=_auth("ACCEPT", 100))
    _call(domain, days_ago=0, auth=_auth("REJECT", 41))
    _call(domain, days_ago=0, auth=_auth("NOT_ENOUGH_SPEECH"), fraud="NOT_ENOUGH_SPEECH")
    _call(domain, days_ago=0, auth=None)  # never evaluated: no decision to count
    today = timezone.localdate()
    three_days_ago = (today - timedelta(days=3)).isoformat()

    with django_assert_max_num_queries(20):
        response = auditor.get(reverse("domains:overview", args=[domain.domain_id]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Overview of Retail bank" in html
    # Decisions per day: a stacked bar per day, the HIGH_RISK bar beside it, each with its tooltip.
    assert f"<title>{today.isoformat()}: 2 ACCEPT</title>" in html
    assert f"<title>{today.isoformat()}: 1 REJECT</title>" in html
    assert f"<title>{today.isoformat()}: 1 other decisions</title>" in html
    assert f"<title>{today.isoformat()}: 1 HIGH_RISK</title>" in html
    assert f"<title>{three_days_ago}: 1 ACCEPT</title>" in html
    assert (today - timedelta(days=13)).strftime("%d %b") in html  # 14 days, empty ones included
    assert (today - timedelta(days=14)).strftime("%d %b") not in html
    assert (today - timedelta(days=20)).isoformat() not in html
    # Score histogram: 95, 97 and 100 fall in the 90-100 bar of the accepted calls, 41 in 40-49 rejected.
    assert "<title>scores 90-100: 3 ACCEPT</title>" in html
    assert "<title>scores 40-49: 1 REJECT</title>" in html
    assert 'text-anchor="middle">10-19</text>' in html and "<title>scores 10-19" not in html  # 20 days old
    assert 'class="chart-threshold"' in html
    # The tallest bar (3 accepted in the 90s) fills the plot: y axis top 5 -> 3/5 of 160 units.
    assert 'class="bar-accept" x="546" y="64" width="19" height="96"' in html
    assert "style=" not in html


def test_the_overview_counts_speakers_by_status_fraudsters_and_watchlists(
    auditor: Any, domain: Domain
) -> None:
    speaker_services.speaker_get_or_create_pending(domain=domain, customer_speaker_id="alice")
    speaker_services.speaker_get_or_create_pending(domain=domain, customer_speaker_id="bob")
    speaker = speaker_services.speaker_get_or_create_pending(domain=domain, customer_speaker_id="carol")
    speaker_services.speaker_opt_out(domain=domain, speaker_id=speaker.generated_speaker_id)
    fraudster_services.watchlist_create(domain=domain, name="Chargebacks")
    html = auditor.get(reverse("domains:overview", args=[domain.domain_id])).content.decode()
    assert 'id="speakers-heading">Speakers</h2>\n    <p class="stat-value">3</p>' in html
    assert 'status=PENDING">PENDING</a> <span class="stat-part-value">2</span>' in html
    assert 'status=OPTED_OUT">OPTED_OUT</a> <span class="stat-part-value">1</span>' in html
    assert 'id="fraudsters-heading">Fraudsters</h2>\n    <p class="stat-value">0</p>' in html
    assert 'id="watchlists-heading">Watchlists</h2>\n    <p class="stat-value">2</p>' in html  # + default


def test_running_jobs_show_their_polling_progress_bar(auditor: Any, domain: Domain) -> None:
    running = BatchJob.objects.create(
        domain=domain,
        kind=BatchJob.Kind.SPEAKER_ENROLLMENT,
        data_access_role_arn="arn:aws:iam::123456789012:role/VoiceIdBatchAccess",
        input_s3_uri="s3://recordings/manifest.json",
        output_s3_uri="s3://recordings/output",
        status=BatchJob.Status.IN_PROGRESS,
        total_entries=4,
        finished_entries=1,
    )
    BatchJob.objects.create(
        domain=domain,
        kind=BatchJob.Kind.FRAUDSTER_REGISTRATION,
        data_access_role_arn="arn:aws:iam::123456789012:role/VoiceIdBatchAccess",
        input_s3_uri="s3://recordings/old.json",
        output_s3_uri="s3://recordings/output",
        status=BatchJob.Status.COMPLETED,
    )
    html = auditor.get(reverse("domains:overview", args=[domain.domain_id])).content.decode()
    assert f'id="job-{running.job_id}"' in html
    progress = reverse("jobs:progress", args=[running.job_id])
    assert f'hx-get="{progress}?seen={running.progress_mark}" hx-trigger="every 2s"' in html
    assert '<progress max="100" value="25"' in html
    assert html.count("<progress") == 1  # the finished job is not running


def test_a_quiet_domain_says_what_to_do_next(auditor: Any, domain: Domain) -> None:
    html = auditor.get(reverse("domains:overview", args=[domain.domain_id])).content.decode()
    assert "No call of this domain was evaluated in the last 14 days." in html
    assert f"{reverse('calls:evaluate')}?domain={domain.domain_id}" in html
    assert "No batch job is running in this domain." in html
    assert '<svg class="chart"' not in html


def test_the_domain_list_and_the_nav_link_to_the_overview(auditor: Any, domain: Domain) -> None:
    overview = reverse("domains:overview", args=[domain.domain_id])
    assert f'href="{overview}"' in auditor.get(reverse("domains:list")).content.decode()
    nav = auditor.get(reverse("calls:list"), {"domain": domain.domain_id}).content.decode()
    assert f'<a href="{overview}">Overview</a>' in nav
    assert ">Overview</a>" not in auditor.get(reverse("calls:list")).content.decode()  # no domain chosen
    # An id no URL can hold gives no link rather than an error.
    assert auditor.get(reverse("calls:list"), {"domain": "a/b"}).status_code == 404


def test_an_unknown_domain_is_a_404_page(auditor: Any) -> None:
    response = auditor.get(reverse("domains:overview", args=["x" * 22]))
    assert response.status_code == 404
    assert "does not exist" in response.content.decode()


def test_a_user_without_a_role_is_refused(client: Any, django_user_model: Any, domain: Domain) -> None:
    client.force_login(django_user_model.objects.create_user("nobody", password="pw"))
    response = client.get(reverse("domains:overview", args=[domain.domain_id]))
    assert response.status_code == 403
    assert "may not see domains" in response.content.decode()
