"""Names from a dump (or typed into the mapping) end up in TypeScript: none can inject code."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from migrator import commands
from migrator.errors import MappingError

TABLE = 'evil"});process.exit(7);({"'
FIELD = 'na"me*/`${process.exit(8)}'
NESTED = '"}) ; process.exit(9); ({"'
DATABASE = "Evil*/DB\n// process.exit(6)"


def hostile_dump(path: Path) -> Path:
    rows = [{"id": i, "plain": "p", FIELD: "x", "nested": {NESTED: i, "ok": 2}, "\u2028line": 3, "$dollar": 4,
             "_under": 5} for i in (1, 2)]
    path.write_text(json.dumps({"formatName": "dexie", "formatVersion": 1, "data": {
        "databaseName": DATABASE, "databaseVersion": 1,
        "tables": [{"name": TABLE, "schema": "++id,plain", "rowCount": len(rows)}],
        "data": [{"tableName": TABLE, "inbound": True, "rows": rows}]}}))
    return path


def _only_quoted(text: str, payload: str) -> None:
    """Every occurrence of the payload's code is inside a JSON-escaped string (or not there at all)."""
    escaped = json.dumps(payload)[1:-1]
    code = re.search(r"process\.exit\(\d\)", payload).group(0)
    assert text.count(code) == text.count(escaped), f"{code} appears outside an escaped string"


def test_hostile_names_are_renamed_quoted_and_the_schema_loads(tmp_path: Path, node_available):
    from migrator.node_tools import check_convex_dir

    planned = commands.plan_mappings([], [hostile_dump(tmp_path / "evil.json")], tmp_path / "m")
    [plan] = planned.plans
    [table] = plan.tables
    assert table.source == TABLE and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,63}", table.table)
    for f in table.fields:
        assert re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,63}", f.name), f.name
    generated = commands.generate_convex([planned.writes[0].path], tmp_path / "convex")
    for path in (generated.schema_path, generated.module_path):
        text = path.read_text()
        for payload in (TABLE, FIELD, NESTED, DATABASE):
            _only_quoted(text, payload)
    report = check_convex_dir(tmp_path / "convex")          # loads schema.ts in Node: an injection would run
    assert report["diagnostics"] == []
    assert [t["tableName"] for t in report["schema"]["tables"]] == [table.table]


@pytest.mark.parametrize("entry, value", [
    ('"table": "{table}"', '"table": "x\\"}); process.exit(1); ({"'),
    ('"name": "dollar"', '"name": "dol`lar"'),
    ('"name": "by_plain"', '"name": "by\\"plain"'),
])
def test_names_typed_into_the_mapping_are_validated(tmp_path: Path, entry: str, value: str):
    planned = commands.plan_mappings([], [hostile_dump(tmp_path / "evil.json")], tmp_path / "m")
    mapping = planned.writes[0].path
    text = mapping.read_text()
    entry = entry.format(table=planned.plans[0].tables[0].table)
    assert entry in text
    mapping.write_text(text.replace(entry, value))
    with pytest.raises(MappingError) as caught:
        commands.generate_convex([mapping], tmp_path / "convex")
    assert "must be identifiers" in str(caught.value) and caught.value.remedy
    assert not (tmp_path / "convex").exists()
