"""For every fixture app: `plan` agrees with real Dexie's own parse, and `generate` output
type-checks against the real `convex` package with every table and index in `schema.export()`.

`dexie-parse.json` was recorded by running Dexie 4 on the app's declarations
(fixtures/generate/), so it is an expectation the planner did not produce.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from migrator import commands
from migrator.generate.schema_ts import FILES_TABLE
from migrator.plan.model import DatabasePlan, TablePlan

APPS = sorted(p for p in (Path(__file__).resolve().parent.parent / "fixtures" / "apps").iterdir()
              if (p / "dexie-parse.json").is_file())


def _plans(app: Path, out: Path) -> dict[str, DatabasePlan]:
    result = commands.plan_mappings([app / "src"], sorted(app.glob("dump*.json")), out)
    return {p.database: p for p in result.plans}


def _dexie_paths(key_path) -> list[str]:
    return [] if key_path is None else ([key_path] if isinstance(key_path, str) else list(key_path))


def _source_path(table: TablePlan, convex_path: str) -> str:
    """A Convex field path back in Dexie's terms: the top-level name through the field's source."""
    head, _, rest = convex_path.partition(".")
    field = table.field_named(head)
    assert field is not None, f"{table.table}: index field {convex_path!r} is not a field of the table"
    return field.source + ("." + rest if rest else "")


@pytest.mark.parametrize("app", APPS, ids=lambda p: p.name)
def test_plan_agrees_with_dexie_parse(app: Path, tmp_path: Path):
    expected = json.loads((app / "dexie-parse.json").read_text())["databases"]
    plans = _plans(app, tmp_path / "mappings")
    assert sorted(plans) == sorted(db["name"] for db in expected)
    for db in expected:
        plan = plans[db["name"]]
        by_source = {t.source: t for t in plan.tables}
        assert sorted(by_source) == sorted(t["name"] for t in db["tables"])
        for dexie_table in db["tables"]:
            table = by_source[dexie_table["name"]]
            where = f"{app.name}/{db['name']}.{table.source}"
            assert not table.skip, where
            pk = dexie_table["primKey"]
            assert table.key is not None, where
            assert table.key.outbound == (pk["keyPath"] is None), where
            assert table.key.paths == _dexie_paths(pk["keyPath"]), where
            assert table.key.auto == pk["auto"], where
            assert table.field_named(table.key.field) is not None, f"{where}: key field is not a field"
            key_index = next(i for i in table.indexes if i.name == table.key.index)
            assert key_index.fields == [table.key.field], where

            planned = {i.source: i for i in table.indexes}
            multi = {m.source: m for m in table.multi_entry}
            for index in dexie_table["indexes"]:
                if index["multi"]:
                    entry = multi.get("*" + index["name"])
                    assert entry is not None, f"{where}: multiEntry {index['src']} dropped"
                    assert entry.strategy == "side-table" and entry.table, where
                    assert _source_path(table, entry.field) == index["keyPath"], where
                    continue
                got = planned.get(index["src"])
                assert got is not None, f"{where}: index {index['src']} has no Convex index"
                assert [_source_path(table, f) for f in got.fields] == _dexie_paths(index["keyPath"]), where
                assert got.unique == index["unique"], where
            dexie_sources = {i["src"] for i in dexie_table["indexes"]} | {"(key)"}
            assert set(planned) <= dexie_sources, f"{where}: indexes Dexie does not have: {set(planned) - dexie_sources}"


@pytest.mark.parametrize("app", APPS, ids=lambda p: p.name)
def test_generated_schema_typechecks_and_lists_every_table_and_index(app: Path, tmp_path: Path, node_available):
    from migrator.node_tools import check_convex_dir

    plans = _plans(app, tmp_path / "mappings")
    generated = commands.generate_convex(sorted((tmp_path / "mappings").glob("*.json5")), tmp_path / "convex")
    report = check_convex_dir(generated.schema_path.parent)
    assert report["diagnostics"] == []
    exported = {t["tableName"]: {i["indexDescriptor"]: i["fields"] for i in t["indexes"]}
                for t in report["schema"]["tables"]}
    expected: dict[str, dict[str, list[str]]] = {}
    for plan in plans.values():
        for t in plan.summary_json()["tables"]:
            expected[t["table"]] = {i["name"]: i["fields"] for i in t["indexes"]}
    stores_blobs = any(f["validator"] == 'v.id("_storage")' for plan in plans.values()
                       for t in plan.summary_json()["tables"] for f in t["fields"])
    assert (exported.pop(FILES_TABLE, None) is not None) == stores_blobs, "file registry table (in)correctly present"
    assert exported == expected
