"""Rows read and transformed in C: each table's plan as a msgspec `Struct`, decoded straight
from the row's JSON text and encoded once as the Convex document.

The compiled transforms (`compiled.py`) still build every row in Python: orjson parses it into
dicts, typeson revival walks it, the closures walk it again. For a table whose plan is in the
subset below, `TypedTable` does all of that inside msgspec's C decoder: the Struct refuses
unknown fields, a missing required field, a value of the wrong JSON type, an array over
Convex's 8192 elements, and the encoder writes the document. Anything it does not settle
(a refused row, a `$types` entry other than a top-level Date, a negative zero, a document
that might be near 1 MiB) makes it return None, and the row takes the usual path, which
stays the reference: `tests/test_transform_typed.py` checks, over generated rows and every
fixture, that a settled row's key, document, side rows and size agree with it.

The subset: inbound tables keyed by one top-level property (number or string keys), whose
mapped fields keep their Dexie names, with validators built from string, number, boolean,
null, optional, array, object and unions of those (at most one object member), no
references, Dates converted to epoch ms. Two differences, both invisible to Convex:
documents list their fields in the plan's order, not the row's (a Convex object is a map
sorted by field name), and `convex_size` is an upper bound (9 bytes of Convex size per byte
of JSON at most; only rows whose bound is under the limit are settled here, and the dry
run measures a document again when a bound is not enough to clear it).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Union

import msgspec
from msgspec import UNSET

from ..convex_names import DOCUMENT_LIMIT, MAX_ARRAY, MAX_DEPTH, MAX_FIELDS, SYSTEM_FIELDS_SIZE, field_name_problem
from ..plan.validators import Validator
from .prepared import REQUEST_OVERHEAD, PreparedRow, TableRules

SIZE_PER_JSON_BYTE = 9          # a JSON number of one digit is 9 bytes of Convex size; nothing costs more
# Every float that is -0 (`-0.0`, `-0e5`, `-1e-400`: a negative number too small for a double)
# comes out of msgspec's encoder as `-0.0` before a `,`, `}` or `]`; Convex needs it encoded
# apart ({"$float": ...}), as the usual path sends it. Looked for only where `-0.0` appears at all
# (msgspec writes -3e-05 as `-0.00003`); the same text in a string just takes the usual path.
_NEGATIVE_ZERO = re.compile(rb"-0\.0(?=[,}\]])")
# gc=False: decoded JSON holds no reference cycles, so the collector need not track the Structs
_STRUCT = dict(kw_only=True, forbid_unknown_fields=True, omit_defaults=True, gc=False)
_NEVER = Annotated[str, msgspec.Meta(min_length=1, max_length=0)]     # a type no JSON value has
_SCALARS = {"string": str, "number": float, "float64": float, "boolean": bool, "null": type(None)}


class NotTyped(Exception):
    """The plan has something the Struct cannot express exactly: the table is not typed."""


class _Types:
    """Builds the Struct types of one table; names each generated Struct after its path."""

    def __init__(self, table: str):
        self.table = table

    def of(self, val: Validator, depth: int, path: str) -> Any:
        """The annotation for a value at `depth` (a document field is 2), as Convex checks it."""
        kind = val.kind
        if kind in _SCALARS:
            return _SCALARS[kind]
        if kind == "array":
            if depth > MAX_DEPTH:
                raise NotTyped
            return Annotated[list[self.of(val.args[0], depth + 1, path + "[]")], msgspec.Meta(max_length=MAX_ARRAY)]
        if kind == "object":
            if depth > MAX_DEPTH:
                raise NotTyped
            return self.struct(val.fields, depth + 1, path)
        if kind == "union":
            members = [self.of(m, depth, path) for m in val.args]
            if sum(1 for m in val.args if m.kind == "object") > 1 or sum(1 for m in val.args if m.kind == "array") > 1:
                raise NotTyped              # msgspec tells members apart by JSON type only
            return Union[tuple(members)]
        raise NotTyped                      # any, record, literal, id, int64, bytes: the compiled path's

    def struct(self, fields: dict[str, Validator], depth: int, path: str,
               top: dict[str, Any] | None = None) -> type:
        """A Struct of `fields` (Convex names = JSON names); `top`: extra top-level fields."""
        if len(fields) > MAX_FIELDS:
            raise NotTyped
        specs, rename = [], {}
        for number, (name, val) in enumerate(fields.items()):
            if field_name_problem(name, top_level=top is not None, in_object_validator=False) is not None:
                raise NotTyped
            attr = f"f{number}"
            rename[attr] = name
            if not val.is_optional:
                specs.append((attr, self.of(val, depth, f"{path}.{name}")))
                continue
            try:
                annotation = self.of(val.args[0], depth, f"{path}.{name}")
            except NotTyped:
                if top is None:
                    raise
                annotation = _NEVER             # not expressible, but optional: a row that has it is not settled
            specs.append((attr, Union[annotation, msgspec.UnsetType], UNSET))
        for attr, (name, annotation, default) in (top or {}).items():
            rename[attr] = name
            specs.append((attr, annotation, default))
        return msgspec.defstruct(f"{self.table}{path}".replace(".", "_"), specs, rename=rename, **_STRUCT)


def _keeps(val: Validator | None, encoding: str) -> bool:
    """Is the key field planned as the key encoding stores it (so the key needs no check)?"""
    kind = None if val is None else val.kind
    return kind == "string" if encoding == "string" else kind in ("number", "float64")


def _scalars_only(val: Validator) -> bool:
    """A multiEntry field whose elements are scalars (its side rows are those values)."""
    val = val.args[0] if val.is_optional else val
    if val.kind == "array":
        val = val.args[0]
    return val.kind in _SCALARS or val.kind == "union" and all(m.kind in _SCALARS for m in val.args)


def _strings(val: Validator | None) -> bool:
    """A multiEntry field that is always an array of strings."""
    val = val.args[0] if val is not None and val.is_optional else val
    return val is not None and val.kind == "array" and val.args[0].kind == "string"


def _is_number(val: Validator) -> bool:
    val = val.args[0] if val.is_optional else val
    return val.kind in ("number", "float64") or (val.kind == "union" and any(_is_number(m) for m in val.args))


class TypedTable:
    """`text -> (key, PreparedRow)` for one table, or None when the row needs the usual path.
    `key_path`: the top-level property the dump's key is read from (the reader checks it is
    the dump's own key path)."""

    def __init__(self, rules: TableRules, ms_dates: bool):
        plan, key = rules.plan, rules.plan.key
        if (key is None or key.outbound or key.paths != [key.field] or plan.wrap_value
                or not any(f.source == f.name == key.field for f in plan.fields)
                or not _keeps(rules.checked_fields.get(key.field), key.encoding)
                or field_name_problem(key.field, top_level=True, in_object_validator=False) is not None):
            raise NotTyped
        fields: dict[str, Validator] = {}
        for f in plan.fields:
            if f.source is None and f.name in rules.unchecked:
                continue                    # the owner field: the deployment adds it
            if f.source != f.name or f.references or f.name in rules.unchecked or f.name in fields:
                raise NotTyped              # renamed, a reference, a field the import adds, twice
            if f.name != key.field:
                fields[f.name] = f.validator
        attrs = {name: f"f{n}" for n, name in enumerate(fields)}
        self._sides = [(m.field, m.table, attrs.get(m.field), _strings(fields.get(m.field)))
                       for m in plan.multi_entry if m.strategy == "side-table"]
        if any(attr is None or not _scalars_only(fields[name]) for name, _, attr, _ in self._sides):
            raise NotTyped                  # a dotted path, the key field, elements that are objects
        # `$types` as a Struct too: it may name only top-level Dates of fields planned as numbers
        # (kept as their epoch ms); any other entry makes the row the usual path's
        dates = [name for name, val in fields.items() if ms_dates and _is_number(val)]
        date_types = msgspec.defstruct(f"{plan.table}_types", [
            (f"d{n}", Union[Literal["date"], msgspec.UnsetType], UNSET) for n in range(len(dates))],
            rename={f"d{n}": name for n, name in enumerate(dates)}, **_STRUCT)
        self._no_dates = date_types()       # `$types: {}`, which the usual path reads
        # optional Date fields (`$types` attribute, row attribute): a Date named where there is no value
        self._dates_optional = [(f"d{n}", attrs[name]) for n, name in enumerate(dates) if fields[name].is_optional]
        types = _Types(plan.table)
        try:
            struct = types.struct(fields, 2, "", top={
                "k": (key.field, Union[int, float] if key.encoding == "number" else str, msgspec.NODEFAULT),
                "t": ("$types", Union[date_types, msgspec.UnsetType], UNSET)})
            self._decode = msgspec.json.Decoder(struct).decode
        except TypeError:                   # a union msgspec cannot tell apart
            raise NotTyped from None
        self._encode = msgspec.json.Encoder().encode
        self.key_path = key.field
        self._number_key = key.encoding == "number"
        self._rules, self._table = rules, plan.table
        self._largest = (DOCUMENT_LIMIT - SYSTEM_FIELDS_SIZE) // SIZE_PER_JSON_BYTE   # JSON bytes whose bound fits

    def __call__(self, text: str) -> tuple[Any, PreparedRow] | None:
        try:
            row = self._decode(text)
        except (msgspec.ValidationError, msgspec.DecodeError):
            return None
        types = row.t
        if types is not UNSET:
            if types == self._no_dates:
                return None
            for named, attr in self._dates_optional:
                if getattr(types, named) is not UNSET and getattr(row, attr) is UNSET:
                    return None             # a Date named where there is no value: revival says why
            row.t = UNSET
        key = row.k
        # As `encode_key` stores a number key: its float, finite and not -0 here (the window leaves
        # integers of 19 digits and more to the scanner, and `_NEGATIVE_ZERO` turned -0 away).
        row.k = stored_key = float(key) if self._number_key else key
        document = self._encode(row)
        # `find`, not `in`: bytes' `in` first tries its operand as an int, an exception each row
        if len(document) > self._largest or document.find(b"-0.0") >= 0 and _NEGATIVE_ZERO.search(document):
            return None                     # maybe near 1 MiB (the usual path measures it exactly), or a -0
        sides = {}
        for name, table, attr, strings in self._sides:
            elements = getattr(row, attr)
            if elements is UNSET:
                continue
            if strings:                     # as `rows.side_rows_of` has them: each distinct string once
                sides[table] = elements if len(elements) < 2 else list(dict.fromkeys(elements))
            else:
                sides.update(self._rules.side_rows({name: elements}))
        size = len(document)
        # PreparedRow(table, key, document, side_rows, request_bytes, convex_size, uploads, document_json)
        return key, PreparedRow(self._table, stored_key, None, sides, size + REQUEST_OVERHEAD,
                                size * SIZE_PER_JSON_BYTE, False, document)


def typed_tables(rules: dict[str, TableRules], ms_dates: bool) -> dict[str, TypedTable]:
    """The tables (by Dexie name) whose rows can be read and transformed in C."""
    typed = {}
    for source, table_rules in rules.items():
        try:
            typed[source] = TypedTable(table_rules, ms_dates)
        except NotTyped:
            pass
    return typed
