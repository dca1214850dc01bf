"""What a handler knows about the call: who signed it, for which region, under which request id."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from accounts.models import AccessKey


@dataclass(frozen=True)
class ApiContext:
    request_id: str
    operation: str
    access_key: AccessKey
    region: str
