"""Our vendored copy of the `voice-id` service model: the single source of request and response shapes."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

DATA_PATH = Path(__file__).resolve().parent / "data"
MODEL_DIR = DATA_PATH / "voice-id" / "2021-09-27"


@cache
def service_model() -> dict[str, Any]:
    return json.loads((MODEL_DIR / "service-2.json").read_text())


def shapes() -> dict[str, Any]:
    return service_model()["shapes"]


def operation_names() -> list[str]:
    return sorted(service_model()["operations"])


def operation(name: str) -> dict[str, Any]:
    return service_model()["operations"][name]


def input_shape_name(operation_name: str) -> str | None:
    return operation(operation_name).get("input", {}).get("shape")


def output_shape_name(operation_name: str) -> str | None:
    return operation(operation_name).get("output", {}).get("shape")


def target_prefix() -> str:
    return service_model()["metadata"]["targetPrefix"]
