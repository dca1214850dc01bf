"""Speaker operations through boto3 over HTTP."""

from __future__ import annotations

import pytest

from domains.models import Domain
from speakers import services
from speakers.models import Speaker

pytestmark = pytest.mark.django_db(transaction=True)


def pending_speaker(domain: dict, customer_id: str) -> Speaker:
    return services.speaker_get_or_create_pending(
        domain=Domain.objects.get(domain_id=domain["DomainId"]), customer_speaker_id=customer_id
    )


class TestDescribeSpeaker:
    def test_it_describes_a_speaker_by_either_id(self, voiceid, domain):
        speaker = pending_speaker(domain, "cust-1")
        by_customer = voiceid.describe_speaker(DomainId=domain["DomainId"], SpeakerId="cust-1")["Speaker"]
        by_generated = voiceid.describe_speaker(
            DomainId=domain["DomainId"], SpeakerId=speaker.generated_speaker_id
        )["Speaker"]
        assert by_customer == by_generated
        assert by_customer["GeneratedSpeakerId"] == speaker.generated_speaker_id
        assert by_customer["CustomerSpeakerId"] == "cust-1" and by_customer["Status"] == "PENDING"

    def test_an_unknown_speaker_is_not_found(self, voiceid, domain):
        with pytest.raises(voiceid.exceptions.ResourceNotFoundException) as excinfo:
            voiceid.describe_speaker(DomainId=domain["DomainId"], SpeakerId="nobody")
        assert excinfo.value.response["ResourceType"] == "SPEAKER"

    def test_a_speaker_of_another_domain_is_not_found(self, voiceid, domain):
        other = voiceid.create_domain(Name="other", ServerSideEncryptionConfiguration={"KmsKeyId": "k"})[
            "Domain"
        ]
        speaker = pending_speaker(other, "cust-1")
        with pytest.raises(voiceid.exceptions.ResourceNotFoundException):
            voiceid.describe_speaker(DomainId=domain["DomainId"], SpeakerId=speaker.generated_speaker_id)


class TestOptOutSpeaker:
    def test_an_unknown_customer_id_is_created_opted_out(self, voiceid, domain):
        speaker = voiceid.opt_out_speaker(DomainId=domain["DomainId"], SpeakerId="new-caller")["Speaker"]
        assert speaker["Status"] == "OPTED_OUT" and speaker["GeneratedSpeakerId"].startswith("id#")
        assert (
            voiceid.describe_speaker(DomainId=domain["DomainId"], SpeakerId="new-caller")["Speaker"]
            == speaker
        )

    def test_an_existing_speaker_is_opted_out_by_generated_id(self, voiceid, domain):
        speaker = pending_speaker(domain, "cust-1")
        opted = voiceid.opt_out_speaker(DomainId=domain["DomainId"], SpeakerId=speaker.generated_speaker_id)[
            "Speaker"
        ]
        assert opted["Status"] == "OPTED_OUT" and opted["CustomerSpeakerId"] == "cust-1"

    def test_an_unknown_generated_id_is_not_found(self, voiceid, domain):
        with pytest.raises(voiceid.exceptions.ResourceNotFoundException):
            voiceid.opt_out_speaker(DomainId=domain["DomainId"], SpeakerId="id#" + "Q" * 22)

    def test_the_speaker_quota_is_enforced(self, voiceid, domain, settings):
        settings.VOICEID_QUOTAS = {**settings.VOICEID_QUOTAS, "speakers_per_domain": 1}
        voiceid.opt_out_speaker(DomainId=domain["DomainId"], SpeakerId="first")
        voiceid.opt_out_speaker(DomainId=domain["DomainId"], SpeakerId="first")  # existing: no new speaker
        with pytest.raises(voiceid.exceptions.ServiceQuotaExceededException):
            voiceid.opt_out_speaker(DomainId=domain["DomainId"], SpeakerId="second")


class TestDeleteSpeaker:
    def test_it_deletes_by_either_id_and_lifts_an_opt_out(self, voiceid, domain):
        opted = voiceid.opt_out_speaker(DomainId=domain["DomainId"], SpeakerId="cust-1")["Speaker"]
        voiceid.delete_speaker(DomainId=domain["DomainId"], SpeakerId=opted["GeneratedSpeakerId"])
        with pytest.raises(voiceid.exceptions.ResourceNotFoundException):
            voiceid.describe_speaker(DomainId=domain["DomainId"], SpeakerId="cust-1")
        assert pending_speaker(domain, "cust-1").status == "PENDING"  # the id is free again
        voiceid.delete_speaker(DomainId=domain["DomainId"], SpeakerId="cust-1")
        assert Domain.objects.get(domain_id=domain["DomainId"]).speaker_count == 0

    def test_an_unknown_speaker_is_not_found(self, voiceid, domain):
        with pytest.raises(voiceid.exceptions.ResourceNotFoundException):
            voiceid.delete_speaker(DomainId=domain["DomainId"], SpeakerId="nobody")


class TestListSpeakers:
    def test_it_lists_both_ids_of_every_speaker(self, voiceid, domain):
        made = {pending_speaker(domain, f"cust-{i}").generated_speaker_id for i in range(3)}
        summaries = voiceid.list_speakers(DomainId=domain["DomainId"])["SpeakerSummaries"]
        assert {s["GeneratedSpeakerId"] for s in summaries} == made
        assert {s["CustomerSpeakerId"] for s in summaries} == {"cust-0", "cust-1", "cust-2"}

    def test_an_unknown_domain_is_not_found(self, voiceid):
        with pytest.raises(voiceid.exceptions.ResourceNotFoundException):
            voiceid.list_speakers(DomainId="A" * 22)
