"""The mapping plan: how each Dexie table, key, field and index lands in Convex.

A plan is what the mapping file says, resolved and checked. `generate` renders it as
`schema.ts`; the import (later) follows it row by row.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .validators import Validator

DATE_MODES = ("ms", "iso")
MULTI_ENTRY_STRATEGIES = ("side-table", "array-index", "drop")
DEFAULT_BLOB_INLINE_MAX = 256 * 1024


@dataclass
class PlanOptions:
    dates: str = "ms"                          # Date -> epoch ms (v.number()) or ISO string
    blob_inline_max_bytes: int = DEFAULT_BLOB_INLINE_MAX  # larger Blobs go to file storage
    multi_entry: str = "side-table"
    owner_field: str | None = None            # several dumps, one per user: keys scoped per owner

    def to_json(self) -> dict:
        return {"dates": self.dates, "blobInlineMaxBytes": self.blob_inline_max_bytes,
                "multiEntry": self.multi_entry, "ownerField": self.owner_field}


@dataclass
class KeyPlan:
    """Where the original Dexie primary key lives in Convex, and how it is encoded."""

    paths: list[str]           # Dexie key path(s); [] for an outbound key
    outbound: bool
    auto: bool
    field: str                 # Convex field holding the key (top level)
    index: str                 # the index the import upserts through
    encoding: str              # number | string | date-ms | date-iso | bytes | json
    dedicated: bool            # True when `field` was added to hold the key


@dataclass
class FieldPlan:
    source: str | None         # Dexie property name; None for a field the tool adds
    name: str                  # Convex field name
    validator: Validator
    convert: str | None = None # value conversion applied at import (date-ms, blob-storage, ...)
    references: str | None = None  # Dexie table this field refers to (value rewritten to an _id)
    original: Validator | None = None  # with `references`: the type of the original keys (what the file holds)
    notes: list[str] = field(default_factory=list)


@dataclass
class IndexPlan:
    source: str                # the Dexie index as written (`&email`, `[a+b]`), or "(key)"
    name: str
    fields: list[str]          # Convex field paths
    unique: bool = False
    notes: list[str] = field(default_factory=list)


@dataclass
class MultiEntryPlan:
    """A Dexie `*field` index: Convex has no per-element index, so it needs a strategy."""

    source: str                # `*tags`
    field: str                 # the Convex array field
    strategy: str              # side-table | array-index | drop
    table: str | None          # the side table (strategy side-table)
    item: Validator            # one element of the array
    notes: list[str] = field(default_factory=list)


@dataclass
class TablePlan:
    source: str                # Dexie table name
    table: str                 # Convex table name
    key: KeyPlan | None
    fields: list[FieldPlan]
    indexes: list[IndexPlan]
    multi_entry: list[MultiEntryPlan] = field(default_factory=list)
    wrap_value: str | None = None  # outbound non-object values are stored in this field
    skip: bool = False
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def field_named(self, name: str) -> FieldPlan | None:
        return next((f for f in self.fields if f.name == name), None)

    def document_validator(self) -> dict[str, Validator]:
        return {f.name: f.validator for f in self.fields}


@dataclass
class DatabasePlan:
    database: str
    options: PlanOptions
    tables: list[TablePlan]
    references: dict[str, str] = field(default_factory=dict)   # "table.field" -> table
    suggested_references: dict[str, str] = field(default_factory=dict)
    sources: dict[str, list[str]] = field(default_factory=dict)  # dexie: [...], dumps: [...]
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def mapped_tables(self) -> list[TablePlan]:
        return [t for t in self.tables if not t.skip]

    def side_tables(self) -> list[tuple[TablePlan, MultiEntryPlan]]:
        return [(t, m) for t in self.mapped_tables() for m in t.multi_entry if m.strategy == "side-table"]

    def summary_json(self) -> dict:
        """The resolved plan as `plan --json` prints it."""
        tables = []
        for t in self.mapped_tables():
            tables.append({
                "source": t.source,
                "table": t.table,
                "keyField": t.key.field if t.key else None,
                "key": None if t.key is None else {
                    "paths": t.key.paths, "outbound": t.key.outbound, "auto": t.key.auto,
                    "index": t.key.index, "encoding": t.key.encoding, "dedicated": t.key.dedicated},
                "fields": [{"source": f.source, "name": f.name, "validator": f.validator.to_ts(),
                            **({"convert": f.convert} if f.convert else {}),
                            **({"references": f.references} if f.references else {})}
                           for f in t.fields],
                "indexes": [{"name": i.name, "fields": i.fields, "source": i.source, "unique": i.unique}
                            for i in t.indexes],
                "multiEntry": [{"source": m.source, "field": m.field, "strategy": m.strategy,
                                "table": m.table} for m in t.multi_entry],
                "wrapValue": t.wrap_value,
                "notes": t.notes,
                "warnings": t.warnings,
            })
        for parent, m in self.side_tables():
            tables.append({
                "source": f"{parent.source}.{m.source}", "table": m.table, "keyField": None,
                "sideTableOf": parent.table,
                "fields": [{"source": None, "name": n, "validator": v.to_ts()}
                           for n, v in side_table_fields(parent, m).items()],
                "indexes": [{"name": n, "fields": f} for n, f in SIDE_TABLE_INDEXES],
            })
        return {
            "database": self.database,
            "options": self.options.to_json(),
            "tables": tables,
            "skipped": [{"source": t.source, "reason": "; ".join(t.notes)} for t in self.tables if t.skip],
            "references": self.references,
            "suggestedReferences": self.suggested_references,
            "notes": self.notes,
            "warnings": self.warnings,
        }


SIDE_TABLE_INDEXES = (("by_value", ["value"]), ("by_owner", ["owner"]))

# How a key encoding is held in the key field: the key field's validator follows `key.encoding`.
KEY_VALIDATORS = {"number": Validator("number"), "string": Validator("string"), "bytes": Validator("bytes"),
                  "date-ms": Validator("number"), "date-iso": Validator("string"), "json": Validator("string")}
OWNER_VALIDATOR = Validator("string")
KEY_INDEX_SOURCE = "(key)"


def fits_key_encoding(val: Validator, encoding: str) -> bool:
    """A key field's own validator holds the encoded keys: the encoding's validator, or literals of its kind."""
    derived, val = KEY_VALIDATORS[encoding], val.required
    members = val.args if val.kind == "union" else (val,)
    literal_kind = {"number": (int, float), "string": (str,)}.get(encoding)
    return val == derived or bool(literal_kind) and all(
        m.kind == "literal" and isinstance(m.args[0], literal_kind) and not isinstance(m.args[0], bool)
        for m in members)


def key_index(key: KeyPlan, owner_field: str | None) -> IndexPlan:
    """The index the import upserts through: the key field, scoped per owner when there is one."""
    return IndexPlan(source=KEY_INDEX_SOURCE, name=key.index, fields=([owner_field] if owner_field else []) + [key.field],
                     unique=True, notes=["the original Dexie primary key; the import upserts through it"])


def multi_entry_item(fp: FieldPlan | None) -> Validator:
    """One element of a multiEntry field: the item of its array validator (v.any() when unknown)."""
    array = fp.validator.required if fp else Validator("any")
    return array.args[0] if array.kind == "array" else Validator("any")


def default_side_table(table: str, field_path: str) -> str:
    return f"{table}_{field_path.replace('.', '_')}"


def side_table_fields(parent: TablePlan, multi: MultiEntryPlan) -> dict[str, Validator]:
    """A multiEntry side table row: the owning document and one element of its array."""
    return {"owner": Validator.id(parent.table), "value": multi.item}
