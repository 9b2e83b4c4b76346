"""Diff what the plans would generate against an existing schema.ts (or an empty schema).

The plans' side is the very text `generate` writes (`render_schema`), read back with the
same reader as the user's file, so the comparison cannot drift from the generator.
"""

from __future__ import annotations

from pathlib import Path

from ..plan.model import DatabasePlan
from .carry_over import mapping_notes, not_carried_over
from .compare import SchemaDiff, compare_schemas
from .schema_reader import SchemaFile, read_schema


def planned_schema(rendered: str) -> SchemaFile:
    """The schema `generate` would write (`render_schema`'s text), parsed."""
    return read_schema("(generated)/schema.ts", rendered.encode("utf-8"))


def existing_schema(path: str | Path | None) -> SchemaFile:
    return read_schema(path) if path is not None else SchemaFile(path=None)


def schema_diff(plans: list[DatabasePlan], mappings: list[str | Path], planned: SchemaFile,
                existing: SchemaFile) -> SchemaDiff:
    """Changes from `existing` to `planned`, and the Dexie features each plan cannot carry over."""
    lost = [item for plan, path in zip(plans, mappings) for item in not_carried_over(plan, mapping_notes(path))]
    return SchemaDiff(against=existing.path, changes=compare_schemas(existing, planned), not_carried_over=lost)
