from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import TestCase
from django.urls import reverse

from accounts import services
from accounts.admin import ACCESS_KEY_SECRET_SHOWN_ONCE, ACCESS_KEYS_DISABLED, ACCESS_KEYS_ENABLED
from accounts.models import AccessKey
from accounts.selectors import access_key_secret

from . import messages_of

CHANGELIST = reverse("admin:accounts_accesskey_changelist")
ADD = reverse("admin:accounts_accesskey_add")


def change_url(access_key: AccessKey) -> str:
    return reverse("admin:accounts_accesskey_change", args=[access_key.pk])


class AccessKeyAdminTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        users = get_user_model().objects
        cls.superuser = users.create_superuser("root", "root@example.com", "password")
        cls.api_user = users.create_user("ci-bot")
        cls.access_key, cls.secret = services.access_key_create(user=cls.api_user, description="CI")

    def setUp(self) -> None:
        self.client.force_login(self.superuser)

    def test_it_lists_keys_with_their_columns(self) -> None:
        response = self.client.get(CHANGELIST)

        assert response.status_code == 200
        for text in (self.access_key.access_key_id, "ci-bot", "CI"):
            assert text in response.text
        assert self.secret not in response.text

    def test_it_shows_the_new_secret_once_and_the_key_then_verifies(self) -> None:
        response = self.client.post(ADD, {"user": self.api_user.pk, "description": "Nightly"}, follow=True)

        assert response.status_code == 200
        access_key = AccessKey.objects.get(description="Nightly")
        assert access_key.user == self.api_user
        assert access_key.is_active
        secret = access_key_secret(access_key)
        shown = ACCESS_KEY_SECRET_SHOWN_ONCE.format(access_key_id=access_key.access_key_id, secret=secret)
        assert (messages.WARNING, shown) in messages_of(response)
        assert "will not be shown again" in shown
        assert response.text.count(secret) == 1
        # Never again: not on the next page, nor on the key's own page.
        assert secret not in self.client.get(CHANGELIST).text
        assert secret not in self.client.get(change_url(access_key)).text

    def test_it_asks_only_for_the_user_and_a_description(self) -> None:
        response = self.client.get(ADD)

        assert set(response.context["adminform"].form.fields) == {"user", "description"}

    def test_it_never_displays_the_sealed_secret(self) -> None:
        response = self.client.get(change_url(self.access_key))

        assert response.status_code == 200
        assert response.context["title"] == "View access key"
        assert "sealed" not in response.text.lower()
        assert self.secret not in response.text

    def test_it_disables_and_enables_selected_keys(self) -> None:
        selected = {"_selected_action": [self.access_key.pk]}

        disabled = self.client.post(CHANGELIST, {"action": "disable", **selected}, follow=True)
        is_active_after_disable = AccessKey.objects.get(pk=self.access_key.pk).is_active
        enabled = self.client.post(CHANGELIST, {"action": "enable", **selected}, follow=True)

        assert not is_active_after_disable
        assert AccessKey.objects.get(pk=self.access_key.pk).is_active
        assert messages_of(disabled) == [(messages.SUCCESS, ACCESS_KEYS_DISABLED.format(count=1))]
        assert messages_of(enabled) == [(messages.SUCCESS, ACCESS_KEYS_ENABLED.format(count=1))]

    def test_it_offers_the_key_actions_by_name(self) -> None:
        response = self.client.get(CHANGELIST)

        assert "Disable selected keys" in response.text
        assert "Enable selected keys" in response.text

    def test_it_disables_a_key_from_its_page(self) -> None:
        data = {"CHANGE_FORM-action": "disable", "_selected_action": str(self.access_key.pk)}

        response = self.client.post(change_url(self.access_key), data, follow=True)

        assert response.status_code == 200
        assert not AccessKey.objects.get(pk=self.access_key.pk).is_active

    def test_it_deletes_a_key_through_the_service(self) -> None:
        response = self.client.post(
            reverse("admin:accounts_accesskey_delete", args=[self.access_key.pk]),
            {"post": "yes"},
            follow=True,
        )

        assert response.status_code == 200
        assert not AccessKey.objects.filter(pk=self.access_key.pk).exists()
        [(level, text)] = messages_of(response)
        assert level == messages.SUCCESS
        assert "was deleted successfully" in text

    def test_it_keeps_access_keys_from_staff_who_are_not_superusers(self) -> None:
        staff = get_user_model().objects.create_user("analyst", is_staff=True)
        staff.user_permissions.set(Permission.objects.filter(content_type__app_label="accounts"))
        self.client.force_login(staff)

        assert self.client.get(CHANGELIST).status_code == 403
        assert self.client.get(ADD).status_code == 403
        assert self.client.post(ADD, {"user": staff.pk}).status_code == 403
        assert not AccessKey.objects.filter(user=staff).exists()
