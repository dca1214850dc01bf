"""NextTokens: opaque, bound to their request, expiring; pages stable while others write."""

from __future__ import annotations

import time

import pytest
from django.core import signing

from domains.models import Domain
from speakers import services as speaker_services
from speakers.models import Speaker

pytestmark = pytest.mark.django_db(transaction=True)


def add_speakers(domain: dict, count: int, prefix: str = "c") -> None:
    model_domain = Domain.objects.get(domain_id=domain["DomainId"])
    for i in range(count):
        speaker_services.speaker_get_or_create_pending(
            domain=model_domain, customer_speaker_id=f"{prefix}{i}"
        )


def test_the_paginator_walks_every_speaker_once(voiceid, domain):
    add_speakers(domain, 25)
    pages = voiceid.get_paginator("list_speakers").paginate(
        DomainId=domain["DomainId"], PaginationConfig={"PageSize": 10}
    )
    ids = [s["CustomerSpeakerId"] for page in pages for s in page["SpeakerSummaries"]]
    assert sorted(ids) == sorted(f"c{i}" for i in range(25)) and len(ids) == 25


def test_paging_while_others_insert_and_delete_never_repeats_or_skips(voiceid, domain):
    add_speakers(domain, 30)
    did = domain["DomainId"]
    first = voiceid.list_speakers(DomainId=did, MaxResults=10)
    seen = [s["CustomerSpeakerId"] for s in first["SpeakerSummaries"]]
    # Meanwhile: a speaker already seen and one not yet seen are deleted, and new ones arrive.
    voiceid.delete_speaker(DomainId=did, SpeakerId="c0")
    voiceid.delete_speaker(DomainId=did, SpeakerId="c20")
    add_speakers(domain, 3, prefix="late")
    token = first["NextToken"]
    while token:
        page = voiceid.list_speakers(DomainId=did, MaxResults=10, NextToken=token)
        seen += [s["CustomerSpeakerId"] for s in page["SpeakerSummaries"]]
        token = page.get("NextToken")
    assert len(seen) == len(set(seen))
    survivors_present_at_start = {f"c{i}" for i in range(30)} - {"c20"}
    assert survivors_present_at_start <= set(seen)


def test_a_tampered_token_is_refused(voiceid, domain):
    add_speakers(domain, 3)
    token = voiceid.list_speakers(DomainId=domain["DomainId"], MaxResults=1)["NextToken"]
    with pytest.raises(voiceid.exceptions.ValidationException) as excinfo:
        voiceid.list_speakers(DomainId=domain["DomainId"], MaxResults=1, NextToken=token[:-2] + "xx")
    assert "NextToken is invalid" in excinfo.value.response["Error"]["Message"]


def test_a_token_from_another_request_is_refused(voiceid, domain):
    add_speakers(domain, 3)
    other = voiceid.create_domain(Name="other", ServerSideEncryptionConfiguration={"KmsKeyId": "k"})["Domain"]
    token = voiceid.list_speakers(DomainId=domain["DomainId"], MaxResults=1)["NextToken"]
    with pytest.raises(voiceid.exceptions.ValidationException) as excinfo:
        voiceid.list_speakers(DomainId=other["DomainId"], NextToken=token)
    assert "different ListSpeakers request" in excinfo.value.response["Error"]["Message"]
    with pytest.raises(voiceid.exceptions.ValidationException):
        voiceid.list_watchlists(DomainId=domain["DomainId"], NextToken=token)


def test_page_size_may_change_between_pages(voiceid, domain):
    add_speakers(domain, 5)
    token = voiceid.list_speakers(DomainId=domain["DomainId"], MaxResults=1)["NextToken"]
    assert (
        len(
            voiceid.list_speakers(DomainId=domain["DomainId"], MaxResults=4, NextToken=token)[
                "SpeakerSummaries"
            ]
        )
        == 4
    )


def test_a_token_older_than_24_hours_is_refused(voiceid, domain, monkeypatch):
    add_speakers(domain, 3)
    token = voiceid.list_speakers(DomainId=domain["DomainId"], MaxResults=1)["NextToken"]
    issued = time.time()
    monkeypatch.setattr(signing.time, "time", lambda: issued + 24 * 3600 + 1)
    with pytest.raises(voiceid.exceptions.ValidationException) as excinfo:
        voiceid.list_speakers(DomainId=domain["DomainId"], MaxResults=1, NextToken=token)
    assert "expired" in excinfo.value.response["Error"]["Message"]


def test_a_page_costs_the_same_number_of_queries_however_deep(domain, django_assert_max_num_queries):
    from speakers import selectors

    add_speakers(domain, 50)
    model_domain = Domain.objects.get(domain_id=domain["DomainId"])
    last = Speaker.objects.filter(domain=model_domain).order_by("-pk").values_list("pk", flat=True)[5]
    with django_assert_max_num_queries(1):
        page = selectors.speaker_list(domain=model_domain, after=last, limit=3)
    assert len(page.items) == 3
