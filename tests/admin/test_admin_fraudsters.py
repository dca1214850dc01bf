from __future__ import annotations

from unittest import mock

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.test import TestCase
from django.urls import reverse

from domains import services as domain_services
from fraudsters import selectors, services
from fraudsters.admin import FRAUDSTERS_COME_FROM_JOBS
from fraudsters.models import Fraudster
from voiceid_site.exceptions import Conflict

from . import messages_of

CHANGELIST = reverse("admin:fraudsters_fraudster_changelist")


def change_url(fraudster: Fraudster) -> str:
    return reverse("admin:fraudsters_fraudster_change", args=[fraudster.pk])


def delete_url(fraudster: Fraudster) -> str:
    return reverse("admin:fraudsters_fraudster_delete", args=[fraudster.pk])


class FraudsterAdminTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.superuser = get_user_model().objects.create_superuser("root", "root@example.com", "password")
        cls.domain = domain_services.domain_create(
            name="Contact centre", kms_key_id="alias/voiceid", region="us-east-1"
        )
        cls.default = selectors.watchlist_default(domain=cls.domain)
        cls.custom = services.watchlist_create(domain=cls.domain, name="Known fraud")
        cls.fraudster = services.fraudster_create(domain=cls.domain)
        services.fraudster_associate(
            domain=cls.domain,
            fraudster_id=cls.fraudster.generated_fraudster_id,
            watchlist_id=cls.custom.watchlist_id,
        )

    def setUp(self) -> None:
        self.client.force_login(self.superuser)

    def test_it_lists_fraudsters_with_their_watchlist_ids(self) -> None:
        response = self.client.get(CHANGELIST)

        assert response.status_code == 200
        assert self.fraudster.generated_fraudster_id in response.text
        assert f"{self.default.watchlist_id}, {self.custom.watchlist_id}" in response.text

    def test_it_offers_no_add_and_says_where_fraudsters_come_from(self) -> None:
        response = self.client.get(CHANGELIST)

        assert FRAUDSTERS_COME_FROM_JOBS in response.text
        assert reverse("admin:fraudsters_fraudster_add") not in response.text
        assert self.client.get(reverse("admin:fraudsters_fraudster_add")).status_code == 403

    def test_it_shows_a_fraudster_read_only(self) -> None:
        response = self.client.get(change_url(self.fraudster))

        assert response.status_code == 200
        assert response.context["title"] == "View fraudster"
        assert self.custom.watchlist_id in response.text
        assert self.client.post(change_url(self.fraudster), {}).status_code == 403

    def test_it_deletes_a_fraudster_through_the_service(self) -> None:
        response = self.client.post(delete_url(self.fraudster), {"post": "yes"}, follow=True)

        assert response.status_code == 200
        assert not Fraudster.objects.filter(pk=self.fraudster.pk).exists()
        assert not self.custom.memberships.exists()
        [(level, text)] = messages_of(response)
        assert level == messages.SUCCESS
        assert "was deleted successfully" in text

    def test_it_deletes_selected_fraudsters_with_the_delete_action(self) -> None:
        other = services.fraudster_create(domain=self.domain)
        data = {"action": "delete_selected", "_selected_action": [self.fraudster.pk, other.pk], "post": "yes"}

        response = self.client.post(CHANGELIST, data, follow=True)

        assert response.status_code == 200
        assert not Fraudster.objects.filter(domain=self.domain).exists()
        assert messages_of(response) == [(messages.SUCCESS, "Deleted 2 fraudsters.")]

    def test_it_reports_a_refused_deletion_as_an_error_message(self) -> None:
        # Only the translation is under test here; when the service refuses is the service tests' business.
        refusal = Conflict("Fraudster is busy.")
        with mock.patch.object(services, "fraudster_delete", side_effect=refusal):
            response = self.client.post(delete_url(self.fraudster), {"post": "yes"}, follow=True)

        assert response.status_code == 200
        assert response.redirect_chain[-1][0] == change_url(self.fraudster)
        assert messages_of(response) == [(messages.ERROR, "Fraudster is busy.")]
        assert Fraudster.objects.filter(pk=self.fraudster.pk).exists()
