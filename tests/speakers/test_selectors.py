"""Speaker reads cost one query, whichever id form names the speaker."""

from __future__ import annotations

import pytest

from speakers import selectors, services


@pytest.mark.parametrize("by", ["customer", "generated"])
def test_a_found_speaker_carries_its_domain_without_another_query(
    domain_model, django_assert_num_queries, by
):
    speaker = services.speaker_get_or_create_pending(domain=domain_model, customer_speaker_id="cust-1")
    speaker_id = "cust-1" if by == "customer" else speaker.generated_speaker_id
    with django_assert_num_queries(1):
        found = selectors.speaker_get(domain=domain_model, speaker_id=speaker_id)
        assert found.domain.domain_id == domain_model.domain_id
