"""The JS-level types of fields, as declared in TypeScript or observed in a dump.

Declarations and dumps both describe data in JS terms (Date, Blob, bigint, Map...).
The planner turns these into Convex validators; keeping one vocabulary for both sides
lets it compare what the code declares with what the data holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

# Kinds of a Prim. "any" is an explicit any/unknown; "binary" covers ArrayBuffer,
# DataView and typed arrays.
PRIM_KINDS = (
    "string", "number", "boolean", "null", "undefined", "bigint", "date",
    "blob", "file", "binary", "regexp", "any",
)


@dataclass(frozen=True)
class Prim:
    kind: str
    note: str | None = None  # why this became `any`, for the mapping file

    def __post_init__(self) -> None:
        if self.kind not in PRIM_KINDS:
            raise ValueError(f"unknown primitive kind {self.kind!r}")


@dataclass(frozen=True)
class Literal:
    value: str | float | bool


@dataclass(frozen=True)
class ArrayOf:
    item: "JsType"


@dataclass(frozen=True)
class Field:
    name: str
    type: "JsType"
    optional: bool = False


@dataclass(frozen=True)
class ObjectOf:
    fields: tuple[Field, ...]

    def get(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)


@dataclass(frozen=True)
class RecordOf:
    value: "JsType"


@dataclass(frozen=True)
class MapOf:
    key: "JsType"
    value: "JsType"


@dataclass(frozen=True)
class SetOf:
    item: "JsType"


@dataclass(frozen=True)
class UnionOf:
    members: tuple["JsType", ...]


JsType = Union[Prim, Literal, ArrayOf, ObjectOf, RecordOf, MapOf, SetOf, UnionOf]

ANY = Prim("any")


def union(*types: JsType) -> JsType:
    """A flattened, de-duplicated union; a single member stands alone; `any` absorbs all."""
    members: list[JsType] = []
    for t in types:
        for m in (t.members if isinstance(t, UnionOf) else (t,)):
            if isinstance(m, Prim) and m.kind == "any":
                return m
            if m not in members:
                members.append(m)
    if not members:
        return ANY
    return members[0] if len(members) == 1 else UnionOf(tuple(members))


def describe(t: JsType) -> str:
    """Short TypeScript-like text, for reports and mapping-file comments."""
    if isinstance(t, Prim):
        return {"date": "Date", "blob": "Blob", "file": "File", "binary": "ArrayBuffer",
                "regexp": "RegExp"}.get(t.kind, t.kind)
    if isinstance(t, Literal):
        return repr(t.value) if not isinstance(t.value, str) else '"' + t.value + '"'
    if isinstance(t, ArrayOf):
        inner = describe(t.item)
        return f"({inner})[]" if isinstance(t.item, UnionOf) else f"{inner}[]"
    if isinstance(t, ObjectOf):
        return "{ " + "; ".join(f"{f.name}{'?' if f.optional else ''}: {describe(f.type)}" for f in t.fields) + " }"
    if isinstance(t, RecordOf):
        return f"Record<string, {describe(t.value)}>"
    if isinstance(t, MapOf):
        return f"Map<{describe(t.key)}, {describe(t.value)}>"
    if isinstance(t, SetOf):
        return f"Set<{describe(t.item)}>"
    return " | ".join(describe(m) for m in t.members)
