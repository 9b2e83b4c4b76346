"""Dexie features that have no Convex equivalent, listed from the plan with how it handles each.

Primary keys (unique, maybe auto-increment), unique and multiEntry indexes are plan data. `.upgrade()` functions
are only known while planning: `plan` writes them as `// NOTE:` lines at the top of the
mapping file, which is where they are read back from.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..plan.model import DatabasePlan
from .compare import NotCarriedOver

NOTE_PREFIX = "// NOTE: "
_LOCATION = re.compile(r"\S+:\d+:\d+")   # where the .upgrade() call is (file:line:col)


def mapping_notes(path: str | Path) -> list[str]:
    """The plan-level notes `plan` wrote as comments above the mapping file's data."""
    notes = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if not line.startswith("//"):
            break
        if line.startswith(NOTE_PREFIX):
            notes.append(line[len(NOTE_PREFIX):])
    return notes


_MULTI_ENTRY_HANDLING = {
    "side-table": "side table {table}: one row per element of `{field}` (owner, value), indexed by value and "
                  "by owner; the import fills it, your app's writes must keep it in sync",
    "array-index": "indexed as one whole array value: a query by a single element of `{field}` does not work",
    "drop": "not indexed (multiEntry: 'drop'): finding documents by an element of `{field}` must scan",
}


def not_carried_over(plan: DatabasePlan, notes: list[str]) -> list[NotCarriedOver]:
    found: list[NotCarriedOver] = []
    db = plan.database
    for t in plan.mapped_tables():
        if t.key is not None:
            spec = ("++" if t.key.auto else "") + ("+".join(t.key.paths) or "(outbound)")
            found.append(NotCarriedOver(
                "primary key", db, t.source, spec,
                f"kept in `{t.key.field}` with index {t.key.index}, which is not unique in Convex: the import "
                "upserts by it (one document per key), your app's writes must keep it unique"
                + ("; Convex has no auto-increment: documents your app creates get their own `_id`"
                   if t.key.auto else "")))
        for i in t.indexes:
            if i.unique and (t.key is None or i.name != t.key.index):
                found.append(NotCarriedOver(
                    "unique index", db, t.source, i.source,
                    f"index {i.name} on {', '.join(i.fields)} is a normal index (Convex indexes are not unique); "
                    "the import refuses duplicates among imported rows, your app's mutations must check "
                    "before writing"))
        for m in t.multi_entry:
            found.append(NotCarriedOver("multiEntry index", db, t.source, m.source,
                                        _MULTI_ENTRY_HANDLING[m.strategy].format(table=m.table, field=m.field)))
    seen: set[str] = set()
    for note in notes:
        where = _LOCATION.search(note)
        if "upgrade" in note and (where is None or where.group() not in seen):
            seen.add(where.group() if where else note)
            found.append(NotCarriedOver(".upgrade()", db, None, where.group() if where else note,
                                        "not run: its data changes are not replayed, the dump must already "
                                        "hold the upgraded data"))
    return found
