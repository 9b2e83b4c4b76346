"""Check a converted document the way Convex does on insert, without sending it.

Covers the schema validators (every `v.*` kind, optional fields, unions, extra and missing
fields), field-name rules and the document limits in convex-facts.md: 1 MiB (Convex's size
formula, `_id` and `_creationTime` included), nesting 16, 8192 array elements, 1024 fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ..convex_names import (DOCUMENT_LIMIT, MAX_ARRAY, MAX_DEPTH, MAX_FIELDS, SYSTEM_FIELDS_SIZE,
                            field_name_problem)
from ..plan.validators import Validator
from ..transform.values import BlobToStore


@dataclass(frozen=True)
class Problem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path or '(document)'}: {self.message}"


def value_size(value: Any) -> int:
    """Convex's size formula (convex-facts.md: Limits); keys and strings count UTF-8 bytes, as
    `getConvexSize` in the `convex` package does."""
    if value is None or isinstance(value, bool):
        return 1
    if isinstance(value, (int, float)):
        return 9
    if isinstance(value, str):
        return 2 + len(value.encode("utf-8", "surrogatepass"))
    if isinstance(value, (bytes, bytearray)):
        return 2 + len(value)
    if isinstance(value, BlobToStore):
        return 2 + 32                      # becomes a storage id
    if isinstance(value, list):
        return 2 + sum(value_size(v) for v in value)
    if isinstance(value, dict):
        return 2 + sum(len(k.encode("utf-8", "surrogatepass")) + 1 + value_size(v) for k, v in value.items())
    return 1


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, float):
        return "number"
    if isinstance(value, int):
        return "bigint"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (bytes, bytearray)):
        return "bytes"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


# What an id string says about its table: the table name, None (not an id at all), or
# ANY_TABLE (an id, but its table cannot be read from it without the deployment).
ANY_TABLE = "*"
IdTable = Callable[[str], "str | None"]


def loose_id_table(value: str) -> str | None:
    """Real Convex ids encode a table number only the deployment can map to a name, so
    before sending, an id is only checked to be a short printable ASCII string."""
    return ANY_TABLE if 0 < len(value) <= 128 and value.isascii() and value.isprintable() else None


class _Checker:
    def __init__(self, id_table: IdTable = loose_id_table) -> None:
        self.problems: list[Problem] = []
        self.id_table = id_table

    def fail(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def matches(self, value: Any, val: Validator, path: str) -> bool:
        """Does `value` satisfy `val`? Records why not (for the outermost mismatch only)."""
        before = len(self.problems)
        self.check(value, val, path)
        return len(self.problems) == before

    def check(self, value: Any, val: Validator, path: str) -> None:
        kind = val.kind
        if kind == "optional":
            return self.check(value, val.args[0], path)
        if kind == "any":
            return
        if kind == "union":
            for member in val.args:
                trial = _Checker(self.id_table)
                if trial.matches(value, member, path):
                    return
            return self.fail(path, f"value of type {_describe(value)} does not match {val.to_ts()}")
        expected = {"string": str, "boolean": bool, "bytes": (bytes, bytearray)}
        if kind in expected:
            if not isinstance(value, expected[kind]) or (kind != "boolean" and isinstance(value, bool)):
                self.fail(path, f"expected {kind}, got {_describe(value)}")
            return
        if kind in ("number", "float64"):
            if not isinstance(value, float):
                self.fail(path, f"expected number (float64), got {_describe(value)}")
            return
        if kind == "int64":
            if not isinstance(value, int) or isinstance(value, bool):
                self.fail(path, f"expected int64 (bigint), got {_describe(value)}")
            return
        if kind == "null":
            if value is not None:
                self.fail(path, f"expected null, got {_describe(value)}")
            return
        if kind == "literal":
            lit = val.args[0]
            if isinstance(lit, (bool, str)):
                same = type(value) is type(lit) and value == lit
            else:   # `v.literal(3)` is a JS number (float64), even when parsed as a Python int
                same = isinstance(value, float) and value == lit
            if not same:
                self.fail(path, f"expected the literal {val.to_ts()[10:-1]}, got {value!r}")
            return
        if kind == "id":
            if isinstance(value, BlobToStore) and val.args[0] == "_storage":
                return
            table = self.id_table(value) if isinstance(value, str) else None
            if table is None:
                self.fail(path, f"expected an id of table {val.args[0]!r}, got {_describe(value)}")
            elif table not in (ANY_TABLE, val.args[0]):
                self.fail(path, f"expected an id of table {val.args[0]!r}, got an id of table {table!r}")
            return
        if kind == "array":
            if not isinstance(value, list):
                return self.fail(path, f"expected array, got {_describe(value)}")
            for i, item in enumerate(value):
                self.check(item, val.args[0], f"{path}[{i}]")
            return
        if kind == "record":
            if not isinstance(value, dict):
                return self.fail(path, f"expected object (record), got {_describe(value)}")
            for k, item in value.items():
                self.check(k, val.args[0], f"{path}.{k} (key)")
                self.check(item, val.args[1], f"{path}.{k}" if path else k)
            return
        if kind == "object":
            if not isinstance(value, dict):
                return self.fail(path, f"expected object, got {_describe(value)}")
            fields = val.fields
            for name, sub in fields.items():
                if name not in value and not sub.is_optional:
                    self.fail(f"{path}.{name}" if path else name, "required field is missing")
            for name, item in value.items():
                sub_path = f"{path}.{name}" if path else name
                if name not in fields:
                    self.fail(sub_path, "extra field that is not in the validator")
                else:
                    self.check(item, fields[name], sub_path)
            return
        self.fail(path, f"unknown validator {kind}")

    def limits(self, value: Any, path: str, depth: int, top: bool) -> None:
        """Only arrays and objects nest: a scalar inside the 16th level is fine."""
        if isinstance(value, (list, dict)) and depth > MAX_DEPTH:
            return self.fail(path, f"nesting is deeper than {MAX_DEPTH} levels")
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                self.fail(path, "string holds a lone surrogate (not valid Unicode)")
        elif isinstance(value, list):
            if len(value) > MAX_ARRAY:
                self.fail(path, f"array has {len(value)} elements; at most {MAX_ARRAY}")
            for i, item in enumerate(value):
                self.limits(item, f"{path}[{i}]", depth + 1, False)
        elif isinstance(value, dict):
            if len(value) > MAX_FIELDS:
                self.fail(path, f"object has {len(value)} fields; at most {MAX_FIELDS}")
            for name, item in value.items():
                sub = f"{path}.{name}" if path else name
                problem = field_name_problem(name, top_level=top, in_object_validator=False)
                if problem:
                    self.fail(sub, f"invalid field name: {problem}")
                self.limits(item, sub, depth + 1, False)


def check_document(document: dict, fields: dict[str, Validator],
                   id_table: IdTable = loose_id_table) -> list[Problem]:
    """Every reason Convex would refuse `document` in a table with these field validators.

    `id_table` reads the table from an id string (for `v.id`); the default cannot.
    """
    checker = _Checker(id_table)
    checker.check(document, Validator.object(fields), "")
    checker.limits(document, "", 1, True)
    too_large = size_problem(value_size(document))
    if too_large:
        checker.problems.append(too_large)
    return checker.problems


def size_problem(size: int) -> Problem | None:
    """A document of `size` bytes (Convex's formula, system fields not included) over 1 MiB."""
    size += SYSTEM_FIELDS_SIZE
    if size > DOCUMENT_LIMIT:
        return Problem("", f"document is {size} bytes; Convex's limit is {DOCUMENT_LIMIT} (1 MiB)")
    return None
