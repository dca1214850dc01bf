"""Dashboard pages of the calls app (HTMX views in calls/views.py)."""

from __future__ import annotations

from django.urls import path

from calls import views

app_name = "calls"
urlpatterns = [
    path("", views.call_list, name="list"),
    path("evaluate/", views.recording_evaluate, name="evaluate"),
    # SessionIds look like `id#…`: reverse() escapes the `#` as %23 and the path comes back decoded.
    path("<str:session_id>/", views.call_detail, name="detail"),
]
