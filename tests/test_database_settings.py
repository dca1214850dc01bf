"""The embedded SQLite database is opened the way live calls need it (voiceid_site/settings.py says why)."""

from __future__ import annotations

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite settings: this run uses another database")
def test_the_write_ahead_log_is_checkpointed_every_10000_pages_not_every_1000() -> None:
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_autocheckpoint")
        assert cursor.fetchone()[0] == 10000
