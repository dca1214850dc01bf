"""URLs: the AWS JSON API is `POST /`; the same path answers browsers with the home page."""

from __future__ import annotations

from django.contrib import admin
from django.urls import path

from voiceid_site import health, views

urlpatterns = [
    path("", views.root, name="root"),
    path("health", health.health, name="health"),
    path("admin/", admin.site.urls),
]
