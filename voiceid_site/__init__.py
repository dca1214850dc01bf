"""voiceid: a self-hosted, API-compatible replacement for Amazon Connect Voice ID."""

from __future__ import annotations

from voiceid_site.celery import app as celery_app

__version__ = "0.1.0"
__all__ = ["__version__", "celery_app"]
