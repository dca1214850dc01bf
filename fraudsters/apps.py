from __future__ import annotations

from django.apps import AppConfig


class FraudstersConfig(AppConfig):
    name = "fraudsters"
