"""Dashboard pages of the fraudsters app (HTMX views in fraudsters/views.py)."""

from __future__ import annotations

from django.urls import path

from fraudsters import views

app_name = "fraudsters"
urlpatterns = [
    path("", views.fraudster_list, name="list"),
    path("watchlists/", views.watchlists, name="watchlists"),
    path("watchlists/<str:domain_id>/<str:watchlist_id>/", views.watchlist_detail, name="watchlist"),
    path("watchlists/<str:domain_id>/<str:watchlist_id>/edit/", views.watchlist_edit, name="watchlist-edit"),
    path(
        "watchlists/<str:domain_id>/<str:watchlist_id>/delete/",
        views.watchlist_delete,
        name="watchlist-delete",
    ),
    path("<str:domain_id>/<str:fraudster_id>/", views.fraudster_detail, name="detail"),
    path("<str:domain_id>/<str:fraudster_id>/associate/", views.fraudster_associate, name="associate"),
    path(
        "<str:domain_id>/<str:fraudster_id>/disassociate/", views.fraudster_disassociate, name="disassociate"
    ),
    path("<str:domain_id>/<str:fraudster_id>/delete/", views.fraudster_delete, name="delete"),
]
