"""What the planner takes from a dump profile."""

from __future__ import annotations

from ..dumps.profile import DumpProfile
from .planner import ObservedTable


def observed_tables(profile: DumpProfile) -> dict[str, ObservedTable]:
    out = {}
    for name, t in profile.tables.items():
        out[name] = ObservedTable(name=name, schema=t.schema, rows=t.rows, row_type=t.row_type,
                                  key_kinds=set(t.key_kinds), max_binary_bytes=dict(t.max_binary_bytes))
    return out
