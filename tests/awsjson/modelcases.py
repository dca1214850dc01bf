"""Request cases generated from the voice-id model: one valid baseline per operation, then one broken member.

Nothing here hand-copies a constraint: every limit, pattern and enum comes from the vendored model.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from voiceid_site.awsjson import model
from voiceid_site.awsjson.validate import _compiled

_CANDIDATES = (
    "id#" + "A" * 22,
    "arn:aws:voiceid:us-east-1:000000000000:domain/" + "A" * 22,
    "arn:aws:iam::000000000000:role/voiceid",
    "s3://bucket-1/key",
    "name-1",
)

# Shapes the model leaves open whose values the service judges further: KMS takes only key names.
_BY_SHAPE = {"KmsKeyId": "alias/voiceid-1"}


@dataclass(frozen=True)
class Case:
    operation: str
    description: str
    params: dict[str, Any]
    path: str
    constraint: str  # a fragment of the expected message
    boto3_can_send: bool  # False: send raw, boto3's serializer would reshape it


def _fits(shape: dict[str, Any], value: str) -> bool:
    if not shape.get("min", 0) <= len(value) <= shape.get("max", 10**9):
        return False
    return "pattern" not in shape or bool(_compiled(shape["pattern"]).search(value))


def valid_value(shape_name: str) -> Any:
    shape = model.shapes()[shape_name]
    kind = shape["type"]
    if kind == "string":
        if shape_name in _BY_SHAPE:
            return _BY_SHAPE[shape_name]
        if "enum" in shape:
            return shape["enum"][0]
        length = max(shape.get("min", 1), 1)
        if shape.get("min") == shape.get("max") == 22:
            length = 22
        for candidate in (*_CANDIDATES, "A" * length):
            if _fits(shape, candidate):
                return candidate
        raise AssertionError(f"no valid value for {shape_name}")
    if kind in ("integer", "long"):
        return shape.get("min", 1)
    if kind == "boolean":
        return True
    if kind == "blob":
        # Valid base64 as it stands (raw JSON cases) and valid bytes to base64 (boto3 cases).
        return "AAAA"
    if kind == "list":
        return [valid_value(shape["member"]["shape"]) for _ in range(shape.get("min", 0))]
    if kind == "structure":
        return {name: valid_value(shape["members"][name]["shape"]) for name in shape.get("required", [])}
    raise AssertionError(f"unsupported {kind}")


def _broken_values(shape: dict[str, Any]) -> Iterator[tuple[str, Any, str, bool]]:
    """(description, value, expected message fragment, boto3 can send it) for each constraint of a shape."""
    kind = shape["type"]
    if kind == "string":
        if "max" in shape:
            yield "too long", "a" * (shape["max"] + 1), f"length less than or equal to {shape['max']}", True
        if shape.get("min", 0) > 1:
            yield (
                "too short",
                "a" * (shape["min"] - 1),
                f"length greater than or equal to {shape['min']}",
                True,
            )
        if "enum" in shape:
            yield "not in the enum", "BOGUS", "enum value set", True
        if "pattern" in shape:
            length = max(shape.get("min", 1), 1)
            bad = "é" if "ASCII" in shape["pattern"] else "!" * length
            yield "against the pattern", bad, "regular expression pattern", True
        yield "of the wrong type", 12345, "must be a string", False
    elif kind in ("integer", "long"):
        if "max" in shape:
            yield "above the maximum", shape["max"] + 1, f"less than or equal to {shape['max']}", True
        if "min" in shape:
            yield "below the minimum", shape["min"] - 1, f"greater than or equal to {shape['min']}", True
        yield "of the wrong type", "12", "must be an integer", False
    elif kind == "list":
        if "max" in shape:
            member = valid_value(shape["member"]["shape"])
            yield (
                "with too many items",
                [member] * (shape["max"] + 1),
                f"less than or equal to {shape['max']}",
                True,
            )
        yield "of the wrong type", "not-a-list", "must be a JSON array", False
    elif kind == "structure":
        yield "of the wrong type", "not-an-object", "must be a JSON object", False
    elif kind == "blob":
        yield "of the wrong type", 12345, "must be a base64-encoded string", False


def _with(params: dict[str, Any], path: list[str], value: Any, *, remove: bool = False) -> dict[str, Any]:
    copy = dict(params)
    if len(path) == 1:
        if remove:
            copy.pop(path[0], None)
        else:
            copy[path[0]] = value
        return copy
    copy[path[0]] = _with(copy.get(path[0]) or {}, path[1:], value, remove=remove)
    return copy


def _members(shape_name: str, prefix: list[str]) -> Iterator[tuple[list[str], str, bool]]:
    shape = model.shapes()[shape_name]
    for name, member in shape.get("members", {}).items():
        member_shape = member["shape"]
        yield [*prefix, name], member_shape, name in shape.get("required", [])
        if model.shapes()[member_shape]["type"] == "structure":
            yield from _members(member_shape, [*prefix, name])


def cases(operation: str) -> Iterator[Case]:
    input_shape = model.input_shape_name(operation)
    if input_shape is None:
        return
    baseline = valid_value(input_shape)
    for path, shape_name, required in _members(input_shape, []):
        dotted = ".".join(path)
        # Fill in the parents of a nested optional member so the broken value is really sent.
        parents = (
            _with(baseline, path[:-1], valid_value(_parent_shape(input_shape, path)))
            if len(path) > 1
            else baseline
        )
        if len(path) > 1 and _get(baseline, path[:-1]) is not None:
            parents = baseline
        if required:
            yield Case(
                operation,
                f"{dotted} missing",
                _with(parents, path, None, remove=True),
                dotted,
                "must not be null",
                True,
            )
        for description, value, fragment, boto3_ok in _broken_values(model.shapes()[shape_name]):
            yield Case(
                operation, f"{dotted} {description}", _with(parents, path, value), dotted, fragment, boto3_ok
            )
    yield Case(
        operation, "unknown member", {**baseline, "Bogus": 1}, "Bogus", "not defined by the operation", False
    )


def _get(params: dict[str, Any], path: list[str]) -> Any:
    for name in path:
        if not isinstance(params, dict) or name not in params:
            return None
        params = params[name]
    return params


def _parent_shape(input_shape: str, path: list[str]) -> str:
    shape_name = input_shape
    for name in path[:-1]:
        shape_name = model.shapes()[shape_name]["members"][name]["shape"]
    return shape_name
