from __future__ import annotations

import base64

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.test import TestCase
from django.urls import reverse

from domains import keyproviders
from domains import services as domain_services
from domains.models import MasterKey
from voiceid_site import secretbox

from . import messages_of


def secretbox_material(key: MasterKey) -> str:
    """The key's base64 material, opened the way only the keyring does."""
    return secretbox.open_sealed(bytes(key.material_sealed), purpose=b"voiceid.keyring", bound_to=key.key_id)


CHANGELIST = reverse("admin:domains_masterkey_changelist")
ADD = reverse("admin:domains_masterkey_add")


class EncryptionKeyAdminTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.superuser = get_user_model().objects.create_superuser("root", "root@example.com", "password")
        cls.key = keyproviders.master_key_create(key_id="alias/desk", description="fraud desk")
        cls.domain = domain_services.domain_create(name="desk", kms_key_id="alias/desk", region="us-east-1")

    def setUp(self) -> None:
        self.client.force_login(self.superuser)

    def test_it_lists_keys_with_the_domains_using_them_and_never_their_material(self) -> None:
        response = self.client.get(CHANGELIST)

        assert response.status_code == 200
        assert "alias/desk" in response.text
        assert self.domain.domain_id in response.text
        material = secretbox_material(self.key)
        assert material not in response.text
        assert base64.b64decode(material).hex() not in response.text

    def test_it_creates_a_key_with_fresh_sealed_material(self) -> None:
        response = self.client.post(ADD, {"key_id": "alias/new", "description": "new desk"}, follow=True)

        assert response.status_code == 200
        key = MasterKey.objects.get(key_id="alias/new")
        assert (key.origin, key.enabled, key.description) == (MasterKey.Origin.CREATED, True, "new desk")
        assert secretbox_material(key) not in response.text

    def test_it_refuses_a_duplicate_key_id(self) -> None:
        response = self.client.post(ADD, {"key_id": "alias/desk", "description": ""})

        assert response.status_code == 200
        assert "already exists" in response.text
        assert MasterKey.objects.filter(key_id="alias/desk").count() == 1

    def test_disabling_a_key_says_what_happens_and_enabling_restores_it(self) -> None:
        data = {"action": "disable_keys", "_selected_action": [self.key.pk]}

        with self.captureOnCommitCallbacks(execute=True):
            response = self.client.post(CHANGELIST, data, follow=True)

        [(level, text)] = messages_of(response)
        assert level == messages.SUCCESS
        assert "AccessDeniedException" in text and "no data is lost" in text
        assert MasterKey.objects.get(pk=self.key.pk).enabled is False

        with self.captureOnCommitCallbacks(execute=True):
            self.client.post(CHANGELIST, {"action": "enable_keys", "_selected_action": [self.key.pk]})
        assert MasterKey.objects.get(pk=self.key.pk).enabled is True

    def test_keys_cannot_be_deleted(self) -> None:
        response = self.client.get(reverse("admin:domains_masterkey_delete", args=[self.key.pk]))

        assert response.status_code == 403

    def test_a_domain_whose_key_is_disabled_still_lists_with_a_placeholder_name(self) -> None:
        with self.captureOnCommitCallbacks(execute=True):
            keyproviders.master_key_set_enabled(key_id="alias/desk", enabled=False)

        response = self.client.get(reverse("admin:domains_domain_changelist"))

        assert response.status_code == 200
        assert "key unavailable" in response.text
