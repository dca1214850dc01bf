"""Admin tests: each checks only the admin's translation (HTTP status, page, message) of a service call."""

from __future__ import annotations

from typing import Any

from django.contrib.messages import get_messages


def messages_of(response: Any) -> list[tuple[int, str]]:
    """The (level, text) of every admin message the request ended with."""
    return [(message.level, message.message) for message in get_messages(response.wsgi_request)]
