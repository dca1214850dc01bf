from __future__ import annotations

from unittest import mock

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.test import TestCase
from django.urls import reverse

from domains import services as domain_services
from domains.models import Domain
from speakers import services
from speakers.admin import SPEAKERS_OPTED_OUT
from speakers.models import Speaker
from voiceid_site.exceptions import Conflict

from . import messages_of

CHANGELIST = reverse("admin:speakers_speaker_changelist")


def change_url(speaker: Speaker) -> str:
    return reverse("admin:speakers_speaker_change", args=[speaker.pk])


class SpeakerAdminTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.superuser = get_user_model().objects.create_superuser("root", "root@example.com", "password")
        cls.domain = domain_services.domain_create(
            name="Contact centre", kms_key_id="alias/voiceid", region="us-east-1"
        )
        cls.alice = services.speaker_get_or_create_pending(
            domain=cls.domain, customer_speaker_id="alice-0001"
        )
        cls.bob = services.speaker_get_or_create_pending(domain=cls.domain, customer_speaker_id="bob-0002")

    def setUp(self) -> None:
        self.client.force_login(self.superuser)

    def test_it_lists_speakers_with_both_ids_and_status(self) -> None:
        response = self.client.get(CHANGELIST)

        assert response.status_code == 200
        for text in (self.alice.generated_speaker_id, "alice-0001", "PENDING", str(self.domain)):
            assert text in response.text

    def test_it_searches_speakers_by_customer_or_generated_id(self) -> None:
        by_customer = self.client.get(CHANGELIST, {"q": "alice-0001"})
        by_generated = self.client.get(CHANGELIST, {"q": self.bob.generated_speaker_id})

        assert "alice-0001" in by_customer.text
        assert "bob-0002" not in by_customer.text
        assert "bob-0002" in by_generated.text
        assert "alice-0001" not in by_generated.text

    def test_it_filters_speakers_by_status(self) -> None:
        services.speaker_opt_out(domain=self.domain, speaker_id=self.alice.generated_speaker_id)

        response = self.client.get(CHANGELIST, {"status__exact": Speaker.Status.OPTED_OUT})

        assert "alice-0001" in response.text
        assert "bob-0002" not in response.text

    def test_it_shows_speakers_read_only(self) -> None:
        response = self.client.get(change_url(self.alice))

        assert response.status_code == 200
        assert response.context["title"] == "View speaker"
        assert self.client.post(change_url(self.alice), {}).status_code == 403
        assert self.client.get(reverse("admin:speakers_speaker_add")).status_code == 403

    def test_it_opts_out_selected_speakers(self) -> None:
        data = {"action": "opt_out", "_selected_action": [self.alice.pk, self.bob.pk]}

        response = self.client.post(CHANGELIST, data, follow=True)

        assert response.status_code == 200
        assert set(Speaker.objects.values_list("status", flat=True)) == {Speaker.Status.OPTED_OUT}
        assert messages_of(response) == [(messages.SUCCESS, SPEAKERS_OPTED_OUT.format(count=2))]

    def test_it_offers_the_opt_out_action_by_its_plural_name(self) -> None:
        response = self.client.get(CHANGELIST)

        assert "Opt out selected speakers" in response.text

    def test_it_opts_out_a_speaker_from_its_page(self) -> None:
        data = {"CHANGE_FORM-action": "opt_out", "_selected_action": str(self.alice.pk)}

        response = self.client.post(change_url(self.alice), data, follow=True)

        assert response.status_code == 200
        assert Speaker.objects.get(pk=self.alice.pk).status == Speaker.Status.OPTED_OUT
        assert Speaker.objects.get(pk=self.bob.pk).status == Speaker.Status.PENDING
        assert messages_of(response) == [(messages.SUCCESS, SPEAKERS_OPTED_OUT.format(count=1))]

    def test_it_opts_out_the_others_and_reports_each_refusal_as_an_error(self) -> None:
        real_opt_out = services.speaker_opt_out

        def refuse_alice(*, domain: Domain, speaker_id: str) -> Speaker:
            if speaker_id == self.alice.generated_speaker_id:
                raise Conflict("Alice cannot be opted out now.")
            return real_opt_out(domain=domain, speaker_id=speaker_id)

        with mock.patch.object(services, "speaker_opt_out", side_effect=refuse_alice):
            response = self.client.post(
                CHANGELIST,
                {"action": "opt_out", "_selected_action": [self.alice.pk, self.bob.pk]},
                follow=True,
            )

        assert response.status_code == 200
        assert messages_of(response) == [
            (messages.ERROR, f"{self.alice}: Alice cannot be opted out now."),
            (messages.SUCCESS, SPEAKERS_OPTED_OUT.format(count=1)),
        ]
        assert Speaker.objects.get(pk=self.alice.pk).status == Speaker.Status.PENDING
        assert Speaker.objects.get(pk=self.bob.pk).status == Speaker.Status.OPTED_OUT

    def test_it_deletes_a_speaker_through_the_service(self) -> None:
        response = self.client.post(
            reverse("admin:speakers_speaker_delete", args=[self.alice.pk]), {"post": "yes"}, follow=True
        )

        assert response.status_code == 200
        assert not Speaker.objects.filter(pk=self.alice.pk).exists()
        # The service keeps the domain's counter; a raw delete would not.
        assert Domain.objects.get(pk=self.domain.pk).speaker_count == 1
        [(level, text)] = messages_of(response)
        assert level == messages.SUCCESS
        assert "was deleted successfully" in text

    def test_it_deletes_selected_speakers_with_the_delete_action(self) -> None:
        data = {"action": "delete_selected", "_selected_action": [self.alice.pk, self.bob.pk], "post": "yes"}

        response = self.client.post(CHANGELIST, data, follow=True)

        assert response.status_code == 200
        assert not Speaker.objects.exists()
        assert Domain.objects.get(pk=self.domain.pk).speaker_count == 0
        assert messages_of(response) == [(messages.SUCCESS, "Deleted 2 speakers.")]
