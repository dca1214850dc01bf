from __future__ import annotations

from typing import Any

import pytest
from django.contrib import messages
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth import get_user_model
from django.test import TestCase
from django.urls import reverse

from domains import services
from domains.admin import DEFAULT_REGION, DOMAIN_SUSPENDED, DOMAINS_SUSPENDED
from domains.models import Domain, Tag
from fraudsters import selectors as fraudster_selectors

from . import messages_of

CHANGELIST = reverse("admin:domains_domain_changelist")
ADD = reverse("admin:domains_domain_add")


def change_url(domain: Domain) -> str:
    return reverse("admin:domains_domain_change", args=[domain.pk])


def tag_rows(domain: Domain, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The inline's POST data: existing tags first (with their id), then new ones."""
    initial = sum(1 for row in rows if "id" in row)
    data: dict[str, Any] = {
        "tags-TOTAL_FORMS": str(len(rows)),
        "tags-INITIAL_FORMS": str(initial),
        "tags-MIN_NUM_FORMS": "0",
        "tags-MAX_NUM_FORMS": "1000",
    }
    for index, row in enumerate(rows):
        data[f"tags-{index}-domain"] = str(domain.pk) if domain.pk else ""
        for name, value in row.items():
            data[f"tags-{index}-{name}"] = value
    return data


class DomainAdminTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.superuser = get_user_model().objects.create_superuser("root", "root@example.com", "password")
        cls.domain = services.domain_create(
            name="Contact-centre", kms_key_id="alias/voiceid", region="us-east-1", description="Main line"
        )
        services.domain_tag(
            domain=cls.domain, tags=[{"Key": "team", "Value": "support"}, {"Key": "tier", "Value": "1"}]
        )

    def setUp(self) -> None:
        self.client.force_login(self.superuser)

    def change_data(self, **fields: str) -> dict[str, Any]:
        tags = [
            {"id": str(tag.pk), "key": tag.key, "value": tag.value}
            for tag in Tag.objects.filter(domain=self.domain).order_by("key")
        ]
        return {
            "name": self.domain.name,
            "description": self.domain.description,
            "kms_key_id": self.domain.kms_key_id,
            "session_acceptance_threshold": str(self.domain.session_acceptance_threshold),
            "session_risk_threshold": str(self.domain.session_risk_threshold),
            "session_minimum_speech_seconds": str(self.domain.session_minimum_speech_seconds),
            **tag_rows(self.domain, tags),
            **fields,
        }

    def test_it_lists_domains_with_their_columns(self) -> None:
        response = self.client.get(CHANGELIST)

        assert response.status_code == 200
        for text in ("Contact-centre", self.domain.domain_id, "ACTIVE", "us-east-1", "alias/voiceid"):
            assert text in response.text

    def test_it_searches_domains_by_domain_id(self) -> None:
        other = services.domain_create(name="Other", kms_key_id="alias/other", region="us-east-1")

        response = self.client.get(CHANGELIST, {"q": other.domain_id})

        assert other.domain_id in response.text
        assert self.domain.domain_id not in response.text

    def test_it_offers_us_east_1_as_the_region_of_a_new_domain(self) -> None:
        response = self.client.get(ADD)

        assert response.status_code == 200
        assert response.context["adminform"].form.initial["region"] == DEFAULT_REGION == "us-east-1"

    def test_it_creates_a_domain_with_its_default_watchlist_and_tags(self) -> None:
        data = {
            "name": "Fraud-desk",
            "description": "Screening",
            "kms_key_id": "alias/fraud",
            "region": "eu-west-2",
            **tag_rows(Domain(), [{"key": "team", "value": "fraud"}]),
        }

        response = self.client.post(ADD, data, follow=True)

        assert response.status_code == 200
        domain = Domain.objects.latest("pk")
        assert (domain.name, domain.description, domain.kms_key_id, domain.region) == (
            "Fraud-desk",
            "Screening",
            "alias/fraud",
            "eu-west-2",
        )
        assert fraudster_selectors.watchlist_default(domain=domain).is_default
        assert list(domain.tags.values_list("key", "value")) == [("team", "fraud")]
        [(level, text)] = messages_of(response)
        assert level == messages.SUCCESS
        assert text.endswith(f">{domain}</a>” was added successfully.")

    def test_it_updates_a_domain_and_clears_an_omitted_description(self) -> None:
        response = self.client.post(
            change_url(self.domain), self.change_data(name="Renamed", description=""), follow=True
        )

        assert response.status_code == 200
        domain = Domain.objects.get(pk=self.domain.pk)
        assert (domain.name, domain.description) == ("Renamed", "")
        assert domain.updated_at > self.domain.updated_at
        assert any(level == messages.SUCCESS for level, _ in messages_of(response))

    def test_it_tags_and_untags_through_the_inline(self) -> None:
        data = self.change_data()
        data["tags-0-DELETE"] = "on"  # team
        data["tags-1-value"] = "2"  # tier
        data |= {
            "tags-TOTAL_FORMS": "3",
            "tags-2-domain": str(self.domain.pk),
            "tags-2-key": "site",
            "tags-2-value": "dublin",
        }

        response = self.client.post(change_url(self.domain), data, follow=True)

        assert response.status_code == 200
        assert dict(self.domain.tags.values_list("key", "value")) == {"tier": "2", "site": "dublin"}

    def test_it_reports_a_reserved_tag_key_as_an_error_and_saves_nothing(self) -> None:
        data = self.change_data(name="Renamed")
        data |= {
            "tags-TOTAL_FORMS": "3",
            "tags-2-domain": str(self.domain.pk),
            "tags-2-key": "aws:owner",
            "tags-2-value": "me",
        }

        response = self.client.post(change_url(self.domain), data)

        assert response.status_code == 200  # the form again, as it was sent, with the refusal on it
        form = response.context["adminform"].form
        assert "aws:owner" in form.non_field_errors()[0]
        assert form["name"].value() == "Renamed"
        assert 'value="aws:owner"' in response.text  # the tag row typed is still there
        assert Domain.objects.get(pk=self.domain.pk).name == "Contact-centre"
        assert not self.domain.tags.filter(key="aws:owner").exists()

    def test_a_key_the_keyring_refuses_is_shown_beside_the_field_and_keeps_the_other_edits(self) -> None:
        response = self.client.post(
            change_url(self.domain), self.change_data(description="Night shift", kms_key_id="not a key")
        )

        assert response.status_code == 200
        form = response.context["adminform"].form
        [refusal] = form.errors["kms_key_id"]  # VOICEID_KMS_AUTO_CREATE decides which refusal; both say where
        assert refusal.startswith("KmsKeyId") and "local keyring" in refusal
        assert form["description"].value() == "Night shift" and form["kms_key_id"].value() == "not a key"
        domain = Domain.objects.get(pk=self.domain.pk)
        assert domain.kms_key_id == "alias/voiceid" and domain.description == self.domain.description

    def test_it_refuses_a_name_or_description_the_api_would_refuse_and_saves_nothing(self) -> None:
        response = self.client.post(
            change_url(self.domain), self.change_data(name="bad name!", description="semi;colon")
        )

        assert response.status_code == 200  # the form again, with its errors
        form = response.context["adminform"].form
        assert form.errors["name"] == [
            "CreateDomain would refuse this name: Member must satisfy regular expression pattern: "
            "^[a-zA-Z0-9][a-zA-Z0-9_-]*$."
        ]
        assert "CreateDomain would refuse this description" in form.errors["description"][0]
        assert Domain.objects.get(pk=self.domain.pk).name == "Contact-centre"

    def test_it_reports_a_change_to_a_suspended_domain_as_an_error(self) -> None:
        services.domain_delete(domain_id=self.domain.domain_id)

        response = self.client.post(change_url(self.domain), self.change_data(name="Renamed"))

        assert response.status_code == 200
        assert "not active" in response.context["adminform"].form.non_field_errors()[0]
        assert Domain.objects.get(pk=self.domain.pk).name == "Contact-centre"

    def test_it_shows_the_default_watchlist_id_and_service_owned_fields_read_only(self) -> None:
        response = self.client.get(change_url(self.domain))

        assert response.status_code == 200
        assert fraudster_selectors.watchlist_default(domain=self.domain).watchlist_id in response.text
        form_fields = response.context["adminform"].form.fields
        assert set(form_fields) == {
            "name",
            "description",
            "kms_key_id",
            "session_acceptance_threshold",
            "session_risk_threshold",
            "session_minimum_speech_seconds",
        }

    def test_it_suspends_a_domain_instead_of_deleting_it(self) -> None:
        response = self.client.post(
            reverse("admin:domains_domain_delete", args=[self.domain.pk]), {"post": "yes"}, follow=True
        )

        assert response.status_code == 200
        domain = Domain.objects.get(pk=self.domain.pk)
        assert domain.status == Domain.Status.SUSPENDED
        assert domain.suspended_at is not None
        assert messages_of(response) == [(messages.SUCCESS, DOMAIN_SUSPENDED.format(domain=str(self.domain)))]

    def test_it_records_a_suspension_as_a_change_in_the_history(self) -> None:
        self.client.post(reverse("admin:domains_domain_delete", args=[self.domain.pk]), {"post": "yes"})

        response = self.client.get(reverse("admin:domains_domain_history", args=[self.domain.pk]))

        assert response.status_code == 200
        [entry] = LogEntry.objects.filter(object_id=str(self.domain.pk))
        assert entry.action_flag == CHANGE
        assert entry.get_change_message() == "Changed status."

    def test_it_asks_before_suspending_and_lists_only_the_domain(self) -> None:
        response = self.client.get(reverse("admin:domains_domain_delete", args=[self.domain.pk]))

        assert response.status_code == 200
        assert response.context["deleted_objects"] == [str(self.domain)]
        assert Domain.objects.get(pk=self.domain.pk).status == Domain.Status.ACTIVE

    def test_it_suspends_selected_domains_with_the_delete_action(self) -> None:
        other = services.domain_create(name="Other", kms_key_id="alias/other", region="us-east-1")
        data = {"action": "delete_selected", "_selected_action": [self.domain.pk, other.pk], "post": "yes"}

        response = self.client.post(CHANGELIST, data, follow=True)

        assert response.status_code == 200
        statuses = set(
            Domain.objects.filter(pk__in=[self.domain.pk, other.pk]).values_list("status", flat=True)
        )
        assert statuses == {Domain.Status.SUSPENDED}
        assert messages_of(response) == [
            (messages.SUCCESS, DOMAINS_SUSPENDED.format(count=2, items="domains"))
        ]

    def test_it_confirms_the_delete_action_before_suspending(self) -> None:
        data = {"action": "delete_selected", "_selected_action": [self.domain.pk]}

        response = self.client.post(CHANGELIST, data)

        assert response.status_code == 200
        assert response.templates[0].name == "admin/domains/domain/delete_selected_confirmation.html"
        page = response.content.decode()
        assert "<strong>suspends</strong> them" in page and "erased for good" in page and "30 days" in page
        assert "will be deleted" not in page
        assert Domain.objects.get(pk=self.domain.pk).status == Domain.Status.ACTIVE

    def test_its_delete_page_says_the_domain_is_suspended_then_erased(self) -> None:
        response = self.client.get(f"/admin/domains/domain/{self.domain.pk}/delete/")

        page = response.content.decode()
        assert "<strong>suspends</strong> it" in page and "30 days after suspension" in page
        assert "will be deleted" not in page and "Yes, suspend the domain" in page


def test_a_superuser_sets_the_domains_session_defaults_and_new_calls_apply_them(admin_client, domain_model):
    from calls import services as call_services

    page = admin_client.get(f"/admin/domains/domain/{domain_model.pk}/change/")
    assert "Session defaults" in page.content.decode()
    assert "speakers: 0 of" in page.content.decode()  # the quotas, with what is in use
    form = {
        "name": "unit",
        "description": "",
        "kms_key_id": domain_model.kms_key_id,
        "session_acceptance_threshold": "95",
        "session_risk_threshold": "40",
        "session_minimum_speech_seconds": "5",
        "tags-TOTAL_FORMS": "0",
        "tags-INITIAL_FORMS": "0",
    }
    response = admin_client.post(f"/admin/domains/domain/{domain_model.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    domain_model.refresh_from_db()
    session = call_services.session_start(
        domain=domain_model, session_name="call-1", settings_=call_services.SessionSettings()
    )
    assert (session.acceptance_threshold, session.risk_threshold, session.minimum_speech_seconds) == (
        95,
        40,
        5,
    )


def test_session_defaults_out_of_range_are_refused_by_the_service(domain_model):
    from domains import services as domain_services
    from voiceid_site.exceptions import ValidationError

    with pytest.raises(ValidationError, match="MinimumSpeechInSeconds must be between 5 and 10"):
        domain_services.domain_session_defaults_update(
            domain_id=domain_model.domain_id,
            acceptance_threshold=90,
            risk_threshold=50,
            minimum_speech_seconds=3,
        )
