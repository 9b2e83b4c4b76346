"""Differences between expected and actual results, each a `Drift` naming fixture, table and key."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any

from .content import TableContent

# Where a result comes from; content drifts say which.
STAGES = ("setup", "plan", "schema", "content", "dry-run", "local", "deployment")


@dataclass
class Drift:
    fixture: str
    stage: str                 # one of STAGES
    what: str                  # missing row, unexpected row, changed value, count, ...
    database: str | None = None
    table: str | None = None
    key: str | None = None     # the original key (content), or the path of a plan entry
    expected: Any = None
    actual: Any = None

    def message(self) -> str:
        where = ".".join(p for p in (self.database, self.table) if p)
        text = f"{self.fixture}: {self.stage}"
        if where:
            text += f" {where}"
        if self.key is not None:
            text += f" {'entry' if self.stage == 'plan' else 'key'} {self.key}"
        text += f": {self.what}"
        if self.expected is not None or self.actual is not None:
            text += f" (expected {_short(self.expected)}, got {_short(self.actual)})"
        return text

    def to_json(self) -> dict:
        return {"fixture": self.fixture, "stage": self.stage, "what": self.what, "database": self.database,
                "table": self.table, "key": self.key, "expected": self.expected, "actual": self.actual,
                "message": self.message()}


def _short(value: Any, limit: int = 160) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


# -- plan -------------------------------------------------------------------------------------
def _flatten(value: Any, path: str, out: dict[str, Any]) -> None:
    """Leaves by a readable path; list items that have a name are found by it, not by position."""
    if isinstance(value, dict):
        if not value:
            out[path] = {}
        for k, v in value.items():
            _flatten(v, f"{path}.{k}" if path else k, out)
    elif isinstance(value, list) and value and all(isinstance(v, dict) and ("name" in v or "source" in v) for v in value):
        for v in value:
            _flatten(v, f"{path}[{v.get('name', v.get('source'))}]", out)
    elif isinstance(value, list):
        if not value:
            out[path] = []
        for i, v in enumerate(value):
            _flatten(v, f"{path}[{i}]", out)
    else:
        out[path] = value


def _plan_leaves(plan: dict) -> dict[tuple[str | None, str], Any]:
    """(Convex table or None, path) -> value."""
    leaves: dict[tuple[str | None, str], Any] = {}
    for k, v in plan.items():
        if k == "tables":
            for table in v:
                flat: dict[str, Any] = {}
                _flatten(table, "", flat)
                leaves.update({(table.get("table"), p): x for p, x in flat.items()})
        else:
            flat = {}
            _flatten(v, k, flat)
            leaves.update({(None, p): x for p, x in flat.items()})
    return leaves


_MISSING = "(absent)"


def compare_plans(fixture: str, expected: dict[str, dict], actual: dict[str, dict]) -> list[Drift]:
    drifts = []
    for db in sorted(expected.keys() | actual.keys()):
        if db not in actual or db not in expected:
            drifts.append(Drift(fixture, "plan", "database missing" if db not in actual else "new database", db))
            continue
        want, got = _plan_leaves(expected[db]), _plan_leaves(actual[db])
        for table, path in sorted(want.keys() | got.keys(), key=lambda k: (k[0] or "", k[1])):
            a, b = want.get((table, path), _MISSING), got.get((table, path), _MISSING)
            if a != b:
                drifts.append(Drift(fixture, "plan", "plan entry changed", db, table, path, a, b))
    return drifts


# -- schema -----------------------------------------------------------------------------------
_TABLE_LINE = re.compile(r'^  (?:"((?:[^"\\]|\\.)*)"|([A-Za-z_][A-Za-z0-9_]*)): defineTable\(')


def compare_schemas(fixture: str, expected: str, actual: str) -> list[Drift]:
    """One drift per changed hunk of schema.ts, naming the table it falls in."""
    if expected == actual:
        return []
    want, got = expected.splitlines(), actual.splitlines()
    drifts = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=want, b=got, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        table = next((m.group(1) or m.group(2) for line in reversed(got[:j1 + 1] if j2 > j1 else want[:i1 + 1])
                      if (m := _TABLE_LINE.match(line))), None)
        drifts.append(Drift(fixture, "schema", f"schema.ts lines {i1 + 1}-{i2} changed", None, table, None,
                            "\n".join(want[i1:i2]) or _MISSING, "\n".join(got[j1:j2]) or _MISSING))
    return drifts


# -- content ----------------------------------------------------------------------------------
def compare_content(fixture: str, stage: str, expected: dict[str, dict[str, TableContent]],
                    actual: dict[str, dict[str, TableContent]], *, rejected: bool = True) -> list[Drift]:
    """Per table: rows missing, unexpected or changed (by original key), and rejected rows.

    `rejected=False` when the actual side cannot know rejections (a deployment only holds rows).
    """
    drifts = []
    for db in sorted(expected.keys() | actual.keys()):
        want_tables, got_tables = expected.get(db, {}), actual.get(db, {})
        for table in sorted(want_tables.keys() | got_tables.keys()):
            want, got = want_tables.get(table), got_tables.get(table)
            if want is None or got is None:
                drifts.append(Drift(fixture, stage, "table missing" if got is None else "unexpected table", db, table))
                continue
            table_drifts = []
            for key in sorted(want.rows.keys() | got.rows.keys()):
                a, b = want.rows.get(key), got.rows.get(key)
                if a == b:
                    continue
                what = ("row missing" + (f" (rejected: {got.rejected[key]})" if key in got.rejected else "")
                        if b is None else "unexpected row" if a is None else "changed value")
                changed = want.changed_fields(got, key) if a and b else []
                if changed:
                    what += " in " + ", ".join(changed)
                table_drifts.append(Drift(fixture, stage, what, db, table, key, a, b))
            if rejected:
                for key in sorted(want.rejected.keys() | got.rejected.keys()):
                    if key in want.rejected and key not in got.rejected:
                        table_drifts.append(Drift(fixture, stage, "no longer rejected", db, table, key,
                                                  want.rejected[key], None))
                    elif key in got.rejected and key not in want.rejected:
                        table_drifts.append(Drift(fixture, stage, f"rejected: {got.rejected[key]}", db, table, key))
            if len(want.rows) != len(got.rows):
                table_drifts.append(Drift(fixture, stage, "row count differs", db, table, None,
                                          len(want.rows), len(got.rows)))
            drifts.extend(table_drifts)
    return drifts


def compare_rejected(fixture: str, stage: str, expected: dict[str, dict[str, TableContent]],
                     rejected: dict[str, dict[str, dict[str, str]]]) -> list[Drift]:
    """Rows an import (dry or real) rejected against the rows the expectations say it rejects."""
    drifts = []
    for db, tables in expected.items():
        got_tables = rejected.get(db, {})
        for table, want in tables.items():
            got = got_tables.get(table, {})
            for key in sorted(want.rejected.keys() - got.keys()):
                drifts.append(Drift(fixture, stage, "expected to be rejected, was not", db, table, key,
                                    want.rejected[key], None))
            for key in sorted(got.keys() - want.rejected.keys()):
                drifts.append(Drift(fixture, stage, f"rejected: {got[key]}", db, table, key))
    return drifts
