"""URLs for browsers: the dashboard, the admin and the health check. The AWS JSON API is `POST /`, which
voiceid_site.middleware.ApiMiddleware routes before any URL is resolved."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from voiceid_site import health, views

urlpatterns = [
    path("", views.root, name="root"),
    path("health", health.health, name="health"),
    path("favicon.ico", views.favicon),
    path("accounts/", include("accounts.urls")),
    path("domains/", include("domains.urls")),
    path("speakers/", include("speakers.urls")),
    path("fraudsters/", include("fraudsters.urls")),
    path("jobs/", include("jobs.urls")),
    path("calls/", include("calls.urls")),
    path("audit/", include("audit.urls")),
    path("admin/", admin.site.urls),
]

# An uncaught exception's page: 400 for a request body that never arrived in full, else templates/500.html.
handler500 = "voiceid_site.pages.server_error"
