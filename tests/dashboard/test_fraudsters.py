"""Watchlist and fraudster screens: list, create, describe, associate, disassociate, delete; and who may."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts import roles
from domains import services as domain_services
from fraudsters import services as fraudster_services
from fraudsters.models import Fraudster, Watchlist, WatchlistMembership
from tests.conftest import role_client

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def domain(db):
    return domain_services.domain_create(name="contact-centre", kms_key_id="alias/dash", region="us-east-1")


@pytest.fixture
def fraudster(domain):
    return fraudster_services.fraudster_create(domain=domain)


def _url(name: str, domain, fraudster) -> str:
    return reverse(f"fraudsters:{name}", args=[domain.domain_id, fraudster.generated_fraudster_id])


# --- watchlists -----------------------------------------------------------------------------------------


def test_the_watchlists_page_lists_the_default_watchlist_with_its_count(analyst, domain, fraudster):
    response = analyst.get(reverse("fraudsters:watchlists"), {"domain": domain.domain_id})
    assert response.status_code == 200
    default = Watchlist.objects.get(domain=domain, is_default=True)
    assert default.watchlist_id in response.text
    assert "default" in response.text
    assert "<td>1</td>" in response.text
    assert "New watchlist" in response.text


def test_an_analyst_creates_a_watchlist_in_place(analyst, domain):
    response = analyst.post(
        reverse("fraudsters:watchlists"),
        {"domain": domain.domain_id, "name": "mule-ring", "description": "Seen in Q3"},
        **HTMX,
    )
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<div id="watchlist-panel">')
    assert "Watchlist mule-ring created" in response.text
    created = Watchlist.objects.get(domain=domain, is_default=False)
    assert created.name == "mule-ring" and created.description == "Seen in Q3"
    assert created.watchlist_id in response.text


def test_a_watchlist_name_the_api_would_refuse_is_a_form_error(analyst, domain):
    response = analyst.post(
        reverse("fraudsters:watchlists"), {"domain": domain.domain_id, "name": "-bad name"}
    )
    assert response.status_code == 400
    assert "Give a name of 1 to 256 letters" in response.text
    assert 'value="-bad name"' in response.text
    assert not Watchlist.objects.filter(domain=domain, is_default=False).exists()


def test_an_auditor_sees_no_create_form_and_a_forged_post_gets_403(auditor, domain):
    response = auditor.get(reverse("fraudsters:watchlists"), {"domain": domain.domain_id})
    assert response.status_code == 200
    assert "New watchlist" not in response.text
    response = auditor.post(reverse("fraudsters:watchlists"), {"domain": domain.domain_id, "name": "sneaky"})
    assert response.status_code == 403
    assert "not create them" in response.text
    assert not Watchlist.objects.filter(domain=domain, is_default=False).exists()


def test_the_watchlist_page_lists_its_fraudsters(analyst, domain, fraudster):
    other = fraudster_services.watchlist_create(domain=domain, name="empty")
    default = Watchlist.objects.get(domain=domain, is_default=True)
    response = analyst.get(reverse("fraudsters:watchlist", args=[domain.domain_id, default.watchlist_id]))
    assert fraudster.generated_fraudster_id in response.text
    response = analyst.get(reverse("fraudsters:watchlist", args=[domain.domain_id, other.watchlist_id]))
    assert "No fraudsters in this watchlist yet" in response.text


# --- fraudsters -----------------------------------------------------------------------------------------


def test_the_fraudster_list_filters_by_watchlist(analyst, domain, fraudster):
    custom = fraudster_services.watchlist_create(domain=domain, name="custom")
    other = fraudster_services.fraudster_create(domain=domain, watchlist=custom)
    response = analyst.get(reverse("fraudsters:list"), {"domain": domain.domain_id})
    assert fraudster.generated_fraudster_id in response.text and other.generated_fraudster_id in response.text
    response = analyst.get(
        reverse("fraudsters:list"), {"domain": domain.domain_id, "watchlist": custom.watchlist_id}
    )
    assert (
        fraudster.generated_fraudster_id not in response.text
        and other.generated_fraudster_id in response.text
    )


def test_the_fraudster_list_names_watchlists_and_tells_same_named_ones_apart(analyst, domain, fraudster):
    first = fraudster_services.watchlist_create(domain=domain, name="night shift")
    second = fraudster_services.watchlist_create(domain=domain, name="night shift")
    response = analyst.get(reverse("fraudsters:list"), {"domain": domain.domain_id})
    default = Watchlist.objects.get(domain=domain, is_default=True)
    watchlist_url = reverse("fraudsters:watchlist", args=[domain.domain_id, default.watchlist_id])
    assert f'href="{watchlist_url}" title="{default.watchlist_id}">default</a>' in response.text
    assert f">night shift ({first.watchlist_id})</option>" in response.text
    assert f">night shift ({second.watchlist_id})</option>" in response.text
    assert ">default</option>" in response.text  # a unique name stands alone


def test_the_fraudster_page_shows_its_watchlists_and_the_actions(analyst, domain, fraudster):
    fraudster_services.watchlist_create(domain=domain, name="custom")
    response = analyst.get(_url("detail", domain, fraudster))
    assert response.status_code == 200
    assert "Remove from default" in response.text
    assert "Add to watchlist" in response.text and "custom" in response.text
    assert "Delete…" in response.text


def test_associating_and_disassociating_update_the_memberships_in_place(analyst, domain, fraudster):
    custom = fraudster_services.watchlist_create(domain=domain, name="custom")
    response = analyst.post(_url("associate", domain, fraudster), {"watchlist": custom.watchlist_id}, **HTMX)
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<section id="fraudster-summary"')
    assert f"Added to watchlist custom ({custom.watchlist_id})" in response.text
    assert "Remove from custom" in response.text
    assert WatchlistMembership.objects.filter(fraudster=fraudster).count() == 2
    default = Watchlist.objects.get(domain=domain, is_default=True)
    response = analyst.post(
        _url("disassociate", domain, fraudster), {"watchlist": default.watchlist_id}, **HTMX
    )
    assert "Removed from watchlist" in response.text
    assert list(
        WatchlistMembership.objects.filter(fraudster=fraudster).values_list("watchlist", flat=True)
    ) == [custom.pk]


def test_removing_the_last_watchlist_is_refused_with_what_to_do(analyst, domain, fraudster):
    default = Watchlist.objects.get(domain=domain, is_default=True)
    response = analyst.post(
        _url("disassociate", domain, fraudster), {"watchlist": default.watchlist_id}, **HTMX
    )
    assert response.status_code == 200
    assert "must belong to at least one watchlist" in response.text
    assert WatchlistMembership.objects.filter(fraudster=fraudster).count() == 1


def test_the_delete_confirmation_says_what_will_be_erased(analyst, domain, fraudster):
    response = analyst.get(_url("detail", domain, fraudster), {"confirm": "delete"}, **HTMX)
    assert "voiceprint" in response.text and "registration audio" in response.text
    assert "removes it from 1 watchlist " in response.text


def test_deleting_a_fraudster_goes_back_to_the_list(analyst, domain, fraudster):
    response = analyst.post(_url("delete", domain, fraudster), **HTMX)
    assert response.status_code == 200
    assert response["HX-Redirect"] == f"{reverse('fraudsters:list')}?domain={domain.domain_id}"
    assert not Fraudster.objects.filter(pk=fraudster.pk).exists()
    response = analyst.get(response["HX-Redirect"])
    assert "was deleted from every watchlist" in response.text


def test_an_auditor_sees_no_actions_and_forged_posts_get_403(auditor, domain, fraudster):
    response = auditor.get(_url("detail", domain, fraudster))
    assert response.status_code == 200
    assert "Delete…" not in response.text and "Add to watchlist" not in response.text
    custom = fraudster_services.watchlist_create(domain=domain, name="custom")
    for action, data in (("associate", {"watchlist": custom.watchlist_id}), ("delete", {})):
        response = auditor.post(_url(action, domain, fraudster), data)
        assert response.status_code == 403
        assert "takes the analyst role" in response.text
    assert Fraudster.objects.filter(pk=fraudster.pk).exists()
    assert WatchlistMembership.objects.filter(fraudster=fraudster).count() == 1


def test_a_fraudster_delete_without_a_csrf_token_is_refused(django_user_model, domain, fraudster):
    client = role_client(django_user_model, roles.ANALYSTS, enforce_csrf_checks=True)
    response = client.post(_url("delete", domain, fraudster))
    assert response.status_code == 403
    assert Fraudster.objects.filter(pk=fraudster.pk).exists()


@pytest.mark.parametrize("name", ["list", "watchlists"])
def test_anonymous_visitors_are_sent_to_sign_in(client, db, name):
    response = client.get(reverse(f"fraudsters:{name}"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_an_unknown_fraudster_is_a_404_page(analyst, domain):
    response = analyst.get(reverse("fraudsters:detail", args=[domain.domain_id, "id#nosuchfraudsterxxxxx"]))
    assert response.status_code == 404
    assert "does not exist" in response.text


def _watchlist_url(name: str, domain, watchlist) -> str:
    return reverse(f"fraudsters:{name}", args=[domain.domain_id, watchlist.watchlist_id])


def test_an_analyst_renames_a_watchlist(analyst, domain):
    custom = fraudster_services.watchlist_create(domain=domain, name="mules")
    response = analyst.post(
        _watchlist_url("watchlist-edit", domain, custom), {"name": "mule-ring", "description": "Q4"}
    )
    assert response.status_code == 302
    page = analyst.get(response["Location"]).text
    assert "Watchlist mule-ring saved." in page
    saved = Watchlist.objects.get(pk=custom.pk)
    assert (saved.name, saved.description) == ("mule-ring", "Q4")


def test_a_watchlist_name_the_api_would_refuse_is_not_saved(analyst, domain):
    custom = fraudster_services.watchlist_create(domain=domain, name="mules")
    response = analyst.post(_watchlist_url("watchlist-edit", domain, custom), {"name": "bad name!"})
    assert response.status_code == 400
    assert "Give a name of 1 to 256 letters" in response.text and 'value="bad name!"' in response.text
    assert Watchlist.objects.get(pk=custom.pk).name == "mules"


def test_an_empty_watchlist_is_deleted_after_a_confirmation(analyst, domain):
    custom = fraudster_services.watchlist_create(domain=domain, name="mules")
    page = analyst.get(_watchlist_url("watchlist", domain, custom), {"confirm": "delete"}).text
    assert "Delete watchlist mules?" in page and 'role="alertdialog"' in page
    response = analyst.post(_watchlist_url("watchlist-delete", domain, custom))
    assert response.status_code == 302
    assert "Watchlist mules" in analyst.get(response["Location"]).text
    assert not Watchlist.objects.filter(pk=custom.pk).exists()


def test_a_watchlist_with_fraudsters_is_not_deleted_and_says_why(analyst, domain):
    custom = fraudster_services.watchlist_create(domain=domain, name="mules")
    fraudster_services.fraudster_create(domain=domain, watchlist=custom)
    response = analyst.post(_watchlist_url("watchlist-delete", domain, custom))
    assert response.status_code == 409
    assert "still has fraudsters: disassociate or delete them first" in response.text
    assert Watchlist.objects.filter(pk=custom.pk).exists()


def test_the_default_watchlist_offers_neither_rename_nor_delete(analyst, domain):
    default = Watchlist.objects.get(domain=domain, is_default=True)
    page = analyst.get(_watchlist_url("watchlist", domain, default)).text
    assert "cannot be renamed or deleted" in page
    assert "Delete…" not in page and "Rename or describe" not in page
    assert analyst.post(_watchlist_url("watchlist-delete", domain, default)).status_code == 400
    assert Watchlist.objects.filter(pk=default.pk).exists()


def test_an_auditor_may_not_rename_or_delete_a_watchlist(auditor, domain):
    custom = fraudster_services.watchlist_create(domain=domain, name="mules")
    page = auditor.get(_watchlist_url("watchlist", domain, custom)).text
    assert "Delete…" not in page and "Rename or describe" not in page
    assert auditor.post(_watchlist_url("watchlist-edit", domain, custom), {"name": "x"}).status_code == 403
    assert auditor.post(_watchlist_url("watchlist-delete", domain, custom)).status_code == 403
    assert Watchlist.objects.get(pk=custom.pk).name == "mules"


def test_a_watchlist_filter_left_from_another_domain_shows_the_domain_with_a_notice(
    analyst, domain, fraudster
):
    other = domain_services.domain_create(name="other", kms_key_id="alias/dash", region="us-east-1")
    elsewhere = fraudster_services.watchlist_create(domain=other, name="suspects")
    response = analyst.get(
        reverse("fraudsters:list"), {"domain": domain.domain_id, "watchlist": elsewhere.watchlist_id}, **HTMX
    )
    assert response.status_code == 200
    assert "That watchlist is not in this domain" in response.text
    assert fraudster.generated_fraudster_id in response.text


def test_a_description_with_a_character_it_may_not_hold_says_so_not_that_it_is_too_long(analyst, domain):
    response = analyst.post(
        reverse("fraudsters:watchlists"),
        {"domain": domain.domain_id, "name": "ok", "description": "desc kept?"},
    )
    assert response.status_code == 400
    assert "The description holds a character it may not" in response.text
