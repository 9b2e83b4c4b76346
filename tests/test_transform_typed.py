"""Differential test: rows read and transformed in C (`transform/typed.py`) against the usual path.

Each case is a real dump file read twice by the real reader: once plainly (orjson or the
scanner, typeson revival, then `prepare_generic`, the reference) and once with the typed
decoders. For every row the typed path settles, the reference must give the same key (same
type), the same document as a Convex value (field order aside: Convex objects are maps
sorted by field name), the same side rows, and a size no larger than the bound sent; the
reference must not reject or fail to read it. Rows it does not settle come out exactly as
without it. Rows: hypothesis-generated JSON for tables over the validator kinds (fitting
values and misfits, `$types` Dates and other types, negative zero, lone surrogates, long
integers, unknown fields, odd keys), the cases it must settle and those it must leave, and
every row of every fixture in fixtures/apps/*.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from migrator.convex_names import DOCUMENT_LIMIT, SYSTEM_FIELDS_SIZE
from migrator.dumps import open_dump
from migrator.plan.model import DatabasePlan, FieldPlan, KeyPlan, MultiEntryPlan, PlanOptions, TablePlan
from migrator.plan.validators import Validator
from migrator.plan.validators import parse_validator as pv
from migrator.transform.compiled import Transforms
from migrator.transform.prepared import prepare_generic
from test_transform_differential import APPS, field_validators, fixture_plans, names


# -- the comparison ------------------------------------------------------------------------------
def canonical(value: Any) -> bytes:
    """A Convex-encoded value as sorted-key JSON: 1.0 and 1 stay apart, field order does not count."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def compare_reads(path: Path, plan: DatabasePlan) -> tuple[int, int]:
    """Read `path` with and without the typed decoders and compare row by row; (rows, settled)."""
    transforms = Transforms(plan)
    by_source = {t.source: t for t in plan.mapped_tables()}
    rows = settled = 0
    with open_dump(path) as plain, open_dump(path) as typed:
        for expected, row in zip(plain.rows(), typed.rows(typed=transforms.typed), strict=True):
            rows += 1
            assert (row.table, row.index) == (expected.table, expected.index)
            assert type(row.key) is type(expected.key) and (row.key == expected.key or row.key != row.key)
            if row.made is None:
                assert canonical_js(row.value) == canonical_js(expected.value)
                continue
            settled += 1
            table = by_source[row.table]
            reference = prepare_generic(transforms.tables[table.source].rules, expected.key, expected.value,
                                        transforms.converter)
            made = row.made
            assert made.table == reference.table and not made.uploads and not reference.uploads
            assert canonical(made.key) == canonical(reference.key)
            assert canonical(orjson.loads(made.document_json)) == canonical(reference.document)
            assert canonical(made.side_rows) == canonical(reference.side_rows)
            assert reference.convex_size <= made.convex_size
            assert made.convex_size + SYSTEM_FIELDS_SIZE <= DOCUMENT_LIMIT
            assert canonical_js(row.text.value()) == canonical_js(expected.value)   # kept for a reject
    return rows, settled


def read_counting(path: Path, plan: DatabasePlan) -> tuple[list, list[str]]:
    """The rows of `path` (one table, "t") read with its typed decoder, and each text given to it."""
    decoder = Transforms(plan).typed["t"]
    calls: list[str] = []

    class Counting:
        key_path = decoder.key_path

        def __call__(self, text):
            calls.append(text)
            return decoder(text)

    with open_dump(path) as dump:
        return list(dump.rows(typed={"t": Counting()})), calls


def canonical_js(value: Any) -> str:
    return repr(value)      # revived values (JsDate, JsBlob...) print every field; NaN prints alike


def write_dump(path: Path, rows: list[str], schema: str = "id") -> Path:
    header = {"formatName": "dexie", "formatVersion": 1,
              "data": {"databaseName": "db", "databaseVersion": 1,
                       "tables": [{"name": "t", "schema": schema, "rowCount": len(rows)}], "data": []}}
    head = json.dumps(header)[:-len("[]}}")]
    path.write_text(head + '[{"tableName":"t","inbound":true,"rows":[' + ",".join(rows) + "]}]}}",
                    encoding="utf-8")
    return path


def plan_for(fields: dict[str, Validator], *, key: str = "number", multi: str | None = None,
             dates: str = "ms", owner: str | None = None) -> DatabasePlan:
    key_validator = Validator("number" if key == "number" else "string")
    table = TablePlan(
        source="t", table="t",
        key=KeyPlan(paths=["id"], outbound=False, auto=False, field="id", index="by_id", encoding=key, dedicated=False),
        fields=[FieldPlan(source="id", name="id", validator=key_validator),
                *[FieldPlan(source=n, name=n, validator=v) for n, v in fields.items()]],
        indexes=[],
        multi_entry=[] if multi is None else [MultiEntryPlan(source=f"*{multi}", field=multi, strategy="side-table",
                                                             table=f"t_{multi}", item=Validator("any"))])
    return DatabasePlan(database="db", options=PlanOptions(dates=dates, owner_field=owner), tables=[table])


# -- generated rows, as JSON text ---------------------------------------------------------------
odd_strings = st.sampled_from(["", "é ✓", "\x00", "a},{b", "-0", "\ud800", "\ud83d\ude00", "x\\y", "$x", "%25"])
json_numbers = st.one_of(st.integers(-2**53, 2**53), st.integers(-2**70, 2**70), st.floats(allow_nan=False,
                         allow_infinity=False), st.sampled_from([0.0, -0.0, 1e308, 5e-324, -0.5]))
json_scalars = st.one_of(st.none(), st.booleans(), json_numbers, st.text(max_size=6), odd_strings)
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.one_of(names, odd_strings), inner, max_size=3)), max_leaves=8)


def json_fitting(val: Validator) -> st.SearchStrategy:
    kind = val.kind
    if kind == "optional":
        return json_fitting(val.args[0])
    if kind == "string":
        return st.one_of(st.text(max_size=8), odd_strings)
    if kind in ("number", "float64"):
        return json_numbers
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    if kind == "array":
        return st.lists(json_fitting(val.args[0]), max_size=4)
    if kind == "object":
        fields = val.fields
        return st.fixed_dictionaries({k: json_fitting(f) for k, f in fields.items() if not f.is_optional},
                                     optional={k: json_fitting(f) for k, f in fields.items() if f.is_optional})
    if kind == "union":
        return st.one_of([json_fitting(m) for m in val.args])
    return json_values          # kinds the typed path leaves to the compiled one


typed_kinds = st.recursive(
    st.sampled_from([Validator(k) for k in ("string", "number", "float64", "boolean", "null")]),
    lambda inner: st.one_of(inner.map(Validator.array),
                            st.lists(st.tuples(names, st.one_of(inner, inner.map(Validator.optional))), max_size=3,
                                     unique_by=lambda p: p[0]).map(lambda fs: Validator.object(dict(fs))),
                            st.lists(inner, min_size=2, max_size=3, unique=True).map(lambda ms: Validator.union(*ms))),
    max_leaves=6)


@st.composite
def typed_cases(draw):
    """A table mostly of the kinds the typed path takes (some of any kind), and rows for it."""
    validators = st.one_of(typed_kinds, typed_kinds, typed_kinds.map(Validator.optional), field_validators)
    fields = draw(st.dictionaries(names.filter(lambda n: n != "id"), validators, min_size=1, max_size=4))
    multi = draw(st.one_of(st.none(), st.sampled_from(sorted(fields))))
    key = draw(st.sampled_from(["number", "string"]))
    plan = plan_for(fields, key=key, multi=multi, dates=draw(st.sampled_from(["ms", "iso"])))
    texts = []
    broken = draw(st.integers(0, 9)) == 0           # `$types` revival cannot read (the dump is refused)
    for index in range(draw(st.integers(1, 4))):
        row: dict[str, Any] = {"id": index if key == "number" else f"k{index}"}
        if draw(st.integers(0, 9)) == 0:
            row["id"] = draw(json_scalars)
        types: dict[str, str] = {}
        for name, val in fields.items():
            if val.is_optional and draw(st.booleans()):
                continue
            row[name] = draw(json_values if draw(st.integers(0, 7)) == 0 else json_fitting(val))
            kind = draw(st.integers(0, 9))
            if kind < 3 and isinstance(row[name], (int, float)):
                types[name] = "date"
            elif kind == 3:
                types[name] = draw(st.sampled_from(["date", "undefined", "nan", *(["bigint", "blob2"] * broken)]))
        if broken and draw(st.booleans()):
            types[draw(names)] = "date"                     # a Date where the row has no such field
        if draw(st.integers(0, 9)) == 0:
            row[draw(names)] = draw(json_values)            # a field the mapping does not know
        if types:
            row["$types"] = types
        text = json.dumps(row, ensure_ascii=draw(st.booleans()), separators=(",", ":"))
        if any("\ud800" <= c <= "\udfff" for c in text):   # UTF-8 cannot carry it: escaped, as JS writes it
            text = json.dumps(row, separators=(",", ":"))
        texts.append(text)
    return plan, texts


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                                  HealthCheck.function_scoped_fixture])
@given(case=typed_cases())
def test_typed_and_usual_path_agree_on_generated_rows(case, tmp_path):
    plan, texts = case
    path = write_dump(tmp_path / "dump.json", texts)
    try:
        compare_reads(path, plan)
    except Exception as exc:   # a dump the reader refuses must be refused the same way with the typed path
        with open_dump(path) as dump, pytest.raises(type(exc)):
            list(dump.rows(typed=Transforms(plan).typed))


# -- what it settles, what it leaves --------------------------------------------------------------
SETTLED = [
    ("v.string()", "text"), ("v.string()", "é ✓ \x00"), ("v.number()", 3), ("v.number()", 2.5),
    ("v.number()", 1e308), ("v.float64()", -7), ("v.boolean()", True), ("v.null()", None),
    ("v.optional(v.string())", "x"), ("v.array(v.string())", ["a", "b", "a"]), ("v.array(v.number())", [1, 2.5]),
    ("v.object({a: v.number(), b: v.optional(v.string())})", {"a": 1}),
    ("v.object({inner: v.object({deep: v.array(v.union(v.string(), v.boolean()))})})", {"inner": {"deep": ["x", True]}}),
    ("v.union(v.string(), v.number(), v.null())", None), ("v.union(v.string(), v.number())", 4),
    ("v.union(v.array(v.number()), v.object({a: v.string()}))", {"a": "s"}),
]
LEFT = [
    ("v.number()", -0.0, "negative zero"), ("v.string()", "\ud800", "a lone surrogate"),
    ("v.number()", "3", "a misfit"), ("v.optional(v.string())", None, "null for an optional field"),
    ("v.record(v.string(), v.number())", {"a": 1}, "a record"), ("v.any()", {"a": 1}, "v.any()"),
    ("v.int64()", "5", "int64"), ("v.number()", 10**20, "an integer outside int64"),
    ('v.literal("a")', "a", "a literal"), ("v.array(v.number())", list(range(8193)), "over 8192 elements"),
]


@pytest.mark.parametrize("validator,value", SETTLED)
def test_typed_path_settles_what_the_plan_predicts(validator, value, tmp_path):
    plan = plan_for({"f": pv(validator)}, multi="f" if validator.startswith("v.array") else None)
    path = write_dump(tmp_path / "d.json", [json.dumps({"id": 1, "f": value}, separators=(",", ":"))] * 2)
    assert compare_reads(path, plan) == (2, 2)


@pytest.mark.parametrize("validator,value,why", LEFT, ids=[c[2] for c in LEFT])
def test_typed_path_leaves_what_it_cannot_settle(validator, value, why, tmp_path):
    plan = plan_for({"f": pv(validator)})
    path = write_dump(tmp_path / "d.json", [json.dumps({"id": 1, "f": value}, separators=(",", ":"))] * 2)
    assert compare_reads(path, plan) == (2, 0)


@pytest.mark.parametrize("dates", ["ms", "iso"])
def test_dates_as_epoch_ms_are_settled_iso_dates_left(dates, tmp_path):
    plan = plan_for({"at": pv("v.number()" if dates == "ms" else "v.string()"), "n": pv("v.number()")}, dates=dates)
    row = json.dumps({"id": 1, "at": 1.6e12, "n": 2, "$types": {"at": "date"}})
    other = json.dumps({"id": 2, "at": 1.6e12, "n": 2, "$types": {"at": "date", "n": "bigint"}})
    path = write_dump(tmp_path / "d.json", [row, other])
    assert compare_reads(path, plan) == (2, 1 if dates == "ms" else 0)


@pytest.mark.parametrize("number", ["-0.0", "-0.000e5", "-0E-2", "-1e-400", "-2.5E-999", "-4.9e-325", "-0"])
def test_numbers_that_are_negative_zero_are_left(number, tmp_path):
    """msgspec writes -0 as `-0.0`; Convex needs it as {"$float": ...}, as the usual path sends it.
    (`-0` is an integer to both paths, so 0.)"""
    plan = plan_for({"f": pv("v.number()"), "g": pv("v.array(v.number())")})
    texts = [f'{{"id":1,"f":{number},"g":[]}}', f'{{"id":2,"f":1,"g":[2,{number}]}}', '{"id":3,"f":-0.5,"g":[-3e-5]}']
    path = write_dump(tmp_path / "d.json", texts)
    assert compare_reads(path, plan) == (3, 3 if number == "-0" else 1)


def test_key_keeps_its_json_type_and_string_keys_work(tmp_path):
    plan = plan_for({"f": pv("v.string()")}, key="string")
    path = write_dump(tmp_path / "d.json", ['{"id":"a","f":"x"}', '{"f":"y","id":"b"}', '{"id":3,"f":"z"}'])
    assert compare_reads(path, plan) == (3, 2)
    plan = plan_for({"f": pv("v.string()")})
    path = write_dump(tmp_path / "n.json", ['{"id":1,"f":"x"}', '{"id":1.5,"f":"y"}', '{"id":"s","f":"z"}'])
    assert compare_reads(path, plan) == (3, 2)
    with open_dump(path) as dump:
        assert [type(r.key) for r in dump.rows(typed=Transforms(plan).typed)] == [int, float, str]


def test_only_where_the_dump_keys_rows_by_that_property(tmp_path):
    """The header says the key is `uuid`: the typed path (keyed by `id`) stays out of it."""
    plan = plan_for({"f": pv("v.string()"), "uuid": pv("v.string()")})
    path = write_dump(tmp_path / "d.json", ['{"id":1,"f":"x","uuid":"u1"}'], schema="uuid")
    assert compare_reads(path, plan) == (1, 0)


def test_rows_near_the_size_limit_are_measured_by_the_usual_path(tmp_path):
    plan = plan_for({"f": pv("v.string()")})
    near = (DOCUMENT_LIMIT - SYSTEM_FIELDS_SIZE) // 9
    path = write_dump(tmp_path / "d.json", [json.dumps({"id": 1, "f": "x" * near}), json.dumps({"id": 2, "f": "x"})])
    assert compare_reads(path, plan) == (2, 1)


# -- every fixture ------------------------------------------------------------------------------
@pytest.mark.parametrize("app", sorted(p.name for p in APPS.iterdir() if p.is_dir()))
def test_typed_and_usual_path_agree_on_every_fixture_row(app, tmp_path):
    for plan, dumps in fixture_plans(APPS / app, tmp_path, references=False):
        for path in dumps:
            with open_dump(path) as dump:
                if dump.database_name not in (None, plan.database):
                    continue
            compare_reads(path, plan)


def test_a_table_it_mostly_leaves_stops_being_tried(tmp_path):
    """Each row it does not settle is parsed twice: after a few dozen, more left than settled,
    the table's other rows go straight to the usual path."""
    plan = plan_for({"f": pv("v.string()")})
    texts = [json.dumps({"id": i, "f": i}) for i in range(200)] + ['{"id":200,"f":"x"}']
    path = write_dump(tmp_path / "d.json", texts)
    rows, calls = read_counting(path, plan)
    assert len(rows) == 201 and all(r.made is None for r in rows)
    assert 30 < len(calls) < 40
    assert compare_reads(path, plan) == (201, 0)


def test_odd_json_spellings_agree(tmp_path):
    """Repeated keys (the last wins, as orjson has it), escaped key names, control characters
    and surrogate pairs, a fractional key; a missing required field, a null for an optional
    object, -0 and a number beyond any double are left."""
    plan = plan_for({"name": pv("v.string()"), "size": pv("v.optional(v.number())"),
                     "o": pv("v.optional(v.object({a: v.number()}))")})
    texts = ['{"id":1,"name":"a","name":"b"}', '{"id":2,"n\\u0061me":"x"}', '{"id":3,"name":"y","size":5}',
             '{"id":4,"name":"z","o":{"a":1,"a":2}}', '{"id":5,"name":"z","o":{}}', '{"id":6,"name":"z","o":null}',
             '{"id":7,"name":"\\u0000\\u001f\\ud83d\\ude00"}', '{"id":8.5,"name":"k"}', '{"id":-0.0,"name":"k"}',
             '{"id":1e400,"name":"k"}']
    path = write_dump(tmp_path / "d.json", texts)
    assert compare_reads(path, plan) == (10, 6)


@pytest.mark.parametrize("chunk", [16, 61, 333, 4096])
def test_rows_across_the_window_each_tried_once(chunk, tmp_path, monkeypatch):
    """The tight loop over rows it settles (`JsonWindow._typed_lane`) meets the window's end,
    rows it leaves, a `},{` inside a string and the table's last row at several chunk sizes:
    every row is read as the usual path reads it, and none is given to the decoder twice."""
    from migrator.dumps import window
    monkeypatch.setattr(window, "CHUNK", chunk)
    plan = plan_for({"f": pv("v.string()")})
    texts = [json.dumps({"id": i, "f": "a},{b" if i % 7 == 3 else i if i % 11 == 5 else "c"}) for i in range(60)]
    path = write_dump(tmp_path / "d.json", texts)
    rows, texts_decoded = read_counting(path, plan)
    calls = [int(re.match(r'{"id": (\d+)', text).group(1)) for text in texts_decoded]
    settled = [row.index for row in rows if row.made is not None]
    fitting = [i for i in range(60) if i % 7 != 3 and i % 11 != 5]
    assert len(calls) == len(set(calls))             # no row decoded twice
    if chunk > len(path.read_bytes()):                # else a row the window cuts may go to the scanner
        assert settled == fitting and sorted(calls) == list(range(60))
    assert set(settled) <= set(fitting) and len(settled) > len(fitting) // 2
    assert compare_reads(path, plan) == (60, len(settled))
