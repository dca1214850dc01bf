"""The operation registry: each app's `api.py` registers its handlers with @operation."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from voiceid_site.awsjson import model

if TYPE_CHECKING:
    from voiceid_site.awsjson.context import ApiContext

Handler = Callable[["ApiContext", dict[str, Any]], dict[str, Any] | None]

# Listed explicitly so that what the API serves is greppable.
API_MODULES = ("domains.api", "speakers.api", "fraudsters.api", "calls.api", "jobs.api")

_handlers: dict[str, Handler] = {}
_loaded = False


def operation(name: str) -> Callable[[Handler], Handler]:
    if name not in model.service_model()["operations"]:
        raise ValueError(f"{name} is not an operation of the voice-id service model")

    def register(handler: Handler) -> Handler:
        if name in _handlers and _handlers[name] is not handler:
            raise ValueError(f"{name} is registered twice")
        _handlers[name] = handler
        return handler

    return register


def handlers() -> dict[str, Handler]:
    global _loaded
    if not _loaded:
        for module in API_MODULES:
            importlib.import_module(module)
        _loaded = True
    return _handlers
