"""Turn one dump row into the Convex document (and multiEntry side rows) the plan describes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import orjson

from ..jsvalues import UNDEFINED
from ..plan.model import TablePlan
from ..sinks.wire import encode
from .values import Converter, ValueRejected, encode_key


@dataclass
class ConvexRow:
    table: str                       # Convex table
    key: Any                         # the original key, encoded as stored in the key field
    document: dict
    side_rows: dict[str, list] = field(default_factory=dict)   # side table -> element values


def row_key(row_key_value: Any, position: int) -> Any:
    """The key a row is identified by: its Dexie key, or its position when the format has none."""
    return position if row_key_value is None else row_key_value


def value_at(doc: dict, path: str) -> Any:
    """The value at a dotted field path (`profile.skills`), None when any step is missing."""
    value: Any = doc
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def side_rows_of(plan: TablePlan) -> Callable[[dict], dict[str, list]]:
    """`side_rows` for one table, its multiEntry fields looked up once (asked for every row)."""
    fields = [(m.table, m.field, "." in m.field) for m in plan.multi_entry if m.strategy == "side-table"]

    def sides(doc: dict) -> dict[str, list]:
        side: dict[str, list] = {}
        for table, path, dotted in fields:
            elements = value_at(doc, path) if dotted or type(doc) is not dict else doc.get(path)
            if elements is None:
                continue
            if not isinstance(elements, list):
                elements = [elements]          # IndexedDB indexes a non-array value as one entry
            if all(type(e) is str for e in elements):
                side[table] = list(dict.fromkeys(elements))
                continue
            seen: dict[bytes, Any] = {}
            for e in elements:
                seen.setdefault(orjson.dumps(encode(e)), e)
            side[table] = list(seen.values())
        return side
    return sides


def side_rows(plan: TablePlan, doc: dict) -> dict[str, list]:
    """The multiEntry side rows of a document (Python or Convex-encoded values alike): each
    distinct element once, told apart by its encoded JSON, so `true` and `1` stay two entries."""
    return side_rows_of(plan)(doc)


def transform_row(plan: TablePlan, key: Any, value: Any, converter: Converter) -> ConvexRow:
    """Raises ValueRejected (with the field path) when the row cannot be stored as planned."""
    doc: dict[str, Any] = {}
    if plan.wrap_value:
        target = plan.field_named(plan.wrap_value)
        if value is not UNDEFINED:
            doc[plan.wrap_value] = converter.convert(value, target.validator, plan.wrap_value)
    else:
        if not isinstance(value, dict):
            raise ValueRejected("", f"the value is a {type(value).__name__}, not an object; set "
                                    f"`wrapValue` for table {plan.source!r} in the mapping")
        by_source = {f.source: f for f in plan.fields if f.source is not None}
        for name, item in value.items():
            if item is UNDEFINED:
                continue
            fp = by_source.get(name)
            if fp is None:
                raise ValueRejected(name, f"field {name!r} is not in the mapping; add it under "
                                          f"tables.{plan.source}.fields (or re-run plan with this dump)")
            doc[fp.name] = converter.reference(item, fp.validator, fp.references, fp.name) if fp.references \
                else converter.convert(item, fp.validator, fp.name)
    encoded = None
    if plan.key:
        encoded = encode_key(key, plan.key.encoding)
        doc[plan.key.field] = encoded
    return ConvexRow(table=plan.table, key=encoded, document=doc, side_rows=side_rows(plan, doc))
