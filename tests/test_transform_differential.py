"""Differential test: the compiled per-table transforms against the generic path.

The generic path (`prepare_generic`: `Converter` per-value dispatch, `check_document`,
`wire.encode`) is the reference. For every row, the compiled transform must give the same
outcome: the same Convex-encoded document, key, side rows, request bytes and Convex size, or
the same reject (exception type and reason). Its fast path may decline a row (`Unpredicted`)
and leave it to the generic path, but must never return something the generic path would
not; and it must actually take the rows the plan predicts (checked per validator kind).

Rows: hypothesis-generated tables over every validator kind in plan/validators.py (scalars,
literals, ids and file storage, optional, arrays, records, nested objects, unions, int64,
bytes, Dates as ms or ISO, references, multiEntry side tables) with values that fit their
validator and values that do not; the document limits at their edges; and every row of every
fixture in fixtures/apps/*, planned as `plan` would, with and without the suggested references.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from migrator import commands
from migrator.convex_names import DOCUMENT_LIMIT, MAX_ARRAY, MAX_DEPTH, MAX_FIELDS, SYSTEM_FIELDS_SIZE
from migrator.dumps import open_dump
from migrator.jsvalues import UNDEFINED, JsBigInt, JsBinary, JsBlob, JsDate, JsFile, JsMap, JsRegExp, JsSet
from migrator.plan.model import DatabasePlan, FieldPlan, KeyPlan, MultiEntryPlan, PlanOptions, TablePlan
from migrator.plan.validators import Validator
from migrator.plan.validators import parse_validator as pv
from migrator.transform.compiled import Transforms, Unpredicted
from migrator.transform.prepared import prepare_generic

APPS = Path(__file__).resolve().parent.parent / "fixtures" / "apps"


# -- the comparison ------------------------------------------------------------------------------
def outcome(call) -> tuple:
    try:
        row = call()
    except ValueError as exc:          # ValueRejected, DocumentRejected, WireError
        return ("rejected", type(exc).__name__, str(exc))
    return ("prepared", row)


def assert_same(transforms: Transforms, table: TablePlan, key: Any, value: Any) -> bool:
    """Compiled and generic agree on this row; True when the compiled fast path settled it."""
    compiled = transforms.tables[table.source]
    generic = outcome(lambda: prepare_generic(compiled.rules, key, value, transforms.converter))
    assert outcome(lambda: compiled.prepare(key, value)) == generic
    try:
        fast = compiled.fast(key, value)
    except (Unpredicted, ValueError):          # declined: the generic path decides
        return False
    assert ("prepared", fast) == generic, "the fast path accepted a row the generic path does not give so"
    return True


# -- plans ---------------------------------------------------------------------------------------
def db_plan(tables: list[TablePlan], dates: str = "ms") -> DatabasePlan:
    return DatabasePlan(database="db", options=PlanOptions(dates=dates), tables=tables)


def one_table(fields: dict[str, Validator], *, multi: str | None = None, ref: bool = False) -> list[TablePlan]:
    """Table `t` keyed by `id` (a number) with these fields; optionally `*multi` as a side
    table and `ref` a reference to table `other` (keyed by a string)."""
    plan_fields = [FieldPlan(source="id", name="id", validator=Validator("number"))]
    plan_fields += [FieldPlan(source=name, name=name, validator=val) for name, val in fields.items()]
    if ref:
        plan_fields.append(FieldPlan(source="ref", name="ref", validator=pv('v.optional(v.id("other"))'),
                                     references="other"))
    key = KeyPlan(paths=["id"], outbound=False, auto=False, field="id", index="by_id", encoding="number",
                  dedicated=False)
    multi_entry = [] if multi is None else [MultiEntryPlan(source=f"*{multi}", field=multi, strategy="side-table",
                                                           table=f"t_{multi}", item=Validator("any"))]
    other = TablePlan(source="other", table="other", fields=[FieldPlan(source="k", name="k", validator=Validator("string"))],
                      indexes=[], key=KeyPlan(paths=["k"], outbound=False, auto=False, field="k", index="by_k",
                                              encoding="string", dedicated=False))
    return [TablePlan(source="t", table="t", key=key, fields=plan_fields, indexes=[], multi_entry=multi_entry), other]


# -- generated validators and values -------------------------------------------------------------
names = st.from_regex(r"[a-z][a-zA-Z0-9_]{0,6}", fullmatch=True)
literals = st.one_of(st.text(max_size=4), st.booleans(), st.integers(-3, 3),
                     st.floats(allow_nan=False, allow_infinity=False, width=32))
leaf_validators = st.one_of(
    st.sampled_from([Validator(k) for k in ("string", "number", "float64", "int64", "boolean", "null", "bytes", "any")]),
    literals.map(Validator.literal),
    st.sampled_from([Validator.id("users"), Validator.id("_storage")]),
)


def containers(inner):
    return st.one_of(
        inner.map(Validator.array),
        inner.map(Validator.record),
        st.lists(st.tuples(names, st.one_of(inner, inner.map(Validator.optional))), max_size=4,
                 unique_by=lambda p: p[0]).map(lambda fs: Validator.object(dict(fs))),
        st.lists(inner, min_size=2, max_size=3, unique=True).map(lambda ms: Validator("union", tuple(ms))),
    )


validators = st.recursive(leaf_validators, containers, max_leaves=8)
field_validators = st.one_of(validators, validators.map(Validator.optional))

odd_strings = st.integers(0, 5).flatmap(
    lambda i: st.sampled_from(["", "$x", "a%b", "\ud800", "é", "\x00", "x" * 70]) if i == 0 else st.text(max_size=8))
numbers = st.one_of(st.integers(-2**60, 2**60), st.floats(), st.sampled_from([0.0, -0.0, 2.0**53]))
dates = st.one_of(st.floats(-1e15, 1e15), st.sampled_from([float("nan"), 8.64e15, 1e17])).map(JsDate)
bigints = st.integers(-2**64, 2**64).map(JsBigInt)
binaries = st.one_of(st.binary(max_size=6).map(lambda b: JsBinary("Uint8Array", b)),
                     st.binary(max_size=6).map(lambda b: JsBlob("image/png", b)),
                     st.binary(max_size=6).map(lambda b: JsFile("text/plain", b, "f.txt", 1.0)))
js_scalars = st.one_of(st.none(), st.booleans(), numbers, odd_strings, dates, bigints, binaries,
                       st.just(UNDEFINED), st.builds(JsRegExp, st.text(max_size=3), st.sampled_from(["", "g"])))


def js_containers(inner):
    return st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(odd_strings, inner, max_size=4),
        st.lists(inner, max_size=3).map(lambda xs: JsSet(tuple(xs))),
        st.lists(st.tuples(st.one_of(odd_strings, numbers), inner), max_size=3).map(lambda es: JsMap(tuple(es))),
    )


js_values = st.recursive(js_scalars, js_containers, max_leaves=10)


def fitting(val: Validator) -> st.SearchStrategy:
    """Values of the shape the validator predicts (most of them convert and check)."""
    kind = val.kind
    if kind == "optional":
        return fitting(val.args[0])
    if kind == "string":
        return st.one_of(st.text(max_size=8), dates)
    if kind in ("number", "float64"):
        return st.one_of(numbers, dates)
    if kind == "int64":
        return bigints
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    if kind == "bytes":
        return binaries
    if kind == "any":
        return js_values
    if kind == "literal":
        lit = val.args[0]
        return st.just(lit) if isinstance(lit, (str, bool)) else st.sampled_from([lit, float(lit)])
    if kind == "id":
        ids = st.from_regex(r"[a-z0-9]{1,32}", fullmatch=True)
        return st.one_of(ids, binaries) if val.args[0] == "_storage" else ids
    if kind == "array":
        items = st.lists(fitting(val.args[0]), max_size=4)
        return st.one_of(items, items.map(lambda xs: JsSet(tuple(xs))), items.map(lambda xs: xs + [UNDEFINED]))
    if kind == "record":
        entries = st.lists(st.tuples(odd_strings, fitting(val.args[1])), max_size=4)
        return st.one_of(entries.map(dict), entries.map(lambda es: JsMap(tuple(es))))
    if kind == "object":
        fields = val.fields
        required = {k: fitting(f) for k, f in fields.items() if not f.is_optional}
        optional = {k: fitting(f) for k, f in fields.items() if f.is_optional}
        return st.fixed_dictionaries(required, optional=optional)
    if kind == "union":
        return st.one_of([fitting(m) for m in val.args])
    raise AssertionError(kind)


def value_for(val: Validator) -> st.SearchStrategy:
    """Mostly fitting values, one in eight anything at all."""
    return st.integers(0, 7).flatmap(lambda i: js_values if i == 0 else fitting(val))


@st.composite
def tables_and_rows(draw):
    fields = draw(st.dictionaries(names.filter(lambda n: n not in ("id", "ref")), field_validators,
                                  min_size=1, max_size=4))
    multi = draw(st.one_of(st.none(), st.sampled_from(sorted(fields))))
    ref = draw(st.booleans())
    dates_mode = draw(st.sampled_from(["ms", "iso"]))
    rows = []
    for index in range(draw(st.integers(1, 4))):
        value: dict[str, Any] = {"id": index}
        for name, val in fields.items():
            if not val.is_optional or draw(st.booleans()):
                value[name] = draw(value_for(val))
        if ref:
            value["ref"] = draw(st.one_of(st.text(max_size=3), st.text(max_size=3), st.none(), numbers))
        if draw(st.integers(0, 9)) == 0:
            value[draw(names)] = draw(js_values)                    # a field the mapping does not know
        key = draw(st.one_of(st.just(index), numbers, odd_strings)) if draw(st.integers(0, 9)) == 0 else index
        rows.append((key, value))
    return db_plan(one_table(fields, multi=multi, ref=ref), dates_mode), rows


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(tables_and_rows())
def test_compiled_and_generic_agree_on_generated_rows(case):
    plan, rows = case
    transforms = Transforms(plan)
    for key, value in rows:
        assert_same(transforms, plan.tables[0], key, value)


# -- the fast path takes what the plan predicts, per validator kind -----------------------------
TYPICAL = [
    ("v.string()", "text"), ("v.string()", "é ✓"), ("v.number()", 3), ("v.number()", 2.5),
    ("v.number()", float("nan")), ("v.number()", -0.0), ("v.float64()", 1.0), ("v.int64()", JsBigInt(2**62)),
    ("v.boolean()", True), ("v.null()", None), ("v.bytes()", JsBinary("ArrayBuffer", b"\x00\x01")),
    ('v.literal("a")', "a"), ("v.literal(3)", 3), ("v.literal(true)", True), ('v.id("users")', "k57abc"),
    ('v.id("_storage")', JsBlob("image/png", b"png")), ("v.optional(v.string())", "x"),
    ("v.array(v.string())", ["a", "b"]), ("v.array(v.number())", JsSet((1, 2))),
    ("v.record(v.string(), v.number())", {"a": 1, "$b": 2, "é": 3}), ("v.record(v.string(), v.number())", JsMap((("a", 1),))),
    ("v.object({a: v.number(), b: v.optional(v.string())})", {"a": 1}),
    ("v.object({inner: v.object({deep: v.array(v.union(v.string(), v.boolean()))})})", {"inner": {"deep": ["x", True]}}),
    ("v.union(v.string(), v.number(), v.null())", None), ("v.union(v.string(), v.number())", 4),
    ('v.union(v.object({k: v.literal("a"), x: v.number()}), v.object({y: v.string()}))', {"y": "s"}),
    ("v.union(v.array(v.number()), v.record(v.string(), v.number()))", {"a": 1}),
    ("v.union(v.array(v.number()), v.record(v.string(), v.number()))", [1, 2]),
    ("v.any()", {"a": [1, "x", None, {"$b": JsDate(5.0)}], "n": JsBigInt(3), "s": JsSet(("a",))}),
]


@pytest.mark.parametrize("dates", ["ms", "iso"])
@pytest.mark.parametrize("validator,value", TYPICAL)
def test_fast_path_takes_the_values_the_plan_predicts(validator, value, dates):
    plan = db_plan(one_table({"f": pv(validator)}), dates)
    assert assert_same(Transforms(plan), plan.tables[0], 1, {"id": 1, "f": value})


@pytest.mark.parametrize("validator", ["v.number()", "v.string()"])
def test_fast_path_takes_dates_in_either_mode(validator):
    dates = "ms" if validator == "v.number()" else "iso"
    plan = db_plan(one_table({"at": pv(validator)}), dates)
    assert assert_same(Transforms(plan), plan.tables[0], 1, {"id": 1, "at": JsDate(1.5e12)})


# -- the limits at their edges -------------------------------------------------------------------
def nested(depth: int, leaf: Any = 1) -> Any:
    value = leaf
    for _ in range(depth):
        value = {"a": value}
    return value


def nested_validator(depth: int) -> Validator:
    val = Validator("number")
    for _ in range(depth):
        val = Validator.object({"a": val})
    return val


LIMIT_CASES = [
    *[("v.any()", nested(d)) for d in (MAX_DEPTH - 2, MAX_DEPTH - 1, MAX_DEPTH)],
    *[(nested_validator(d).to_ts(), nested(d)) for d in (MAX_DEPTH - 2, MAX_DEPTH - 1, MAX_DEPTH)],
    *[("v.array(v.number())", list(range(n))) for n in (MAX_ARRAY, MAX_ARRAY + 1)],
    *[("v.any()", list(range(n))) for n in (MAX_ARRAY, MAX_ARRAY + 1)],
    *[("v.record(v.string(), v.number())", {f"k{i}": i for i in range(n)}) for n in (MAX_FIELDS, MAX_FIELDS + 1)],
    *[("v.any()", {f"k{i}": i for i in range(n)}) for n in (MAX_FIELDS, MAX_FIELDS + 1)],
    ("v.any()", {"": 1}), ("v.record(v.string(), v.number())", {"x" * 1025: 1}),
    ("v.record(v.string(), v.number())", {"a": 1, "%61": 2}),     # `a` and an escaped twin are two keys
    ("v.record(v.string(), v.number())", {"\x01": 1, "%01": 2}),  # two keys become one after escaping
]


@pytest.mark.parametrize("validator,value", LIMIT_CASES, ids=lambda x: str(x)[:40])
def test_limits_at_their_edges(validator, value):
    plan = db_plan(one_table({"f": pv(validator)}))
    assert_same(Transforms(plan), plan.tables[0], 1, {"id": 1, "f": value})


@pytest.mark.parametrize("extra", [-1, 0, 1])
@pytest.mark.parametrize("text", ["x", "é"])
def test_document_size_at_the_limit(extra, text):
    """A string that puts the document exactly at, one byte under and one over 1 MiB."""
    plan = db_plan(one_table({"f": pv("v.string()")}))
    transforms = Transforms(plan)
    base = transforms.prepare(plan.tables[0], 1, {"id": 1, "f": ""}).convex_size
    count = (DOCUMENT_LIMIT - SYSTEM_FIELDS_SIZE - base + extra) // len(text.encode())
    size = base + count * len(text.encode()) + SYSTEM_FIELDS_SIZE
    assert abs(size - DOCUMENT_LIMIT) <= 1
    assert assert_same(transforms, plan.tables[0], 1, {"id": 1, "f": text * count}) == (size <= DOCUMENT_LIMIT)


# -- every fixture ------------------------------------------------------------------------------
def fixture_plans(app: Path, tmp_path: Path, references: bool) -> list[tuple[DatabasePlan, list[Path]]]:
    dumps = sorted({*app.glob("dump.json"), *app.glob("dump-*.json")})
    result = commands.plan_mappings([app / "src"], dumps, tmp_path)
    paths = [w.path for w in result.writes]
    if references:
        for path in paths:
            path.write_text(re.sub(r'// suggested: ("[^"]+": "[^"]+",)', r"\1", path.read_text()))
        commands.plan_mappings([app / "src"], dumps, tmp_path)
    return [(commands.load_mapping(p), dumps) for p in paths]


@pytest.mark.parametrize("references", [False, True], ids=["as-planned", "suggested-references"])
@pytest.mark.parametrize("app", sorted(p.name for p in APPS.iterdir() if p.is_dir()))
def test_compiled_and_generic_agree_on_every_fixture_row(app, references, tmp_path):
    rows = fast = 0
    for plan, dumps in fixture_plans(APPS / app, tmp_path, references):
        transforms = Transforms(plan)
        by_source = {t.source: t for t in plan.mapped_tables()}
        for path in dumps:
            with open_dump(path) as dump:
                if dump.database_name not in (None, plan.database):
                    continue
                for row in dump.rows():
                    table = by_source.get(row.table)
                    if table is not None:
                        rows += 1
                        fast += assert_same(transforms, table, row.index if row.key is None else row.key, row.value)
    assert rows > 0
    assert fast >= rows * 0.9, f"the fast path settled only {fast} of {rows} rows"
