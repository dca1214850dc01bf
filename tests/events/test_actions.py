"""Speaker and Fraudster Action events for opt-outs and deletions, through the API and the dashboard."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.urls import reverse

from domains.models import Domain
from events.models import Event
from fraudsters import services as fraudster_services
from fraudsters.models import Watchlist
from speakers import services as speaker_services

pytestmark = pytest.mark.django_db(transaction=True)

HTMX = {"HTTP_HX_REQUEST": "true"}


def events_of(detail_type: str) -> list[dict[str, Any]]:
    return [event.envelope for event in Event.objects.filter(detail_type=detail_type).order_by("pk")]


def model_of(domain: dict[str, Any]) -> Domain:
    return Domain.objects.get(domain_id=domain["DomainId"])


def test_opting_a_speaker_out_records_a_speaker_action_without_the_customer_id(voiceid, domain):
    speaker = speaker_services.speaker_get_or_create_pending(
        domain=model_of(domain), customer_speaker_id="cust-7"
    )

    voiceid.opt_out_speaker(DomainId=domain["DomainId"], SpeakerId="cust-7")

    [envelope] = events_of("VoiceId Speaker Action")
    detail = envelope["detail"]
    assert detail["action"] == "OPT_OUT" and detail["status"] == "SUCCESS"
    assert detail["generatedSpeakerId"] == speaker.generated_speaker_id
    assert detail["domainId"] == domain["DomainId"]
    assert envelope["resources"] == [domain["Arn"]]
    assert "cust-7" not in json.dumps(envelope)


def test_opting_out_a_caller_never_seen_records_the_new_speakers_generated_id(voiceid, domain):
    created = voiceid.opt_out_speaker(DomainId=domain["DomainId"], SpeakerId="new-caller")["Speaker"]

    [envelope] = events_of("VoiceId Speaker Action")
    assert envelope["detail"]["generatedSpeakerId"] == created["GeneratedSpeakerId"]


def test_each_opt_out_is_its_own_occurrence(voiceid, domain):
    voiceid.opt_out_speaker(DomainId=domain["DomainId"], SpeakerId="cust-1")
    voiceid.opt_out_speaker(DomainId=domain["DomainId"], SpeakerId="cust-1")

    first, second = events_of("VoiceId Speaker Action")
    assert first["detail"]["generatedSpeakerId"] == second["detail"]["generatedSpeakerId"]
    assert first["detail"]["sourceId"] != second["detail"]["sourceId"]


def test_deleting_a_speaker_records_a_delete_action(voiceid, domain):
    speaker = speaker_services.speaker_get_or_create_pending(
        domain=model_of(domain), customer_speaker_id="cust-1"
    )

    voiceid.delete_speaker(DomainId=domain["DomainId"], SpeakerId="cust-1")

    [envelope] = events_of("VoiceId Speaker Action")
    assert envelope["detail"]["action"] == "DELETE"
    assert envelope["detail"]["generatedSpeakerId"] == speaker.generated_speaker_id


def test_a_refused_request_records_nothing(voiceid, domain):
    with pytest.raises(voiceid.exceptions.ResourceNotFoundException):
        voiceid.delete_speaker(DomainId=domain["DomainId"], SpeakerId="nobody")
    with pytest.raises(voiceid.exceptions.ResourceNotFoundException):
        voiceid.opt_out_speaker(DomainId=domain["DomainId"], SpeakerId="id#" + "Q" * 22)
    with pytest.raises(voiceid.exceptions.ResourceNotFoundException):
        voiceid.delete_fraudster(DomainId=domain["DomainId"], FraudsterId="id#" + "N" * 22)

    assert not Event.objects.exists()


def test_deleting_a_fraudster_records_the_watchlists_it_was_in(voiceid, domain):
    mules = voiceid.create_watchlist(DomainId=domain["DomainId"], Name="mules")["Watchlist"]["WatchlistId"]
    default = domain["WatchlistDetails"]["DefaultWatchlistId"]
    fraudster = fraudster_services.fraudster_create(domain=model_of(domain)).generated_fraudster_id
    voiceid.associate_fraudster(DomainId=domain["DomainId"], FraudsterId=fraudster, WatchlistId=mules)

    voiceid.delete_fraudster(DomainId=domain["DomainId"], FraudsterId=fraudster)

    [envelope] = events_of("VoiceId Fraudster Action")
    detail = envelope["detail"]
    assert detail["action"] == "DELETE" and detail["status"] == "SUCCESS"
    assert detail["generatedFraudsterId"] == fraudster
    assert detail["watchlistIds"] == sorted([default, mules])
    assert Watchlist.objects.filter(watchlist_id=mules).exists()


def test_an_analysts_opt_out_on_the_dashboard_records_the_same_event(analyst, domain_model):
    speaker = speaker_services.speaker_get_or_create_pending(
        domain=domain_model, customer_speaker_id="cust-1"
    )
    url = reverse("speakers:opt-out", args=[domain_model.domain_id, speaker.generated_speaker_id])

    assert analyst.post(url, **HTMX).status_code == 200

    [envelope] = events_of("VoiceId Speaker Action")
    assert envelope["detail"]["action"] == "OPT_OUT"
    assert envelope["detail"]["generatedSpeakerId"] == speaker.generated_speaker_id
