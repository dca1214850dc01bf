from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.test import TestCase
from django.urls import reverse

from domains import services as domain_services
from fraudsters import selectors, services
from fraudsters.models import Watchlist

from . import messages_of

CHANGELIST = reverse("admin:fraudsters_watchlist_changelist")
ADD = reverse("admin:fraudsters_watchlist_add")


def change_url(watchlist: Watchlist) -> str:
    return reverse("admin:fraudsters_watchlist_change", args=[watchlist.pk])


def delete_url(watchlist: Watchlist) -> str:
    return reverse("admin:fraudsters_watchlist_delete", args=[watchlist.pk])


class WatchlistAdminTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.superuser = get_user_model().objects.create_superuser("root", "root@example.com", "password")
        cls.domain = domain_services.domain_create(
            name="Contact-centre", kms_key_id="alias/voiceid", region="us-east-1"
        )
        cls.default = selectors.watchlist_default(domain=cls.domain)
        cls.custom = services.watchlist_create(domain=cls.domain, name="Known-fraud", description="Q3")

    def setUp(self) -> None:
        self.client.force_login(self.superuser)

    def assert_one_error_naming(self, response: object, watchlist: Watchlist) -> None:
        [(level, text)] = messages_of(response)
        assert level == messages.ERROR
        assert watchlist.watchlist_id in text

    def test_it_lists_and_filters_watchlists_by_domain(self) -> None:
        other = domain_services.domain_create(name="Other", kms_key_id="alias/other", region="us-east-1")

        response = self.client.get(CHANGELIST, {"domain__id__exact": self.domain.pk})

        assert response.status_code == 200
        assert self.custom.watchlist_id in response.text
        assert self.default.watchlist_id in response.text
        assert selectors.watchlist_default(domain=other).watchlist_id not in response.text

    def test_it_searches_watchlists_by_name(self) -> None:
        response = self.client.get(CHANGELIST, {"q": "Known"})

        assert self.custom.watchlist_id in response.text
        assert self.default.watchlist_id not in response.text

    def test_it_asks_for_the_domain_name_and_description_of_a_new_watchlist(self) -> None:
        response = self.client.get(ADD)

        assert response.status_code == 200
        assert set(response.context["adminform"].form.fields) == {"domain", "name", "description"}

    def test_it_shows_service_owned_fields_read_only(self) -> None:
        response = self.client.get(change_url(self.custom))

        assert response.status_code == 200
        assert set(response.context["adminform"].form.fields) == {"name", "description"}
        assert self.custom.watchlist_id in response.text

    def test_it_creates_a_watchlist_through_the_service(self) -> None:
        data = {"domain": self.domain.pk, "name": "Mules", "description": "Money mules"}

        response = self.client.post(ADD, data, follow=True)

        assert response.status_code == 200
        watchlist = Watchlist.objects.latest("pk")
        assert (watchlist.name, watchlist.domain_id, watchlist.description, watchlist.is_default) == (
            "Mules",
            self.domain.pk,
            "Money mules",
            False,
        )
        [(level, text)] = messages_of(response)
        assert level == messages.SUCCESS
        assert "was added successfully" in text

    def test_it_reports_a_watchlist_for_a_suspended_domain_as_an_error(self) -> None:
        domain_services.domain_delete(domain_id=self.domain.domain_id)

        response = self.client.post(ADD, {"domain": self.domain.pk, "name": "Mules"})

        assert response.status_code == 200
        form = response.context["adminform"].form
        assert "not active" in form.non_field_errors()[0]
        assert form["name"].value() == "Mules"
        assert Watchlist.objects.filter(domain=self.domain).count() == 2  # default and custom only

    def test_it_updates_a_watchlist_through_the_service(self) -> None:
        data = {"name": "Known-fraudsters", "description": ""}

        response = self.client.post(change_url(self.custom), data, follow=True)

        assert response.status_code == 200
        watchlist = Watchlist.objects.get(pk=self.custom.pk)
        assert (watchlist.name, watchlist.description) == ("Known-fraudsters", "")
        assert watchlist.updated_at > self.custom.updated_at

    def test_it_refuses_to_change_the_default_watchlist_with_an_error_message(self) -> None:
        response = self.client.post(change_url(self.default), {"name": "Renamed", "description": ""})

        assert response.status_code == 200  # the form again, with the refusal above it
        form = response.context["adminform"].form
        assert self.default.watchlist_id in form.non_field_errors()[0]
        assert form["name"].value() == "Renamed"
        assert Watchlist.objects.get(pk=self.default.pk).name == self.default.name

    def test_it_deletes_an_empty_watchlist_through_the_service(self) -> None:
        response = self.client.post(delete_url(self.custom), {"post": "yes"}, follow=True)

        assert response.status_code == 200
        assert not Watchlist.objects.filter(pk=self.custom.pk).exists()
        [(level, text)] = messages_of(response)
        assert level == messages.SUCCESS
        assert "was deleted successfully" in text

    def test_it_refuses_to_delete_the_default_watchlist_with_an_error_message(self) -> None:
        response = self.client.post(delete_url(self.default), {"post": "yes"}, follow=True)

        assert response.status_code == 200
        assert response.redirect_chain[-1][0] == change_url(self.default)
        self.assert_one_error_naming(response, self.default)
        assert Watchlist.objects.filter(pk=self.default.pk).exists()

    def test_it_refuses_to_delete_a_non_empty_watchlist_with_an_error_message(self) -> None:
        services.fraudster_create(domain=self.domain, watchlist=self.custom)

        confirmation = self.client.get(delete_url(self.custom))
        response = self.client.post(delete_url(self.custom), {"post": "yes"}, follow=True)

        # The page asks as usual and leaves the refusal, with its reason, to the service.
        assert confirmation.status_code == 200
        assert not confirmation.context["protected"]
        assert response.status_code == 200
        self.assert_one_error_naming(response, self.custom)
        assert Watchlist.objects.filter(pk=self.custom.pk).exists()

    def test_it_deletes_what_it_may_and_reports_each_refusal_with_the_delete_action(self) -> None:
        full = services.watchlist_create(domain=self.domain, name="Full")
        services.fraudster_create(domain=self.domain, watchlist=full)
        selected = [self.default.pk, self.custom.pk, full.pk]

        response = self.client.post(
            CHANGELIST,
            {"action": "delete_selected", "_selected_action": selected, "post": "yes"},
            follow=True,
        )

        assert response.status_code == 200
        assert set(Watchlist.objects.filter(pk__in=selected).values_list("pk", flat=True)) == {
            self.default.pk,
            full.pk,
        }
        reported = messages_of(response)
        errors = [text for level, text in reported if level == messages.ERROR]
        assert len(errors) == 2
        assert self.default.watchlist_id in errors[0]
        assert full.watchlist_id in errors[1]
        assert (messages.SUCCESS, "Deleted 1 watchlist.") in reported
