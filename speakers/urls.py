"""Dashboard pages of the speakers app (HTMX views in speakers/views.py)."""

from __future__ import annotations

app_name = "speakers"
urlpatterns: list = []
