"""`import --dry-run`: the same reading, transforming and validating as an import, nothing sent.

The expectations come from the dumps (row counts, the rows this test breaks on purpose)
and from the real import into the local Convex endpoint (convex-test), which the dry run
must predict: same counts, same rejected keys, same files to store.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import re
from pathlib import Path

import msgspec
import pytest
from click.testing import CliRunner

from migrator import commands
from migrator.cli import cli
from migrator.dumps import open_dump
from migrator.convex_names import DOCUMENT_LIMIT, SYSTEM_FIELDS_SIZE
from migrator.generate.import_module import MODULE, plan_hash
from migrator.plan.validators import Validator
from migrator.sinks.dry_run_client import DryRunClient
from migrator.transform.compiled import Transforms
from migrator.transform.prepared import PreparedRow, upsert_rows

ROOT = Path(__file__).resolve().parent.parent
APPS = ROOT / "fixtures" / "apps"
MiB = 1024 * 1024


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def plan_app(app: str, out: Path, dump: Path | None = None) -> Path:
    result = commands.plan_mappings([APPS / app / "src"], [dump or APPS / app / "dump.json"], out)
    [written] = result.writes
    return written.path


def rejects(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def counts_without_time(summary_json: Path) -> dict:
    data = json.loads(summary_json.read_text())
    return {t: {k: v for k, v in c.items() if k != "seconds"} for t, c in data["tables"].items()}


# Rows of the friends fixture broken on purpose: row index -> (how, the field the reason must name).
BREAKS = {
    0: (lambda r: r.__setitem__("age", "old"), "age"),                        # string where v.number()
    1: (lambda r: r.__setitem__("name", "x" * MiB), "1 MiB"),                 # document over 1 MiB
    2: (lambda r: r.pop("name"), "name"),                                      # required field missing
    3: (lambda r: r.__setitem__("tags", ["ok", 5]), "tags"),                   # array element (and side row)
}


@pytest.fixture()
def broken_friends(tmp_path) -> tuple[Path, Path, dict]:
    """The mapping planned from the clean fixture, a dump with BREAKS applied, and {key: fragment}."""
    mapping = plan_app("friends-entity-class", tmp_path / "mappings")
    data = json.loads((APPS / "friends-entity-class" / "dump.json").read_text())
    [table] = data["data"]["data"]
    expected = {}
    for index, (breaker, fragment) in BREAKS.items():
        row = table["rows"][index]
        breaker(row)
        expected[row["id"]] = fragment
    dump = tmp_path / "friends-broken.json"
    dump.write_text(json.dumps(data))
    return mapping, dump, expected


def test_dry_run_reports_bad_rows_and_sends_nothing(broken_friends, tmp_path):
    mapping, dump, expected = broken_friends
    state = tmp_path / "state"
    with open_dump(dump) as d:
        total = sum(t.row_count for t in d.tables)
    result = run("import", mapping, dump, "--dry-run", "-q", "--state-dir", state,
                 "--summary-json", tmp_path / "dry.json")
    assert result.exit_code == 1
    assert "Dry run: nothing was sent" in result.output
    assert f"{len(expected)} rows rejected: see {state / 'dry-run' / 'rejects.jsonl'}" in result.output
    found = rejects(state / "dry-run" / "rejects.jsonl")
    assert {r["key"] for r in found} == set(expected)
    for r in found:
        assert r["table"] == "friends" and expected[r["key"]] in r["reason"], r["reason"]
    summary = json.loads((tmp_path / "dry.json").read_text())
    assert summary["tables"]["friends"]["inserted"] == total - len(expected)
    # The broken rows are refused by the transform, before any batch: what is sent is the rest.
    assert summary["dryRun"]["batches"] >= 1 and 0 < summary["dryRun"]["batchBytes"] < MiB
    # Nothing of a real import was touched or started.
    assert not (state / "checkpoint.json").exists() and not (state / "rejects.jsonl").exists()
    assert not (state / "local-convex").exists()

    # The real import afterwards: nothing skipped, and the same rows refused by convex-test.
    real = run("import", mapping, dump, "-q", "--state-dir", state, "--summary-json", tmp_path / "real.json")
    assert real.exit_code == 1
    assert counts_without_time(tmp_path / "real.json") == counts_without_time(tmp_path / "dry.json")
    assert {r["key"] for r in rejects(state / "rejects.jsonl")} == set(expected)
    stored = (state / "local-contents" / "friends.jsonl").read_text().splitlines()
    assert len(stored) == total - len(expected)


def test_dry_run_twice_starts_afresh(broken_friends, tmp_path):
    mapping, dump, expected = broken_friends
    state = tmp_path / "state"
    for _ in range(2):
        result = run("import", mapping, dump, "--dry-run", "-q", "--state-dir", state)
        assert result.exit_code == 1
        assert len(rejects(state / "dry-run" / "rejects.jsonl")) == len(expected)


def test_dry_run_clean_dump_exits_zero_then_real_import_imports_every_row(tmp_path):
    app = APPS / "keys-outbound"
    mapping = plan_app("keys-outbound", tmp_path / "mappings")
    state = tmp_path / "state"
    with open_dump(app / "dump.json") as d:
        rows = {t.name: t.row_count for t in d.tables}
    dry = run("import", mapping, app / "dump.json", "--dry-run", "-q", "--state-dir", state,
              "--summary-json", tmp_path / "dry.json")
    assert dry.exit_code == 0, dry.output
    real = run("import", mapping, app / "dump.json", "-q", "--state-dir", state, "--summary-json", tmp_path / "real.json")
    assert real.exit_code == 0, real.output
    real_counts = counts_without_time(tmp_path / "real.json")
    assert counts_without_time(tmp_path / "dry.json") == real_counts
    assert sum(c["inserted"] for c in real_counts.values()) == sum(rows.values())
    assert all(c["skipped"] == 0 for c in real_counts.values())


def test_dry_run_counts_the_files_the_import_stores(tmp_path):
    app = APPS / "media-blobs"
    mapping = plan_app("media-blobs", tmp_path / "mappings")
    state = tmp_path / "state"
    run("import", mapping, app / "dump.json", "--dry-run", "-q", "--state-dir", state,
        "--summary-json", tmp_path / "dry.json")
    run("import", mapping, app / "dump.json", "-q", "--state-dir", state, "--summary-json", tmp_path / "real.json")
    dry = json.loads((tmp_path / "dry.json").read_text())
    files = [json.loads(line) for line in (state / "local-contents" / "_storage.jsonl").read_text().splitlines()]
    assert files, "the fixture is meant to have Blobs that go to file storage"
    assert dry["dryRun"]["blobs"] == len(files)
    assert dry["dryRun"]["blobBytes"] == sum(f["size"] for f in files)
    assert counts_without_time(tmp_path / "dry.json") == counts_without_time(tmp_path / "real.json")
    assert [(r["table"], r["key"]) for r in rejects(state / "dry-run" / "rejects.jsonl")] == \
        [(r["table"], r["key"]) for r in rejects(state / "rejects.jsonl")]


def test_dry_run_predicts_references_deferred_resolved_and_dangling(tmp_path):
    """Every suggested reference applied, and one contact pointing at a company that does not exist."""
    mapping = plan_app("crm-class-ts", tmp_path / "m")
    mapping.write_text(re.sub(r'// suggested: ("[^"]+": "[^"]+",)', r"\1", mapping.read_text()))
    plan_app("crm-class-ts", tmp_path / "m")
    data = json.loads((APPS / "crm-class-ts" / "dump.json").read_text())
    contacts = next(t for t in data["data"]["data"] if t["tableName"] == "contacts")
    contacts["rows"][0]["companyId"] = 999
    dangling_key = contacts["rows"][0]["id"]
    dump = tmp_path / "crm.json"
    dump.write_text(json.dumps(data))
    state = tmp_path / "state"
    # one batch at a time: which rows wait for a reference then depends on the dump's order
    # alone, not on which of the concurrent batches the endpoint happens to run first
    run("import", mapping, dump, "--dry-run", "-q", "--state-dir", state, "--concurrency", "1",
        "--summary-json", tmp_path / "dry.json")
    run("import", mapping, dump, "-q", "--state-dir", state, "--concurrency", "1", "--summary-json",
        tmp_path / "real.json")
    dry_rejects = sorted((r["table"], r["key"], r["reason"]) for r in rejects(state / "dry-run" / "rejects.jsonl"))
    real_rejects = sorted((r["table"], r["key"], r["reason"]) for r in rejects(state / "rejects.jsonl"))
    assert ("contacts", dangling_key, "reference companyId: no companies row has key 999") in dry_rejects
    assert dry_rejects == real_rejects
    dry = counts_without_time(tmp_path / "dry.json")
    assert dry == counts_without_time(tmp_path / "real.json")
    assert dry["contacts"]["deferred"] > 0 and dry["contacts"]["resolved"] > 0


def test_dry_run_predicts_unique_index_clashes(tmp_path):
    """nested-dotted declares `&contact.email`: a second row with the first row's email is refused."""
    mapping = plan_app("nested-dotted", tmp_path / "m")
    data = json.loads((APPS / "nested-dotted" / "dump.json").read_text())
    [people] = data["data"]["data"]
    first, second = people["rows"][0], people["rows"][1]
    second["contact"]["email"] = first["contact"]["email"]
    dump = tmp_path / "people.json"
    dump.write_text(json.dumps(data))
    state = tmp_path / "state"
    run("import", mapping, dump, "--dry-run", "-q", "--state-dir", state, "--summary-json", tmp_path / "dry.json")
    run("import", mapping, dump, "-q", "--state-dir", state, "--summary-json", tmp_path / "real.json")
    dry_rejects = [(r["table"], r["key"], r["reason"]) for r in rejects(state / "dry-run" / "rejects.jsonl")]
    assert [(t, k) for t, k, _ in dry_rejects] == [("people", second["id"])]
    assert "unique index" in dry_rejects[0][2] and f"key {first['id']}" in dry_rejects[0][2]
    assert dry_rejects == [(r["table"], r["key"], r["reason"]) for r in rejects(state / "rejects.jsonl")]
    assert counts_without_time(tmp_path / "dry.json") == counts_without_time(tmp_path / "real.json")


def test_dry_run_scopes_keys_by_owner(tmp_path):
    """The same dump twice: without an owner the second copy's keys are duplicates (rejected, or
    written over the first with last-wins: unchanged); with one, every row is new."""
    app = APPS / "friends-entity-class"
    with open_dump(app / "dump.json") as d:
        rows = sum(t.row_count for t in d.tables)
    copies = []
    for name in ("alice.json", "bob.json"):
        copies.append(tmp_path / name)
        copies[-1].write_bytes((app / "dump.json").read_bytes())
    plain = plan_app("friends-entity-class", tmp_path / "plain")
    result = run("import", plain, *copies, "--dry-run", "-q", "--state-dir", tmp_path / "s1",
                 "--summary-json", tmp_path / "1.json")
    assert result.exit_code == 1 and f"{rows} rows rejected" in result.output
    counts = counts_without_time(tmp_path / "1.json")["friends"]
    assert (counts["read"], counts["inserted"], counts["rejected"], counts["duplicates"]) == (2 * rows, rows, rows, rows)
    result = run("import", plain, *copies, "--dry-run", "-q", "--state-dir", tmp_path / "s1", "--duplicates",
                 "last-wins", "--summary-json", tmp_path / "1.json")
    assert result.exit_code == 0, result.output
    counts = counts_without_time(tmp_path / "1.json")["friends"]
    assert (counts["read"], counts["inserted"], counts["unchanged"], counts["duplicates"]) == (2 * rows, rows, rows, rows)
    owned = plan_app("friends-entity-class", tmp_path / "owned")
    owned.write_text(owned.read_text().replace('"ownerField": null', '"ownerField": "owner"'))
    plan_app("friends-entity-class", tmp_path / "owned")
    result = run("import", owned, *copies, "--owner-field", "owner", "--dry-run", "-q", "--state-dir", tmp_path / "s2",
                 "--summary-json", tmp_path / "2.json")
    assert result.exit_code == 0, result.output
    counts = counts_without_time(tmp_path / "2.json")["friends"]
    assert (counts["read"], counts["inserted"], counts["unchanged"]) == (2 * rows, 2 * rows, 0)


# -- the client alone, against the behaviour of the generated upsertBatch -----------------
@pytest.fixture()
def crm_with_optional_reference(tmp_path):
    """CRM with contacts.companyId -> companies, made optional so a deferred reference can be left out."""
    mapping = plan_app("crm-class-ts", tmp_path / "m")
    text = mapping.read_text().replace('// suggested: "contacts.companyId": "companies",',
                                       '"contacts.companyId": "companies",')
    mapping.write_text(text)
    plan_app("crm-class-ts", tmp_path / "m")          # re-plan: applies the reference
    plan = commands.load_mapping(mapping)
    contacts = next(t for t in plan.tables if t.table == "contacts")
    field = contacts.field_named("companyId")
    assert field.references == "companies"
    field.validator = Validator.optional(field.validator)
    return plan


def crm_document(plan, table: str, key, **changes) -> PreparedRow:
    """The fixture row with this key, prepared as the import does, with `changes` applied."""
    table_plan = next(t for t in plan.tables if t.table == table)
    with open_dump(APPS / "crm-class-ts" / "dump.json") as dump:
        value = next(r.value for r in dump.rows() if r.table == table_plan.source and r.key == key)
    return Transforms(plan).prepare(table_plan, key, {**value, **changes})


def upsert(client, plan, table, docs, defer):
    return client.mutation(f"{MODULE}:upsertBatch", {"planHash": plan_hash([plan]), "table": table,
                                                     "rows": upsert_rows(docs),
                                                     "deferRefs": defer})


def test_references_defer_then_resolve_or_fail(crm_with_optional_reference):
    plan = crm_with_optional_reference
    client = DryRunClient(plan)
    assert client.query(f"{MODULE}:planInfo", {})["planHashes"] == {plan.database: plan_hash([plan])}
    contact = crm_document(plan, "contacts", 1)
    assert contact.document["companyId"] is not None
    [first] = upsert(client, plan, "contacts", [contact], defer=True)
    assert first["status"] == "inserted" and first["deferred"] == ["companyId"], first
    [made] = upsert(client, plan, "companies", [crm_document(plan, "companies", contact.document["companyId"])], defer=False)
    assert made["status"] == "inserted", made
    [again] = upsert(client, plan, "contacts", [contact], defer=False)
    assert again == {"status": "updated", "id": first["id"]}
    [same] = upsert(client, plan, "contacts", [contact], defer=False)
    assert same["status"] == "unchanged"
    [dangling] = upsert(client, plan, "contacts", [crm_document(plan, "contacts", 2, companyId=999)], defer=False)
    assert dangling["status"] == "failed" and "no companies row has key 999" in dangling["reason"]
    assert client.report.batches == 5


def test_store_file_once_per_content(crm_with_optional_reference):
    client = DryRunClient(crm_with_optional_reference)
    data = b"\x00" * 1000
    args = {"sha256": hashlib.sha256(data).hexdigest(), "contentType": "image/png", "data": data}
    first = client.action(f"{MODULE}:storeFile", args)
    assert client.action(f"{MODULE}:storeFile", copy.deepcopy(args)) == first
    assert len(first) == 32
    assert dataclasses.asdict(client.report) == {"batches": 0, "batch_bytes": 0, "blobs": 1, "blob_bytes": 1000}


def test_whole_document_size_is_checked_once_references_are_ids(crm_with_optional_reference):
    """The transform checks a document without its reference fields (they hold original keys);
    the dry run adds the resolved ids and checks 1 MiB again: a contact 5 bytes under the limit
    before its companyId becomes a 32-character id is over it after."""
    plan = crm_with_optional_reference
    client = DryRunClient(plan)
    [company] = upsert(client, plan, "companies", [crm_document(plan, "companies", 1)], defer=False)
    assert company["status"] == "inserted"
    small = crm_document(plan, "contacts", 1, firstName="")
    assert small.document["companyId"] == 1.0
    pad = DOCUMENT_LIMIT - SYSTEM_FIELDS_SIZE - small.convex_size - 5
    big = crm_document(plan, "contacts", 1, firstName="x" * pad)
    assert big.convex_size + SYSTEM_FIELDS_SIZE == DOCUMENT_LIMIT - 5       # the transform let it through
    [refused] = upsert(client, plan, "contacts", [big], defer=False)
    assert refused["status"] == "failed" and "1 MiB" in refused["reason"], refused
    [fits] = upsert(client, plan, "contacts", [small], defer=False)
    assert fits["status"] == "inserted", fits
    # Deferred, the optional reference is left out, and the document fits as the transform said.
    [waiting] = upsert(DryRunClient(plan), plan, "contacts", [big], defer=True)
    assert waiting["status"] == "inserted" and waiting["deferred"] == ["companyId"], waiting


def test_side_rows_are_checked_where_the_transform_did_not(tmp_path):
    """A side table's `item` narrower than its field's elements: the transform lets `5` through
    in `tags`, the dry run refuses it as a side row. With the planned `item` (the same as the
    elements) the transform's check stands for the side rows."""
    plan = commands.load_mapping(plan_app("friends-entity-class", tmp_path / "m"))
    [friends] = plan.tables
    [multi] = friends.multi_entry
    with open_dump(APPS / "friends-entity-class" / "dump.json") as dump:
        row = next(dump.rows())
    assert multi.item == Validator("string") and multi.strategy == "side-table"
    [as_planned] = upsert(DryRunClient(plan), plan, friends.table,
                          [Transforms(plan).prepare(friends, row.key, {**row.value, "tags": ["a", "b"]})], defer=False)
    assert as_planned["status"] == "inserted", as_planned
    friends.field_named(multi.field).validator = Validator.array(Validator.union(Validator("string"), Validator("number")))
    prepared = Transforms(plan).prepare(friends, row.key, {**row.value, "tags": ["a", 5]})
    assert prepared.side_rows == {multi.table: ["a", 5.0]}
    [refused] = upsert(DryRunClient(plan), plan, friends.table, [prepared], defer=False)
    assert refused["status"] == "failed" and f"side table {multi.table}: value" in refused["reason"], refused


def test_a_size_bound_is_measured_again_before_it_refuses(tmp_path):
    """Rows read by the typed path arrive with a bound of their size (transform/typed.py), not
    the size: where the bound plus the owner field is over 1 MiB, the dry run measures the
    document itself, and refuses only what is over."""
    owned = plan_app("friends-entity-class", tmp_path / "m")
    owned.write_text(owned.read_text().replace('"ownerField": null', '"ownerField": "owner"'))
    plan = commands.load_mapping(plan_app("friends-entity-class", tmp_path / "m"))
    [friends] = plan.tables
    with open_dump(APPS / "friends-entity-class" / "dump.json") as dump:
        row = next(dump.rows())
    owner = {"field": "owner", "value": "u" * 200}

    def sent(prepared: PreparedRow) -> dict:
        [outcome] = DryRunClient(plan).mutation(f"{MODULE}:upsertBatch", {
            "planHash": plan_hash([plan]), "table": friends.table, "rows": upsert_rows([prepared]),
            "deferRefs": False, "owner": owner})
        return outcome

    small = Transforms(plan).prepare(friends, row.key, row.value)
    bound = DOCUMENT_LIMIT - SYSTEM_FIELDS_SIZE
    assert sent(msgspec.structs.replace(small, convex_size=bound))["status"] == "inserted"
    pad = bound - small.convex_size - 100
    big = Transforms(plan).prepare(friends, row.key, {**row.value, "name": row.value["name"] + "x" * pad})
    assert big.convex_size + SYSTEM_FIELDS_SIZE <= DOCUMENT_LIMIT              # fits without the owner
    refused = sent(msgspec.structs.replace(big, convex_size=bound))
    assert refused["status"] == "failed" and "1 MiB" in refused["reason"], refused
