"""Keyset paging: a page costs the same at row 10 or row 10,000,000, and concurrent inserts or deletes never
make a page repeat or skip an existing item (new rows sort after every position already handed out)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from django.db.models import Model, QuerySet

M = TypeVar("M", bound=Model)


@dataclass(frozen=True)
class Page[M: Model]:
    items: list[M]
    next_position: int | None  # the last primary key handed out, when more rows follow


def keyset_page[M: Model](queryset: QuerySet[M], *, after: int | None, limit: int) -> Page[M]:
    if after is not None:
        queryset = queryset.filter(pk__gt=after)
    rows = list(queryset.order_by("pk")[: limit + 1])
    has_more = len(rows) > limit
    rows = rows[:limit]
    return Page(items=rows, next_position=rows[-1].pk if has_more else None)


def keyset_page_newest[M: Model](queryset: QuerySet[M], *, before: int | None, limit: int) -> Page[M]:
    """The same, newest first: `before` is the last position handed out (the dashboard's recent lists)."""
    if before is not None:
        queryset = queryset.filter(pk__lt=before)
    rows = list(queryset.order_by("-pk")[: limit + 1])
    has_more = len(rows) > limit
    rows = rows[:limit]
    return Page(items=rows, next_position=rows[-1].pk if has_more else None)
