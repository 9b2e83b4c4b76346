"""The diff between an existing schema.ts and what the plan would generate, as data.

"old" is the existing file, "new" is what `generate` would write. Each change says whether
it breaks existing documents or app code, and why; widening never does.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from ..plan.validators import Validator
from .schema_reader import SchemaFile, SchemaTable
from .widening import accepts, equivalent, lost_values

KEPT_BY_MERGE = "`generate --force` drops it, `generate --merge` keeps it as written"


@dataclass(frozen=True)
class Change:
    kind: str              # table-added, field-changed, index-removed, ... (see `compare_schemas`)
    table: str
    name: str | None = None        # the field or index
    old: str | None = None         # validator / index fields / source text in the existing file
    new: str | None = None         # ... in what the plan would generate
    breaking: bool = False
    why: str | None = None

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class NotCarriedOver:
    """A Dexie feature with no Convex equivalent, and what the plan does about it."""

    feature: str           # primary key | unique index | multiEntry index | .upgrade()
    database: str
    dexie_table: str | None
    spec: str              # as written in Dexie (`&email`, `*tags`, `++id`), or where the .upgrade() is
    handling: str

    def to_json(self) -> dict:
        return {"feature": self.feature, "database": self.database, "dexieTable": self.dexie_table,
                "spec": self.spec, "handling": self.handling}


@dataclass
class SchemaDiff:
    against: str | None                      # the existing schema.ts, None for the empty schema
    changes: list[Change] = field(default_factory=list)
    not_carried_over: list[NotCarriedOver] = field(default_factory=list)

    @property
    def differs(self) -> bool:
        return bool(self.changes)

    @property
    def breaking(self) -> list[Change]:
        return [c for c in self.changes if c.breaking]

    def to_json(self) -> dict:
        return {"against": self.against, "differences": len(self.changes), "breaking": len(self.breaking),
                "changes": [c.to_json() for c in self.changes],
                "notCarriedOver": [n.to_json() for n in self.not_carried_over]}


def _index_text(fields: list[str]) -> str:
    return json.dumps(fields)


def compare_schemas(old: SchemaFile, new: SchemaFile) -> list[Change]:
    """Every change from `old` (the existing file) to `new` (the plan's schema), table by table."""
    changes: list[Change] = []
    if old.options is not None:
        changes.append(Change("schema-options-removed", "(defineSchema options)", old=old.options,
                              why="the generated schema sets no options (Convex defaults apply); " + KEPT_BY_MERGE))
    for entry in old.unread:
        changes.append(Change("entry-not-understood", entry.text, old=entry.text, breaking=True,
                              why=f"{entry.location}: cannot tell statically which tables it defines; "
                                  + KEPT_BY_MERGE))
    for name in list(old.tables) + [n for n in new.tables if n not in old.tables]:
        before, after = old.tables.get(name), new.tables.get(name)
        if before is None:
            changes.append(Change("table-added", name, new=after.document.to_ts()))
        elif after is None:
            changes.append(Change("table-removed", name, old=before.document.to_ts() if before.document else None,
                                  breaking=True,
                                  why="dropping it loses its documents and breaks the app code using it; "
                                  + KEPT_BY_MERGE
                                  + (f" (not understood: {before.problem})" if before.problem else "")))
        elif before.problem:
            changes.append(Change("table-not-understood", name, new=after.document.to_ts(), breaking=True,
                                  why=f"{before.problem}; the existing table cannot be compared"))
        else:
            changes.extend(_table_changes(name, before, after))
    return changes


def _table_changes(table: str, old: SchemaTable, new: SchemaTable) -> list[Change]:
    changes: list[Change] = []
    if old.fields is None or new.fields is None:
        if not equivalent(old.document, new.document):
            ok = accepts(new.document, old.document)
            changes.append(Change("document-changed", table, old=old.document.to_ts(), new=new.document.to_ts(),
                                  breaking=not ok, why="widened" if ok else _narrowed(new.document, old.document)))
    else:
        changes.extend(_field_changes(table, old.fields, new.fields))
    for name in list(old.indexes) + [n for n in new.indexes if n not in old.indexes]:
        before, after = old.indexes.get(name), new.indexes.get(name)
        if before is None:
            changes.append(Change("index-added", table, name, new=_index_text(after)))
        elif after is None:
            changes.append(Change("index-removed", table, name, old=_index_text(before), breaking=True,
                                  why=f"queries using withIndex({json.dumps(name)}) fail"))
        elif before != after:
            changes.append(Change("index-changed", table, name, old=_index_text(before), new=_index_text(after),
                                  breaking=True,
                                  why=f"queries using withIndex({json.dumps(name)}) name the old fields"))
    for kept in old.verbatim_indexes:
        kind = "search-index-removed" if kept.method == "searchIndex" else "vector-index-removed"
        changes.append(Change(kind, table, kept.name, old=kept.text.strip(), breaking=True,
                              why="the plan makes no search or vector indexes: " + KEPT_BY_MERGE))
    return changes


def _field_changes(table: str, old: dict[str, Validator], new: dict[str, Validator]) -> list[Change]:
    changes: list[Change] = []
    for name in list(old) + [n for n in new if n not in old]:
        before, after = old.get(name), new.get(name)
        if before is None:
            changes.append(Change("field-added", table, name, new=after.to_ts(), breaking=not after.is_optional,
                                  why=None if after.is_optional else
                                  "added as required: existing documents do not have it"))
        elif after is None:
            changes.append(Change("field-removed", table, name, old=before.to_ts(), breaking=True,
                                  why="documents holding it fail schema validation, app code using it breaks"))
        elif equivalent(before.required, after.required):
            if before.is_optional != after.is_optional:
                changes.append(Change("field-optionality", table, name, old=before.to_ts(), new=after.to_ts(),
                                      breaking=before.is_optional,
                                      why="turned required: existing documents without it fail validation"
                                      if before.is_optional else "made optional: widening, but readers must "
                                      "handle a missing value"))
        else:
            ok = accepts(after, before)
            changes.append(Change("field-changed", table, name, old=before.to_ts(), new=after.to_ts(),
                                  breaking=not ok, why="widened" if ok else _narrowed(after, before)))
    return changes


def _narrowed(new: Validator, old: Validator) -> str:
    reasons = []
    if old.is_optional and not new.is_optional:
        reasons.append("turned required")
    lost = lost_values(new, old)
    if lost:
        reasons.append("type narrowed: no longer accepts " + ", ".join(v.to_ts() for v in lost))
    return "; ".join(reasons) or "type narrowed"
