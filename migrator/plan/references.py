"""References: `"table.field": "otherTable"` turns the field's original keys into `v.id(...)`.

The mapping file holds each reference once, under `references`; the field entry keeps the
type of the original keys. Both `plan` and loading a mapping derive the id validator here.
"""

from __future__ import annotations

from dataclasses import dataclass

from .mapping_checks import names
from .model import DatabasePlan, FieldPlan, TablePlan
from .validators import Validator


@dataclass
class ReferenceProblem:
    entry: str          # the `references` entry, as the file spells it
    message: str


def find_field(table: TablePlan, name: str) -> FieldPlan | None:
    """The field a reference names: by its Dexie property, else by its Convex name."""
    return next((f for f in table.fields if f.source == name), None) \
        or next((f for f in table.fields if f.name == name), None)


def resolve_references(plan: DatabasePlan) -> list[ReferenceProblem]:
    """Apply `plan.references` to the fields; what cannot be applied is returned, not applied."""
    by_source = {t.source: t for t in plan.tables}
    problems = []
    for ref, target in plan.references.items():
        entry = f"references.{ref}"
        table_name, dot, field_name = ref.partition(".")
        table = by_source.get(table_name)
        mapped = [t.source for t in plan.mapped_tables()]
        if not dot or table is None or table.skip:
            problems.append(ReferenceProblem(entry, f"{table_name!r} is not a mapped Dexie table "
                                                    f"(write \"table.field\"; tables: {names(mapped)})"))
            continue
        target_table = by_source.get(str(target))
        if target_table is None or target_table.skip or target_table.key is None:
            problems.append(ReferenceProblem(entry, f"the target {target!r} is not a mapped Dexie table with a key "
                                                    f"(tables: {names(mapped)})"))
            continue
        fp = find_field(table, field_name)
        if fp is None or fp.source is None:
            problems.append(ReferenceProblem(entry, f"table {table_name!r} has no field {field_name!r} "
                                                    f"(fields: {names(f.source for f in table.fields if f.source)})"))
            continue
        fp.references = target_table.source
        fp.original = fp.original or fp.validator
        fp.validator = as_id(fp.original, target_table.table, one_key_is_an_array=array_keyed(target_table))
        note = f"refers to {target!r}: original keys are rewritten to Convex _ids at import"
        if note not in fp.notes:
            fp.notes.append(note)
    return problems


def array_keyed(table: TablePlan) -> bool:
    """Are the table's keys arrays (compound, or JSON-encoded), so an array value is one key?"""
    return table.key is not None and (len(table.key.paths) > 1 or table.key.encoding == "json")


def as_id(val: Validator, table: str, *, one_key_is_an_array: bool) -> Validator:
    """The field's validator with each original key turned into `v.id(table)`; an array of keys
    stays an array (of ids), unless the target's keys are arrays themselves."""
    if val.kind == "optional":
        return Validator.optional(as_id(val.args[0], table, one_key_is_an_array=one_key_is_an_array))
    if val.kind == "union" and Validator("null") in val.args:
        return Validator.union(Validator.id(table), Validator("null"))
    if val.kind == "array" and (not one_key_is_an_array or val.args[0].kind == "array"):
        return Validator.array(Validator.id(table))
    return Validator.id(table)
