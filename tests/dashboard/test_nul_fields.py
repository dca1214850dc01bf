"""A NUL character in a page's query or form is a 400 page: PostgreSQL refuses one in any query."""

from __future__ import annotations

import pytest
from django.urls import reverse

from domains import services as domain_services


@pytest.mark.parametrize(
    ("url", "params"),
    [
        ("audit:log", {"actor": "a\x00b"}),
        ("fraudsters:list", {"watchlist": "a\x00b"}),
        ("speakers:list", {"domain": "a\x00b"}),
        ("jobs:list", {"domain": "a\x00b"}),
        ("calls:list", {"domain": "a\x00b"}),
    ],
)
def test_a_nul_in_a_query_is_a_400_page(admin_client, db, url, params):
    domain_services.domain_create(name="d", kms_key_id="alias/nul", region="us-east-1")
    response = admin_client.get(reverse(url), params)
    assert response.status_code == 400
    assert "holds a NUL character" in response.content.decode()


def test_a_nul_in_a_posted_form_is_a_400_page(admin_client, db):
    domain = domain_services.domain_create(name="d", kms_key_id="alias/nul", region="us-east-1")
    response = admin_client.post(
        reverse("fraudsters:watchlists"), {"domain": domain.domain_id, "name": "a\x00"}
    )
    assert response.status_code == 400
    assert "holds a NUL character" in response.content.decode()
