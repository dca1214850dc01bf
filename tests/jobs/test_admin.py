"""A superuser can read the sweepers' records in the admin, and nobody can add, change or delete them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from jobs.erasure import schedule_erasure, speaker_prefix
from jobs.models import StorageErasure, SweepRun
from jobs.sweepers import expire_speakers, purge_audio

from .conftest import make_domain

pytestmark = pytest.mark.django_db

NOW = datetime(2029, 6, 1, 12, 0, tzinfo=UTC)


def test_the_sweep_run_list_shows_each_run_and_offers_no_add(admin_client):
    expire_speakers(now=NOW)

    response = admin_client.get(reverse("admin:jobs_sweeprun_changelist"))

    assert response.status_code == 200
    html = response.content.decode()
    assert "expire speakers" in html and "speakers expired: 0" in html
    assert reverse("admin:jobs_sweeprun_add") not in html
    assert admin_client.get(reverse("admin:jobs_sweeprun_add")).status_code == 403


def test_the_sweep_run_list_filters_by_sweeper_and_status(admin_client):
    expire_speakers(now=NOW)
    purge_audio(now=NOW)

    response = admin_client.get(reverse("admin:jobs_sweeprun_changelist"), {"sweeper": "purge"})

    assert response.status_code == 200
    assert list(response.context["cl"].queryset.values_list("sweeper", flat=True)) == ["purge"]
    assert (
        admin_client.get(reverse("admin:jobs_sweeprun_changelist"), {"status": "failed"}).status_code == 200
    )


def test_a_sweep_run_opens_read_only_and_cannot_be_deleted(admin_client):
    run = expire_speakers(now=NOW)

    page = admin_client.get(reverse("admin:jobs_sweeprun_change", args=[run.pk]))
    delete = admin_client.post(reverse("admin:jobs_sweeprun_delete", args=[run.pk]), {"post": "yes"})

    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert delete.status_code == 403
    assert SweepRun.objects.filter(pk=run.pk).exists()


def test_the_storage_erasure_list_shows_pending_erasures(admin_client):
    prefix = speaker_prefix(make_domain().domain_id, "id#" + "z" * 22)
    schedule_erasure(prefix=prefix, reason="speaker deleted")

    response = admin_client.get(reverse("admin:jobs_storageerasure_changelist"), {"erased_at__isempty": "1"})

    assert response.status_code == 200
    assert prefix in response.content.decode()
    assert reverse("admin:jobs_storageerasure_add") not in response.content.decode()
    assert StorageErasure.objects.count() == 1
