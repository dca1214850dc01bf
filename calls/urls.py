"""Dashboard pages of the calls app (HTMX views in calls/views.py)."""

from __future__ import annotations

app_name = "calls"
urlpatterns: list = []
