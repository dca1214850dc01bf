"""What a write holds on its domain's row while it seals values (domains.envelope.generation_for_write).

PostgreSQL only: SQLite has no row locks (its one write lock serialises every writer), so there is nothing
to observe there.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest
from django.db import OperationalError, connection, transaction

from domains import envelope
from domains import services as domain_services
from domains.models import Domain

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="SQLite has no row locks: its single write lock serialises writers (run with DATABASE_URL)",
    ),
]


@pytest.fixture
def sealing_writer() -> Iterator[Domain]:
    """A transaction in another thread that has sealed a value of the domain and not yet committed."""
    domain = domain_services.domain_create(name="busy", kms_key_id="alias/locks", region="us-east-1")
    holding, release = threading.Event(), threading.Event()

    def write() -> None:
        try:
            with transaction.atomic():
                envelope.seal(domain, b"a voiceprint", context="test")
                holding.set()
                release.wait(10)
        finally:
            connection.close()

    writer = threading.Thread(target=write)
    writer.start()
    assert holding.wait(10)
    yield domain
    release.set()
    writer.join()


def in_other_transaction(work: Callable[[], object], *, lock_timeout_ms: int) -> BaseException | None:
    """Run `work` in a transaction of another thread that gives up waiting for a lock after the timeout."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute(f"SET LOCAL lock_timeout = {lock_timeout_ms}")
                work()
            outcome.append(None)
        except BaseException as error:  # handed to the test to assert on
            outcome.append(error)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return outcome[0]


def test_another_writer_of_the_domain_does_not_wait(sealing_writer: Domain) -> None:
    outcome = in_other_transaction(
        lambda: envelope.seal(sealing_writer, b"another caller's chunk", context="test"), lock_timeout_ms=2000
    )
    assert outcome is None


def test_a_writer_that_also_updates_the_domain_row_does_not_wait(sealing_writer: Domain) -> None:
    def seal_then_count() -> None:
        envelope.seal(sealing_writer, b"a new speaker's id", context="test")
        Domain.objects.filter(pk=sealing_writer.pk).update(speaker_count=1)

    assert in_other_transaction(seal_then_count, lock_timeout_ms=2000) is None


def test_a_key_change_waits_for_the_writer(sealing_writer: Domain) -> None:
    outcome = in_other_transaction(
        lambda: Domain.objects.select_for_update().get(pk=sealing_writer.pk), lock_timeout_ms=300
    )
    assert isinstance(outcome, OperationalError)
    assert "lock timeout" in str(outcome)
