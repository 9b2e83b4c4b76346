"""profile_dump on hand-made dumps: kinds, presence, observed types, anomalies, bounds."""
import json

from migrator.dumps import open_dump
from migrator.dumps.profile import MAX_ANOMALIES, profile_dump, value_kind
from migrator.jstypes import ArrayOf, ObjectOf, Prim, RecordOf
from migrator.jsvalues import UNDEFINED, JsBigInt, JsBinary, JsBlob, JsDate


def profile_of(tmp_path, tables, data):
    doc = {"formatName": "dexie", "formatVersion": 1,
           "data": {"databaseName": "p", "databaseVersion": 1, "tables": tables, "data": data}}
    path = tmp_path / "p.json"
    path.write_text(json.dumps(doc))
    with open_dump(path) as dump:
        return profile_dump(dump)


def anomalies(table):
    return {(a.kind, a.path): a for a in table.anomalies.values()}


def test_value_kind_names():
    assert [value_kind(v) for v in (None, UNDEFINED, True, 1, 1.5, "s", {}, [], (1, 2), JsDate(0.0),
                                     JsBigInt(1), JsBlob("", b""), JsBinary("ArrayBuffer", b""))] == [
        "null", "undefined", "boolean", "number", "number", "string", "object", "array", "array", "date",
        "bigint", "blob", "binary"]


def test_fields_presence_types_and_mixed_kinds(tmp_path):
    rows = [{"id": 1, "name": "a", "at": 0, "tags": ["x"], "addr": {"city": "P", "zip": 1}, "$types": {"at": "date"}},
            {"id": 2, "name": None, "at": 5, "tags": [], "addr": {"city": "Q", "zip": "75"}, "$types": {"at": "date"}},
            {"id": 3, "name": 7, "at": 9, "$types": {"at": "date"}}]
    p = profile_of(tmp_path, [{"name": "people", "schema": "++id,name", "rowCount": 3}],
                   [{"tableName": "people", "inbound": True, "rows": rows}])
    t = p.tables["people"]
    fields = {n: (present, dict(kinds)) for n, present, kinds in t.fields()}
    assert fields["name"] == (3, {"string": 1, "null": 1, "number": 1})
    assert fields["tags"] == (2, {"array": 2}) and fields["at"] == (3, {"date": 3})
    row_type = t.row_type
    assert isinstance(row_type, ObjectOf)
    by_name = {f.name: f for f in row_type.fields}
    assert by_name["tags"].optional and not by_name["id"].optional
    assert by_name["tags"].type == ArrayOf(Prim("string"))
    found = anomalies(t)
    assert ("mixed-types", "name") in found and ("mixed-types", "addr.zip") in found   # nested too
    assert ("mixed-types", "at") not in found
    key = t.key_description()
    assert key["inbound"] and key["auto"] and key["paths"] == ["id"] and key["kinds"] == {"number": 3}
    doc = p.to_json()
    json.dumps(doc)                                    # plain JSON
    assert doc["tables"][0]["fields"][0] == {"name": "id", "present": 3, "kinds": {"number": 3}}
    text = p.format_text()
    assert "people: 3 rows" in text and "mixed-types: name" in text and "66.7%" in text


def test_convex_limits_are_flagged_once_per_row(tmp_path):
    deep: dict = {}
    cur = deep
    for _ in range(20):
        cur["d"] = {}
        cur = cur["d"]
    rows = [{"id": 1, "long": list(range(8193)), "deep": deep, "wide": {f"f{i}": i for i in range(1025)},
             "big": "123456789012345678901234567890", "s": "a\ud800", "$types": {"big": "bigint"}},
            {"id": 2, "holes": [1, 0], "_sys": 1, "$bad": 2, "nested": {"my-key": 1, "$x": 2},
             "$types": {"holes.1": "sparseUndefined"}},
            {"id": 3, "blob": {"type": "x", "data": "A" * (1_500_000 // 3 * 4)}, "$types": {"blob": "blob2"}}]
    p = profile_of(tmp_path, [{"name": "my-table", "schema": "id", "rowCount": 3}],
                   [{"tableName": "my-table", "inbound": True, "rows": rows}])
    t = p.tables["my-table"]
    found = anomalies(t)
    messages = {(a.kind, a.path, a.message.split(":")[0]) for a in t.anomalies.values()}
    assert ("unsupported-value", "long", "array of more than 8192 elements") in messages
    assert found[("unsupported-value", "long")].count == 1 and found[("unsupported-value", "long")].example_key == 1
    assert any(k == "unsupported-value" and "nesting deeper than 16" in m for k, _, m in messages)
    assert ("unsupported-value", "wide", "object with more than 1024 fields") in messages
    assert ("unsupported-value", "big", "bigint outside int64") in messages
    assert ("unsupported-value", "s", "string with a lone UTF-16 surrogate") in messages
    assert ("unsupported-value", "holes") in found and found[("unsupported-value", "holes")].example_key == 2
    assert {("name", "_sys"), ("name", "$bad"), ("name", "(table)")} <= set(found)
    assert ("name", "nested.*") in found        # non-identifier keys make `nested` a record; `$x` is bad even there
    assert isinstance({f.name: f for f in t.row_type.fields}["nested"].type, RecordOf)
    assert found[("document-size", "(row)")].example_key == 3 and found[("document-size", "(row)")].count == 1
    assert t.largest_document > 1_500_000


def test_record_like_objects_collapse_and_memory_stays_bounded(tmp_path):
    rows = [{"id": i, "byUser": {f"user{i}_{j}": {"n": j} for j in range(10)}, "o": {"a": 1}} for i in range(40)]
    rows += [{"id": 100 + i, f"weird key {i}": 1} for i in range(MAX_ANOMALIES + 50)]
    p = profile_of(tmp_path, [{"name": "t", "schema": "id", "rowCount": len(rows)}],
                   [{"tableName": "t", "inbound": True, "rows": rows}])
    t = p.tables["t"]
    by_user = t.shape.fields["byUser"][1]
    assert by_user.collapsed is not None and by_user.fields == {}
    by_name = {f.name: f for f in t.row_type.fields}
    assert by_name["byUser"].type == RecordOf(ObjectOf((type(by_name["o"].type.fields[0])("n", Prim("number"), False),)))
    assert len(t.anomalies) <= MAX_ANOMALIES + 1
    assert any(a.kind == "too-many-anomalies" and a.count >= 50 for a in t.anomalies.values())


def test_outbound_table_keys_and_non_object_values(tmp_path):
    p = profile_of(tmp_path, [{"name": "kv", "schema": "", "rowCount": 3}],
                   [{"tableName": "kv", "inbound": False,
                     "rows": [["a", "x"], {"$": [5, 1], "$types": {"$": {"0": "date"}}}, [[1, 2], {"v": 1}]]}])
    t = p.tables["kv"]
    assert t.rows == 3 and t.inbound is False
    assert dict(t.key_kinds) == {"string": 1, "date": 1, "array": 1}
    assert dict(t.shape.kinds) == {"string": 1, "number": 1, "object": 1}
    assert t.key_description()["inbound"] is False


def _nested(levels: int) -> dict:
    """A document whose innermost object is at `levels` (the document itself is level 1), holding a scalar."""
    doc: dict = {"id": 1}
    cur = doc
    for _ in range(levels - 1):
        cur["d"] = {}
        cur = cur["d"]
    cur["leaf"] = "scalar"
    return doc


def test_nesting_counts_objects_and_arrays_not_the_scalars_inside(tmp_path):
    for levels, flagged in ((16, False), (17, True)):
        p = profile_of(tmp_path, [{"name": "t", "schema": "id", "rowCount": 1}],
                       [{"tableName": "t", "inbound": True, "rows": [_nested(levels)]}])
        nesting = [a for a in p.tables["t"].anomalies.values() if "nesting deeper" in a.message]
        assert bool(nesting) == flagged, levels


def test_inbound_rows_that_are_not_objects_are_anomalies():
    """Real Dexie output: IndexedDB evaluates `length` on strings and arrays, `size` on Blobs."""
    from click.testing import CliRunner
    from conftest import FIXTURES
    from migrator.cli import cli

    path = FIXTURES / "dumps" / "inbound-non-objects.json"
    with open_dump(path) as dump:
        profile = profile_dump(dump)
    found = {(t.name, a.message.split(" ")[0], a.count, a.example_key)
             for t in profile.tables.values() for a in t.anomalies.values() if a.kind == "row-not-object"}
    # keys are what IndexedDB computed: "hi".length, ["a","b","c"].length, the Blob's size
    assert found == {("words", "string", 2, 2), ("words", "array", 1, 3), ("blobs", "blob", 1, 4)}
    for a in profile.tables["words"].anomalies.values():
        assert a.path == "(row)" and "set `wrapValue` for table 'words' in the mapping" in a.message
    json_out = CliRunner().invoke(cli, ["inspect", "--json", str(path)])
    assert json_out.exit_code == 0
    [data] = json.loads(json_out.output)
    by_table = {t["name"]: [a for a in t["anomalies"] if a["kind"] == "row-not-object"] for t in data["tables"]}
    assert [(a["count"], a["exampleKey"]) for a in by_table["words"]] == [(2, 2), (1, 3)]
    assert by_table["notes"] == [] and len(by_table["blobs"]) == 1
    text = CliRunner().invoke(cli, ["inspect", str(path)])
    assert text.exit_code == 0
    assert "! row-not-object: (row): string rows in an inbound table" in text.output
    assert "set `wrapValue` for table 'blobs' in the mapping" in " ".join(text.output.split())


def test_outbound_and_unkeyed_values_that_are_not_objects_are_not_anomalies():
    from conftest import FIXTURES

    for path in (FIXTURES / "apps" / "keys-outbound" / "dump.json", FIXTURES / "dumps" / "idb-export.json"):
        with open_dump(path) as dump:
            profile = profile_dump(dump)
        assert not [a for t in profile.tables.values() for a in t.anomalies.values() if a.kind == "row-not-object"]
    with open_dump(FIXTURES / "apps" / "keys-outbound" / "dump.json") as dump:
        assert any(not isinstance(r.value, dict) for r in dump.rows())     # the values are there, and fine
