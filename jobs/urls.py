"""Dashboard pages of the jobs app (HTMX views in jobs/views.py)."""

from __future__ import annotations

from django.urls import path

from jobs import views

app_name = "jobs"
urlpatterns = [
    path("", views.job_list, name="list"),
    path("start/", views.job_start, name="start"),
    path("<str:job_id>/", views.job_detail, name="detail"),
    path("<str:job_id>/progress/", views.job_progress, name="progress"),
    path("<str:job_id>/output/", views.job_output, name="output"),
]
