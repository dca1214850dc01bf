"""The AWS KMS key provider, against a KMS-compatible server on loopback (moto's, started here)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from django.test import override_settings

from domains import envelope, rotation
from domains import services as domain_services
from domains import tasks as domain_tasks
from domains.models import DataKey, Domain
from speakers import selectors as speaker_selectors
from speakers import services as speaker_services
from voiceid_site.exceptions import AccessDenied, ValidationError


@pytest.fixture(scope="module")
def kms_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def kms(kms_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with override_settings(VOICEID_AWS_KMS=True, VOICEID_KMS_ENDPOINT_URL=kms_endpoint):
        yield boto3.client("kms", region_name="eu-west-1", endpoint_url=kms_endpoint)


def new_key(kms: Any, **options: Any) -> str:
    return kms.create_key(Description="voiceid test", **options)["KeyMetadata"]["Arn"]


@pytest.mark.django_db
def test_a_domain_under_a_kms_key_keeps_its_data_key_wrapped_by_kms(kms: Any) -> None:
    key_arn = new_key(kms)

    domain = domain_services.domain_create(name="kms-desk", kms_key_id=key_arn, region="eu-west-1")
    speaker_services.speaker_get_or_create_pending(domain=domain, customer_speaker_id="caller-9")
    envelope.forget_data_keys()

    data_key = DataKey.objects.get(domain=domain)
    unwrapped = kms.decrypt(
        CiphertextBlob=bytes(data_key.wrapped), EncryptionContext={"aws:voiceid:domain:arn": domain.arn}
    )
    assert len(unwrapped["Plaintext"]) == 32 and unwrapped["KeyId"] == key_arn
    found = speaker_selectors.speaker_get(domain=Domain.objects.get(pk=domain.pk), speaker_id="caller-9")
    assert found.customer_speaker_id == "caller-9"


@pytest.mark.django_db
def test_a_kms_refusal_denies_access_naming_the_key(kms: Any) -> None:
    # moto's KMS does not refuse Decrypt under a disabled key (AWS answers DisabledException, which maps
    # the same way); it does refuse a ciphertext presented under another key, which is what this uses.
    key_arn, other_arn = new_key(kms), new_key(kms)
    domain = domain_services.domain_create(name="kms-desk", kms_key_id=key_arn, region="eu-west-1")
    DataKey.objects.filter(domain=domain).update(kms_key_id=other_arn)
    envelope.forget_data_keys()

    with pytest.raises(AccessDenied, match="KMS denied voiceid access") as refused:
        _ = Domain.objects.get(pk=domain.pk).name
    assert other_arn in refused.value.message

    DataKey.objects.filter(domain=domain).update(kms_key_id=key_arn)
    assert Domain.objects.get(pk=domain.pk).name == "kms-desk"


@pytest.mark.django_db
def test_a_key_disabled_in_kms_cannot_take_a_new_domain(kms: Any) -> None:
    key_arn = new_key(kms)
    kms.disable_key(KeyId=key_arn.rsplit("/", 1)[1])  # moto wants the bare key id here

    with pytest.raises(ValidationError, match="Disabled in KMS"):
        domain_services.domain_create(name="d", kms_key_id=key_arn, region="eu-west-1")


@pytest.mark.django_db
def test_an_asymmetric_kms_key_is_refused(kms: Any) -> None:
    key_arn = new_key(kms, KeyUsage="SIGN_VERIFY", KeySpec="RSA_2048")

    with pytest.raises(ValidationError, match="asymmetric"):
        domain_services.domain_create(name="d", kms_key_id=key_arn, region="eu-west-1")


@pytest.mark.django_db
def test_an_unknown_kms_key_is_refused_naming_it(kms: Any) -> None:
    missing = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"

    with pytest.raises(ValidationError, match=missing):
        domain_services.domain_create(name="d", kms_key_id=missing, region="eu-west-1")


@pytest.mark.django_db(transaction=True)
def test_a_domain_moves_from_the_local_keyring_to_kms(kms: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(domain_tasks.reencrypt_domain, "delay", lambda pk: None)
    key_arn = new_key(kms)
    domain = domain_services.domain_create(name="moving", kms_key_id="alias/local", region="eu-west-1")
    speaker_services.speaker_get_or_create_pending(domain=domain, customer_speaker_id="caller-1")

    domain_services.domain_update(domain_id=domain.domain_id, name="moving", kms_key_id=key_arn)

    assert rotation.reencrypt(domain.pk) == Domain.EncryptionUpdateStatus.COMPLETED
    assert list(DataKey.objects.filter(domain=domain).values_list("kms_key_id", flat=True)) == [key_arn]
