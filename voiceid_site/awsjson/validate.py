"""One generic validator for every request (and, in tests, every response) against the service model.

boto3 checks only required members, types and minimums client-side (spec §2.4); maximums, patterns and
enums arrive unchecked, so every constraint in the model is enforced here, none hand-copied.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import regex

from voiceid_site.awsjson import model

MAX_REPORTED = 10
# Violations collected at most: one is enough to refuse a request, and a body of a million bad members must
# not cost the worker seconds to describe.
MAX_COLLECTED = 100


@dataclass(frozen=True)
class Violation:
    path: str
    constraint: str
    value: Any
    sensitive: bool

    def describe(self) -> str:
        # A member's name may hold what no log line can (an unpaired surrogate): such a name is escaped.
        path = ascii(self.path)[1:-1] if _unpaired_surrogate(self.path) else self.path
        if self.sensitive or self.value is _ABSENT:
            subject = f"Value at '{path}'"
        else:
            shown = repr(self.value) if not isinstance(self.value, str) else f"'{self.value}'"
            subject = f"Value {shown[:80]}{'…' if len(shown) > 80 else ''} at '{path}'"
        return f"{subject} failed to satisfy constraint: {self.constraint}"


class _Absent:
    pass


_ABSENT = _Absent()
_NO_NUL = "Member must not contain the NUL character (\\u0000)"
_NOT_TEXT = (
    "Member must be valid Unicode text (it holds half of a UTF-16 surrogate pair, escaped as \\uD800-\\uDFFF)"
)


@cache
def _compiled(pattern: str) -> regex.Pattern[str]:
    # The model's patterns are Java regexes anchored with ^…$; Java's `$` never matches before a trailing
    # newline, Python's does, so anchor at the true end.
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + r"\Z"
    return regex.compile(pattern)


def _java_length(value: str) -> int:
    """String length as the model (Java) counts it: UTF-16 code units."""
    return len(value.encode("utf-16-le", "surrogatepass")) // 2


def _unpaired_surrogate(value: str) -> bool:
    """Whether JSON escapes left half a UTF-16 pair in ``value`` (``"\\udc00"``): no text, and nothing a
    database or a log can store."""
    if value.isascii():
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


class ShapeValidator:
    def __init__(self, shapes: dict[str, Any]) -> None:
        self.shapes = shapes

    def validate(self, shape_name: str, value: Any, path: str = "") -> list[Violation]:
        violations: list[Violation] = []
        self._check(shape_name, value, path, violations)
        return violations

    def without_nulls(self, shape_name: str, value: Any) -> Any:
        """``value`` (valid for the shape) without its structures' null members, which count as absent: a
        handler then never sees a JSON null where the model allows a member to be left out."""
        shape = self.shapes[shape_name]
        kind = shape["type"]
        if kind == "structure":
            members = shape.get("members", {})
            return {
                key: self.without_nulls(members[key]["shape"], item)
                for key, item in value.items()
                if item is not None
            }
        if kind == "list":
            return [self.without_nulls(shape["member"]["shape"], item) for item in value]
        if kind == "map":
            return {key: self.without_nulls(shape["value"]["shape"], item) for key, item in value.items()}
        return value

    def _check(self, shape_name: str, value: Any, path: str, out: list[Violation]) -> None:
        if len(out) >= MAX_COLLECTED:
            return
        shape = self.shapes[shape_name]
        kind = shape["type"]
        sensitive = bool(shape.get("sensitive"))

        def fail(constraint: str) -> None:
            out.append(Violation(path or "<body>", constraint, value, sensitive))

        if kind == "structure":
            if not isinstance(value, dict):
                return fail("Member must be a JSON object")
            members = shape.get("members", {})
            for required in shape.get("required", []):
                if value.get(required) is None:
                    out.append(Violation(_join(path, required), "Member must not be null", _ABSENT, False))
            for key, item in value.items():
                if len(out) >= MAX_COLLECTED:
                    return None
                if key not in members:
                    out.append(
                        Violation(_join(path, key), "Member is not defined by the operation", _ABSENT, False)
                    )
                elif item is not None:  # JSON null counts as absent, as botocore treats it.
                    self._check(members[key]["shape"], item, _join(path, key), out)
        elif kind == "list":
            if not isinstance(value, list):
                return fail("Member must be a JSON array")
            if "min" in shape and len(value) < shape["min"]:
                fail(f"Member must have length greater than or equal to {shape['min']}")
            if "max" in shape and len(value) > shape["max"]:
                # Too long is reason enough; its members are not looked at (a body may hold millions).
                return fail(f"Member must have length less than or equal to {shape['max']}")
            for index, item in enumerate(value):
                self._check(shape["member"]["shape"], item, f"{path}[{index}]", out)
        elif kind == "map":
            if not isinstance(value, dict):
                return fail("Member must be a JSON object")
            for key, item in value.items():
                if len(out) >= MAX_COLLECTED:
                    return None
                self._check(shape["key"]["shape"], key, f"{path}.<key>", out)
                self._check(shape["value"]["shape"], item, f"{path}.{key}", out)
        elif kind == "string":
            if not isinstance(value, str):
                return fail("Member must be a string")
            if _unpaired_surrogate(value):
                return out.append(Violation(path, _NOT_TEXT, _ABSENT, sensitive))
            if "\x00" in value:  # no text holds one, and PostgreSQL refuses it in any query
                return out.append(Violation(path, _NO_NUL, _ABSENT, sensitive))
            length = _java_length(value)
            if "min" in shape and length < shape["min"]:
                fail(f"Member must have length greater than or equal to {shape['min']}")
            if "max" in shape and length > shape["max"]:
                fail(f"Member must have length less than or equal to {shape['max']}")
            if "enum" in shape and value not in shape["enum"]:
                fail(f"Member must satisfy enum value set: [{', '.join(shape['enum'])}]")
            if "pattern" in shape and not _compiled(shape["pattern"]).search(value):
                fail(f"Member must satisfy regular expression pattern: {shape['pattern']}")
        elif kind in ("integer", "long"):
            if isinstance(value, bool) or not isinstance(value, int):
                return fail("Member must be an integer")
            if "min" in shape and value < shape["min"]:
                fail(f"Member must have value greater than or equal to {shape['min']}")
            if "max" in shape and value > shape["max"]:
                fail(f"Member must have value less than or equal to {shape['max']}")
        elif kind == "boolean":
            if not isinstance(value, bool):
                fail("Member must be a boolean")
        elif kind in ("timestamp", "double", "float"):
            if isinstance(value, bool) or not isinstance(value, int | float):
                fail("Member must be a number" + (" of epoch seconds" if kind == "timestamp" else ""))
        elif kind == "blob":
            if not isinstance(value, str):
                fail("Member must be a base64-encoded string")
            elif _unpaired_surrogate(value):
                out.append(Violation(path, _NOT_TEXT, _ABSENT, sensitive))
        else:  # pragma: no cover - a model with a type we do not know is a bug in the vendored copy
            raise ValueError(f"unsupported shape type {kind!r} in {shape_name}")


def _join(path: str, member: str) -> str:
    return f"{path}.{member}" if path else member


def validator() -> ShapeValidator:
    return ShapeValidator(model.shapes())


def summarise(violations: list[Violation]) -> str:
    """AWS's wording: '2 validation errors detected: Value … at 'X' failed to satisfy constraint: …'."""
    count = len(violations)
    shown = "; ".join(v.describe() for v in violations[:MAX_REPORTED])
    if count >= MAX_COLLECTED:  # collecting stopped there
        return f"{count} or more validation errors detected: {shown}; and more"
    more = f"; and {count - MAX_REPORTED} more" if count > MAX_REPORTED else ""
    return f"{count} validation error{'s' if count != 1 else ''} detected: {shown}{more}"
