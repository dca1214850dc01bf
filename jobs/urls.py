"""Dashboard pages of the jobs app (HTMX views in jobs/views.py)."""

from __future__ import annotations

app_name = "jobs"
urlpatterns: list = []
