"""Dashboard pages of the fraudsters app (HTMX views in fraudsters/views.py)."""

from __future__ import annotations

app_name = "fraudsters"
urlpatterns: list = []
