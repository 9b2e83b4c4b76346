"""Problems found in a mapping file, each named by its entry; and the checks that span tables
(Convex table names, field-level references of older files, `v.id(...)`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .model import DatabasePlan
from .validators import Validator

STORAGE = "_storage"


def names(items) -> str:
    """What exists, for a message: `'a', 'b'` (or `none`)."""
    return ", ".join(repr(x) for x in items) or "none"


@dataclass
class Problems:
    errors: list[str] = field(default_factory=list)

    def fail(self, where: str, message: str) -> None:
        self.errors.append(f"{where}: {message}")

    def unknown_keys(self, where: str, raw: dict, known: tuple[str, ...]) -> None:
        for key in raw:
            if key not in known:
                self.fail(f"{where}.{key}", f"unknown entry (known here: {', '.join(known)})")

    def mapping(self, where: str, raw: Any) -> dict:
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            self.fail(where, "must be an object")
            return {}
        return raw


def check_table_names(plan: DatabasePlan, r: Problems) -> None:
    owners: dict[str, str] = {}
    for t in plan.tables:
        if t.table in owners:
            r.fail(f"tables.{t.source}.table", f"{t.table!r} is also the Convex table of {owners[t.table]}")
        owners.setdefault(t.table, f"tables.{t.source}")
    for t in plan.tables:
        for m in t.multi_entry:
            if m.table is None:
                continue
            if m.table in owners:
                r.fail(f"tables.{t.source}.multiEntry.{m.source}.table",
                       f"{m.table!r} is also the Convex table of {owners[m.table]}")
            owners.setdefault(m.table, f"tables.{t.source}.multiEntry.{m.source}")


def check_field_reference(plan: DatabasePlan, source: str, key: str, target: Any, r: Problems) -> None:
    listed = plan.references.get(f"{source}.{key}")
    if listed != target:
        r.fail(f"tables.{source}.fields.{key}.references",
               f"{target!r} but `references` has {'no entry' if listed is None else repr(listed)} for "
               f"\"{source}.{key}\"; references live only under `references`: remove this entry"
               + ("" if listed is not None else f" and add \"{source}.{key}\": {target!r} there if you want it"))


def _ids(val: Validator):
    """Every table named by a `v.id(...)` inside a validator."""
    if val.kind == "id":
        yield val.args[0]
    elif val.kind in ("array", "optional", "union", "record"):
        for child in val.args:
            if isinstance(child, Validator):
                yield from _ids(child)
    elif val.kind == "object":
        for _, child in val.args[0]:
            yield from _ids(child)


def check_ids(plan: DatabasePlan, r: Problems) -> None:
    """`v.id("t")` only for file storage or as the result of a reference: the import could fill nothing else."""
    convex_tables = {t.table: t.source for t in plan.mapped_tables()}
    for t in plan.mapped_tables():
        for f in t.fields:
            if f.source is None:
                continue
            referenced = next((x.table for x in plan.tables if x.source == f.references), None)
            for table in _ids(f.original or f.validator):
                if table == STORAGE or table == referenced:
                    continue
                at = f"tables.{t.source}.fields.{f.source}.validator"
                if table in convex_tables:
                    r.fail(at, f"v.id({table!r}) without a reference: add \"{t.source}.{f.source}\": "
                               f"{convex_tables[table]!r} under `references` and keep the validator as the type of "
                               "the original keys (the import rewrites them to ids)")
                else:
                    r.fail(at, f"v.id({table!r}): no such table in this mapping (Convex tables: "
                               f"{names(convex_tables)}; file storage: {STORAGE!r})")
