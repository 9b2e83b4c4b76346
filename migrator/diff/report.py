"""The diff for humans: changes grouped by table, breaking ones marked, then the Dexie
features that do not carry over. (`SchemaDiff.to_json` is the same as data.)"""

from __future__ import annotations

from .compare import Change, SchemaDiff

_TABLE_LEVEL = {"table-added", "table-removed", "table-not-understood", "schema-options-removed",
                "entry-not-understood"}
_SIGN = {"added": "+", "removed": "-", "changed": "~", "optionality": "~"}


def _compact(text: str | None) -> str:
    return " ".join((text or "").split())


def _describe(c: Change) -> str:
    if c.kind == "table-added":
        return f"+ table {c.table}: added"
    if c.kind == "table-removed":
        return f"- table {c.table}: removed"
    if c.kind == "table-not-understood":
        return f"? table {c.table}: not understood, would be replaced"
    if c.kind == "schema-options-removed":
        return f"- defineSchema options: {_compact(c.old)}"
    if c.kind == "entry-not-understood":
        return f"? defineSchema entry {_compact(c.old)}: not understood"
    what, _, change = c.kind.rpartition("-")
    what = {"field": "field", "index": "index", "search-index": "searchIndex", "vector-index": "vectorIndex",
            "document": "document"}[what]
    label = f"{what} {c.name}" if c.name is not None else what
    if c.old is not None and c.new is not None:
        return f"  ~ {label}: {_compact(c.old)} -> {_compact(c.new)}"
    return f"  {_SIGN[change]} {label}: {_compact(c.old if c.new is None else c.new)}"


def format_text(diff: SchemaDiff, planned_from: str) -> str:
    lines = [f"Schema diff: {diff.against or 'an empty schema'} -> what {planned_from} would generate"]
    current = None
    for c in diff.changes:
        line = _describe(c)
        if c.kind not in _TABLE_LEVEL and c.table != current:
            lines.append(f"  table {c.table}:")
        current = c.table if c.kind not in _TABLE_LEVEL else None
        note = f"  BREAKING: {c.why}" if c.breaking else (f"  ({c.why})" if c.why else "")
        lines.append("  " + line + note)
    if diff.not_carried_over:
        lines.append("Dexie features that do not carry over, and what the plan does:")
        for n in diff.not_carried_over:
            where = f"`{n.spec}` of {n.database}.{n.dexie_table}" if n.dexie_table else f"at {n.spec} ({n.database})"
            lines.append(f"  - {n.feature} {where}: {n.handling}")
    lines.append(f"{len(diff.changes)} differences, {len(diff.breaking)} breaking" if diff.changes
                 else "No differences.")
    return "\n".join(lines)
