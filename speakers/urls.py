"""Dashboard pages of the speakers app (HTMX views in speakers/views.py)."""

from __future__ import annotations

from django.urls import path

from speakers import views

app_name = "speakers"
urlpatterns = [
    path("", views.speaker_list, name="list"),
    path("<str:domain_id>/<str:speaker_id>/", views.speaker_detail, name="detail"),
    path("<str:domain_id>/<str:speaker_id>/opt-out/", views.speaker_opt_out, name="opt-out"),
    path("<str:domain_id>/<str:speaker_id>/delete/", views.speaker_delete, name="delete"),
]
