"""RepairStream and the reader's repairing mode: input valid for JS that yajl refuses.

Every repair keeps byte offsets, and rows read before the restart are not read twice.
"""
import io
import json
import math

import ijson
import pytest
from hypothesis import given, settings, strategies as st

from conftest import as_js
from migrator.dumps import open_dump
from migrator.dumps.stream import RepairStream, restore_surrogates
from migrator.errors import DumpError


def drain(data: bytes, chunk: int) -> tuple[bytes, RepairStream]:
    stream = RepairStream(io.BytesIO(data), chunk)
    out = b""
    while piece := stream.read(65536):
        out += piece
    return out, stream


def parse(data: bytes):
    return restore_surrogates(next(ijson.items(data, "", use_float=True)))


TRICKY = (b'{"a":[1,2 , ],"s":"x,] \\" y,}","n":100000000000000000000,"m":-18446744073709551616,'
          b'"k":9223372036854775807,"u":"a\\ud800b\\ud83d\\ude00\\udc00","\\udbff":1,"e":"\\\\ud800",'
          b'"o":{"z":1,},}')


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 8, 64, 1 << 20])
def test_repairs_keep_length_and_values_whatever_the_chunk_size(chunk):
    out, stream = drain(TRICKY, chunk)
    assert len(out) == len(TRICKY)
    value = parse(out)
    assert value == {"a": [1, 2], "s": 'x,] " y,}', "n": 1e20, "m": -18446744073709551616.0,
                     "k": 9223372036854775807, "u": "a\ud800b\U0001F600\udc00", "\udbff": 1,
                     "e": "\\ud800", "o": {"z": 1}}
    assert isinstance(value["k"], int) and isinstance(value["n"], float)
    assert stream.counts == {"trailing comma": 3, "integer outside int64": 2, "lone surrogate": 3}
    assert stream.first["trailing comma"] == TRICKY.index(b", ]")
    assert stream.first["integer outside int64"] == TRICKY.index(b"1000")
    assert stream.first["lone surrogate"] == TRICKY.index(b"\\ud800")


def test_a_string_of_many_chunks_is_scanned_once():
    big = b'["' + b"A\\\"" * 300_000 + b'",{"x":1,}]'
    out, stream = drain(big, 4096)
    assert parse(out) == ['A"' * 300_000, {"x": 1}]
    assert stream.counts == {"trailing comma": 1}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.characters(blacklist_categories=("Cs",)) | st.sampled_from(',]}"\\'), max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=20)


def with_trailing_commas(value) -> str:
    if isinstance(value, list):
        return "[" + "".join(with_trailing_commas(v) + "," for v in value) + "]"
    if isinstance(value, dict):
        return "{" + "".join(json.dumps(k) + ":" + with_trailing_commas(v) + "," for k, v in value.items()) + "}"
    return json.dumps(value)


@settings(max_examples=150, deadline=None)
@given(json_values, st.sampled_from([1, 3, 7, 4096]))
def test_any_document_with_trailing_commas_parses_as_the_original(value, chunk):
    text = with_trailing_commas(value).encode()
    out, _ = drain(text, chunk)
    assert len(out) == len(text)
    got = parse(out)
    expected = json.loads(json.dumps(value))
    # integers outside int64 come back as the float JS would read
    assert json.dumps(got) == json.dumps(as_js(expected))


def dexie_text(tables, data) -> str:
    return json.dumps({"formatName": "dexie", "formatVersion": 1,
                       "data": {"databaseName": "d", "databaseVersion": 1, "tables": tables, "data": data}},
                      separators=(",", ":"))


def test_restart_after_rows_were_read_does_not_repeat_them(tmp_path):
    big = "x" * 1_500_000    # the first table spans more than one window (and 64 KiB parse chunk) before the defect
    text = dexie_text([{"name": "a", "schema": "id", "rowCount": 3}, {"name": "b", "schema": "id", "rowCount": 2}],
                      [{"tableName": "a", "inbound": True, "rows": [{"id": 1, "s": big}, {"id": 2, "s": big},
                                                                     {"id": 3}]},
                       {"tableName": "b", "inbound": True, "rows": [{"id": 1, "n": 123}, {"id": 2}]}])
    # the fast reader reads the big integer and the trailing comma of `rows`, not one inside an object
    text = text.replace('"n":123', '"n":123456789012345678901234').replace('{"id":2}]', '{"id":2,},]')
    path = tmp_path / "d.json"
    path.write_text(text)
    with open_dump(path) as dump:
        rows = [(r.table, r.index, r.key) for r in dump.rows()]
    assert rows == [("a", 0, 1), ("a", 1, 2), ("a", 2, 3), ("b", 0, 1), ("b", 1, 2)]
    assert dump.warnings[0].startswith(f"{path}: malformed JSON (Expecting property name enclosed in double quotes) "
                                       f"near byte {text.index(',},]') + 1}: reading again in the slower, repairing mode")
    assert f"{path}: 1 integer outside int64 read as a float, the first at byte {text.index('1234567890')} " \
           "(the number JS reads; Convex's int64 cannot hold it)" in dump.warnings
    assert any(f"2 trailing commas skipped, the first at byte {text.index(',},]')} " in w for w in dump.warnings)
    with open_dump(path) as dump:
        b0 = [r.value for r in dump.rows() if r.table == "b"][0]
    assert b0["n"] == 1.2345678901234568e23


@pytest.mark.parametrize("defect", ["", '{"id":4,}'], ids=["fast", "slow"])
def test_lone_surrogates_survive_in_values_and_keys(tmp_path, defect):
    text = dexie_text([{"name": "t", "schema": "id", "rowCount": 3}],
                      [{"tableName": "t", "inbound": True,
                        "rows": [{"id": 1, "s": "ok"}, {"id": 2, "s": "a\ud800", "\udc01k": ["\udbff"]}, {"id": 3}]}])
    assert "\\ud800" in text            # json.dumps escapes them, as JSON.stringify does
    path = tmp_path / "s.json"
    path.write_text(text.replace('{"id":3}', '{"id":3}' + ("," + defect if defect else "")))
    with open_dump(path) as dump:
        rows = {r.key: r.value for r in dump.rows()}
    assert rows[2] == {"id": 2, "s": "a\ud800", "\udc01k": ["\udbff"]} and rows[1] == {"id": 1, "s": "ok"}
    assert any("repairing mode" in w for w in dump.warnings) == bool(defect)


def test_big_integer_in_idb_format(tmp_path):
    path = tmp_path / "i.json"
    path.write_text('{"s":[{"n":100000000000000000000,"u":"\\udfff"},{"n":-0.0,"i":5,"f":1.5}]}')
    with open_dump(path) as dump:
        rows = [r.value for r in dump.rows()]
    assert rows[0] == {"n": 1e20, "u": "\udfff"}
    assert math.copysign(1, rows[1]["n"]) == -1 and isinstance(rows[1]["i"], int) and rows[1]["f"] == 1.5


def test_invalid_utf8_stays_an_error(tmp_path):
    path = tmp_path / "bad.json"
    text = dexie_text([{"name": "t", "schema": "id", "rowCount": 1}], [{"tableName": "t", "inbound": True,
                                                                        "rows": [{"id": 1, "s": "QQ"}]}])
    path.write_bytes(text.encode().replace(b"QQ", b"Q\xff"))
    with pytest.raises(DumpError) as err:
        with open_dump(path) as dump:
            list(dump.rows())
    e = err.value
    assert "invalid bytes in UTF8" in str(e) and (e.table, e.row) == ("t", 0)
    assert e.offset == path.read_bytes().index(b"\xff") and e.exact_offset and "near" not in str(e)


def test_surrogate_escapes_yajl_would_mangle_silently(tmp_path):
    # yajl alone turns a lone high surrogate into "?" and two highs into U+10000
    path = tmp_path / "h.json"
    path.write_text('{"s":["a\\ud800","\\ud800\\ud800","\\ud83d\\ude00","\\\\ud800"]}')
    with open_dump(path) as dump:
        values = [r.value for r in dump.rows()]
    assert values == ["a\ud800", "\ud800\ud800", "\U0001F600", "\\ud800"]
