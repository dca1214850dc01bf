"""Encryption at rest: what a person holding the database sees, and what a disabled key does."""

from __future__ import annotations

import base64
import os
from typing import Any

import pytest
from botocore.exceptions import ClientError
from django.db import connection
from django.test import override_settings

from domains import envelope, keyproviders
from domains.models import DataKey, Domain, MasterKey
from fraudsters import services as fraudster_services
from speakers import selectors as speaker_selectors
from speakers import services as speaker_services
from speakers.models import Speaker

SECRETS = ("FraudDeskChicago", "Handles the Midwest lines", "caller-SECRET-4471", "MoneyMuleRing")


def raw_rows(table: str) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table}")  # fixed table names only
        return cursor.fetchall()


def as_bytes(value: Any) -> bytes:
    if isinstance(value, memoryview):
        return value.tobytes()
    return value if isinstance(value, bytes) else str(value).encode()


@pytest.fixture
def populated(voiceid: Any) -> dict[str, Any]:
    domain = voiceid.create_domain(
        Name=SECRETS[0], Description=SECRETS[1], ServerSideEncryptionConfiguration={"KmsKeyId": "alias/desk"}
    )["Domain"]
    speaker = voiceid.opt_out_speaker(DomainId=domain["DomainId"], SpeakerId=SECRETS[2])["Speaker"]
    voiceid.create_watchlist(DomainId=domain["DomainId"], Name=SECRETS[3])
    return {"domain": domain, "speaker": speaker}


def test_no_name_or_customer_id_is_readable_in_the_database(populated: dict[str, Any]) -> None:
    for table in ("domains_domain", "speakers_speaker", "fraudsters_watchlist", "domains_datakey"):
        rows = raw_rows(table)
        assert rows, table
        dump = b"\n".join(as_bytes(value) for row in rows for value in row)
        for secret in SECRETS:
            assert secret.encode() not in dump, f"{secret!r} is readable in {table}"
            assert secret.encode("utf-16-le") not in dump


def test_the_api_still_answers_in_clear(voiceid: Any, populated: dict[str, Any]) -> None:
    domain_id = populated["domain"]["DomainId"]

    described = voiceid.describe_domain(DomainId=domain_id)["Domain"]
    speaker = voiceid.describe_speaker(DomainId=domain_id, SpeakerId=SECRETS[2])["Speaker"]
    watchlists = voiceid.list_watchlists(DomainId=domain_id)["WatchlistSummaries"]

    assert (described["Name"], described["Description"]) == SECRETS[:2]
    assert speaker["CustomerSpeakerId"] == SECRETS[2]
    assert SECRETS[3] in {watchlist["Name"] for watchlist in watchlists}


def test_a_data_key_is_stored_only_wrapped(populated: dict[str, Any]) -> None:
    domain = Domain.objects.get(domain_id=populated["domain"]["DomainId"])
    [data_key] = DataKey.objects.filter(domain=domain)

    assert data_key.kms_key_id == "alias/desk"
    assert len(bytes(data_key.wrapped)) == 12 + 32 + 16  # nonce, AES-256 key, GCM tag: wrapped, not clear


@pytest.mark.django_db
def test_a_customer_id_copied_to_another_row_does_not_decrypt(domain_model: Domain) -> None:
    alice = speaker_services.speaker_get_or_create_pending(domain=domain_model, customer_speaker_id="alice")
    bob = speaker_services.speaker_get_or_create_pending(domain=domain_model, customer_speaker_id="bob")
    Speaker.objects.filter(pk=bob.pk).update(customer_speaker_id_sealed=alice.customer_speaker_id_sealed)

    moved = Speaker.objects.select_related("domain").get(pk=bob.pk)

    with pytest.raises(envelope.SealBroken, match="belongs to another record"):
        _ = moved.customer_speaker_id


@pytest.mark.django_db
def test_a_name_copied_to_another_domain_does_not_decrypt(domain_model: Domain) -> None:
    from domains import services as domain_services

    other = domain_services.domain_create(name="other", kms_key_id="alias/unit", region="us-east-1")
    Domain.objects.filter(pk=other.pk).update(name_sealed=domain_model.name_sealed)

    with pytest.raises(envelope.SealBroken):
        _ = Domain.objects.get(pk=other.pk).name


@pytest.mark.django_db
def test_a_customer_id_is_found_through_its_keyed_index(domain_model: Domain) -> None:
    created = speaker_services.speaker_get_or_create_pending(domain=domain_model, customer_speaker_id="carol")

    assert speaker_selectors.speaker_find(domain=domain_model, speaker_id="carol") == created
    assert speaker_selectors.speaker_find(domain=domain_model, speaker_id="Carol") is None
    assert bytes(created.customer_speaker_index) not in (b"", b"carol")


def test_a_disabled_key_denies_access_naming_the_key_and_enabling_it_restores_everything(
    voiceid: Any, populated: dict[str, Any]
) -> None:
    domain_id = populated["domain"]["DomainId"]
    keyproviders.master_key_set_enabled(key_id="alias/desk", enabled=False)

    for call in (
        lambda: voiceid.describe_speaker(DomainId=domain_id, SpeakerId=SECRETS[2]),
        lambda: voiceid.describe_domain(DomainId=domain_id),
        lambda: voiceid.list_watchlists(DomainId=domain_id),
        lambda: voiceid.opt_out_speaker(DomainId=domain_id, SpeakerId="someone-new"),
    ):
        with pytest.raises(ClientError) as refused:
            call()
        assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
        assert "alias/desk" in refused.value.response["Error"]["Message"]
        assert "disabled" in refused.value.response["Error"]["Message"]

    keyproviders.master_key_set_enabled(key_id="alias/desk", enabled=True)

    speaker = voiceid.describe_speaker(DomainId=domain_id, SpeakerId=SECRETS[2])["Speaker"]
    assert speaker["CustomerSpeakerId"] == SECRETS[2]
    assert voiceid.describe_domain(DomainId=domain_id)["Domain"]["Name"] == SECRETS[0]


def test_an_unknown_key_is_refused_when_auto_creation_is_off(voiceid: Any) -> None:
    with override_settings(VOICEID_KMS_AUTO_CREATE=False), pytest.raises(ClientError) as refused:
        voiceid.create_domain(Name="d", ServerSideEncryptionConfiguration={"KmsKeyId": "alias/typo"})

    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert "alias/typo" in refused.value.response["Error"]["Message"]
    assert not MasterKey.objects.filter(key_id="alias/typo").exists()
    assert not Domain.objects.exists()


def test_an_unknown_key_is_created_on_first_use_when_auto_creation_is_on(voiceid: Any) -> None:
    voiceid.create_domain(Name="d", ServerSideEncryptionConfiguration={"KmsKeyId": "alias/new"})

    key = MasterKey.objects.get(key_id="alias/new")
    assert (key.origin, key.enabled) == (MasterKey.Origin.AUTO_CREATED, True)


@pytest.mark.parametrize("key_id", ["!!", "alias/x\u202ey", "../../etc/passwd", "alias/", "alias/a b"])
def test_a_key_name_kms_would_not_take_is_not_created_on_first_use(voiceid: Any, key_id: str) -> None:
    with pytest.raises(ClientError) as refused:
        voiceid.create_domain(Name="d", ServerSideEncryptionConfiguration={"KmsKeyId": key_id})

    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert "nor a KMS key name to create on first use" in refused.value.response["Error"]["Message"]
    assert not MasterKey.objects.exists()
    assert not Domain.objects.exists()


@pytest.mark.parametrize(
    "key_id",
    [
        "alias/contact-centre/prod_1",
        "1234abcd-12ab-34cd-56ef-1234567890ab",
        "mrk-1234abcd12ab34cd56ef1234567890ab",
        "arn:aws:kms:eu-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "arn:aws:kms:eu-west-2:111122223333:alias/voiceid",
    ],
)
def test_every_kind_of_kms_key_name_is_created_on_first_use(voiceid: Any, key_id: str) -> None:
    voiceid.create_domain(Name="d", ServerSideEncryptionConfiguration={"KmsKeyId": key_id})
    assert MasterKey.objects.get(key_id=key_id).origin == MasterKey.Origin.AUTO_CREATED


def test_a_configured_key_serves_a_domain_and_is_never_stored(voiceid: Any) -> None:
    material = base64.b64encode(os.urandom(32)).decode()
    with override_settings(VOICEID_KMS_AUTO_CREATE=False, VOICEID_LOCAL_MASTER_KEYS=f"alias/hsm={material}"):
        domain = voiceid.create_domain(Name="d", ServerSideEncryptionConfiguration={"KmsKeyId": "alias/hsm"})
        described = voiceid.describe_domain(DomainId=domain["Domain"]["DomainId"])["Domain"]

        key = MasterKey.objects.get(key_id="alias/hsm")
        assert (described["Name"], key.origin, key.material_sealed) == (
            "d",
            MasterKey.Origin.CONFIGURED,
            None,
        )

    # Without the configured material the domain's data cannot be read, and the error says why.
    envelope.forget_data_keys()
    with pytest.raises(ClientError) as refused:
        voiceid.describe_domain(DomainId=domain["Domain"]["DomainId"])
    assert "not in the local keyring" in refused.value.response["Error"]["Message"]


@pytest.mark.django_db
def test_a_key_created_in_the_keyring_keeps_its_material_sealed() -> None:
    key = keyproviders.master_key_create(key_id="alias/created", description="for the desk")

    material = bytes(key.material_sealed)
    assert b"alias/created" not in material
    assert len(material) == 12 + 44 + 16  # nonce, base64 of 32 bytes, tag


@pytest.mark.django_db
def test_a_duplicate_keyring_key_is_refused() -> None:
    keyproviders.master_key_create(key_id="alias/once")

    with pytest.raises(keyproviders.ValidationError, match="already has a key alias/once"):
        keyproviders.master_key_create(key_id="alias/once")


@pytest.mark.django_db
def test_a_domain_cannot_be_created_under_a_disabled_key() -> None:
    from domains import services as domain_services

    keyproviders.master_key_create(key_id="alias/off")
    keyproviders.master_key_set_enabled(key_id="alias/off", enabled=False)

    with pytest.raises(keyproviders.ValidationError, match="alias/off is disabled"):
        domain_services.domain_create(name="d", kms_key_id="alias/off", region="us-east-1")


@pytest.mark.django_db
def test_watchlist_names_are_sealed_under_the_domain_key(domain_model: Domain) -> None:
    watchlist = fraudster_services.watchlist_create(domain=domain_model, name="Mules", description="ring 7")

    assert b"Mules" not in bytes(watchlist.name_sealed)
    assert envelope.generation_of(bytes(watchlist.name_sealed)) == domain_model.key_generation
