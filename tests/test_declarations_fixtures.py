"""read_declarations against what real Dexie 4.4.7 parsed for each fixture app."""

import json
from pathlib import Path

import pytest

from migrator.declarations import read_declarations

APPS = Path(__file__).resolve().parent.parent / "fixtures" / "apps"
APP_DIRS = sorted(p for p in APPS.glob("*") if (p / "src").is_dir() and (p / "dexie-parse.json").is_file()) \
    if APPS.is_dir() else []


@pytest.mark.skipif(not APP_DIRS, reason="fixtures/apps/*/src + dexie-parse.json are absent (not generated yet)")
@pytest.mark.parametrize("app", APP_DIRS, ids=lambda p: p.name)
def test_merged_schema_equals_real_dexie_parse(app: Path):
    expected = json.loads((app / "dexie-parse.json").read_text())["databases"]
    declared = read_declarations([app / "src"])
    got = [{"name": db.name, "verno": db.merged.version,
            "tables": sorted((_with_types(t.schema) for t in db.tables.values() if t.schema), key=lambda t: t["name"])}
           for db in declared]
    # Tables the source does not say statically (dynamic-schema) are left out, each with its reason;
    # every other table is exactly what Dexie parsed.
    unknown = set()
    for db in declared:
        for table in _dexie_tables(expected, db.name):
            if db.unknown_reason(table["name"]) is not None:
                unknown.add((db.name, table["name"]))
                assert table["name"] not in db.tables or db.tables[table["name"]].schema is None
    known = [{**db, "tables": [t for t in db["tables"] if (db["name"], t["name"]) not in unknown]} for db in expected]
    assert sorted(got, key=lambda d: d["name"]) == sorted(known, key=lambda d: d["name"])
    assert bool(unknown) == (app.name == "dynamic-schema")


def _dexie_tables(expected: list[dict], name: str) -> list[dict]:
    return next(db["tables"] for db in expected if db["name"] == name)


def _with_types(schema) -> dict:
    """to_dexie_json() plus `type`, which Dexie's IndexSpec carries only when set (`: Y.Doc`)."""
    data = schema.to_dexie_json()
    for spec, index in zip((schema.primary_key, *schema.indexes), (data["primKey"], *data["indexes"])):
        if spec.type is not None:
            index["type"] = spec.type
    return data
