"""Dashboard pages of the domains app (HTMX views in domains/views.py)."""

from __future__ import annotations

from django.urls import path

from domains import views

app_name = "domains"
urlpatterns = [
    path("", views.domain_list, name="list"),
    path("<str:domain_id>/overview/", views.domain_overview, name="overview"),
]
