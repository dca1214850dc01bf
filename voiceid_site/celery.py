"""The Celery application: batch jobs and the periodic sweepers run here."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voiceid_site.settings")

app = Celery("voiceid")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
