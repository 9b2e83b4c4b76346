"""The import is exactly once and resumable under crashes and faults, and never leaks the key.

Everything runs for real: the CLI (`python -m migrator import`) in a subprocess, against the
local Convex-compatible endpoint (`migrator/node/local_convex.mjs` on convex-test) that this
module starts itself, so it outlives importers killed with SIGKILL. Expectations come from
the fixture dumps read here with plain `json` (not with the migrator's reader) and from
the documented mapping rules: an inbound key stays its field, references hold the `_id`
of the row whose key the dump names, a multiEntry field gets one side row per element.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
import traceback
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from conftest import sigint_as_ctrl_c
from migrator import commands
from migrator.importer.run import ImportOptions
from migrator.sinks.local_endpoint import local_endpoint

ROOT = Path(__file__).resolve().parent.parent
APPS = ROOT / "fixtures" / "apps"
# A deploy key nobody could mistake: every test below greps its outputs for it.
KEY = "prod:resilience-test|KEY-7c1e5b0d9a3f4e2b8c6d1a0f9e8d7c6b5a4f3e2d"


# -- the fixture apps, planned and generated once -------------------------------------------------
@dataclass
class App:
    name: str
    dump: Path
    mapping: Path
    convex: Path
    raw: dict                 # the dump as plain JSON

    def tables(self) -> dict[str, dict]:
        """Per table: key path (from the schema string) and rows, straight from the dump file."""
        schemas = {t["name"]: t["schema"] for t in self.raw["data"]["tables"]}
        out = {}
        for t in self.raw["data"]["data"]:
            key = schemas[t["tableName"]].split(",")[0].lstrip("+&")
            out[t["tableName"]] = {"key": key, "rows": t["rows"]}
        return out


def _prepare(name: str, base: Path) -> App:
    """plan -> apply every suggested reference (as a user would, by un-commenting it) -> plan -> generate."""
    src, dump = APPS / name / "src", APPS / name / "dump.json"
    first = commands.plan_mappings([src], [dump], base / "mappings")
    mapping = first.writes[0].path
    text = mapping.read_text()
    mapping.write_text(re.sub(r"// suggested: (\"[^\"]+\": \"[^\"]+\",)", r"\1", text))
    commands.plan_mappings([src], [dump], base / "mappings")
    commands.generate_convex([mapping], base / "convex")
    return App(name, dump, mapping, base / "convex", json.loads(dump.read_text()))


@pytest.fixture(scope="module")
def crm(tmp_path_factory) -> App:
    app = _prepare("crm-class-ts", tmp_path_factory.mktemp("crm"))
    assert "v.id(\"companies\")" in (app.convex / "schema.ts").read_text()     # references really applied
    return app


@pytest.fixture(scope="module")
def notes(tmp_path_factory) -> App:
    app = _prepare("notes-entitytable", tmp_path_factory.mktemp("notes"))
    assert "notes_tags" in (app.convex / "schema.ts").read_text()               # multiEntry side table
    return app


# -- the local endpoint, started here so it outlives killed importers ----------------------------
@dataclass
class Endpoint:
    url: str
    key: str

    def _http(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Convex {self.key}"}, timeout=60)

    def faults(self, settings: dict) -> None:
        with self._http() as h:
            h.post("/_local/faults", json=settings).raise_for_status()

    def injected(self) -> dict[str, int]:
        """How often each fault was answered since the faults were last set."""
        with self._http() as h:
            reply = h.get("/_local/faults")
            reply.raise_for_status()
            return reply.json()["injected"]

    def write_budget(self, settings: dict | None = None) -> dict:
        """Set the write budget ({"bytesPerSecond": N, "retryAfter": s}); without settings, read its counts."""
        with self._http() as h:
            reply = h.post("/_local/write-budget", json=settings) if settings is not None else h.get("/_local/write-budget")
            reply.raise_for_status()
            return reply.json()

    def tables(self) -> dict[str, int]:
        with self._http() as h:
            reply = h.get("/_local/tables")
            reply.raise_for_status()
            return reply.json()

    def contents(self, out: Path) -> dict[str, list[dict]]:
        """Every table as the endpoint's state dump (`--state-out` JSONL) shows it."""
        with self._http() as h:
            h.post("/_local/dump", json={"dir": str(out)}).raise_for_status()
        return {p.stem: [json.loads(line) for line in p.read_text().splitlines()]
                for p in out.glob("*.jsonl") if p.stem != "_storage"}


@contextmanager
def endpoint(convex_dir: Path, work: Path, key: str = KEY):
    with local_endpoint(convex_dir, work / "endpoint-state", log_path=work / "endpoint.log", admin_key=key) as dep:
        yield Endpoint(dep.url, key)


# -- running the real CLI ----------------------------------------------------------------------------
def import_cmd(app: App, ep_url: str, state: Path, *extra: str, mapping: Path | None = None,
               dump: Path | None = None) -> list[str]:
    return [sys.executable, "-m", "migrator", "import", str(mapping or app.mapping), str(dump or app.dump),
            "--url", ep_url, "--state-dir", str(state), "-q", *extra]


def start(cmd: list[str], key: str = KEY, **kw) -> subprocess.Popen:
    env = {**os.environ, "CONVEX_DEPLOY_KEY": key}
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=sigint_as_ctrl_c, **kw)


def run(cmd: list[str], key: str = KEY, timeout: float = 120) -> subprocess.CompletedProcess:
    proc = start(cmd, key)
    out, err = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


# -- what the endpoint must hold -------------------------------------------------------------------
def assert_exactly_the_dump(app: App, ep: Endpoint, work: Path, rows: dict[str, list] | None = None) -> None:
    """Per table the dump's row count, each original key exactly once, references pointing at
    the row with the key the dump names, side rows one per multiEntry element. `rows`: the
    rows expected per table when they are not the app's dump as is."""
    tables = {name: {**t, "rows": rows[name] if rows else t["rows"]} for name, t in app.tables().items()}
    counts = ep.tables()
    contents = ep.contents(work / "contents")
    by_id = {doc["_id"]: (table, doc) for table, docs in contents.items() for doc in docs}
    for name, t in tables.items():
        assert counts[name] == len(t["rows"]), (name, counts[name], len(t["rows"]))
        keys = Counter(json.dumps(doc[t["key"]]) for doc in contents[name])
        assert keys == Counter(json.dumps(row[t["key"]]) for row in t["rows"]), name
        assert max(keys.values()) == 1
    for ref, target in _references(app).items():
        table, fld = ref.split(".")
        dump_rows = {json.dumps(r[tables[table]["key"]]): r for r in tables[table]["rows"]}
        for doc in contents[table]:
            original = dump_rows[json.dumps(doc[tables[table]["key"]])].get(fld)
            if original is None:
                assert doc.get(fld) is None
                continue
            target_table, target_doc = by_id[doc[fld]]
            assert target_table == target
            assert target_doc[tables[target]["key"]] == original, (ref, doc)
    for side, (table, fld) in _side_tables(app).items():
        key = tables[table]["key"]
        owner_key = {doc["_id"]: doc[key] for doc in contents[table]}
        got = Counter((owner_key[row["owner"]], row["value"]) for row in contents[side])
        want = Counter((r[key], v) for r in tables[table]["rows"] for v in r.get(fld, []))
        assert got == want, side
        assert counts[side] == sum(want.values())


def _references(app: App) -> dict[str, str]:
    """`"table.field": "target"` lines of the mapping's references block (un-commented by _prepare)."""
    block = app.mapping.read_text().split('"references": {')[1].split("}")[0]
    return dict(re.findall(r'^\s*"([^"]+)": "([^"]+)",', block, re.M))


def _side_tables(app: App) -> dict[str, tuple[str, str]]:
    """Side tables by the documented naming rule `<table>_<field>` for every `*field` in the dump schema."""
    out = {}
    for t in app.raw["data"]["tables"]:
        for part in t["schema"].split(","):
            if part.startswith("*"):
                out[f"{t['name']}_{part[1:]}"] = (t["name"], part[1:])
    return out


def assert_summary_consistent(summary: dict, app: App, *, whole_run: bool) -> None:
    """Cumulative totals account for every dump row exactly once; a run that did the whole
    import (not resumed) counts every row it read as inserted, updated, unchanged or rejected."""
    for table, c in summary["tables"].items():
        if whole_run:
            assert c["read"] == c["inserted"] + c["updated"] + c["unchanged"] + c["rejected"], (table, c)
            assert c["resolved"] == c["deferred"] if not c["rejected"] else c["resolved"] <= c["deferred"], (table, c)
    totals = summary["totals"]["tables"] if summary["totals"] else summary["tables"]   # null: the run was all
    for name, t in app.tables().items():
        tot = totals[name]
        assert tot["inserted"] + tot["updated"] + tot["unchanged"] + tot["rejected"] == len(t["rows"]), (name, tot)


# -- 1. SIGKILL at random points, then a run to the end ---------------------------------------------
@pytest.mark.parametrize("app_name,batch,duplicate", [("crm", "2", False), ("notes", "1", False), ("crm", "2", True)])
def test_sigkill_at_random_points_then_resume_imports_each_row_exactly_once(app_name, batch, duplicate, request,
                                                                            tmp_path):
    """`duplicate`: a dump where one company breaks a unique index, so rows are rejected (each
    exactly once in the rejects file, however often the importer died after rejecting them)."""
    app = request.getfixturevalue(app_name)
    rng = random.Random(f"sigkill-{app_name}-{duplicate}")
    state = tmp_path / "state"
    dump = dump_variant(app, tmp_path / "dup.json", _duplicate_domain) if duplicate else app.dump
    raw = json.loads(dump.read_text())
    rejected = _rejected_closure(app, raw, {("companies", 2)}) if duplicate else set()
    cmd = import_cmd(app, "", state, "--batch-size", batch, "--concurrency", "2",
                     "--summary-json", str(tmp_path / "summary.json"), dump=dump)
    expected_total = sum(len(t["rows"]) for t in app.tables().values())
    with endpoint(app.convex, tmp_path) as ep:
        cmd[cmd.index("--url") + 1] = ep.url
        ep.faults({"delayMs": [40, 90], "seed": rng.randrange(1000)})   # slow enough for kills to land mid-run
        at_kill = []                           # (rows acknowledged in the checkpoint, deferred round)
        for _ in range(6):
            before = _acknowledged(state)[0]
            proc = start(cmd)
            # Kill at a random moment after this run has had rows acknowledged, so each kill
            # lands mid-run whatever the machine's speed.
            while proc.poll() is None and _acknowledged(state)[0] <= before:
                time.sleep(0.01)
            time.sleep(rng.uniform(0, 0.3))
            if proc.poll() is not None:            # it finished before the kill: nothing to resume
                proc.communicate()
                break
            proc.send_signal(signal.SIGKILL)
            proc.communicate()
            assert proc.returncode == -signal.SIGKILL
            at_kill.append(_acknowledged(state))
        # Several kills landed mid-run: after the importer had rows acknowledged, before it was done.
        assert sum(rows > 0 for rows, _ in at_kill) >= 2, at_kill
        final = run(cmd)
        assert final.returncode == (1 if rejected else 0), final.stderr
        kept = {name: [r for r in _rows(raw, name) if (name, r[t["key"]]) not in rejected]
                for name, t in app.tables().items()}
        assert_exactly_the_dump(app, ep, tmp_path, kept)
        summary = json.loads((tmp_path / "summary.json").read_text())
        assert_summary_consistent(summary, app, whole_run=False)
        assert summary["rejectedTotal"] == len(rejected)
        if rejected:
            lines = [json.loads(line) for line in (state / "rejects.jsonl").read_text().splitlines()]
            assert Counter((r["table"], r["key"]) for r in lines) == Counter(rejected)
        else:
            assert not (state / "rejects.jsonl").exists()
        # the last run says what it did: rows acknowledged before were skipped, not read again
        for name, t in app.tables().items():
            c = summary["tables"][name]
            assert c["read"] + c["skipped"] == len(t["rows"])
    print(f"{app_name}: (rows acknowledged, deferred round) at each kill {at_kill}, of {expected_total} rows")


def _acknowledged(state: Path) -> tuple[int, int]:
    path = state / "checkpoint.json"
    if not path.exists():
        return 0, 0
    cp = json.loads(path.read_text())
    rows = sum(p["doneUntil"] + sum(e - s for s, e in ((int(k), v) for k, v in p["finished"].items()))
               for tables in cp["dumps"].values() for p in tables.values())
    return rows, cp["round"]


# -- 2. a faulty endpoint: failures before and after commit, 429s, 503s, dropped connections -------
FAULTS = {"failBeforeCommit": 0.025, "status503": 0.0125, "dropConnection": 0.0125,    # 5%: nothing ran
          "failAfterCommit": 0.025, "dropAfterCommit": 0.025,                          # 5%: committed, reply lost
          "status429": 0.05}


@pytest.mark.parametrize("app_name,seed", [("notes", 11), ("crm", 12)])
def test_faulty_endpoint_still_ends_complete_and_exact(app_name, seed, request, tmp_path):
    app = request.getfixturevalue(app_name)
    with endpoint(app.convex, tmp_path) as ep:
        ep.faults({**FAULTS, "seed": seed})
        result = run(import_cmd(app, ep.url, tmp_path / "state", "--batch-size", "3", "--concurrency", "3",
                                "--summary-json", str(tmp_path / "summary.json")))
        assert result.returncode == 0, result.stderr
        injected = ep.injected()
        ep.faults({})
        assert_exactly_the_dump(app, ep, tmp_path)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert_summary_consistent(summary, app, whole_run=True)
    assert summary["rejectedTotal"] == 0 and not (tmp_path / "state" / "rejects.jsonl").exists()
    for name, t in app.tables().items():
        assert summary["tables"][name]["read"] == len(t["rows"])
    # the faults really happened, and the client answered each one: retried, throttled (429s), or
    # sent again on a fresh connection (a dropped reply on a kept-alive connection looks stale)
    assert sum(injected.values()) >= 1, injected
    assert summary["retries"] + summary["throttled"] + summary["reconnects"] == sum(injected.values()), \
        (summary, injected)
    print(f"{app_name}: {summary['requests']} requests, {summary['retries']} retried, {summary['throttled']} throttled")


# 30% of calls fail: half before the function runs (500, 502, 503, 504, OCC, reset connections),
# half after the mutation committed (500 and 503 answers, dropped replies). Every one is retried.
FAULTS_30 = {"status500": 0.03, "status502": 0.02, "status503": 0.02, "status504": 0.02,
             "failBeforeCommit": 0.03, "dropConnection": 0.03,
             "status500AfterCommit": 0.05, "failAfterCommit": 0.05, "dropAfterCommit": 0.05}


@pytest.mark.parametrize("app_name,seed", [("notes", 21), ("crm", 22), ("notes", 23), ("crm", 24)])
def test_thirty_percent_faults_with_500_after_commit_end_exact(app_name, seed, request, tmp_path):
    app = request.getfixturevalue(app_name)
    summary_path = tmp_path / "summary.json"
    with endpoint(app.convex, tmp_path) as ep:
        ep.faults({**FAULTS_30, "seed": seed})
        result = run(import_cmd(app, ep.url, tmp_path / "state", "--batch-size", "1", "--concurrency", "3",
                                "--summary-json", str(summary_path)))
        assert result.returncode == 0, result.stderr
        ep.faults({})
        assert_exactly_the_dump(app, ep, tmp_path)
    summary = json.loads(summary_path.read_text())
    assert_summary_consistent(summary, app, whole_run=True)
    assert summary["rejectedTotal"] == 0
    # the faults really happened, after commits too: a row whose reply was lost reads as unchanged when sent again
    assert summary["retries"] >= 0.1 * summary["requests"], summary
    assert sum(t["unchanged"] for t in summary["tables"].values()) > 0, summary
    assert KEY not in result.stdout + result.stderr


def _padded_notes(raw: dict) -> None:
    """Every note's body grows to about 20 KB: the dump weighs about half a megabyte."""
    for row in _rows(raw, "notes"):
        row["body"] += " padding" * 2500


def test_import_under_a_tight_write_budget_slows_down_and_ends_exact(notes, tmp_path):
    """A write budget of 100 KB/s (answered as Convex answers it: 429 TooManyWrites, no Retry-After)
    for about 500 KB: far more 429s than attempts, none counted as one, nothing rejected."""
    dump = dump_variant(notes, tmp_path / "padded.json", _padded_notes)
    summary_path = tmp_path / "summary.json"
    with endpoint(notes.convex, tmp_path) as ep:
        ep.write_budget({"bytesPerSecond": 100_000})
        result = run(import_cmd(notes, ep.url, tmp_path / "state", "--summary-json", str(summary_path), dump=dump))
        budget = ep.write_budget()
        assert result.returncode == 0, result.stderr
        ep.write_budget({"bytesPerSecond": None})
        assert_exactly_the_dump(notes, ep, tmp_path)
    summary = json.loads(summary_path.read_text())
    assert_summary_consistent(summary, notes, whole_run=True)
    assert summary["rejectedTotal"] == 0 and summary["retries"] == 0
    assert summary["throttled"] == budget["refused"] > 8          # more 429s than a call has attempts
    assert summary["settledBytesPerSecond"] > 0
    assert "throttled (429 TooManyWrites); writes settled at" in result.stdout
    assert budget["committedBytes"] > 400_000


def test_kept_alive_connections_the_server_closed_while_the_import_waited(notes, tmp_path):
    """The server closes idle connections after 100 ms, shorter than the waits a write budget
    imposes, and drops half the calls that arrive on a connection it served before (as a close
    racing the next request): each such call goes again at once on a fresh connection, none
    counts as a failed attempt, and the import ends exact."""
    dump = dump_variant(notes, tmp_path / "padded.json", _padded_notes)
    summary_path = tmp_path / "summary.json"
    with endpoint(notes.convex, tmp_path) as ep:
        ep.faults({"keepAliveMs": 100, "dropReused": 0.5, "seed": 31})
        ep.write_budget({"bytesPerSecond": 100_000, "retryAfter": 0.5})
        result = run(import_cmd(notes, ep.url, tmp_path / "state", "--summary-json", str(summary_path),
                                "--concurrency", "2", dump=dump))
        assert result.returncode == 0, result.stderr
        ep.faults({})
        ep.write_budget({"bytesPerSecond": None})
        assert_exactly_the_dump(notes, ep, tmp_path)
    summary = json.loads(summary_path.read_text())
    assert summary["rejectedTotal"] == 0 and summary["retries"] == 0, summary
    assert summary["reconnects"] > 0 and summary["throttled"] > 0, summary
    assert "stale connections replaced" in result.stdout


# -- 4. a row that fails after its write leaves no trace ----------------------------------------------
def dump_variant(app: App, path: Path, edit) -> Path:
    """A copy of the app's dump with `edit(raw)` applied (rows, tables)."""
    raw = json.loads(app.dump.read_text())
    edit(raw)
    path.write_text(json.dumps(raw))
    return path


def _only_tables(raw: dict, names: set[str]) -> None:
    raw["data"]["tables"] = [t for t in raw["data"]["tables"] if t["name"] in names]
    raw["data"]["data"] = [t for t in raw["data"]["data"] if t["tableName"] in names]


def _rows(raw: dict, table: str) -> list[dict]:
    return next(t["rows"] for t in raw["data"]["data"] if t["tableName"] == table)


def test_row_whose_side_rows_cannot_be_written_leaves_no_trace(notes, tmp_path):
    """The deployment's side table refuses one tag value (its schema was narrowed after generating),
    so a note with that tag fails after its document write, in a batch with notes that succeed."""
    tags = Counter(tag for row in notes.tables()["notes"]["rows"] for tag in row.get("tags", []))
    forbidden = min(tags, key=lambda t: (tags[t], t))
    bad = {row["id"] for row in notes.tables()["notes"]["rows"] if forbidden in row.get("tags", [])}
    assert 0 < len(bad) < len(notes.tables()["notes"]["rows"])
    convex = tmp_path / "convex"
    convex.mkdir()
    for f in notes.convex.glob("*.ts"):
        (convex / f.name).write_text(f.read_text())
    schema = (convex / "schema.ts").read_text()
    narrowed = "v.union(" + ", ".join(f"v.literal({json.dumps(t)})" for t in sorted(set(tags) - {forbidden})) + ")"
    schema, n = re.subn(r'(notes_tags: defineTable\(\{\s*owner: v\.id\("notes"\),\s*value: )v\.string\(\)',
                        lambda m: m.group(1) + narrowed, schema)
    assert n == 1
    (convex / "schema.ts").write_text(schema)

    def clean(raw):        # the forbidden tag removed: every note imports
        _only_tables(raw, {"notebooks", "notes"})
        for row in _rows(raw, "notes"):
            row["tags"] = [t for t in row.get("tags", []) if t != forbidden]

    def v2(raw):           # every title changed; the bad notes keep the forbidden tag
        _only_tables(raw, {"notebooks", "notes"})
        for row in _rows(raw, "notes"):
            row["title"] += " (v2)"

    first, second = dump_variant(notes, tmp_path / "clean.json", clean), dump_variant(notes, tmp_path / "v2.json", v2)
    summary_path = tmp_path / "summary.json"
    with endpoint(convex, tmp_path) as ep:
        state = tmp_path / "state"
        assert run(import_cmd(notes, ep.url, state, dump=first)).returncode == 0
        before = ep.contents(tmp_path / "before")
        # another export of the same rows into the same import: each key is a duplicate of the
        # first export's, which last-wins lets the second write over
        result = run(import_cmd(notes, ep.url, state, "--batch-size", "4", "--summary-json", str(summary_path),
                                "--duplicates", "last-wins", dump=second))
        after = ep.contents(tmp_path / "after")
    assert result.returncode == 1 and f"{len(bad)} rows rejected" in result.stderr, result.stderr
    rejects = [json.loads(line) for line in (state / "rejects.jsonl").read_text().splitlines()]
    assert Counter(r["key"] for r in rejects) == Counter(bad)
    assert all(r["table"] == "notes" and "side rows" in r["reason"] for r in rejects)
    # the failed updates left the old documents and their side rows exactly as they were (same _ids) ...
    old = {d["id"]: d for d in before["notes"]}
    new = {d["id"]: d for d in after["notes"]}
    assert {k: new[k] for k in bad} == {k: old[k] for k in bad}
    bad_ids = {old[k]["_id"] for k in bad}
    assert [r for r in after["notes_tags"] if r["owner"] in bad_ids] == \
        [r for r in before["notes_tags"] if r["owner"] in bad_ids]
    # ... while their batch mates were updated
    assert all(new[k]["title"].endswith(" (v2)") for k in new if k not in bad)
    summary = json.loads(summary_path.read_text())
    assert summary["tables"]["notes"]["rejected"] == len(bad)
    assert summary["tables"]["notes"]["updated"] == len(new) - len(bad)

    # inserting: a fresh deployment gets the good notes and their side rows, nothing of the bad ones
    (tmp_path / "fresh").mkdir()
    with endpoint(convex, tmp_path / "fresh") as ep:
        result = run(import_cmd(notes, ep.url, tmp_path / "state2", "--batch-size", "4", dump=second))
        fresh = ep.contents(tmp_path / "fresh-contents")
    assert result.returncode == 1
    assert {d["id"] for d in fresh["notes"]} == set(old) - bad
    good = {row["id"]: row for row in _rows(json.loads(second.read_text()), "notes") if row["id"] not in bad}
    owner = {d["_id"]: d["id"] for d in fresh["notes"]}
    assert Counter((owner[r["owner"]], r["value"]) for r in fresh["notes_tags"]) == \
        Counter((k, t) for k, row in good.items() for t in row.get("tags", []))


def _duplicate_domain(raw: dict) -> None:
    """Company 2 takes company 1's domain (`&domain` is unique in the Dexie schema)."""
    companies = {r["id"]: r for r in _rows(raw, "companies")}
    companies[2]["domain"] = companies[1]["domain"]


def _rejected_closure(app: App, raw: dict, first: set[tuple[str, object]]) -> set[tuple[str, object]]:
    """The rows that must be rejected: `first`, then every row whose reference names a rejected row."""
    refs = _references(app)
    keys = {t["tableName"]: app.tables()[t["tableName"]]["key"] for t in raw["data"]["data"]}
    rejected = set(first)
    while True:
        more = {(t["tableName"], row[keys[t["tableName"]]])
                for t in raw["data"]["data"] for row in t["rows"]
                for ref, target in refs.items() if ref.split(".")[0] == t["tableName"]
                and (target, row.get(ref.split(".")[1])) in rejected}
        if more <= rejected:
            return rejected
        rejected |= more


def test_unique_violation_and_rows_referring_to_it_are_rejected_exactly_once(crm, tmp_path):
    dump = dump_variant(crm, tmp_path / "dup.json", _duplicate_domain)
    raw = json.loads(dump.read_text())
    expected = _rejected_closure(crm, raw, {("companies", 2)})
    assert len(expected) > 1                       # contacts of company 2, their deals and activities, ...
    state, summary_path = tmp_path / "state", tmp_path / "summary.json"
    cmd = import_cmd(crm, "", state, "--batch-size", "4", "--summary-json", str(summary_path), dump=dump)
    with endpoint(crm.convex, tmp_path) as ep:
        cmd[cmd.index("--url") + 1] = ep.url
        result = run(cmd)
        contents = ep.contents(tmp_path / "contents")
        assert result.returncode == 1 and f"{len(expected)} rows rejected" in result.stderr, result.stderr
        rejects = [json.loads(line) for line in (state / "rejects.jsonl").read_text().splitlines()]
        assert Counter((r["table"], r["key"]) for r in rejects) == Counter(expected)
        assert any("unique index" in r["reason"] for r in rejects if r["table"] == "companies")
        assert all("no " in r["reason"] and "row has key" in r["reason"] for r in rejects if r["table"] != "companies")
        for name, t in crm.tables().items():
            want = {row[t["key"]] for row in _rows(raw, name)} - {k for tb, k in expected if tb == name}
            assert Counter(d[t["key"]] for d in contents[name]) == Counter(want), name
        summary = json.loads(summary_path.read_text())
        assert_summary_consistent(summary, crm, whole_run=True)
        assert summary["rejectedTotal"] == len(expected)
        # A line written after the last checkpoint save (the importer died between the two) is not
        # trusted: the next run cuts it off instead of counting that row twice.
        with (state / "rejects.jsonl").open("a") as f:
            f.write(json.dumps({"table": "companies", "key": 2, "reason": "written before a crash"}) + "\n")
        # exit codes: the same run again has nothing to do; its rejects still count (cumulative) ...
        again = run(cmd)
        assert again.returncode == 1 and f"{len(expected)} rows rejected" in again.stderr
        assert json.loads(summary_path.read_text())["tables"]["companies"]["skipped"] == 6
        # ... unless --max-errors allows them
        assert run(cmd + ["--max-errors", str(len(expected))]).returncode == 0
        assert run(cmd + ["--max-errors", str(len(expected) - 1)]).returncode == 1
        assert len((state / "rejects.jsonl").read_text().splitlines()) == len(expected)
        # a fresh import that may reject nothing stops at the first rejection, non-zero
        stopped = run(import_cmd(crm, ep.url, tmp_path / "state0", "--max-errors", "0", dump=dump))
        assert stopped.returncode == 1 and "stopped: more than --max-errors 0" in stopped.stderr, stopped.stderr


# -- 3. the deploy key never leaks ------------------------------------------------------------------
def _leaks(text: str) -> bool:
    return KEY in text or KEY.split("|")[1] in text


def test_deploy_key_never_appears_in_output_errors_or_state(crm, tmp_path, capsys):
    from migrator.importer.run import ImportStopped, run_import
    from migrator.plan.mapping_file import load_mapping
    from migrator.sinks.convex_http import ConvexCallError, ConvexClient, Deployment, RetryPolicy, Secret

    outputs: list[str] = []
    errors: list[BaseException] = []

    def cli(*extra: str, key: str = KEY, dump: Path | None = None, mapping: Path | None = None, state: str = "s"):
        result = run(import_cmd(crm, ep.url, tmp_path / state, "--summary-json", str(tmp_path / f"{state}.json"),
                                *extra, dump=dump, mapping=mapping), key=key)
        outputs.extend([result.stdout, result.stderr])
        return result

    other = tmp_path / "other-plan"                # the same app planned without references: another plan hash
    commands.plan_mappings([APPS / crm.name / "src"], [crm.dump], other)
    dup = dump_variant(crm, tmp_path / "dup.json", _duplicate_domain)
    with endpoint(crm.convex, tmp_path) as ep:
        ok = run(import_cmd(crm, ep.url, tmp_path / "ok", "--deploy-key", KEY,
                            "--summary-json", str(tmp_path / "ok.json")), key="")
        outputs.extend([ok.stdout, ok.stderr])
        assert ok.returncode == 0, ok.stderr
        wrong = cli(key="wrong-" + KEY, state="wrong")
        assert wrong.returncode == 1 and "403" in wrong.stderr and "deploy key" in wrong.stderr, wrong.stderr
        mismatch = cli(mapping=next(other.glob("*.json5")), state="mismatch")
        assert mismatch.returncode == 1 and "another plan" in mismatch.stderr, mismatch.stderr
        rejected = cli(dump=dup, state="rejected")
        assert rejected.returncode == 1 and "rows rejected" in rejected.stderr
        assert (tmp_path / "rejected" / "rejects.jsonl").exists()
        # interrupted (Ctrl-C) and killed mid-run, on a slow endpoint, with a fresh state
        ep.faults({"delayMs": [100, 150], "seed": 5})
        for sig, state in ((signal.SIGINT, "int"), (signal.SIGKILL, "kill")):
            # One batch in flight: the run goes on for seconds after its first acknowledgement, so
            # the signal lands mid-run on a loaded machine too.
            proc = start(import_cmd(crm, ep.url, tmp_path / state, "--summary-json", str(tmp_path / f"{state}.json"),
                                    "--batch-size", "2", "--concurrency", "1", dump=dup))
            # Signal mid-run, after rows were acknowledged (not while Python is still starting).
            while proc.poll() is None and _acknowledged(tmp_path / state)[0] == 0:
                time.sleep(0.01)
            proc.send_signal(sig)
            out, err = proc.communicate(timeout=60)
            outputs.extend([out, err])
            assert proc.returncode == (1 if sig == signal.SIGINT else -signal.SIGKILL), err
        assert "interrupted" in outputs[-3], outputs[-3]
        assert json.loads((tmp_path / "int.json").read_text())["stopped"].startswith("interrupted")
        ep.faults({})
        # in-process: the exceptions themselves (text, repr, traceback) for a wrong key and a dead endpoint
        plan = load_mapping(crm.mapping)
        for key, faults in (("wrong-" + KEY, {}), (KEY, {"dropConnection": 1.0})):
            ep.faults(faults)
            client = ConvexClient(Deployment(ep.url, Secret(key)), retry=RetryPolicy(attempts=2, base_delay=0.01))
            outputs.extend([repr(client.deployment), str(client.deployment.key), repr(client.deployment.key)])
            with pytest.raises((ConvexCallError, ImportStopped)) as info:
                run_import(plan, [crm.dump], client, ImportOptions(state_dir=tmp_path / "inproc", progress=False))
            errors.append(info.value)
            client.close()
        ep.faults({})
    assert "gave up after 2 attempts" in str(errors[-1])
    captured = capsys.readouterr()
    outputs.extend([captured.out, captured.err])
    for exc in errors:
        outputs.extend([str(exc), repr(exc), "".join(traceback.format_exception(exc)), repr(exc.__dict__)])
    assert not [text for text in outputs if _leaks(text)]
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "checkpoint.json" for p in files) and any(p.name == "rejects.jsonl" for p in files)
    assert not [p for p in files if _leaks(p.read_bytes().decode("utf-8", "replace"))]
