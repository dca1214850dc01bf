"""Dashboard pages of the domains app (HTMX views in domains/views.py)."""

from __future__ import annotations

app_name = "domains"
urlpatterns: list = []
