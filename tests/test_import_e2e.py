"""End to end: plan -> generate -> import every fixture app into the local endpoint over HTTP.

The endpoint's final contents (JSONL per table, `_storage.jsonl`) are compared with the dump,
read on its own with `open_dump`. What each value must become is written here from the
README's mapping rules, not taken from `migrator.transform`, so a transform bug shows up as
a difference. The field names (renames) and key encodings come from the mapping file the
user reviews; the README's own rename and key-field examples are checked on top.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import shutil
import struct
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from click.testing import CliRunner

from migrator import commands
from migrator.cli import cli
from migrator.dumps import open_dump
from migrator.errors import MigratorError
from migrator.importer.run import ImportOptions
from migrator.jsvalues import UNDEFINED, JsBigInt, JsBinary, JsBlob, JsDate, JsFile, JsMap, JsRegExp, JsSet
from migrator.plan.mapping_file import load_mapping
from migrator.plan.model import DatabasePlan, TablePlan
from migrator.plan.validators import Validator
from migrator.sinks.local_endpoint import local_endpoint

from conftest import FIXTURES

APPS = sorted(p.name for p in (FIXTURES / "apps").iterdir() if (p / "src").is_dir())
SYSTEM = ("_id", "_creationTime")


# -- reading the endpoint's contents (Convex-encoded JSON, decoded here on its own) -------------
@dataclass(frozen=True)
class Int64:
    value: int


def convex_value(v: Any) -> Any:
    """convexToJson -> Python: plain numbers are float64, `$integer` int64, `$bytes`, `$float`."""
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, list):
        return [convex_value(x) for x in v]
    if set(v) == {"$integer"}:
        return Int64(int.from_bytes(base64.b64decode(v["$integer"]), "little", signed=True))
    if set(v) == {"$bytes"}:
        return base64.b64decode(v["$bytes"])
    if set(v) == {"$float"}:
        return struct.unpack("<d", base64.b64decode(v["$float"]))[0]
    return {k: convex_value(x) for k, x in v.items()}


def read_table(contents: Path, table: str) -> list[dict]:
    path = contents / f"{table}.jsonl"
    return [convex_value(orjson.loads(line)) for line in path.read_bytes().splitlines()] if path.exists() else []


# -- what each value must become (README "Mapping rules") ---------------------------------------
class Rejected(Exception):
    """The row cannot be stored (documented: it goes to the rejects file with the reason).

    Its message is a word the reason must hold."""


@dataclass(frozen=True)
class Stored:
    """A Blob bound for file storage: the field holds a `_storage` id of a file with this content."""

    data: bytes
    mime: str


def refused_name(key: str) -> bool:
    return not key or key.startswith("$") or any(not 32 <= ord(c) <= 126 for c in key)


def escaped(key: str) -> str:
    """Keys Convex refuses are percent-encoded (`$w` -> `%24w`), character by character."""
    if not refused_name(key):
        return key
    out = []
    for i, c in enumerate(key):
        refused = not 32 <= ord(c) <= 126 or (i == 0 and c == "$")
        out.append("".join(f"%{b:02X}" for b in c.encode("utf-8")) if refused else c)
    return "".join(out)


def iso(ms: float) -> str:
    """JS `Date.prototype.toISOString()`."""
    if math.isnan(ms):
        raise Rejected("ISO")                            # an invalid Date has no ISO form
    stamp = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(milliseconds=ms)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def expected_value(v: Any, dates: str = "ms") -> Any:
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, (int, float)):
        return float(v)                                  # NaN, +-Infinity kept as floats
    if isinstance(v, JsDate):
        return float(v.ms) if dates == "ms" else iso(v.ms)   # epoch ms (NaN for an invalid date) or ISO
    if isinstance(v, JsBigInt):
        if not -(2**63) <= v.value < 2**63:
            raise Rejected("int64")                      # a bigint outside int64
        return Int64(v.value)
    if isinstance(v, (JsBinary, JsBlob, JsFile)):
        return bytes(v.data)
    if isinstance(v, JsRegExp):
        return {"source": v.source, "flags": v.flags}
    if isinstance(v, JsSet):
        return [expected_value(x, dates) for x in v.items]
    if isinstance(v, JsMap):
        if all(isinstance(k, str) for k, _ in v.entries):
            return {escaped(k): expected_value(x, dates) for k, x in v.entries}
        return [{"key": expected_value(k, dates), "value": expected_value(x, dates)} for k, x in v.entries]
    if isinstance(v, (list, tuple)):
        return [None if x is UNDEFINED else expected_value(x, dates) for x in v]
    if isinstance(v, dict):
        return {escaped(k): expected_value(x, dates) for k, x in v.items() if x is not UNDEFINED}
    raise AssertionError(f"the test does not know {v!r}")


def js_number_text(n: float) -> str:
    return str(int(n)) if float(n).is_integer() and abs(n) < 1e21 else repr(float(n))


def key_json(k: Any) -> str:
    """Array/mixed keys: canonical JSON text, dates as {"$date": ms}, binary as {"$bytes": b64}."""
    if isinstance(k, str):
        return json.dumps(k, ensure_ascii=False)
    if isinstance(k, (int, float)):
        return js_number_text(k)
    if isinstance(k, JsDate):
        return '{"$date":' + js_number_text(k.ms) + "}"
    if isinstance(k, JsBinary):
        return '{"$bytes":' + json.dumps(base64.b64encode(k.data).decode()) + "}"
    if isinstance(k, (list, tuple)):
        return "[" + ",".join(key_json(x) for x in k) + "]"
    raise AssertionError(f"not an IndexedDB key: {k!r}")


def expected_key(k: Any, encoding: str) -> Any:
    if encoding == "json":
        return key_json(k)
    if encoding in ("date-ms", "date-iso"):
        assert isinstance(k, JsDate)
        return float(k.ms) if encoding == "date-ms" else iso(k.ms)
    if encoding == "number":
        assert isinstance(k, (int, float)) and not isinstance(k, bool)
        return float(k)
    if encoding == "string":
        assert isinstance(k, str)
        return k
    if encoding == "bytes":
        assert isinstance(k, JsBinary)
        return k.data
    raise AssertionError(f"the test does not know key encoding {encoding}")


def storage_fields(dump_path: Path, inline_max: int) -> set[tuple[str, str]]:
    """(table, field) whose largest top-level Blob is over `blobInlineMaxBytes`: file storage."""
    largest: dict[tuple[str, str], int] = {}
    with open_dump(dump_path) as dump:
        for row in dump.rows():
            if isinstance(row.value, dict):
                for name, v in row.value.items():
                    if isinstance(v, (JsBlob, JsFile)):
                        largest[(row.table, name)] = max(largest.get((row.table, name), 0), len(v.data))
    return {tf for tf, size in largest.items() if size > inline_max}


def expected_doc(t: TablePlan, key: Any, value: Any, stored: set[tuple[str, str]], dates: str) -> dict:
    if t.wrap_value:                                     # outbound non-object values: {dexieKey, value}
        doc = {} if value is UNDEFINED else {t.wrap_value: expected_value(value, dates)}
    else:
        assert isinstance(value, dict), f"{t.source}: row {key!r} is not an object and the table is not wrapped"
        names = {f.source: f.name for f in t.fields if f.source is not None}
        doc = {}
        for name, v in value.items():
            if v is UNDEFINED:
                continue                                 # undefined property: field left out
            if (t.source, name) in stored:
                doc[names[name]] = Stored(v.data, v.mime)
            else:
                doc[names[name]] = expected_value(v, dates)
    if t.key:
        doc[t.key.field] = expected_key(key, t.key.encoding)
    return doc


def same(actual: Any, expected: Any, storage: dict[str, dict], path: str = "") -> list[str]:
    """Differences between a stored value and the expected one (NaN equals NaN; -0.0 is not 0.0)."""
    if isinstance(expected, Stored):
        entry = storage.get(actual) if isinstance(actual, str) else None
        if entry is None:
            return [f"{path}: {actual!r} is not a stored file id"]
        want = {"size": len(expected.data), "sha256": hashlib.sha256(expected.data).hexdigest(),
                "contentType": expected.mime or None}
        got = {k: entry[k] for k in want}
        return [] if got == want else [f"{path}: stored file {got} != {want}"]
    if isinstance(expected, float):
        ok = isinstance(actual, float) and (
            (math.isnan(expected) and math.isnan(actual))
            or (actual == expected and math.copysign(1, actual) == math.copysign(1, expected)))
        return [] if ok else [f"{path}: {actual!r} != {expected!r}"]
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: {actual!r} is not an object"]
        out = [f"{path}.{k}: missing" for k in expected if k not in actual]
        out += [f"{path}.{k}: unexpected {actual[k]!r}" for k in actual if k not in expected]
        for k in expected:
            if k in actual:
                out += same(actual[k], expected[k], storage, f"{path}.{k}")
        return out
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [f"{path}: {actual!r} != {expected!r}"]
        return [d for i, (a, e) in enumerate(zip(actual, expected)) for d in same(a, e, storage, f"{path}[{i}]")]
    ok = type(actual) is type(expected) and actual == expected
    return [] if ok else [f"{path}: {actual!r} != {expected!r}"]


def value_at(doc: Any, path: str) -> Any:
    for part in path.split("."):
        doc = doc.get(part) if isinstance(doc, dict) else None
    return doc


def canonical(v: Any) -> str:
    return repr(v)


# -- importing an app ---------------------------------------------------------------------------
@dataclass
class ImportedDatabase:
    plan: DatabasePlan
    mapping: Path
    dumps: list[Path]
    contents: Path
    state: Path
    summary: Any
    rejects: list[dict] = field(default_factory=list)


def plan_app(app: str, out: Path, dates: str | None = None) -> list[tuple[DatabasePlan, Path, list[Path]]]:
    """Plan the app from its sources and dump(s): (plan, mapping file, that database's dumps)."""
    src = FIXTURES / "apps" / app
    dumps = sorted(src.glob("dump*.json"))
    result = commands.plan_mappings([src / "src"], dumps, out / "mappings", dates=dates)
    planned = []
    for plan, written in zip(result.plans, result.writes):
        mine = [d for d in dumps if str(d) in plan.sources.get("dumps", [])]
        if mine:
            planned.append((plan, written.path, mine))
    return planned


def import_into_local(plan_path: Path, dumps: list[Path], out: Path, **options) -> ImportedDatabase:
    state, contents = out / "state", out / "contents"
    result = commands.import_dumps(plan_path, dumps, ImportOptions(state_dir=state, progress=False, **options),
                                   local_out=contents)
    rejects_path = state / "rejects.jsonl"
    rejects = [orjson.loads(line) for line in rejects_path.read_bytes().splitlines()] if rejects_path.exists() else []
    return ImportedDatabase(load_mapping(plan_path), plan_path, dumps, contents, state, result.summary, rejects)


@pytest.fixture(scope="module", params=APPS + ["keys-outbound@iso", "media-blobs@iso"])
def imported(request, tmp_path_factory) -> list[ImportedDatabase]:
    """Each app planned, generated and imported once (one import per database); `@iso`: dates as ISO text."""
    app, _, dates = request.param.partition("@")
    out = tmp_path_factory.mktemp(app)
    databases = []
    for plan, path, dumps in plan_app(app, out, dates or None):
        assert plan.options.dates == (dates or "ms")
        databases.append(import_into_local(path, dumps, out / plan.database))
    assert databases, f"{request.param}: no database was planned"
    return databases


@dataclass
class ExpectedRow:
    table: TablePlan
    key: Any                  # as in the dump
    doc: dict | None          # None: must be rejected
    reason: str = ""          # a word the reject's reason must hold


def expected_rows(db: ImportedDatabase) -> list[ExpectedRow]:
    by_source = {t.source: t for t in db.plan.tables}
    rows = []
    for path in db.dumps:
        stored = storage_fields(path, db.plan.options.blob_inline_max_bytes)
        with open_dump(path) as dump:
            for row in dump.rows():
                t = by_source[row.table]
                if t.skip:
                    continue
                key = row.index if row.key is None else row.key
                try:
                    rows.append(ExpectedRow(t, key, expected_doc(t, key, row.value, stored, db.plan.options.dates)))
                except Rejected as exc:
                    rows.append(ExpectedRow(t, key, None, str(exc)))
    return rows


def storage_of(db: ImportedDatabase) -> dict[str, dict]:
    path = db.contents / "_storage.jsonl"
    return {e["storageId"]: e for e in map(orjson.loads, path.read_bytes().splitlines())} if path.exists() else {}


# -- per app ------------------------------------------------------------------------------------
def test_row_counts_match_the_dump(imported):
    for db in imported:
        rows = expected_rows(db)
        for t in db.plan.mapped_tables():
            mine = [r for r in rows if r.table is t]
            stored = read_table(db.contents, t.table)
            want = sum(1 for r in mine if r.doc is not None)
            assert len(stored) == want, f"{db.plan.database}.{t.table}: {len(stored)} documents, dump has {want}"
            counts = db.summary.tables.get(t.table, Counter())
            assert counts["inserted"] == want and counts["rejected"] == len(mine) - want, (t.table, dict(counts))
        expect_rejected = sorted((r.table.table, repr(r.key), r.reason) for r in rows if r.doc is None)
        got = sorted((r["table"], repr(r["key"]), r["reason"]) for r in db.rejects)
        assert [(t, k) for t, k, _ in got] == [(t, k) for t, k, _ in expect_rejected]
        for (_, _, reason), (_, _, word) in zip(got, expect_rejected):
            assert word in reason, reason


def test_every_value_converted_as_the_rules_say(imported):
    for db in imported:
        storage = storage_of(db)
        by_table: dict[str, dict] = {}
        for t in db.plan.mapped_tables():
            docs = read_table(db.contents, t.table)
            assert t.key is not None
            by_table[t.table] = {canonical(d[t.key.field]): d for d in docs}
            assert len(by_table[t.table]) == len(docs), f"{t.table}: two documents with the same original key"
        problems = []
        for r in expected_rows(db):
            if r.doc is None:
                continue
            doc = by_table[r.table.table].get(canonical(r.doc[r.table.key.field]))
            if doc is None:
                problems.append(f"{r.table.table} {r.key!r}: no document")
                continue
            actual = {k: v for k, v in doc.items() if k not in SYSTEM}
            problems += [f"{r.table.table} {r.key!r}{d}" for d in same(actual, r.doc, storage)]
        assert not problems, "\n".join(problems[:30])


def test_blobs_stored_once_per_content(imported):
    for db in imported:
        storage = storage_of(db)
        stored = set().union(*(storage_fields(p, db.plan.options.blob_inline_max_bytes) for p in db.dumps))
        expected_files = set()
        for path in db.dumps:
            with open_dump(path) as dump:
                for row in dump.rows():
                    for name, v in (row.value.items() if isinstance(row.value, dict) else ()):
                        if (row.table, name) in stored:
                            expected_files.add(hashlib.sha256(v.data).hexdigest())
        assert sorted(e["sha256"] for e in storage.values()) == sorted(expected_files)


def test_multi_entry_side_tables(imported):
    for db in imported:
        for t, m in db.plan.side_tables():
            docs = read_table(db.contents, t.table)
            side = read_table(db.contents, m.table)
            by_owner: dict[str, Counter] = {}
            for row in side:
                assert set(row) - set(SYSTEM) == {"owner", "value"}, row
                by_owner.setdefault(row["owner"], Counter())[canonical(row["value"])] += 1
            total = 0
            for d in docs:
                elements = value_at(d, m.field)
                if elements is None:
                    continue
                elements = elements if isinstance(elements, list) else [elements]
                unique = Counter({canonical(e): 1 for e in elements})   # one index entry per distinct value
                total += sum(unique.values())
                assert by_owner.get(d["_id"], Counter()) == unique, (m.table, d["_id"], m.field)
            assert len(side) == total > 0, f"{m.table}: {len(side)} side rows, {total} elements"


def test_key_fields_follow_the_rules(imported):
    for db in imported:
        for t in db.plan.mapped_tables():
            single = len(t.key.paths) == 1 and "." not in t.key.paths[0]
            if t.key.outbound or not single:
                assert (t.key.field, t.key.index) == ("dexieKey", "by_dexieKey"), t.table
            elif t.key.field == "id":
                assert t.key.index == "by_id_key", t.table      # `by_id` is reserved by Convex
            for f in t.fields:
                assert not refused_name(f.name) and not f.name.startswith("_") and len(f.name) <= 64, f.name


def value_kinds(v: Any, top: bool = False) -> set[str]:
    if isinstance(v, (JsBlob, JsFile)):
        return {"Blob", "large Blob" if len(v.data) > 256 * 1024 else "small Blob"}
    if isinstance(v, float) and not math.isfinite(v):
        return {"NaN" if math.isnan(v) else "Infinity"}
    kinds = {type(v).__name__} if isinstance(v, (JsDate, JsBigInt, JsBinary, JsMap, JsSet, JsRegExp)) else set()
    if top and not isinstance(v, dict):
        kinds.add("non-object row")
    inner = v.items() if isinstance(v, dict) else enumerate(v) if isinstance(v, (list, tuple)) else ()
    for _, x in inner:
        kinds |= value_kinds(x)
    return kinds


def test_the_fixtures_hold_every_kind_of_value_the_rules_name():
    """So that the comparisons above are not vacuous."""
    kinds: set[str] = set()
    for path in sorted((FIXTURES / "apps").glob("*/dump*.json")):
        with open_dump(path) as dump:
            for row in dump.rows():
                kinds |= value_kinds(row.value, top=True)
                kinds |= {f"{type(k).__name__} key" for k in (row.key if isinstance(row.key, tuple) else [row.key])}
                if isinstance(row.value, dict) and any(refused_name(k) or k.startswith("_") for k in row.value):
                    kinds.add("renamed field")
    assert {"JsDate", "JsBigInt", "JsBinary", "JsMap", "JsSet", "JsRegExp", "NaN", "Infinity", "small Blob",
            "large Blob", "non-object row", "renamed field", "JsDate key", "JsBinary key", "list key", "str key",
            "float key"} <= kinds, kinds


# README examples of renamed fields and key fields, checked against the fixtures that hold them.
README_RENAMES = {
    ("mongo-style-ids", "users", "_id"): "id",
    ("mongo-style-ids", "sessions", "$$id"): "id",
    ("nested-dotted", "people", "_internal"): "internal",
    ("nested-dotted", "people", "$price"): "price",
    ("media-blobs", "oddities", "$types"): "types",
}


@pytest.mark.parametrize("app,table,source", sorted(README_RENAMES))
def test_readme_renames(app, table, source, tmp_path):
    plans = {t.source: t for plan, _, _ in plan_app(app, tmp_path) for t in plan.tables}
    fields = {f.source: f.name for f in plans[table].fields}
    assert fields[source] == README_RENAMES[(app, table, source)]


# -- references ---------------------------------------------------------------------------------
def edit_mapping(path: Path, pattern: str, replacement: str) -> None:
    text = path.read_text(encoding="utf-8")
    edited, n = re.subn(pattern, replacement, text, count=1)
    assert n == 1, f"{pattern!r} not in {path}"
    path.write_text(edited, encoding="utf-8")


def test_declared_reference_points_at_the_right_document(tmp_path):
    """contacts.companyId -> companies, and deals.contactId -> contacts (which wait for companies themselves)."""
    (plan, path, dumps), = plan_app("crm-class-ts", tmp_path)
    declared = {"contacts.companyId": "companies", "deals.contactId": "contacts"}
    edit_mapping(path, r'"references": \{', '"references": ' + json.dumps(declared)[:-1] + ",")
    commands.plan_mappings([FIXTURES / "apps/crm-class-ts/src"], dumps, tmp_path / "mappings")   # keeps the edit
    assert load_mapping(path).references == declared
    # One batch at a time: with several in flight, the companies batch may land before the contacts one.
    db = import_into_local(path, dumps, tmp_path / "run", concurrency=1)
    assert db.rejects == []
    original: dict[str, dict[float, dict]] = {}
    with open_dump(dumps[0]) as dump:
        for row in dump.rows():
            original.setdefault(row.table, {})[float(row.key)] = row.value
    ids = {table: {d["id"]: d["_id"] for d in read_table(db.contents, table)} for table in original}
    for ref, target in declared.items():
        table, _, field_name = ref.partition(".")
        docs = read_table(db.contents, table)
        assert len(docs) == len(original[table]) > 0
        for d in docs:
            assert d[field_name] == ids[target][float(original[table][d["id"]][field_name])], (ref, d)
        # both tables come before their targets' rows are all in: every row waited for a later round
        assert db.summary.tables[table]["inserted"] == db.summary.tables[table]["resolved"] == len(docs)
    deals = read_table(db.contents, "deals")
    assert all(d["companyId"] == float(original["deals"][d["id"]]["companyId"]) for d in deals)  # not declared


# -- owners -------------------------------------------------------------------------------------
def test_two_dumps_of_one_database_stay_apart_by_owner(tmp_path):
    (plan, path, dumps), = plan_app("todo-js", tmp_path)
    edit_mapping(path, r'"ownerField": null', '"ownerField": "userId"')
    copies = []
    for user in ("alice", "bob"):
        copies.append(tmp_path / f"{user}.json")
        shutil.copy(dumps[0], copies[-1])
    # the edit takes effect as it is: the owner field and the owner-scoped key indexes follow from it
    db = import_into_local(path, copies, tmp_path / "run", owner_field="userId", owner_from="filename")
    assert db.rejects == []
    rows = [r for r in expected_rows(ImportedDatabase(db.plan, path, dumps, db.contents, db.state, None))]
    storage = storage_of(db)
    for t in db.plan.mapped_tables():
        docs = read_table(db.contents, t.table)
        mine = [r for r in rows if r.table is t]
        assert len(docs) == 2 * len(mine) > 0
        by_owner_key = {(d["userId"], canonical(d[t.key.field])): d for d in docs}
        assert len(by_owner_key) == len(docs)
        for owner in ("alice", "bob"):
            for r in mine:
                doc = by_owner_key[(owner, canonical(r.doc[t.key.field]))]
                actual = {k: v for k, v in doc.items() if k not in SYSTEM}
                assert same(actual, {**r.doc, "userId": owner}, storage) == []


# -- replace, re-runs, summary ------------------------------------------------------------------
@pytest.mark.parametrize("app,references", [
    ("notes-entitytable", {}),
    ("crm-class-ts", {"contacts.companyId": "companies", "deals.contactId": "contacts"}),
])
def test_rerun_restart_and_replace(app, references, tmp_path):
    (plan, path, dumps), = plan_app(app, tmp_path)
    if references:
        edit_mapping(path, r'"references": \{', '"references": ' + json.dumps(references)[:-1] + ",")
        commands.plan_mappings([FIXTURES / "apps" / app / "src"], dumps, tmp_path / "mappings")
    rows = Counter()
    with open_dump(dumps[0]) as dump:
        for row in dump.rows():
            rows[row.table] += 1
    waiting = {ref.partition(".")[0] for ref in references}   # in the dump before the rows they refer to
    convex_dir, contents = tmp_path / "convex", tmp_path / "contents"
    commands.generate_convex([path], convex_dir)
    state = tmp_path / "state"

    def run(restart=False, replace=False):
        # one batch at a time: rows wait for references as the dump's order says, whatever batch lands first
        return commands.import_dumps(path, dumps, ImportOptions(state_dir=state, progress=False, restart=restart,
                                                                concurrency=1),
                                     url=dep.url, deploy_key=dep.key.reveal(), replace=replace)

    def counts(result) -> dict:
        return {t: {k: v for k, v in c.items() if v and k != "blobs"} for t, c in result.summary.tables.items()}

    into_empty = {t: {"read": n, "inserted": n, **({"deferred": n, "resolved": n} if t in waiting else {})}
                  for t, n in rows.items()}
    with local_endpoint(convex_dir, contents) as dep:
        assert counts(run()) == into_empty
        again = run()                                  # checkpoint: everything already acknowledged
        assert counts(again) == {t: {"skipped": n} for t, n in rows.items()}
        assert again.summary.requests <= 1             # the plan check, no writes
        restarted = run(restart=True)                  # forgets the checkpoint: upserts find every row as it is
        assert counts(restarted) == {t: {"read": n, "unchanged": n} for t, n in rows.items()}
        replaced = run(replace=True)
        assert replaced.cleared == dict(rows)
        assert counts(replaced) == into_empty
    for table, n in rows.items():
        assert len(read_table(contents, table)) == n
    for t, m in plan.side_tables():
        elements = sum(len(set(value_at(r, m.field) or [])) for r in read_table(contents, t.table))
        assert len(read_table(contents, m.table)) == elements > 0


def test_cli_import_summary_json(tmp_path):
    (plan, path, dumps), = plan_app("crm-class-ts", tmp_path)
    summary_path, contents = tmp_path / "summary.json", tmp_path / "contents"
    result = CliRunner().invoke(cli, ["import", str(path), str(dumps[0]), "--state-dir", str(tmp_path / "state"),
                                      "--local-out", str(contents), "--summary-json", str(summary_path), "-q"])
    assert result.exit_code == 0, result.output
    assert "Imported into the local Convex endpoint" in result.output
    rows = Counter()
    with open_dump(dumps[0]) as dump:
        for row in dump.rows():
            rows[row.table] += 1
    summary = json.loads(summary_path.read_text())
    assert set(summary["tables"]) == set(rows)
    for table, n in rows.items():
        counts = summary["tables"][table]
        assert counts["read"] == counts["inserted"] == n and counts["rejected"] == 0, (table, counts)
        assert re.search(rf"^{table}\s+{n}\s+{n}\s", result.output, re.M), result.output
    assert summary["rejectedTotal"] == 0 and summary["rejectsFile"] is None and summary["stopped"] is None
    assert summary["target"].startswith("the local Convex endpoint (http://127.0.0.1:")
    assert summary["requests"] >= len(rows)
    for table, n in rows.items():
        assert len(read_table(contents, table)) == n
    assert (tmp_path / "state" / "local-convex.log").exists()        # the endpoint's output, not a pipe


def test_cli_import_with_a_rejected_row_exits_non_zero(tmp_path):
    (plan, path, dumps), = plan_app("media-blobs", tmp_path)
    summary_path = tmp_path / "summary.json"
    result = CliRunner().invoke(cli, ["import", str(path), str(dumps[0]), "--state-dir", str(tmp_path / "state"),
                                      "--summary-json", str(summary_path), "-q"])
    assert result.exit_code == 1
    assert "1 rows rejected" in result.output and "rejects.jsonl" in result.output
    summary = json.loads(summary_path.read_text())
    assert summary["rejectedTotal"] == 1 and summary["tables"]["oddities"]["rejected"] == 1
    assert summary["rejectsFile"] == str(tmp_path / "state" / "rejects.jsonl")


# -- the local endpoint's own output ------------------------------------------------------------
SCHEMA_TS = ('import { defineSchema, defineTable } from "convex/server";\nimport { v } from "convex/values";\n'
             'export default defineSchema({ items: defineTable({ n: v.number() }) });\n')
CHATTY_TS = ('import { query } from "./_generated/server";\n'
             'console.error("chatty module loaded");\n'
             'export const ping = query({ args: {}, handler: async () => {\n'
             '  process.stderr.write("y".repeat(1 << 20) + "\\n");\n'
             '  return "pong";\n'
             '} });\n')


def test_chatty_endpoint_output_goes_to_its_log(tmp_path):
    """Several MiB on stderr, far more than a pipe holds: nothing of it may sit in an unread pipe.

    (Node queues pipe writes in memory rather than blocking, so with an unread pipe the
    endpoint's memory grew with every line it wrote instead of the import hanging.)
    """
    convex = tmp_path / "convex"
    convex.mkdir()
    (convex / "schema.ts").write_text(SCHEMA_TS)
    (convex / "chatty.ts").write_text(CHATTY_TS)
    log = tmp_path / "endpoint.log"
    with local_endpoint(convex, log_path=log) as dep:
        for _ in range(3):
            reply = httpx.post(f"{dep.url}/api/query", json={"path": "chatty:ping", "args": {}, "format": "json"},
                               timeout=30).json()
            assert reply["value"] == "pong"
    text = log.read_text()
    assert "chatty module loaded" in text and text.count("y" * (1 << 20)) == 3


def test_endpoint_start_failure_shows_its_log_tail_with_the_key_redacted(tmp_path):
    convex = tmp_path / "convex"
    convex.mkdir()
    (convex / "schema.ts").write_text(SCHEMA_TS)
    (convex / "broken.ts").write_text('console.error("admin key is " + process.env.CONVEX_LOCAL_ADMIN_KEY + ".");\n'
                                      'throw new Error("broken module: something missing");\n')
    log = tmp_path / "endpoint.log"
    with pytest.raises(MigratorError) as err:
        with local_endpoint(convex, log_path=log):
            pass
    message = str(err.value)
    assert "did not start" in message and "exited with code 1" in message and "missing" in message
    assert str(log) in message and "schema.ts" in err.value.remedy
    key = re.search(r"admin key is (\S+)\.", log.read_text()).group(1)
    assert len(key) >= 32 and key not in message and "admin key is ***." in message


# -- a union's member order is the user's to edit -----------------------------------------------
def test_union_member_order_does_not_change_the_conversion(tmp_path):
    """media-blobs' `oddities.value` is a union of many shapes; reversed, every value still lands as the rules say."""
    (plan, path, dumps), = plan_app("media-blobs", tmp_path)
    value = next(f for t in plan.tables if t.source == "oddities" for f in t.fields if f.name == "value")
    union = value.validator.required
    assert union.kind == "union" and {"object", "record", "array"} <= {m.kind for m in union.args}
    reversed_union = Validator.optional(Validator("union", tuple(reversed(union.args))))
    text, written = path.read_text(encoding="utf-8"), json.dumps(value.validator.to_ts())
    assert text.count(written) == 1
    path.write_text(text.replace(written, json.dumps(reversed_union.to_ts())), encoding="utf-8")
    assert next(f for t in load_mapping(path).tables for f in t.fields if f.name == "value").validator == reversed_union
    db = import_into_local(path, dumps, tmp_path / "run")
    rows = [r for r in expected_rows(db) if r.table.source == "oddities"]
    docs = {d["id"]: d for d in read_table(db.contents, "oddities")}
    assert sorted(r["key"] for r in db.rejects) == sorted(r.key for r in rows if r.doc is None)
    problems = [f"{r.key}{d}" for r in rows if r.doc is not None
                for d in same({k: v for k, v in docs.get(r.key, {}).items() if k not in SYSTEM}, r.doc, {})]
    assert not problems, "\n".join(problems)


def test_restarted_import_stores_no_file_twice(tmp_path):
    (plan, path, dumps), = plan_app("media-blobs", tmp_path)
    convex_dir, contents = tmp_path / "convex", tmp_path / "contents"
    commands.generate_convex([path], convex_dir)
    with local_endpoint(convex_dir, contents) as dep:
        for restart in (False, True):
            result = commands.import_dumps(path, dumps, ImportOptions(state_dir=tmp_path / "state", progress=False,
                                                                      restart=restart),
                                           url=dep.url, deploy_key=dep.key.reveal())
    media = result.summary.tables["media"]
    assert media["read"] == media["unchanged"] == 6 and media["inserted"] == media["updated"] == 0
    assert len((contents / "_storage.jsonl").read_bytes().splitlines()) == 6
    assert len(read_table(contents, "media")) == 6


def test_cli_replace_asks_first(tmp_path):
    (plan, path, dumps), = plan_app("todo-js", tmp_path)
    args = ["import", str(path), str(dumps[0]), "--state-dir", str(tmp_path / "state"), "--replace", "-q"]
    refused = CliRunner().invoke(cli, args, input="n\n")
    assert refused.exit_code == 1 and "Delete every row of the mapped tables" in refused.output
    assert "not replacing: nothing was changed" in refused.output
    accepted = CliRunner().invoke(cli, args, input="y\n")
    assert accepted.exit_code == 0, accepted.output
    assert re.search(r"^replaced: deleted 0 rows of todoItems first$", accepted.output, re.M), accepted.output


def test_owners_scope_references_and_unique_indexes(tmp_path):
    """crm twice (two users): each contact's company is the one of its own owner, and the unique
    `&domain` index of companies holds per owner, not across them."""
    (plan, path, dumps), = plan_app("crm-class-ts", tmp_path)
    edit_mapping(path, r'"ownerField": null', '"ownerField": "userId"')
    edit_mapping(path, r'"references": \{', '"references": {"contacts.companyId": "companies",')
    commands.plan_mappings([FIXTURES / "apps/crm-class-ts/src"], dumps, tmp_path / "mappings")
    copies = [tmp_path / "ann.json", tmp_path / "ben.json"]
    for copy in copies:
        shutil.copy(dumps[0], copy)
    db = import_into_local(path, copies, tmp_path / "run", owner_field="userId", owner_from="filename")
    assert db.rejects == []
    companies = {(d["userId"], d["id"]): d for d in read_table(db.contents, "companies")}
    assert len(companies) == 12 and len({d["domain"] for d in companies.values()}) == 6
    original = {}
    with open_dump(dumps[0]) as dump:
        for row in dump.rows():
            if row.table == "contacts":
                original[float(row.key)] = float(row.value["companyId"])
    contacts = read_table(db.contents, "contacts")
    assert len(contacts) == 48
    for c in contacts:
        assert c["companyId"] == companies[(c["userId"], original[c["id"]])]["_id"], c


def test_reference_to_a_compound_key(tmp_path):
    """keys-outbound with `messages.member = [userId, roomId]` pointing at a room-members row."""
    raw = json.loads((FIXTURES / "apps/keys-outbound/dump.json").read_text())
    tables = {t["tableName"]: t["rows"] for t in raw["data"]["data"]}
    members = tables["room-members"]
    for i, message in enumerate(tables["messages"]):
        message["member"] = [members[i % len(members)]["userId"], members[i % len(members)]["roomId"]]
    dump = tmp_path / "dump.json"
    dump.write_text(json.dumps(raw))
    src = FIXTURES / "apps/keys-outbound/src"
    path = commands.plan_mappings([src], [dump], tmp_path / "mappings").writes[0].path
    edit_mapping(path, r'"references": \{', '"references": {"messages.member": "room-members",')
    commands.plan_mappings([src], [dump], tmp_path / "mappings")
    db = import_into_local(path, [dump], tmp_path / "run")
    ids = {d["dexieKey"]: d["_id"] for d in read_table(db.contents, "room_members")}
    messages = read_table(db.contents, "messages")
    assert db.rejects == [] and len(messages) == 24
    for m in messages:
        member = members[(int(m["id"]) - 1) % len(members)]          # message ids are 1.. in dump order
        assert m["member"] == ids[key_json([member["userId"], member["roomId"]])]


def test_blobs_stored_by_concurrent_small_batches(tmp_path):
    """Many storeFile actions in flight at once (one row per batch): every Blob is stored, none rejected."""
    [(plan, path, dumps)] = plan_app("media-blobs", tmp_path)
    db = import_into_local(path, dumps, tmp_path / "run", batch_rows=1, concurrency=8)
    assert [r["reason"] for r in db.rejects if "outside int64" not in r["reason"]] == []
    stored = storage_fields(dumps[0], plan.options.blob_inline_max_bytes)
    with open_dump(dumps[0]) as dump:
        blobs = sum(1 for row in dump.rows() if isinstance(row.value, dict)
                    for name in row.value if (row.table, name) in stored)
    assert blobs and db.summary.tables["media"]["blobs"] == blobs
