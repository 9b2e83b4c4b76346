"""Combine what several dumps of one database show (one dump per user or device)."""

from __future__ import annotations

from ..jstypes import Field, JsType, ObjectOf, UnionOf, union
from .planner import ObservedTable


def merge_types(a: JsType | None, b: JsType | None) -> JsType | None:
    """The type of values seen in either dump; object fields missing on one side become optional."""
    if a is None or b is None:
        return a if b is None else b
    if isinstance(a, ObjectOf) and isinstance(b, ObjectOf):
        names = [f.name for f in a.fields] + [f.name for f in b.fields if a.get(f.name) is None]
        fields = []
        for name in names:
            fa, fb = a.get(name), b.get(name)
            if fa and fb:
                fields.append(Field(name, merge_types(fa.type, fb.type), fa.optional or fb.optional))
            else:
                only = fa or fb
                fields.append(Field(name, only.type, True))
        return ObjectOf(tuple(fields))
    members = [m for t in (a, b) for m in (t.members if isinstance(t, UnionOf) else (t,))]
    objects = [m for m in members if isinstance(m, ObjectOf)]
    merged_object = None
    for o in objects:
        merged_object = merge_types(merged_object, o)
    rest = [m for m in members if not isinstance(m, ObjectOf)]
    return union(*rest, *([merged_object] if merged_object else []))


def merge_observed(a: ObservedTable, b: ObservedTable) -> ObservedTable:
    sizes = dict(a.max_binary_bytes)
    for name, size in b.max_binary_bytes.items():
        sizes[name] = max(size, sizes.get(name, 0))
    return ObservedTable(name=a.name, schema=a.schema or b.schema, rows=a.rows + b.rows,
                         row_type=merge_types(a.row_type, b.row_type),
                         key_kinds=a.key_kinds | b.key_kinds, max_binary_bytes=sizes)
