import pyjson5
import pytest

from migrator.dexie_schema import parse_table_spec
from migrator.errors import MappingError
from migrator.jstypes import Field, ObjectOf, Prim
from migrator.plan.mapping_file import load_mapping, three_way_merge, write_mapping
from migrator.plan.model import PlanOptions
from migrator.plan.planner import DeclaredTableInput, plan_database


def make_plan(tables, options=None, refs=None):
    decl = {name: DeclaredTableInput(name, parse_table_spec(name, spec),
                                     ObjectOf(tuple(Field(f, Prim("string")) for f in fields)))
            for name, (spec, fields) in tables.items()}
    return plan_database("shop", decl, {}, options or PlanOptions(), refs)


def test_three_way_merge_rules():
    base = {"a": 1, "b": 1, "c": 1}
    mine = {"a": 2, "b": 1, "d": 9}          # a edited, c deleted, d added by the user
    theirs = {"a": 3, "b": 3, "c": 3, "e": 3}
    assert three_way_merge(base, mine, theirs) == {"a": 2, "b": 3, "d": 9, "e": 3}


def test_rerun_keeps_edits_and_adds_new(tmp_path):
    path = tmp_path / "shop.json5"
    first = write_mapping(make_plan({"items": ("++id,name", ["id", "name"])}), path)
    assert first.status == "created"
    text = path.read_text().replace('"name": "by_name"', '"name": "by_item_name"')
    path.write_text(text + "\n// a comment of mine\n")
    again = write_mapping(make_plan({"items": ("++id,name", ["id", "name"])}), path)
    assert again.status == "unchanged" and "a comment of mine" in path.read_text()
    grown = write_mapping(make_plan({"items": ("++id,name,sku", ["id", "name", "sku"]),
                                     "orders": ("++id", ["id"])}), path)
    assert grown.status == "updated"
    assert any(p.startswith("tables.orders") for p in grown.added)
    assert "tables.items.indexes.name.name" in grown.kept_edits
    plan = load_mapping(path)
    items = next(t for t in plan.tables if t.source == "items")
    assert [i.name for i in items.indexes] == ["by_id_key", "by_item_name", "by_sku"]


def test_option_change_refreshes_unedited_entries(tmp_path):
    path = tmp_path / "shop.json5"
    decl = {"e": DeclaredTableInput("e", parse_table_spec("e", "++id"),
                                    ObjectOf((Field("id", Prim("number")), Field("at", Prim("date")))))}
    write_mapping(plan_database("shop", decl, {}, PlanOptions()), path)
    write_mapping(plan_database("shop", decl, {}, PlanOptions(dates="iso")), path)
    data = pyjson5.decode(path.read_text())
    assert data["tables"]["e"]["fields"]["at"]["validator"] == "v.string()"


def test_invalid_edits_are_reported_by_entry(tmp_path):
    path = tmp_path / "shop.json5"
    write_mapping(make_plan({"items": ("++id,name", ["id", "name"])}), path)
    text = path.read_text()
    text = text.replace('"table": "items"', '"table": "bad-name"')
    text = text.replace('"validator": "v.string()"', '"validator": "v.string(); evil()"', 1)
    text = text.replace('"fields": ["name"]', '"fields": ["nope"]')
    path.write_text(text)
    with pytest.raises(MappingError) as err:
        load_mapping(path)
    msg = str(err.value)
    assert "tables.items.table" in msg and "'bad-name'" in msg
    assert "tables.items.fields.name.validator" in msg and "invalid validator" in msg
    assert "tables.items.indexes.name.fields" in msg and "'nope' is not a field" in msg
