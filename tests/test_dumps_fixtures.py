"""The dump reader on real dexie-export-import output (fixtures/generate/generate.mjs).

Expected values come from the apps' seed.mjs files, not from the reader.
"""
import math

import pytest

from conftest import FIXTURES
from migrator.dumps import open_dump
from migrator.dumps.profile import profile_dump
from migrator.errors import DumpError
from migrator.jsvalues import UNDEFINED, JsBigInt, JsBinary, JsBlob, JsDate, JsMap, JsRegExp, JsSet

APP_DUMPS = sorted(FIXTURES.glob("apps/*/dump*.json"))
T0 = 1713638700000.0  # Date.UTC(2024, 3, 20, 18, 45, 0) in media-blobs/seed.mjs


def read(path):
    with open_dump(path) as dump:
        rows = list(dump.rows())
        return dump, rows


def test_there_are_enough_fixture_apps():
    assert len({p.parent for p in APP_DUMPS}) >= 8


@pytest.mark.parametrize("path", APP_DUMPS, ids=[f"{p.parent.name}/{p.name}" for p in APP_DUMPS])
def test_every_app_dump_reads_completely(path):
    dump, rows = read(path)
    assert dump.format == "dexie" and dump.warnings == []        # rowCount matches every table
    counts = {t.name: sum(1 for r in rows if r.table == t.name) for t in dump.tables}
    assert counts == {t.name: t.row_count for t in dump.tables}
    for table in dump.tables:
        keys = [r.key for r in rows if r.table == table.name]
        assert None not in keys, f"{table.name}: every row has its key"
        assert len({repr(k) for k in keys}) == len(keys), f"{table.name}: keys are unique"


def test_media_blobs_values_as_seeded():
    _, rows = read(FIXTURES / "apps/media-blobs/dump.json")
    media = {r.value["name"]: r.value for r in rows if r.table == "media"}
    assert media["pixel.png"]["data"].mime == "image/png" and media["pixel.png"]["data"].data.startswith(b"\x89PNG")
    assert media["hello.txt"]["data"] == JsBlob("text/plain;charset=utf-8", "Hello, Dexie! ✓\n".encode())
    assert len(media["big.bin"]["data"].data) == 1536 * 1024
    assert media["empty.bin"]["data"].data == b""
    assert media["pixel.png"]["createdAt"] == JsDate(T0)
    odd = {r.key: r.value["value"] for r in rows if r.table == "oddities" and "value" in r.value}
    assert odd["date-valid"] == JsDate(T0) and math.isnan(odd["date-invalid"].ms)
    assert odd["date-before-1970"] == JsDate(-14182940000.0)
    assert math.isnan(odd["nan"]) and odd["infinity"] == math.inf and odd["negative-infinity"] == -math.inf
    assert odd["max-safe-plus"] == 2**53 + 2
    assert odd["undefined-prop"] is UNDEFINED and odd["null"] is None
    assert odd["sparse-array"] == [1, UNDEFINED, 3, UNDEFINED, UNDEFINED, UNDEFINED, 7]
    assert odd["regexp"] == JsRegExp("^dex(ie)?$", "giu")
    assert odd["map"] == JsMap((("a", 1), (2, JsDate(T0)), ({"k": 1}, [1, 2])))
    assert odd["set"] == JsSet(("x", 1, None))
    assert odd["bigint"] == JsBigInt(-12345678901234567890)
    assert odd["string-object"] == "boxed" and odd["number-object"] == 7
    assert odd["int16array"] == JsBinary("Int16Array", b"\xff\xff\x00\x00\xff\x7f")
    shared = odd["typed-arrays-sharing-a-buffer"]
    assert len(shared["lo"].data) == len(shared["hi"].data) == 4 and shared["lo"].data != shared["hi"].data
    assert odd["shared-reference"]["a"] == odd["shared-reference"]["b"] == {"note": "the same object twice"}
    assert odd["nested-mixed"]["when"][1]["deep"]["blob"] == JsBlob("text/plain", b"x")
    assert odd["own-$types-property"] == {"$types": "not a typeson marker", "x": 1}


def test_outbound_and_compound_keys_from_real_dump():
    dump, rows = read(FIXTURES / "apps/keys-outbound/dump.json")
    inbound = {t.name: t.inbound for t in dump.tables}
    assert inbound["room-members"] is True and inbound["kv"] is False
    members = [r for r in rows if r.table == "room-members"]
    assert all(isinstance(r.key, tuple) and len(r.key) == 2 for r in members)
    kv_values = {type(r.value).__name__ for r in rows if r.table == "kv"}
    assert len(kv_values) > 1          # outbound values need not be objects


def test_pretty_dump_equals_the_one_line_dump():
    _, pretty = read(FIXTURES / "dumps/pretty.json")
    _, compact = read(FIXTURES / "apps/todo-js/dump.json")
    assert [(r.table, r.key, r.value) for r in pretty] == [(r.table, r.key, r.value) for r in compact]


def test_trailing_comma_from_a_filtered_export():
    dump, rows = read(FIXTURES / "dumps/trailing-comma.json")
    text = (FIXTURES / "dumps/trailing-comma.json").read_bytes()
    first = text.index(b",]")
    assert any(f"trailing comma skipped, the first at byte {first} " in w for w in dump.warnings)
    assert len(rows) == len({(r.table, repr(r.key)) for r in rows}) > 0


def test_truncated_dump_names_file_offset_table_and_row():
    path = FIXTURES / "dumps/truncated.json"
    with pytest.raises(DumpError) as err:
        read(path)
    e = err.value
    assert e.offset == path.stat().st_size and e.table == "companies" and e.row is not None
    assert str(path) in str(e) and "truncated" in str(e)


def test_idb_export_format_fixture():
    dump, rows = read(FIXTURES / "dumps/idb-export.json")
    _, dexie_rows = read(FIXTURES / "apps/crm-class-ts/dump.json")
    assert dump.format == "indexeddb-export-import"
    by_table = lambda rs: {t: sum(1 for r in rs if r.table == t) for t in {r.table for r in rs}}
    assert by_table(rows) == by_table(dexie_rows)


def test_profile_flags_what_convex_cannot_take():
    with open_dump(FIXTURES / "apps/media-blobs/dump.json") as dump:
        profile = profile_dump(dump)
    media = profile.tables["media"]
    assert media.max_binary_bytes["data"] == 1536 * 1024
    found = {(a.kind, a.path, a.message) for t in profile.tables.values() for a in t.anomalies.values()}
    kinds = {(kind, path) for kind, path, _ in found}
    assert ("document-size", "(row)") in kinds                      # big.bin, 1.5 MB
    messages = {m for kind, path, m in found if kind == "unsupported-value" and path == "value"}
    assert any("undefined (or a hole) inside an array" in m for m in messages)   # the sparse array
    assert "bigint outside int64" in messages                                     # -12345678901234567890n
    assert ("mixed-types", "value") in kinds
    assert ("name", "$types") in kinds                              # a top-level field Convex refuses
    assert profile.to_json()["tables"][0]["name"] == "media"
