"""Watchlist and fraudster operations through boto3 over HTTP. Fraudsters are made through the service
layer until registration jobs land."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from domains.models import Domain
from fraudsters import services
from fraudsters.models import Watchlist

pytestmark = pytest.mark.django_db(transaction=True)


def new_fraudster(domain: dict, watchlist_id: str | None = None) -> str:
    model_domain = Domain.objects.get(domain_id=domain["DomainId"])
    watchlist = Watchlist.objects.get(watchlist_id=watchlist_id) if watchlist_id else None
    return services.fraudster_create(domain=model_domain, watchlist=watchlist).generated_fraudster_id


def default_watchlist(domain: dict) -> str:
    return domain["WatchlistDetails"]["DefaultWatchlistId"]


class TestWatchlists:
    def test_create_describe_update_list_and_delete(self, voiceid, domain):
        did = domain["DomainId"]
        created = voiceid.create_watchlist(DomainId=did, Name="mules", Description="Money mules")["Watchlist"]
        assert created["DefaultWatchlist"] is False
        assert (
            voiceid.describe_watchlist(DomainId=did, WatchlistId=created["WatchlistId"])["Watchlist"]
            == created
        )
        renamed = voiceid.update_watchlist(DomainId=did, WatchlistId=created["WatchlistId"], Name="mules-2")[
            "Watchlist"
        ]
        assert (renamed["Name"], renamed["Description"]) == ("mules-2", "Money mules")  # no clobbering here
        listed = voiceid.list_watchlists(DomainId=did)["WatchlistSummaries"]
        assert [w["WatchlistId"] for w in listed] == [default_watchlist(domain), created["WatchlistId"]]
        voiceid.delete_watchlist(DomainId=did, WatchlistId=created["WatchlistId"])
        with pytest.raises(voiceid.exceptions.ResourceNotFoundException) as excinfo:
            voiceid.describe_watchlist(DomainId=did, WatchlistId=created["WatchlistId"])
        assert excinfo.value.response["ResourceType"] == "WATCHLIST"

    def test_a_repeated_client_token_returns_the_same_watchlist(self, voiceid, domain):
        first = voiceid.create_watchlist(DomainId=domain["DomainId"], Name="w", ClientToken="tok")[
            "Watchlist"
        ]
        again = voiceid.create_watchlist(DomainId=domain["DomainId"], Name="w", ClientToken="tok")[
            "Watchlist"
        ]
        assert first == again
        with pytest.raises(voiceid.exceptions.ValidationException):
            voiceid.create_watchlist(DomainId=domain["DomainId"], Name="other", ClientToken="tok")

    def test_the_default_watchlist_can_be_neither_renamed_nor_deleted(self, voiceid, domain):
        for call in (
            lambda: voiceid.update_watchlist(
                DomainId=domain["DomainId"], WatchlistId=default_watchlist(domain), Name="x"
            ),
            lambda: voiceid.delete_watchlist(
                DomainId=domain["DomainId"], WatchlistId=default_watchlist(domain)
            ),
        ):
            with pytest.raises(voiceid.exceptions.ValidationException) as excinfo:
                call()
            assert "default watchlist" in excinfo.value.response["Error"]["Message"]

    def test_a_watchlist_with_fraudsters_cannot_be_deleted(self, voiceid, domain):
        watchlist = voiceid.create_watchlist(DomainId=domain["DomainId"], Name="w")["Watchlist"]
        new_fraudster(domain, watchlist["WatchlistId"])
        with pytest.raises(voiceid.exceptions.ConflictException) as excinfo:
            voiceid.delete_watchlist(DomainId=domain["DomainId"], WatchlistId=watchlist["WatchlistId"])
        assert excinfo.value.response["ConflictType"] == "CANNOT_DELETE_NON_EMPTY_WATCHLIST"

    def test_the_watchlist_quota_counts_the_default(self, voiceid, domain, settings):
        settings.VOICEID_QUOTAS = {**settings.VOICEID_QUOTAS, "watchlists_per_domain": 2}
        voiceid.create_watchlist(DomainId=domain["DomainId"], Name="second")
        with pytest.raises(voiceid.exceptions.ServiceQuotaExceededException):
            voiceid.create_watchlist(DomainId=domain["DomainId"], Name="third")


class TestFraudsters:
    def test_describe_and_list_with_watchlist_ids(self, voiceid, domain):
        fraudster_id = new_fraudster(domain)
        fraudster = voiceid.describe_fraudster(DomainId=domain["DomainId"], FraudsterId=fraudster_id)[
            "Fraudster"
        ]
        assert fraudster["WatchlistIds"] == [default_watchlist(domain)]
        summaries = voiceid.list_fraudsters(DomainId=domain["DomainId"])["FraudsterSummaries"]
        assert summaries == [fraudster]

    def test_list_by_watchlist(self, voiceid, domain):
        other = voiceid.create_watchlist(DomainId=domain["DomainId"], Name="other")["Watchlist"][
            "WatchlistId"
        ]
        in_default, in_other = new_fraudster(domain), new_fraudster(domain, other)
        by_other = voiceid.list_fraudsters(DomainId=domain["DomainId"], WatchlistId=other)[
            "FraudsterSummaries"
        ]
        assert [f["GeneratedFraudsterId"] for f in by_other] == [in_other]
        everyone = voiceid.list_fraudsters(DomainId=domain["DomainId"])["FraudsterSummaries"]
        assert [f["GeneratedFraudsterId"] for f in everyone] == [in_default, in_other]

    def test_associate_then_disassociate_but_never_from_the_last_watchlist(self, voiceid, domain):
        did, fraudster_id = domain["DomainId"], new_fraudster(domain)
        other = voiceid.create_watchlist(DomainId=did, Name="other")["Watchlist"]["WatchlistId"]
        associated = voiceid.associate_fraudster(DomainId=did, FraudsterId=fraudster_id, WatchlistId=other)[
            "Fraudster"
        ]
        assert associated["WatchlistIds"] == [default_watchlist(domain), other]
        again = voiceid.associate_fraudster(DomainId=did, FraudsterId=fraudster_id, WatchlistId=other)[
            "Fraudster"
        ]
        assert again["WatchlistIds"] == associated["WatchlistIds"]
        left = voiceid.disassociate_fraudster(
            DomainId=did, FraudsterId=fraudster_id, WatchlistId=default_watchlist(domain)
        )
        assert left["Fraudster"]["WatchlistIds"] == [other]
        with pytest.raises(voiceid.exceptions.ConflictException) as excinfo:
            voiceid.disassociate_fraudster(DomainId=did, FraudsterId=fraudster_id, WatchlistId=other)
        assert excinfo.value.response["ConflictType"] == "FRAUDSTER_MUST_BELONG_TO_AT_LEAST_ONE_WATCHLIST"

    def test_disassociating_from_a_watchlist_it_is_not_in_is_not_found(self, voiceid, domain):
        fraudster_id = new_fraudster(domain)
        other = voiceid.create_watchlist(DomainId=domain["DomainId"], Name="other")["Watchlist"][
            "WatchlistId"
        ]
        with pytest.raises(voiceid.exceptions.ResourceNotFoundException):
            voiceid.disassociate_fraudster(
                DomainId=domain["DomainId"], FraudsterId=fraudster_id, WatchlistId=other
            )

    def test_the_fraudsters_per_watchlist_quota(self, voiceid, domain, settings):
        settings.VOICEID_QUOTAS = {**settings.VOICEID_QUOTAS, "fraudsters_per_watchlist": 1}
        other = voiceid.create_watchlist(DomainId=domain["DomainId"], Name="other")["Watchlist"][
            "WatchlistId"
        ]
        new_fraudster(domain, other)
        second = new_fraudster(domain)
        with pytest.raises(voiceid.exceptions.ServiceQuotaExceededException):
            voiceid.associate_fraudster(DomainId=domain["DomainId"], FraudsterId=second, WatchlistId=other)

    def test_delete_removes_it_from_every_watchlist(self, voiceid, domain):
        fraudster_id = new_fraudster(domain)
        voiceid.delete_fraudster(DomainId=domain["DomainId"], FraudsterId=fraudster_id)
        with pytest.raises(voiceid.exceptions.ResourceNotFoundException) as excinfo:
            voiceid.describe_fraudster(DomainId=domain["DomainId"], FraudsterId=fraudster_id)
        assert excinfo.value.response["ResourceType"] == "FRAUDSTER"
        assert voiceid.list_fraudsters(DomainId=domain["DomainId"])["FraudsterSummaries"] == []

    def test_unknown_fraudsters_and_watchlists_are_not_found(self, voiceid, domain):
        with pytest.raises(ClientError) as excinfo:
            voiceid.delete_fraudster(DomainId=domain["DomainId"], FraudsterId="id#" + "N" * 22)
        assert excinfo.value.response["ResourceType"] == "FRAUDSTER"
        with pytest.raises(ClientError) as excinfo:
            voiceid.list_fraudsters(DomainId=domain["DomainId"], WatchlistId="N" * 22)
        assert excinfo.value.response["ResourceType"] == "WATCHLIST"
