"""One pass over a dump: per table, rows, key kinds, field types and what Convex cannot take.

Memory is bounded whatever the row count: a shape per field path (nested objects with
many distinct keys, or keys that are not identifiers, collapse into one "record" shape
whose path segment is `*`), counters, and at most MAX_ANOMALIES anomalies per table, each
with one example key.

`DumpProfile.to_json()` shape (stable; add keys, never change them):
    {"path", "format", "database", "databaseVersion",
     "tables": [{"name", "rows", "headerRows", "schema": spec string | null,
                 "key": {"inbound": bool | null, "auto", "compound", "paths": [str],
                         "spec": str | null, "kinds": {kind: count}},
                 "fields": [{"name", "present": rows with the field, "kinds": {kind: count}}],
                 "type": jstypes.describe() of the observed row type | null,
                 "largestDocumentBytes": int (estimated Convex size),
                 "anomalies": [{"kind": "unsupported-value" | "name" | "document-size" |
                                "mixed-types" | "row-not-object" | "too-many-anomalies", "path", "message",
                                "count": rows affected, "exampleKey"}]}]}
Paths: `a.b` for nested fields, `[]` for array items, `*` for record values.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from ..convex_names import (DOCUMENT_LIMIT, MAX_ARRAY, MAX_DEPTH, MAX_FIELDS, SYSTEM_FIELDS_SIZE,
                            field_name_problem, table_name_problem)
from ..dexie_schema import TableSchema
from ..jstypes import (ANY, ArrayOf, Field, JsType, MapOf, ObjectOf, Prim, RecordOf, SetOf, describe, union)
from ..jsvalues import (UNDEFINED, JsBigInt, JsBinary, JsBlob, JsDate, JsFile, JsMap, JsRegExp, JsSet)

MAX_OBJECT_KEYS_TRACKED = 64
MAX_ANOMALIES = 200
INT64 = (-(2**63), 2**63 - 1)


@lru_cache(maxsize=4096)
def _name_problem(name: str, top: bool, in_object: bool) -> str | None:
    return field_name_problem(name, top_level=top, in_object_validator=in_object)


def _identifier(name: str) -> bool:
    return _name_problem(name, False, True) is None


def value_kind(value: Any) -> str:
    """The JS kind of a revived value, as reports name it."""
    return _KIND_OF_CLASS.get(value.__class__) or _kind_of_subclass(value)


_KIND_OF_CLASS = {type(None): "null", type(UNDEFINED): "undefined", bool: "boolean", int: "number",
                  float: "number", str: "string", dict: "object", list: "array", tuple: "array", JsDate: "date",
                  JsBigInt: "bigint", JsBlob: "blob", JsFile: "file", JsBinary: "binary", JsRegExp: "regexp",
                  JsMap: "map", JsSet: "set"}


def _kind_of_subclass(value: Any) -> str:
    for cls, kind in _KIND_OF_CLASS.items():
        if isinstance(value, cls):
            return kind
    return type(value).__name__


PRIM_OF_KIND = {"null": "null", "undefined": "undefined", "boolean": "boolean", "number": "number",
                "string": "string", "date": "date", "bigint": "bigint", "blob": "blob", "file": "file",
                "binary": "binary", "regexp": "regexp"}


class Shape:
    """What the values at one path looked like."""

    __slots__ = ("kinds", "objects", "fields", "collapsed", "items", "map_keys", "map_values")

    def __init__(self) -> None:
        self.kinds: Counter = Counter()
        self.objects = 0
        self.fields: dict[str, list] = {}      # key -> [present count, Shape]
        self.collapsed: Shape | None = None    # record-like objects: one shape for all values
        self.items: Shape | None = None
        self.map_keys: Shape | None = None
        self.map_values: Shape | None = None

    def child(self, attr: str) -> "Shape":
        shape = getattr(self, attr)
        if shape is None:
            shape = Shape()
            setattr(self, attr, shape)
        return shape

    def to_type(self) -> JsType:
        members: list[JsType] = []
        for kind in self.kinds:
            if kind in PRIM_OF_KIND:
                members.append(Prim(PRIM_OF_KIND[kind]))
            elif kind == "array":
                members.append(ArrayOf(self.items.to_type() if self.items and self.items.kinds else ANY))
            elif kind == "set":
                members.append(SetOf(self.items.to_type() if self.items and self.items.kinds else ANY))
            elif kind == "map":
                members.append(MapOf(self.map_keys.to_type() if self.map_keys else ANY,
                                     self.map_values.to_type() if self.map_values else ANY))
            elif kind == "object":
                if self.collapsed is not None:
                    members.append(RecordOf(self.collapsed.to_type() if self.collapsed.kinds else ANY))
                else:
                    members.append(ObjectOf(tuple(Field(k, s.to_type(), present < self.objects)
                                                  for k, (present, s, _) in self.fields.items())))
        return union(*members)


@dataclass
class Anomaly:
    kind: str            # unsupported-value | name | document-size | mixed-types | row-not-object
    path: str
    message: str
    count: int = 0
    example_key: Any = None

    def to_json(self) -> dict:
        key = self.example_key
        return {"kind": self.kind, "path": self.path, "message": self.message, "count": self.count,
                "exampleKey": key if isinstance(key, (str, int, float, type(None))) else repr(key)}


@dataclass
class TableProfile:
    name: str
    schema: TableSchema | None
    header_rows: int | None
    rows: int = 0
    inbound: bool | None = None
    key_kinds: Counter = field(default_factory=Counter)
    shape: Shape = field(default_factory=Shape)
    max_binary_bytes: dict[str, int] = field(default_factory=dict)
    largest_document: int = 0
    anomalies: dict[tuple, Anomaly] = field(default_factory=dict)

    def flag(self, kind: str, path: str, message: str, key: Any) -> None:
        entry = self.anomalies.get((kind, path, message))
        if entry is None:
            if len(self.anomalies) >= MAX_ANOMALIES:
                kind, path, message = "too-many-anomalies", "", f"more than {MAX_ANOMALIES} distinct anomalies"
                entry = self.anomalies.get((kind, path, message))
            if entry is None:
                entry = self.anomalies[(kind, path, message)] = Anomaly(kind, path, message, 0, key)
        entry.count += 1

    @property
    def row_type(self) -> JsType | None:
        return self.shape.to_type() if self.shape.kinds else None

    def fields(self) -> list[tuple[str, int, Counter]]:
        return [(name, present, s.kinds) for name, (present, s, _) in self.shape.fields.items()]

    def key_description(self) -> dict:
        pk = self.schema.primary_key if self.schema else None
        return {"inbound": None if pk is None else not self.schema.outbound,
                "auto": bool(pk and pk.auto), "compound": bool(pk and pk.compound),
                "paths": list(pk.paths) if pk else [], "spec": pk.src if pk else None,
                "kinds": dict(self.key_kinds)}

    def finish(self) -> None:
        self._mixed(self.shape, "")
        problem = table_name_problem(self.name)
        if problem:
            self.flag("name", "(table)", f"table name must change: {problem}", None)

    def _mixed(self, shape: Shape, path: str) -> None:
        """Flag every path whose values had more than one non-null kind."""
        real = [k for k in shape.kinds if k not in ("null", "undefined")]
        if len(real) > 1 and path:
            entry = self.anomalies.setdefault(("mixed-types", path, ""), Anomaly(
                "mixed-types", path, "mixed types: " + ", ".join(f"{k} ({shape.kinds[k]})" for k in real)))
            entry.count = sum(shape.kinds[k] for k in real)
        for name, (_present, sub, _) in shape.fields.items():
            self._mixed(sub, f"{path}.{name}" if path else name)
        for attr, suffix in (("items", "[]"), ("collapsed", ".*"), ("map_keys", "<key>"), ("map_values", "<value>")):
            sub = getattr(shape, attr)
            if sub is not None:
                self._mixed(sub, (path + suffix) if path else suffix.lstrip("."))


class _Walker:
    """Walks one row: updates shapes, sizes and anomalies in a single pass."""

    def __init__(self, table: TableProfile, key: Any):
        self.t, self.key = table, key
        self.flagged: set = set()

    def flag(self, kind: str, path: str, message: str) -> None:
        """Count each anomaly once per row."""
        if (kind, path, message) not in self.flagged:
            self.flagged.add((kind, path, message))
            self.t.flag(kind, path, message, self.key)

    def walk(self, value: Any, shape: Shape, path: str, depth: int, top: bool = False) -> int:
        kind = value_kind(value)
        shape.kinds[kind] += 1
        if depth == MAX_DEPTH + 1 and kind in ("array", "set", "map", "object", "regexp"):   # scalars do not nest
            self.flag("unsupported-value", path, f"nesting deeper than {MAX_DEPTH} levels")
        if kind == "string":
            if value.isascii():
                return 2 + len(value)
            try:
                return 2 + len(value.encode("utf-8"))
            except UnicodeEncodeError:
                self.flag("unsupported-value", path, "string with a lone UTF-16 surrogate")
                return 2 + len(value.encode("utf-8", "surrogatepass"))
        if kind in ("number", "date"):
            return 9
        if kind in ("null", "boolean", "undefined"):
            return 1
        if kind == "bigint":
            if not INT64[0] <= value.value <= INT64[1]:
                self.flag("unsupported-value", path, "bigint outside int64")
            return 9
        if kind in ("blob", "file", "binary"):
            return 2 + len(value.data)
        if kind == "regexp":
            return 2 + 7 + 2 + len(value.source) + 6 + 2 + len(value.flags)
        if kind in ("array", "set"):
            items = value.items if kind == "set" else value
            if len(items) > MAX_ARRAY:
                self.flag("unsupported-value", path, f"array of more than {MAX_ARRAY} elements")
            child = shape.child("items")
            size = 2
            for item in items:
                if item is UNDEFINED:
                    self.flag("unsupported-value", path, "undefined (or a hole) inside an array: stored as null")
                size += self.walk(item, child, path + "[]", depth + 1)
            return size
        if kind == "map":
            keys, values = shape.child("map_keys"), shape.child("map_values")
            size = 2
            for k, v in value.entries:
                size += self.walk(k, keys, path + "<key>", depth + 1) + self.walk(v, values, path + "<value>", depth + 1)
            return size
        if kind == "object":
            return self.walk_object(value, shape, path, depth, top)
        self.flag("unsupported-value", path, f"unknown value type {kind}")
        return 1

    def walk_object(self, value: dict, shape: Shape, path: str, depth: int, top: bool) -> int:
        shape.objects += 1
        if len(value) > MAX_FIELDS:
            self.flag("unsupported-value", path, f"object with more than {MAX_FIELDS} fields")
        limit = MAX_FIELDS if top else MAX_OBJECT_KEYS_TRACKED
        new_keys = value.keys() - shape.fields.keys() if shape.collapsed is None else ()
        if new_keys and ((len(shape.fields) + len(new_keys) > limit)
                         or (not top and not all(_identifier(k) for k in new_keys))):
            shape.collapsed = Shape()
            for _present, s, _problem in shape.fields.values():
                _merge_into(shape.collapsed, s)
            shape.fields = {}
        size = 2
        collapsed = shape.collapsed
        for k, v in value.items():
            if collapsed is not None:
                child, sub = collapsed, (f"{path}.*" if path else "*")
                problem = _name_problem(k, top, False)
            else:
                entry = shape.fields.get(k)
                if entry is None:
                    entry = shape.fields[k] = [0, Shape(), _name_problem(k, top, True)]
                child, sub, problem = entry[1], (f"{path}.{k}" if path else k), entry[2]
                if v is not UNDEFINED:
                    entry[0] += 1
            if problem:
                self.flag("name", sub, f"name must change or be escaped: {problem}")
            if v is UNDEFINED:           # dropped by Convex: the field is optional, not a value
                child.kinds["undefined"] += 1
                continue
            size += len(k) + 1 + self.walk(v, child, sub, depth + 1)
            if top and isinstance(v, (JsBlob, JsFile, JsBinary)):
                current = self.t.max_binary_bytes.get(k, 0)
                if len(v.data) > current:
                    self.t.max_binary_bytes[k] = len(v.data)
        return size


def _merge_into(target: Shape, source: Shape) -> None:
    target.kinds.update(source.kinds)
    target.objects += source.objects
    for k, (present, s, problem) in source.fields.items():
        entry = target.fields.setdefault(k, [0, Shape(), problem])
        entry[0] += present
        _merge_into(entry[1], s)
    for attr in ("items", "map_keys", "map_values", "collapsed"):
        src = getattr(source, attr)
        if src is not None:
            _merge_into(target.child(attr), src)


@dataclass
class DumpProfile:
    path: str
    format: str
    database_name: str | None
    database_version: float | None
    tables: dict[str, TableProfile] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {
            "path": self.path, "format": self.format, "database": self.database_name,
            "databaseVersion": self.database_version,
            "tables": [{
                "name": t.name, "rows": t.rows, "headerRows": t.header_rows,
                "schema": t.schema.spec if t.schema else None,
                "key": t.key_description(),
                "fields": [{"name": n, "present": p, "kinds": dict(k)} for n, p, k in t.fields()],
                "type": describe(t.row_type) if t.row_type else None,
                "largestDocumentBytes": t.largest_document,
                "anomalies": [a.to_json() for a in t.anomalies.values()],
            } for t in self.tables.values()],
        }

    def format_text(self) -> str:
        out = [f"database {self.database_name or '(unnamed)'} ({self.format})"]
        for t in self.tables.values():
            key = t.key_description()
            kind = ("outbound" if key["inbound"] is False else f"inbound {key['spec']}" if key["inbound"] else "unknown")
            kinds = ", ".join(f"{k} {n}" for k, n in t.key_kinds.items()) or "-"
            out.append(f"\n{t.name}: {t.rows} rows; key {kind}"
                       f"{' auto-increment' if key['auto'] else ''}{' compound' if key['compound'] else ''}"
                       f" ({kinds}); largest document ~{t.largest_document} bytes")
            for name, present, kinds in t.fields():
                pct = 100.0 * present / t.rows if t.rows else 0.0
                out.append(f"  {name:<24} {pct:5.1f}%  " + ", ".join(f"{k} {n}" for k, n in kinds.most_common()))
            for a in t.anomalies.values():
                example = f" (e.g. key {a.example_key!r})" if a.example_key is not None else ""
                out.append(f"  ! {a.kind}: {a.path}: {a.message}: {a.count} rows{example}")
        return "\n".join(out)


def _inbound(dump, name: str) -> bool:
    """Are the rows of table `name` inbound (the data says so, or else its schema)?"""
    table = next((t for t in dump.tables if t.name == name), None)
    if table is None:
        return False
    if table.inbound is not None:
        return table.inbound
    return table.schema is not None and not table.schema.outbound


def profile_dump(dump) -> DumpProfile:
    """Profile every row of an open `Dump` (one pass)."""
    profile = DumpProfile(path=str(dump.path), format=dump.format, database_name=dump.database_name,
                          database_version=dump.database_version)
    for t in dump.tables:
        profile.tables[t.name] = TableProfile(t.name, t.schema, t.row_count)
    for row in dump.rows():
        t = profile.tables.get(row.table)
        if t is None:
            t = profile.tables[row.table] = TableProfile(row.table, None, None)
        t.rows += 1
        if row.key is not None:
            t.key_kinds["array" if isinstance(row.key, tuple) else value_kind(row.key)] += 1
        walker = _Walker(t, row.key)
        size = walker.walk(row.value, t.shape, "", 1, top=True) + SYSTEM_FIELDS_SIZE
        if not isinstance(row.value, dict):      # outbound value that is not an object: wrapped
            size += len("value") + 3
        if t.schema is not None and t.schema.outbound and row.key is not None:
            size += len("key") + 1 + _Walker(t, row.key).walk(row.key, Shape(), "(key)", 2)
        if size > t.largest_document:
            t.largest_document = size
        if not isinstance(row.value, dict) and _inbound(dump, row.table):
            t.flag("row-not-object", "(row)", f"{value_kind(row.value)} rows in an inbound table, whose rows must be "
                                              f"objects (the import rejects them): set `wrapValue` for table "
                                              f"{row.table!r} in the mapping, and declare that field, to store each "
                                              "row whole in it", row.index if row.key is None else row.key)
        if size > DOCUMENT_LIMIT:
            t.flag("document-size", "(row)", "the document would be over Convex's 1 MiB limit "
                                             "(large Blobs can go to file storage)", row.key)
    for t in dump.tables:
        if t.name in profile.tables:
            profile.tables[t.name].inbound = t.inbound
    for t in profile.tables.values():
        t.finish()
    return profile
