"""Domain and tag operations through boto3 over HTTP."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

pytestmark = pytest.mark.django_db(transaction=True)
SSE = {"KmsKeyId": "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"}


def code_of(excinfo):
    return excinfo.value.response["Error"]["Code"]


class TestCreateDomain:
    def test_it_creates_an_active_domain_with_a_default_watchlist(self, voiceid):
        domain = voiceid.create_domain(
            Name="bank", Description="Retail: calls", ServerSideEncryptionConfiguration=SSE
        )["Domain"]
        assert domain["DomainStatus"] == "ACTIVE"
        assert domain["Name"] == "bank" and domain["Description"] == "Retail: calls"
        assert domain["ServerSideEncryptionConfiguration"] == SSE
        assert "ServerSideEncryptionUpdateDetails" not in domain
        watchlist = voiceid.describe_watchlist(
            DomainId=domain["DomainId"], WatchlistId=domain["WatchlistDetails"]["DefaultWatchlistId"]
        )["Watchlist"]
        assert watchlist["DefaultWatchlist"] is True

    def test_the_same_client_token_returns_the_same_domain(self, voiceid):
        first = voiceid.create_domain(Name="bank", ServerSideEncryptionConfiguration=SSE, ClientToken="t-1")
        again = voiceid.create_domain(Name="bank", ServerSideEncryptionConfiguration=SSE, ClientToken="t-1")
        assert first["Domain"]["DomainId"] == again["Domain"]["DomainId"]
        assert len(voiceid.list_domains()["DomainSummaries"]) == 1

    def test_the_same_client_token_with_another_request_is_refused(self, voiceid):
        voiceid.create_domain(Name="bank", ServerSideEncryptionConfiguration=SSE, ClientToken="t-1")
        with pytest.raises(ClientError) as excinfo:
            voiceid.create_domain(Name="other", ServerSideEncryptionConfiguration=SSE, ClientToken="t-1")
        assert code_of(excinfo) == "ValidationException"
        assert "ClientToken 't-1' was already used" in excinfo.value.response["Error"]["Message"]

    def test_it_takes_tags_and_refuses_reserved_keys(self, voiceid):
        domain = voiceid.create_domain(
            Name="bank", ServerSideEncryptionConfiguration=SSE, Tags=[{"Key": "team", "Value": "fraud"}]
        )
        assert voiceid.list_tags_for_resource(ResourceArn=domain["Domain"]["Arn"])["Tags"] == [
            {"Key": "team", "Value": "fraud"}
        ]
        with pytest.raises(ClientError) as excinfo:
            voiceid.create_domain(
                Name="x", ServerSideEncryptionConfiguration=SSE, Tags=[{"Key": "aws:owner", "Value": "me"}]
            )
        assert code_of(excinfo) == "ValidationException"

    def test_it_enforces_the_domain_quota(self, voiceid, settings):
        settings.VOICEID_QUOTAS = {**settings.VOICEID_QUOTAS, "domains_per_account": 1}
        voiceid.create_domain(Name="one", ServerSideEncryptionConfiguration=SSE)
        with pytest.raises(ClientError) as excinfo:
            voiceid.create_domain(Name="two", ServerSideEncryptionConfiguration=SSE)
        assert code_of(excinfo) == "ServiceQuotaExceededException"
        assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 402


class TestDescribeDomain:
    def test_it_describes_a_domain(self, voiceid, domain):
        assert voiceid.describe_domain(DomainId=domain["DomainId"])["Domain"] == domain

    def test_an_unknown_domain_is_not_found(self, voiceid):
        with pytest.raises(voiceid.exceptions.ResourceNotFoundException) as excinfo:
            voiceid.describe_domain(DomainId="A" * 22)
        assert excinfo.value.response["ResourceType"] == "DOMAIN"


class TestUpdateDomain:
    def test_it_replaces_every_attribute_and_clears_an_omitted_description(self, voiceid):
        domain = voiceid.create_domain(Name="bank", Description="old", ServerSideEncryptionConfiguration=SSE)[
            "Domain"
        ]
        updated = voiceid.update_domain(
            DomainId=domain["DomainId"],
            Name="bank-2",
            ServerSideEncryptionConfiguration={"KmsKeyId": "alias/new"},
        )["Domain"]
        assert updated["Name"] == "bank-2"
        assert "Description" not in updated
        assert updated["ServerSideEncryptionConfiguration"] == {"KmsKeyId": "alias/new"}
        assert updated["UpdatedAt"] >= domain["UpdatedAt"]

    def test_a_deleted_domain_cannot_be_updated(self, voiceid, domain):
        voiceid.delete_domain(DomainId=domain["DomainId"])
        with pytest.raises(voiceid.exceptions.ConflictException) as excinfo:
            voiceid.update_domain(
                DomainId=domain["DomainId"], Name="x", ServerSideEncryptionConfiguration=SSE
            )
        assert excinfo.value.response["ConflictType"] == "DOMAIN_NOT_ACTIVE"


class TestDeleteDomain:
    def test_it_suspends_the_domain_which_is_still_described_and_listed(self, voiceid, domain):
        voiceid.delete_domain(DomainId=domain["DomainId"])
        assert voiceid.describe_domain(DomainId=domain["DomainId"])["Domain"]["DomainStatus"] == "SUSPENDED"
        assert [d["DomainStatus"] for d in voiceid.list_domains()["DomainSummaries"]] == ["SUSPENDED"]
        voiceid.delete_domain(DomainId=domain["DomainId"])  # idempotent

    def test_a_suspended_domain_refuses_new_data(self, voiceid, domain):
        voiceid.delete_domain(DomainId=domain["DomainId"])
        for call in (
            lambda: voiceid.opt_out_speaker(DomainId=domain["DomainId"], SpeakerId="c1"),
            lambda: voiceid.create_watchlist(DomainId=domain["DomainId"], Name="w"),
            lambda: voiceid.tag_resource(ResourceArn=domain["Arn"], Tags=[{"Key": "k", "Value": "v"}]),
        ):
            with pytest.raises(voiceid.exceptions.ConflictException) as excinfo:
                call()
            assert excinfo.value.response["ConflictType"] == "DOMAIN_NOT_ACTIVE"

    def test_a_suspended_domain_can_still_be_read_and_erased(self, voiceid, domain):
        opted = voiceid.opt_out_speaker(DomainId=domain["DomainId"], SpeakerId="c1")["Speaker"]
        voiceid.delete_domain(DomainId=domain["DomainId"])
        assert voiceid.list_speakers(DomainId=domain["DomainId"])["SpeakerSummaries"] == [opted]
        assert len(voiceid.list_watchlists(DomainId=domain["DomainId"])["WatchlistSummaries"]) == 1
        voiceid.delete_speaker(DomainId=domain["DomainId"], SpeakerId="c1")
        assert voiceid.list_speakers(DomainId=domain["DomainId"])["SpeakerSummaries"] == []

    def test_an_unknown_domain_is_not_found(self, voiceid):
        with pytest.raises(voiceid.exceptions.ResourceNotFoundException):
            voiceid.delete_domain(DomainId="A" * 22)


class TestListDomains:
    def test_it_pages_through_every_domain_once(self, voiceid):
        created = {
            voiceid.create_domain(Name=f"d{i}", ServerSideEncryptionConfiguration=SSE)["Domain"]["DomainId"]
            for i in range(5)
        }
        pages = list(voiceid.get_paginator("list_domains").paginate(PaginationConfig={"PageSize": 2}))
        assert [len(page["DomainSummaries"]) for page in pages] == [2, 2, 1]
        assert {d["DomainId"] for page in pages for d in page["DomainSummaries"]} == created
        assert "NextToken" not in pages[-1]

    def test_max_results_above_ten_is_refused(self, voiceid):
        with pytest.raises(ClientError) as excinfo:
            voiceid.list_domains(MaxResults=11)
        assert code_of(excinfo) == "ValidationException"


class TestTags:
    def test_tag_untag_and_list(self, voiceid, domain):
        arn = domain["Arn"]
        voiceid.tag_resource(ResourceArn=arn, Tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])
        voiceid.tag_resource(ResourceArn=arn, Tags=[{"Key": "a", "Value": "changed"}])
        voiceid.untag_resource(ResourceArn=arn, TagKeys=["b", "never-there"])
        assert voiceid.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "a", "Value": "changed"}]
        voiceid.untag_resource(ResourceArn=arn, TagKeys=[])

    def test_reserved_keys_are_refused(self, voiceid, domain):
        with pytest.raises(ClientError) as excinfo:
            voiceid.tag_resource(
                ResourceArn=domain["Arn"], Tags=[{"Key": "aws:cloudformation", "Value": "x"}]
            )
        assert code_of(excinfo) == "ValidationException"
        assert "reserved" in excinfo.value.response["Error"]["Message"]

    def test_the_tag_quota_is_enforced(self, voiceid, domain, settings):
        settings.VOICEID_QUOTAS = {**settings.VOICEID_QUOTAS, "tags_per_domain": 2}
        voiceid.tag_resource(
            ResourceArn=domain["Arn"], Tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]
        )
        voiceid.tag_resource(ResourceArn=domain["Arn"], Tags=[{"Key": "a", "Value": "overwrite is fine"}])
        with pytest.raises(ClientError) as excinfo:
            voiceid.tag_resource(ResourceArn=domain["Arn"], Tags=[{"Key": "c", "Value": "3"}])
        assert code_of(excinfo) == "ValidationException"
        assert "at most 2 tags" in excinfo.value.response["Error"]["Message"]

    @pytest.mark.parametrize(
        "arn",
        [
            "arn:aws:voiceid:us-east-1:000000000000:domain/" + "Z" * 22,  # no such domain
            "arn:aws:voiceid:us-east-1:999999999999:domain/" + "Z" * 22,  # another account
        ],
    )
    def test_an_arn_of_no_domain_here_is_not_found(self, voiceid, arn):
        with pytest.raises(voiceid.exceptions.ResourceNotFoundException) as excinfo:
            voiceid.list_tags_for_resource(ResourceArn=arn)
        assert excinfo.value.response["ResourceType"] == "DOMAIN"
