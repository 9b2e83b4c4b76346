"""Differential test: the Python validator against Convex's own code, on generated documents.

Hypothesis generates documents for one schema of several tables that covers every
validator kind (valid ones, wrong types, missing and extra fields, bad field names, the
document limits at their edges). `migrator/node/validate_docs.mjs` gives Convex's verdict
on each in one Node process:

- verdicts from **convex-test** (inserting through it with the same schema, rendered by
  `Validator.to_ts`): schema validators, unions, optional, `v.id` table, extra/missing
  fields, and the field-name checks of the `convex` package's value encoding;
- verdicts from **local_convex_limits.mjs** (the rules convex-test does not enforce, as the
  local endpoint applies them): 1 MiB by Convex's size formula, nesting 16, 8192 array
  elements, 1024 fields, field-name rules, valid Unicode.

A document is refused when either refuses it; `check_document` must agree on every one.

Excluded on purpose, because convex-test is wrong there against Convex's documented
behaviour: `v.record` contents. convex-test 0.0.60 has no `record` case in its validator,
so it accepts any value for a record field; real Convex checks keys and values. Record
fields here therefore only get objects whose values match (their keys still vary and meet
the field-name rules); refusing bad record contents is tested in test_validate.py.
Ids: convex-test's fake ids are digits followed by the table name, so the Python side is
given `convex_test_id_table` to read the table from them.
"""

from __future__ import annotations

import functools
import json
import re
import subprocess
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from migrator.convex_names import DOCUMENT_LIMIT, MAX_ARRAY, MAX_DEPTH, MAX_FIELDS, SYSTEM_FIELDS_SIZE
from migrator.node_tools import ensure_node_modules
from migrator.plan.validators import Validator
from migrator.plan.validators import parse_validator as pv
from migrator.sinks.wire import encode
from migrator.validate.document import check_document, value_size

TABLES: dict[str, dict[str, Validator]] = {
    "scalars": {
        "s": pv("v.string()"), "n": pv("v.number()"), "f": pv("v.float64()"), "i": pv("v.int64()"),
        "b": pv("v.boolean()"), "z": pv("v.null()"), "by": pv("v.bytes()"), "a": pv("v.any()"),
        "os": pv("v.optional(v.string())"),
    },
    "choices": {
        "ls": pv('v.literal("a")'), "ln": pv("v.literal(3)"), "lb": pv("v.literal(true)"),
        "u": pv("v.union(v.string(), v.number(), v.null())"),
        "ou": pv('v.optional(v.union(v.literal("x"), v.int64()))'),
        "tagged": pv('v.union(v.object({k: v.literal("a"), x: v.number()}), '
                     'v.object({k: v.literal("b"), y: v.optional(v.string())}))'),
    },
    "refs": {
        "one": pv('v.id("scalars")'), "many": pv('v.array(v.id("choices"))'),
        "file": pv('v.optional(v.id("_storage"))'), "either": pv('v.optional(v.union(v.id("scalars"), v.id("refs")))'),
    },
    "nested": {
        "arr": pv("v.array(v.number())"),
        "obj": pv("v.object({x: v.number(), inner: v.optional(v.object({deep: v.array(v.union(v.string(), v.boolean()))}))})"),
        "rec": pv("v.record(v.string(), v.union(v.number(), v.string()))"),
        "free": pv("v.optional(v.any())"),
    },
}
GENERAL_DOCUMENTS = 10_000        # distinct ones
LIMIT_DOCUMENTS = 400
LIMIT_KINDS = ["depth", "array", "fields", "size", "size-utf8", "size-bytes"]
MISSING = object()


def convex_test_id_table(value: str) -> str | None:
    """The table of one of convex-test's fake ids (digits, then the table name)."""
    digits = re.match(r"[0-9]+", value)
    return value[digits.end():] if digits and digits.end() < len(value) else None


def schema_module() -> str:
    tables = ",\n".join(f"  {name}: defineTable({Validator.object(fields).to_ts(1)[len('v.object('):-1]})"
                        for name, fields in TABLES.items())
    return f"export default ({{ defineSchema, defineTable, v }}) => defineSchema({{\n{tables}\n}});\n"


# -- strategies ---------------------------------------------------------------------------
# Values come from small pools (one Hypothesis choice each, so 10,000 documents stay fast);
# the pools hold the edge cases that matter to a validator.
GOOD_NAMES = ["a", "b", "x", "name", "k_2", "Z9", "_", "with space", "~!", "x" * 1024]
BAD_NAMES = ["$x", "_x", "_id", "é", "", "\x07", "x" * 1025, "ok\ud800"]
NAMES = st.one_of(st.sampled_from(GOOD_NAMES), st.sampled_from(BAD_NAMES), st.sampled_from(GOOD_NAMES))
GOOD_STRINGS = st.sampled_from(["", "a", "hello world", "é", "😀", "\u2028", "x" * 100])
FLOATS = st.sampled_from([0.0, -0.0, 1.5, -2.0, 3.0, float("nan"), float("inf"), float("-inf"), 1e308, 5e-324])
INTS = st.sampled_from([0, 1, -1, 3, 2**63 - 1, -(2**63)])
BYTES = st.sampled_from([b"", b"\x00", b"abc"])
SCALARS = st.one_of(st.none(), st.booleans(), FLOATS, INTS, GOOD_STRINGS, BYTES, st.sampled_from(["\ud800", "a\udfff"]))
ANY = st.recursive(SCALARS, lambda kids: st.lists(kids, max_size=3) | st.dictionaries(NAMES, kids, max_size=3),
                   max_leaves=6)
TABLE_NAMES = ["scalars", "choices", "refs", "_storage", "other"]
IDS = st.one_of(st.sampled_from(["abc", "", "123", "scalars"]),
                st.tuples(st.integers(1, 999), st.sampled_from(TABLE_NAMES)).map(lambda p: f"{p[0]:05d}{p[1]}"))


@functools.cache
def valid(val: Validator) -> st.SearchStrategy:
    """Values meeting `val` (ids in convex-test's format)."""
    kind = val.kind
    simple = {"string": GOOD_STRINGS, "number": FLOATS, "float64": FLOATS, "int64": INTS, "boolean": st.booleans(),
              "null": st.none(), "bytes": BYTES, "any": ANY}
    if kind in simple:
        return simple[kind]
    if kind == "optional":
        return valid(val.args[0])
    if kind == "literal":
        lit = val.args[0]
        return st.just(float(lit) if isinstance(lit, (int, float)) and not isinstance(lit, bool) else lit)
    if kind == "id":
        return st.integers(1, 999).map(lambda n, t=val.args[0]: f"{n:05d}{t}")
    if kind == "array":
        return st.lists(valid(val.args[0]), max_size=3)
    if kind == "record":   # keys vary; values always match (see the module docstring)
        return st.dictionaries(NAMES, valid(val.args[1]), max_size=3)
    if kind == "union":
        return st.one_of(*(valid(m) for m in val.args))
    if kind == "object":
        return object_of(val.fields)
    raise AssertionError(kind)


@functools.cache
def maybe_valid(val: Validator) -> st.SearchStrategy:
    """Valid, any value (or a wrong id), or the field left out."""
    required = val.required
    if required.kind == "record":
        return valid(val)
    wrong = [IDS if required.kind == "id" else ANY, st.just(MISSING)]
    if required.kind == "literal":     # the same value as another type: 3 as int64, True as 1.0, "A" for "a"
        lit = required.args[0]
        wrong.append(st.just(1.0 if isinstance(lit, bool) else lit.upper() if isinstance(lit, str) else int(lit)))
    return st.one_of(valid(val), *wrong)


EXTRA = st.dictionaries(NAMES, ANY, max_size=1)


def object_of(fields: dict[str, Validator], faulty: bool = False) -> st.SearchStrategy:
    """Objects for these fields; `faulty`: fields may be wrong or missing, and one extra field."""
    def build(parts: tuple[dict, dict]) -> dict:
        drawn, extra = parts
        return {**extra, **{k: v for k, v in drawn.items() if v is not MISSING}}
    values = st.fixed_dictionaries({k: (maybe_valid if faulty else valid)(v) for k, v in fields.items()})
    return st.tuples(values, EXTRA if faulty else st.just({})).map(build)


# Half meant to be valid, half with faults (Hypothesis spreads its choices evenly over the
# branches it has not explored yet, so weights by repeating a branch would not hold).
DOCUMENTS = st.one_of(*(object_of(fields, faulty).map(lambda d, t=t: (t, d))
                        for faulty in (False, True) for t, fields in TABLES.items()))
DOCUMENTS_PER_EXAMPLE = 20


def nested_value(shape: list[bool], leaf) -> object:
    """Containers nested len(shape) deep (True: object, False: array) around `leaf`."""
    value = leaf
    for is_object in reversed(shape):
        value = {"k": value} if is_object else [value]
    return value


@st.composite
def limit_document(draw) -> tuple[str, dict]:
    """(which limit, a valid `nested` document pushed to that limit's edge through `free`)."""
    doc = {"arr": [], "obj": {"x": 1.0}, "rec": {}}
    which = draw(st.sampled_from(LIMIT_KINDS))
    if which == "depth":    # `free` is level 2, so MAX_DEPTH - 1 containers reach the limit
        shape = draw(st.lists(st.booleans(), min_size=MAX_DEPTH - 3, max_size=MAX_DEPTH + 1))
        doc["free"] = nested_value(shape, draw(st.sampled_from([1.0, "s", None])))
    elif which == "array":
        doc["free"] = [0.0] * draw(st.integers(MAX_ARRAY - 2, MAX_ARRAY + 2))
    elif which == "fields":
        doc["free"] = {f"f{i}": None for i in range(draw(st.integers(MAX_FIELDS - 2, MAX_FIELDS + 2)))}
    else:                   # within a few bytes of 1 MiB, counted by the formula in convex-facts.md
        delta = draw(st.integers(-3, 3))
        base = value_size({**doc, "free": ""}) + SYSTEM_FIELDS_SIZE
        room = DOCUMENT_LIMIT - base + delta
        if which == "size":
            doc["free"] = "x" * room
        elif which == "size-utf8":
            doc["free"] = "é" * (room // 2) + "x" * (room % 2)
        else:
            doc["free"] = b"\x00" * room
    return which, doc


def collect(strategy: st.SearchStrategy, count: int) -> list:
    found: list = []

    @settings(max_examples=count, database=None, derandomize=True, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def draw(example):
        found.append(example)

    draw()
    return found


def convex_verdicts(tmp_path: Path, docs: list[tuple[str, dict]]) -> list[dict]:
    schema = tmp_path / "schema.mjs"
    schema.write_text(schema_module())
    lines = "".join(json.dumps({"table": t, "doc": encode(d)}) + "\n" for t, d in docs)
    script = ensure_node_modules() / "validate_docs.mjs"
    run = subprocess.run(["node", str(script), str(schema)], input=lines, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    verdicts = [json.loads(line) for line in run.stdout.split("\n") if line]   # not splitlines: U+2028 in messages
    assert len(verdicts) == len(docs)
    return verdicts


def brief(value, limit: int = 300) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


def test_python_validator_agrees_with_convex(tmp_path):
    batches = collect(st.lists(DOCUMENTS, min_size=DOCUMENTS_PER_EXAMPLE, max_size=DOCUMENTS_PER_EXAMPLE,
                               unique_by=repr), GENERAL_DOCUMENTS * 105 // 100 // DOCUMENTS_PER_EXAMPLE)
    distinct = {repr(doc): doc for batch in batches for doc in batch}
    assert len(distinct) >= GENERAL_DOCUMENTS
    at_limits = collect(limit_document(), LIMIT_DOCUMENTS)
    docs = list(distinct.values()) + [("nested", doc) for _, doc in at_limits]
    verdicts = convex_verdicts(tmp_path, docs)
    disagreements, refused = [], {"convex-test": 0, "limits": 0, "both": 0}
    for (table, doc), verdict in zip(docs, verdicts):
        problems = check_document(doc, TABLES[table], convex_test_id_table)
        by_test, by_limits = verdict["convexTest"] is not None, verdict["limits"] is not None
        if by_test or by_limits:
            refused["both" if by_test and by_limits else "convex-test" if by_test else "limits"] += 1
        if bool(problems) != (by_test or by_limits):
            disagreements.append(f"{table} {brief(doc)}\n  python: {[str(p) for p in problems]}\n  convex: {verdict}")
    assert not disagreements, f"{len(disagreements)} disagreements, e.g.:\n" + "\n".join(disagreements[:8])
    # The generated set exercises both sides of every verdict.
    accepted = len(docs) - sum(refused.values())
    assert accepted > len(docs) // 5 and sum(refused.values()) > len(docs) // 5, (accepted, refused)
    assert all(n > 50 for n in refused.values()), refused
    # Each limit is met from both sides: some documents at its edge pass, some are refused.
    outcomes = {(which, v["limits"] is None) for (which, _), v in zip(at_limits, verdicts[-len(at_limits):])}
    assert outcomes == {(which, ok) for which in LIMIT_KINDS for ok in (True, False)}, outcomes
