"""Differences between expected and actual results, each a `Drift` naming fixture, table and key."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any

import orjson

from .content import TableContent


@dataclass
class Drift:
    fixture: str
    stage: str                 # setup | plan | schema | content (from the dumps) | local | deployment
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
        if self.expected is None and self.actual is None:
            return text
        if any(isinstance(v, str) and "\n" in v for v in (self.expected, self.actual)):     # schema lines: as a diff
            return "\n".join([text] + [f"- {line}" for line in str(self.expected or "").splitlines()]
                             + [f"+ {line}" for line in str(self.actual or "").splitlines()])
        return text + f" (expected {_short(self.expected)}, got {_short(self.actual)})"

    def to_json(self) -> dict:
        return {"fixture": self.fixture, "stage": self.stage, "what": self.what, "database": self.database,
                "table": self.table, "key": self.key, "expected": self.expected, "actual": self.actual,
                "message": self.message()}


def _short(value: Any, limit: int = 160) -> str:
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    return text if len(text) <= limit else text[:limit] + "..."


# -- plan -------------------------------------------------------------------------------------
# How items of a plan list are told apart: a field by its Dexie property (its Convex name may
# change), an index by its name, a multiEntry index by its Dexie spec.
ITEM_IDS = {"fields": ("source", "name"), "indexes": ("name",), "multiEntry": ("source",)}


def _item_id(list_name: str, item: Any) -> str | None:
    if not isinstance(item, dict):
        return None
    return next((str(item[k]) for k in ITEM_IDS.get(list_name, ("name", "source")) if item.get(k) is not None), None)


def _flatten(value: Any, path: str, out: dict[str, Any]) -> None:
    """Leaves and identified list items (fields, indexes) by a readable path."""
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(v, f"{path}.{k}" if path else k, out)
    elif isinstance(value, list) and value and all(_item_id(path.rsplit(".", 1)[-1], v) for v in value):
        for v in value:
            item = f"{path}[{_item_id(path.rsplit('.', 1)[-1], v)}]"
            out[item] = v
            _flatten(v, item, out)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _flatten(v, f"{path}[{i}]", out)
    else:
        out[path] = value


def _plan_entries(plan: dict) -> dict[tuple[str | None, str], Any]:
    """(Convex table or None, path) -> value."""
    entries: dict[tuple[str | None, str], Any] = {}
    for k, v in plan.items():
        flat: dict[str, Any] = {}
        if k == "tables":
            for table in v:
                flat = {}
                _flatten(table, "", flat)
                entries.update({(table.get("table"), p): x for p, x in flat.items()})
        else:
            _flatten(v, k, flat)
            entries.update({(None, p): x for p, x in flat.items()})
    return entries


_MISSING = "(absent)"


def compare_plans(fixture: str, expected: dict[str, dict], actual: dict[str, dict]) -> list[Drift]:
    """Changed leaves; a named item (field, index) added or removed is one drift, not one per leaf."""
    drifts = []
    for db in sorted(expected.keys() | actual.keys()):
        if db not in actual or db not in expected:
            drifts.append(Drift(fixture, "plan", "database missing" if db not in actual else "new database", db))
            continue
        want, got = _plan_entries(expected[db]), _plan_entries(actual[db])
        whole: list[tuple[str | None, str]] = []      # items present on one side only
        for table, path in sorted(want.keys() | got.keys(), key=lambda k: (k[0] or "", k[1])):
            a, b = want.get((table, path), _MISSING), got.get((table, path), _MISSING)
            if a == b or any(t == table and path.startswith(p) for t, p in whole):
                continue
            if path.endswith("]") and (a is _MISSING or b is _MISSING) and isinstance(a if b is _MISSING else b, dict):
                whole.append((table, path))
                drifts.append(Drift(fixture, "plan", "added" if a is _MISSING else "removed", db, table, path, a, b))
            elif not isinstance(a, dict) or not isinstance(b, dict):
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
        lines = f"line {i1 + 1}" if i2 == i1 + 1 else f"lines {i1 + 1}-{i2}" if i2 > i1 else f"after line {i1}"
        drifts.append(Drift(fixture, "schema", f"schema.ts {lines} changed", None, table, None,
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
