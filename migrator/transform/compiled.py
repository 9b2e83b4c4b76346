"""Per-table transforms built once from the plan: revived row -> checked, Convex-encoded document.

Each validator of a table becomes a closure chosen for its kind (and its place: nesting
depth, top level or not) that converts a value as `Converter.convert` does, checks it as
`check_document` does (validator, field names, nesting, array and field counts, valid
Unicode, 1 MiB) and returns its Convex-encoded form and Convex size in one pass, with no
per-value dispatch on the validator. Only `v.any()` values are walked by their own type.

A closure that meets what its validator does not predict (a wrong type, an unknown or
missing field, a limit crossed, a shape only the generic rules settle, such as a Map where
an object is planned) raises `Unpredicted`; the row then goes through `prepare_generic`,
which gives the document or the reject with its reasons. Correctness rests on one rule,
which tests/test_transform_differential.py checks: a closure returns only what the generic
path would return for the same value, and raises otherwise.
"""

from __future__ import annotations

from typing import Any, Callable

from ..convex_names import (DOCUMENT_LIMIT, MAX_ARRAY, MAX_DEPTH, MAX_FIELD_NAME, MAX_FIELDS, SYSTEM_FIELDS_SIZE,
                            field_name_problem)
from ..jsvalues import UNDEFINED, JsBigInt, JsBinary, JsBlob, JsDate, JsFile, JsMap, JsSet
from ..plan.model import DatabasePlan, TablePlan
from ..plan.validators import Validator
from ..sinks.wire import encode, encode_bytes, encode_float, encode_int64
from .prepared import PreparedRow, TableRules, prepare_generic, ready_row
from .typed import typed_tables
from .values import INT64_MAX, INT64_MIN, BlobToStore, Converter, ValueRejected, encode_key, escape_record_key, iso_from_ms

Node = Callable[[Any], tuple]        # value -> (Convex-encoded value, Convex size)
STORAGE_ID_SIZE = 2 + 32
BINARY = (JsBlob, JsFile, JsBinary)


class Unpredicted(Exception):
    """The value is not what the plan predicts: the generic path decides (and explains)."""


def _string(v: str) -> tuple:
    if v.isascii():
        return v, 2 + len(v)
    try:
        return v, 2 + len(v.encode("utf-8"))
    except UnicodeEncodeError:
        raise Unpredicted from None


def _record_key(k: Any) -> str:
    """A record key as `Converter._record` escapes it, when it is a valid field name after that."""
    if type(k) is not str:
        raise Unpredicted
    if k.isascii():
        key = k if k.isprintable() and "%" not in k and k[:1] != "$" else escape_record_key(k)
    else:
        _string(k)
        key = escape_record_key(k)
    if not key or len(key) > MAX_FIELD_NAME:
        raise Unpredicted
    return key


class _Compiler:
    """Builds the closures for one converter's options (dates as ms or ISO)."""

    def __init__(self, converter: Converter):
        self.ms_dates = converter.dates == "ms"
        self.cache: dict[tuple, Node] = {}

    # -- scalar values as `Converter.generic` converts them ------------------------------
    def scalar(self, v: Any) -> Any:
        """The Python value `generic` makes of a non-container value."""
        t = type(v)
        if t is str:
            _string(v)
            return v
        if t is float or t is bool or v is None:
            return v
        if t is int:
            return float(v)
        if t is JsDate:
            return self.date(v)
        if t is JsBigInt:
            if not INT64_MIN <= v.value <= INT64_MAX:
                raise Unpredicted
            return v.value
        if t in BINARY:
            return v.data
        raise Unpredicted

    def date(self, v: JsDate) -> Any:
        if self.ms_dates:
            return float(v.ms)
        try:
            return iso_from_ms(v.ms, "")
        except ValueRejected:
            raise Unpredicted from None

    def any_value(self, v: Any, depth: int) -> tuple:
        """`v.any()`: converted by the value's own type, limits checked, encoded and sized."""
        t = type(v)
        if t is str:
            return _string(v)
        if t is float:
            return encode_float(v), 9
        if t is int:
            return encode_float(float(v)), 9
        if t is bool or v is None:
            return v, 1
        if t is dict:
            if depth > MAX_DEPTH:
                raise Unpredicted
            out, size = {}, 2
            for k, item in v.items():
                if item is UNDEFINED:
                    continue
                key = _record_key(k)
                if key in out:
                    raise Unpredicted
                out[key], s = self.any_value(item, depth + 1)
                size += len(key) + 1 + s
            if len(out) > MAX_FIELDS:
                raise Unpredicted
            return out, size
        if t is list or t is JsSet:
            items = v if t is list else v.items
            if depth > MAX_DEPTH or len(items) > MAX_ARRAY:
                raise Unpredicted
            out, size = [], 2
            for item in items:
                w, s = (None, 1) if item is UNDEFINED else self.any_value(item, depth + 1)
                out.append(w)
                size += s
            return out, size
        return self.scalar_wire(self.scalar(v))

    @staticmethod
    def scalar_wire(x: Any) -> tuple:
        """A converted scalar's encoded form and size."""
        t = type(x)
        if t is str:
            return x, 2 + len(x.encode("utf-8"))
        if t is float:
            return encode_float(x), 9
        if t is int:
            return encode_int64(x), 9
        if t is bytes:
            return encode_bytes(x), 2 + len(x)
        return x, 1

    # -- predicates: does a converted scalar match a validator (as `_Checker.check` says) --
    def matches(self, val: Validator) -> Callable[[Any], bool]:
        kind = val.kind
        if kind == "optional":
            return self.matches(val.args[0])
        if kind == "any":
            return lambda x: True
        if kind == "string":
            return lambda x: type(x) is str
        if kind in ("number", "float64"):
            return lambda x: type(x) is float
        if kind == "int64":
            return lambda x: type(x) is int
        if kind == "boolean":
            return lambda x: type(x) is bool
        if kind == "null":
            return lambda x: x is None
        if kind == "bytes":
            return lambda x: type(x) is bytes
        if kind == "literal":
            lit = val.args[0]
            if isinstance(lit, (bool, str)):
                return lambda x: type(x) is type(lit) and x == lit
            return lambda x: type(x) is float and x == lit
        if kind == "id":
            return lambda x: type(x) is str and 0 < len(x) <= 128 and x.isascii() and x.isprintable()
        if kind == "union":
            members = [self.matches(m) for m in val.args]
            return lambda x: any(m(x) for m in members)
        return lambda x: False                 # containers: a scalar never matches

    # -- closures per validator ----------------------------------------------------------
    def node(self, val: Validator, depth: int, top: bool) -> Node:
        """`depth`: the nesting level of the value (a document field is 2); `top`: a document field."""
        cache_key = (val, depth, top)
        built = self.cache.get(cache_key)
        if built is None:
            built = self.cache[cache_key] = self._build(val, depth, top)
        return built

    def _build(self, val: Validator, depth: int, top: bool) -> Node:
        kind = val.kind
        if kind == "optional":
            return self.node(val.args[0], depth, top)
        if kind == "any":
            return lambda v: self.any_value(v, depth)
        if kind in ("object", "array", "record", "union"):
            return getattr(self, f"_{kind}")(val, depth, top)
        if kind == "id" and val.args[0] == "_storage" and top:
            return self._storage(self.matches(val))
        return self._scalar(val)

    def _scalar(self, val: Validator) -> Node:
        kind = val.kind
        if kind == "string":
            ms_dates, date = self.ms_dates, self.date

            def string(v):
                if type(v) is str:
                    return (v, 2 + len(v)) if v.isascii() else _string(v)
                if type(v) is JsDate and not ms_dates:
                    return _string(date(v))
                raise Unpredicted
            return string
        if kind in ("number", "float64"):
            ms_dates = self.ms_dates

            def number(v):
                t = type(v)
                if t is float:
                    x = v
                elif t is int:
                    x = float(v)
                elif t is JsDate and ms_dates:
                    x = float(v.ms)
                else:
                    raise Unpredicted
                return (x, 9) if x and x - x == 0.0 else (encode_float(x), 9)   # finite, non-zero: as is
            return number
        if kind == "boolean":
            def boolean(v):
                if type(v) is bool:
                    return v, 1
                raise Unpredicted
            return boolean
        if kind == "null":
            def null(v):
                if v is None:
                    return None, 1
                raise Unpredicted
            return null
        if kind == "int64":
            def int64(v):
                if type(v) is JsBigInt and INT64_MIN <= v.value <= INT64_MAX:
                    return encode_int64(v.value), 9
                raise Unpredicted
            return int64
        if kind == "bytes":
            def binary(v):
                if type(v) in BINARY:
                    return encode_bytes(v.data), 2 + len(v.data)
                raise Unpredicted
            return binary
        if kind == "id":
            def id_string(v):
                if type(v) is str and 0 < len(v) <= 128 and v.isascii() and v.isprintable():
                    return v, 2 + len(v)
                raise Unpredicted
            return id_string
        match, scalar, wire = self.matches(val), self.scalar, self.scalar_wire

        def other(v):          # literals (a Date may equal one), unknown kinds: convert by type, then check
            x = scalar(v)
            if not match(x):
                raise Unpredicted
            return wire(x)
        return other

    def _storage(self, match: Callable[[Any], bool]) -> Node:
        """`v.id("_storage")` as a document field: a Blob becomes a placeholder for the upload."""
        scalar, wire = self.scalar, self.scalar_wire

        def storage(v):
            if type(v) is JsBlob or type(v) is JsFile:
                return BlobToStore(v.data, v.mime), STORAGE_ID_SIZE
            x = scalar(v)
            if not match(x):
                raise Unpredicted
            return wire(x)
        return storage

    def _object(self, val: Validator, depth: int, top: bool) -> Node:
        fields = val.fields
        nodes = {name: (self.node(sub, depth + 1, False), len(name.encode("utf-8")) + 1)
                 for name, sub in fields.items()
                 if not field_name_problem(name, top_level=False, in_object_validator=False)}
        required = [name for name, sub in fields.items() if not sub.is_optional]
        too_deep = depth > MAX_DEPTH

        def obj(v):
            if type(v) is not dict or too_deep:
                raise Unpredicted
            out, size = {}, 2
            for k, item in v.items():
                if item is UNDEFINED:
                    continue
                entry = nodes.get(k)
                if entry is None:
                    raise Unpredicted
                out[k], s = entry[0](item)
                size += entry[1] + s
            for name in required:
                if name not in out:
                    raise Unpredicted
            if len(out) > MAX_FIELDS:
                raise Unpredicted
            return out, size
        return obj

    def _array(self, val: Validator, depth: int, top: bool) -> Node:
        item_node = self.node(val.args[0], depth + 1, False)
        too_deep = depth > MAX_DEPTH

        def arr(v):
            t = type(v)
            if t is list or t is tuple:
                items = v
            elif t is JsSet:
                items = v.items
            else:
                raise Unpredicted
            if too_deep or len(items) > MAX_ARRAY:
                raise Unpredicted
            out, size = [], 2
            for item in items:
                w, s = item_node(None if item is UNDEFINED else item)
                out.append(w)
                size += s
            return out, size
        return arr

    def _record(self, val: Validator, depth: int, top: bool) -> Node:
        key_val, item_node = val.args[0], self.node(val.args[1], depth + 1, False)
        key_match = None if key_val.kind in ("string", "any") else self.matches(key_val)
        too_deep = depth > MAX_DEPTH

        def rec(v):
            t = type(v)
            if t is dict:
                entries = v.items()
            elif t is JsMap:
                entries = v.entries
            else:
                raise Unpredicted
            if too_deep:
                raise Unpredicted
            out, size = {}, 2
            for k, item in entries:
                if item is UNDEFINED:
                    continue
                key = _record_key(k)
                if key in out or (key_match is not None and not key_match(key)):
                    raise Unpredicted
                out[key], s = item_node(item)
                size += len(key) + 1 + s
            if len(out) > MAX_FIELDS:
                raise Unpredicted
            return out, size
        return rec

    def _union(self, val: Validator, depth: int, top: bool) -> Node:
        """The member `Converter._union` picks by the value's shape; scalars by their own type."""
        members = val.args
        objects = [(m, self.node(m, depth, top), set(m.fields), {k for k, f in m.fields.items() if not f.is_optional})
                   for m in members if m.kind == "object"]
        first = {kind: next((self.node(m, depth, top) for m in members if m.kind == kind), None)
                 for kind in ("record", "array")}
        any_member = next((self.node(m, depth, top) for m in members if m.kind == "any"), None)
        blob = next((self.node(m, depth, top) for m in members if m.kind == "id" and m.args[0] == "_storage"), None)
        dict_fallback = first["record"] or (objects[0][1] if objects else None) or any_member
        array_node = first["array"] or any_member
        match, scalar, wire = self.matches(val), self.scalar, self.scalar_wire

        def union(v):
            t = type(v)
            if t is dict:
                keys = {k for k, x in v.items() if x is not UNDEFINED}
                for _, node, names, required in objects:
                    if keys <= names and required <= keys:
                        return node(v)
                if dict_fallback is None:
                    raise Unpredicted
                return dict_fallback(v)
            if t is list or t is tuple or t is JsSet:
                if array_node is None:
                    raise Unpredicted
                return array_node(v)
            if (t is JsBlob or t is JsFile) and blob is not None:
                return blob(v)
            if t is JsMap:
                raise Unpredicted
            x = scalar(v)
            if not match(x):
                raise Unpredicted
            return wire(x)
        return union


class TableTransform:
    """One table's compiled transform: `prepare(key, value)` -> PreparedRow, or raises as the
    generic path does (ValueRejected with its reasons, or WireError)."""

    def __init__(self, rules: TableRules, converter: Converter, compiler: _Compiler):
        self.rules, self.converter = rules, converter
        self.fast = self._compile(rules.plan, rules, compiler)

    def prepare(self, key: Any, value: Any) -> PreparedRow:
        try:
            return self.fast(key, value)
        except (Unpredicted, ValueError):       # ValueError: the generic path words the reject
            return prepare_generic(self.rules, key, value, self.converter)

    def _compile(self, plan: TablePlan, rules: TableRules, compiler: _Compiler) -> Callable[[Any, Any], PreparedRow]:
        validators = plan.document_validator()
        names = [f.name for f in plan.fields]
        key_plan = plan.key
        key_field = key_plan.field if key_plan else None
        fields: dict[str, tuple] = {}        # Dexie property -> (Convex field, its closure, size of its name)
        references: dict[str, object] = {}   # Dexie property -> its FieldPlan (converted by `Converter.reference`)
        key_sources: dict[str, Node] = {}    # Dexie property -> closure, for the field the key then replaces
        for f in plan.fields:
            if f.source is None:
                continue
            if f.name in rules.unchecked:
                references[f.source] = f
            elif field_name_problem(f.name, top_level=True, in_object_validator=False) is None:
                node = compiler.node(f.validator, 2, True)
                if f.name == key_field:
                    key_sources[f.source] = node
                else:
                    fields[f.source] = (f.name, node, len(f.name.encode("utf-8")) + 1)
        required = [n for n, val in rules.checked_fields.items() if not val.is_optional]
        key_val = rules.checked_fields.get(key_field) if key_plan else None
        key_match = compiler.matches(key_val) if key_val is not None else None
        key_cost = len(key_field.encode("utf-8")) + 1 if key_field else 0
        wrap = plan.wrap_value
        wrap_entry = None
        if wrap and wrap not in rules.unchecked and wrap in validators \
                and field_name_problem(wrap, top_level=True, in_object_validator=False) is None:
            wrap_entry = (compiler.node(validators[wrap], 2, True), len(wrap.encode("utf-8")) + 1)
        broken = (len(set(names)) != len(names) or (key_plan is not None and key_match is None)
                  or (wrap is not None and wrap_entry is None)
                  or (key_field is not None and field_name_problem(key_field, top_level=True,
                                                                   in_object_validator=False) is not None))
        converter, table = self.converter, plan.table
        wire_scalar = compiler.scalar_wire

        def prepare(key: Any, value: Any) -> PreparedRow:
            if broken:
                raise Unpredicted
            doc: dict[str, Any] = {}
            size = 2
            if wrap_entry is not None:
                if value is not UNDEFINED:
                    doc[wrap], s = wrap_entry[0](value)
                    size += wrap_entry[1] + s
            else:
                if type(value) is not dict:
                    raise Unpredicted
                for name, item in value.items():
                    if item is UNDEFINED:
                        continue
                    entry = fields.get(name)
                    if entry is not None:
                        doc[entry[0]], s = entry[1](item)
                        size += entry[2] + s
                    elif name in references:
                        fp = references[name]
                        doc[fp.name] = encode(converter.reference(item, fp.validator, fp.references, fp.name))
                    elif name in key_sources:
                        key_sources[name](item)    # converted (and refused) as the generic path does, then replaced
                        doc[key_field] = None
                    else:
                        raise Unpredicted
            encoded_key = None
            if key_plan is not None:
                python_key = encode_key(key, key_plan.encoding)
                if not key_match(python_key):
                    raise Unpredicted
                encoded_key, s = wire_scalar(python_key)
                doc[key_field] = encoded_key
                size += key_cost + s
            for name in required:
                if name not in doc:
                    raise Unpredicted
            if len(doc) > MAX_FIELDS or size + SYSTEM_FIELDS_SIZE > DOCUMENT_LIMIT:
                raise Unpredicted
            return ready_row(table, encoded_key, doc, size, rules)
        return prepare


class Transforms:
    """Every mapped table's compiled transform, built once per plan, and `typed`: the tables
    whose rows can also be read and transformed from their text in C (`typed.py`)."""

    def __init__(self, plan: DatabasePlan):
        self.converter = Converter.for_plan(plan)
        compiler = _Compiler(self.converter)
        self.tables = {t.source: TableTransform(TableRules.of(t, self.converter, plan.options.owner_field),
                                                self.converter, compiler) for t in plan.mapped_tables()}
        self.typed = typed_tables({s: t.rules for s, t in self.tables.items()}, self.converter.dates == "ms")

    def prepare(self, table: TablePlan, key: Any, value: Any) -> PreparedRow:
        return self.tables[table.source].prepare(key, value)
