"""Test settings: the real settings with fast password hashing and throwaway folders."""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("VOICEID_KMS_AUTO_CREATE", "true")
os.environ.setdefault("VOICEID_VAR_DIR", tempfile.mkdtemp(prefix="voiceid-test-"))

from voiceid_site.settings import *  # noqa: F403
from voiceid_site.settings import STORAGES

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}

# Tasks run in the test process when their transaction commits (e.g. key rotation after UpdateDomain):
# tests of worker behaviour start real workers and processes instead.
CELERY_TASK_ALWAYS_EAGER = True
