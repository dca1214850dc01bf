"""Fixtures for the events tests: domains and a live loopback webhook receiver."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from domains import services as domain_services
from domains.models import Domain
from tests.events.receiver import Receiver


def make_domain(name: str = "Contact centre", region: str = "eu-west-2") -> Domain:
    return domain_services.domain_create(name=name, kms_key_id="alias/events", region=region)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running
