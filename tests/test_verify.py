"""`dexie-convex verify`: the project's fixtures verify clean (the CI check), and every kind of
drift (mapping, dump value, dropped row, value in a deployment, dry-run rejection) is reported
naming the fixture, the table and the key, with exit code 1.

Expectations in these tests come from the dump files read as plain JSON (row counts, keys,
which row was edited), not from the code under test.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from migrator import commands
from migrator.cli import cli
from migrator.importer.run import ImportOptions
from migrator.sinks.local_endpoint import local_endpoint

ROOT = Path(__file__).resolve().parent.parent
APPS = ROOT / "fixtures" / "apps"


def run_verify(*args: str):
    return CliRunner().invoke(cli, ["verify", *args], catch_exceptions=False)


def raw_tables(dump: Path) -> dict[str, list]:
    """Dexie table -> its rows, straight from the dexie-export-import JSON."""
    data = json.loads(dump.read_text())["data"]
    return {t["tableName"]: t["rows"] for t in data["data"]}


def edit_dump(dump: Path, table: str, edit) -> None:
    """Rewrite one table's rows of a dexie-export-import file (edit(rows) changes them in place)."""
    data = json.loads(dump.read_text())
    for t in data["data"]["data"]:
        if t["tableName"] == table:
            edit(t["rows"])
    for t in data["data"]["tables"]:
        if t["name"] == table:
            t["rowCount"] = next(len(d["rows"]) for d in data["data"]["data"] if d["tableName"] == table)
    dump.write_text(json.dumps(data))


def rename_todo_item_title(mapping: Path) -> None:
    """Edit a todo-js mapping file as a user would: the Convex name of todoItems.title becomes `label`."""
    head, sep, items = mapping.read_text().partition('"todoItems": {')
    assert sep and items.count('"name": "title"') == 1
    mapping.write_text(head + sep + items.replace('"name": "title"', '"name": "label"'))


@pytest.fixture
def todo(tmp_path: Path) -> Path:
    """A copy of the todo-js fixture, expectations included."""
    return Path(shutil.copytree(APPS / "todo-js", tmp_path / "todo-js"))


def drifts_of(result) -> list[dict]:
    assert result.exit_code == 1, result.output
    return [d for r in json.loads(result.output)["reports"] for d in r["drifts"]]


# -- the project's own fixtures (what CI runs) ---------------------------------------------------
def test_project_fixtures_verify_clean():
    """`verify fixtures/` finds every app below it (fixtures/dumps/ has no dump.json: not a fixture)."""
    result = run_verify(str(ROOT / "fixtures"))
    assert result.exit_code == 0, result.output
    apps = sorted(p.name for p in APPS.iterdir() if (p / "src").is_dir())
    assert [line.split()[1].rstrip(":") for line in result.output.splitlines()[:-1] if line.startswith("ok")] == apps


@pytest.mark.parametrize("app", sorted(p.name for p in APPS.iterdir() if (p / "src").is_dir()))
def test_expected_counts_match_the_dump_rows(app: str):
    """Per table: rows kept + rows rejected = rows in the dump (Dexie keys are unique per table)."""
    plans = json.loads((APPS / app / "expected" / "plan.json").read_text())["databases"]
    content = json.loads((APPS / app / "expected" / "content.json").read_text())["databases"]
    for dump in sorted((APPS / app).glob("dump*.json")):
        database = json.loads(dump.read_text())["data"]["databaseName"]
        convex_name = {t["source"]: t["table"] for t in plans[database]["tables"] if "sideTableOf" not in t}
        for source, rows in raw_tables(dump).items():
            table = content[database][convex_name[source]]
            assert table["count"] == len(table["rows"])
            assert table["count"] + len(table["rejected"]) == len(rows), f"{app} {source}"


def test_expected_keys_are_the_dump_keys():
    rows = raw_tables(APPS / "todo-js" / "dump.json")["todoItems"]
    content = json.loads((APPS / "todo-js" / "expected" / "content.json").read_text())["databases"]["TodoDB"]
    assert set(content["todoItems"]["rows"]) == {str(r["id"]) for r in rows}


@pytest.mark.parametrize("app", sorted(p.name for p in APPS.iterdir() if (p / "src").is_dir()))
def test_project_fixtures_verify_clean_in_the_local_endpoint(app: str, node_available):
    """What the local endpoint holds after a real import matches, row by row, what the dump predicts."""
    result = run_verify(str(APPS / app), "--local", "--json")
    assert result.exit_code == 0, result.output
    report, = json.loads(result.output)["reports"]
    assert report["stages"] == ["plan", "generate", "dry-run", "local"]


# -- drift in a fixture ----------------------------------------------------------------------------
def test_changed_dump_value_names_fixture_table_and_key(todo: Path):
    edit_dump(todo / "dump.json", "todoItems", lambda rows: rows[0].update(title="Buy oat milk"))
    assert raw_tables(todo / "dump.json")["todoItems"][0]["id"] == 1
    drifts = drifts_of(run_verify(str(todo), "--json"))
    assert {(d["fixture"], d["stage"], d["table"], d["key"], d["what"]) for d in drifts} == {
        ("todo-js", "content", "todoItems", "1", "changed value in title")}
    assert drifts[0]["message"].startswith("todo-js: content TodoDB.todoItems key 1: changed value in title (expected ")


def test_dropped_row_names_fixture_table_and_key(todo: Path):
    edit_dump(todo / "dump.json", "todoItems", lambda rows: rows.remove(next(r for r in rows if r["id"] == 5)))
    result = run_verify(str(todo))
    assert result.exit_code == 1
    assert "todo-js: content TodoDB.todoItems key 5: row missing" in result.output
    assert "todo-js: content TodoDB.todoItems: row count differs (expected 30, got 29)" in result.output
    assert result.output.splitlines()[0].startswith("FAIL todo-js")


def test_added_row_is_an_unexpected_row(todo: Path):
    edit_dump(todo / "dump.json", "todoLists",
              lambda rows: rows.append({**rows[0], "id": 99, "title": "New list"}))
    drifts = drifts_of(run_verify(str(todo), "--json"))
    assert ("todoLists", "99", "unexpected row") in {(d["table"], d["key"], d["what"]) for d in drifts}


def test_changed_mapping_names_fixture_table_and_entry(todo: Path):
    """A reviewed mapping file in the fixture is the plan; an edit to it is a drift of plan and content."""
    planned = commands.plan_mappings([todo / "src"], [todo / "dump.json"], todo / "mappings")
    assert run_verify(str(todo), "--update").exit_code == 0          # the mapping file's plan is the baseline
    assert run_verify(str(todo)).exit_code == 0
    mapping = planned.writes[0].path
    rename_todo_item_title(mapping)
    drifts = drifts_of(run_verify(str(todo), "--json"))
    plan_drifts = {(d["table"], d["key"]) for d in drifts if d["stage"] == "plan"}
    assert plan_drifts == {("todoItems", "fields[title].name")}
    changed = {(d["table"], d["key"]) for d in drifts
               if d["stage"] == "content" and d["what"] == "changed value in label, title"}
    assert changed == {("todoItems", str(r["id"])) for r in raw_tables(todo / "dump.json")["todoItems"]}
    assert any(d["stage"] == "schema" and d["table"] == "todoItems" for d in drifts)
    assert any(d["message"].startswith("todo-js: content TodoDB.todoItems key 1: changed value in label, title")
               for d in drifts)


def test_refused_row_is_a_drift_when_none_is_expected(todo: Path):
    """A 1.1 MB title is over Convex's 1 MiB document limit: the transform refuses it."""
    edit_dump(todo / "dump.json", "todoItems", lambda rows: rows[2].update(title="x" * 1_100_000))
    drifts = drifts_of(run_verify(str(todo), "--json"))
    rejected = [d for d in drifts if d["what"].startswith("rejected")]
    assert [(d["fixture"], d["table"], d["key"]) for d in rejected] == [("todo-js", "todoItems", "3")]
    assert "1 MiB" in rejected[0]["what"]


def test_update_rewrites_only_what_changed_then_verifies_clean(todo: Path):
    before = json.loads((todo / "expected" / "content.json").read_text())["databases"]["TodoDB"]
    edit_dump(todo / "dump.json", "todoItems", lambda rows: rows[0].update(title="Buy oat milk"))
    result = run_verify(str(todo), "--update")
    assert result.exit_code == 0, result.output
    assert f"updated {todo / 'expected' / 'content.json'}" in result.output
    assert "plan.json" not in result.output and "schema.ts" not in result.output
    after = json.loads((todo / "expected" / "content.json").read_text())["databases"]["TodoDB"]
    changed = {k for k in before["todoItems"]["rows"] if before["todoItems"]["rows"][k] != after["todoItems"]["rows"][k]}
    assert changed == {"1"} and before["todoLists"] == after["todoLists"]
    assert run_verify(str(todo)).exit_code == 0


def test_missing_expectations_are_a_drift(todo: Path):
    shutil.rmtree(todo / "expected")
    result = run_verify(str(todo))
    assert result.exit_code == 1 and "--update" in result.output


def test_local_import_drift_names_the_key(todo: Path, node_available):
    """A dropped row seen by both the dump check and the local endpoint's contents."""
    edit_dump(todo / "dump.json", "todoItems", lambda rows: rows.remove(next(r for r in rows if r["id"] == 7)))
    drifts = drifts_of(run_verify(str(todo), "--local", "--json"))
    assert {(d["stage"], d["table"], d["key"], d["what"]) for d in drifts if d["key"]} == {
        ("content", "todoItems", "7", "row missing"), ("local", "todoItems", "7", "row missing")}


# -- a deployment after an import -----------------------------------------------------------------
def test_verify_url_checks_counts_keys_and_values(tmp_path: Path, node_available):
    app = APPS / "todo-js"
    mapping = commands.plan_mappings([app / "src"], [app / "dump.json"], tmp_path / "mappings").writes[0].path
    imported = tmp_path / "imported.json"
    shutil.copy(app / "dump.json", imported)
    edit_dump(imported, "todoItems", lambda rows: (rows.remove(next(r for r in rows if r["id"] == 5)),
                                                   rows[0].update(done=not rows[0]["done"])))
    commands.generate_convex([mapping], tmp_path / "convex")
    with local_endpoint(tmp_path / "convex") as dep:
        key = dep.key.reveal()
        commands.import_dumps(mapping, [imported], ImportOptions(state_dir=tmp_path / "state", progress=False),
                              url=dep.url, deploy_key=key)
        clean = run_verify("--url", dep.url, "--deploy-key", key, str(mapping), str(imported))
        drift = run_verify("--url", dep.url, "--deploy-key", key, "--json", str(mapping), str(app / "dump.json"))
    assert clean.exit_code == 0, clean.output
    assert "TodoDB.json5: deployment" in clean.output or clean.output.startswith("ok")
    drifts = drifts_of(drift)
    assert {(d["table"], d["key"], d["what"]) for d in drifts} == {
        ("todoItems", "5", "row missing"), ("todoItems", "1", "changed value in done"),
        ("todoItems", None, "row count differs"), ("todoItems", None, "checksum of original keys differs")}
    report, = json.loads(drift.output)["reports"]
    assert report["counts"]["TodoDB"] == {"todoLists": 3, "todoItems": 29}
    assert key not in clean.output and key not in drift.output


def test_verify_url_refuses_a_module_from_another_plan(tmp_path: Path, node_available):
    app = APPS / "todo-js"
    mapping = commands.plan_mappings([app / "src"], [app / "dump.json"], tmp_path / "mappings").writes[0].path
    commands.generate_convex([mapping], tmp_path / "convex")
    rename_todo_item_title(mapping)
    with local_endpoint(tmp_path / "convex") as dep:
        result = CliRunner().invoke(cli, ["verify", "--url", dep.url, "--deploy-key", dep.key.reveal(),
                                          str(mapping), str(app / "dump.json")])
    assert result.exit_code == 1 and "generated from another plan" in result.output


def test_references_verify_by_original_key_across_runs(tmp_path: Path, node_available):
    """With the suggested references applied, stored `_id`s differ per run; verify compares the keys they point to."""
    crm = Path(shutil.copytree(APPS / "crm-class-ts", tmp_path / "crm"))
    planned = commands.plan_mappings([crm / "src"], [crm / "dump.json"], crm / "mappings")
    mapping = planned.writes[0].path
    text = mapping.read_text()
    assert text.count('// suggested: "') == 4
    mapping.write_text(text.replace('// suggested: "', '"'))
    assert run_verify(str(crm), "--update", "--local").exit_code == 0
    result = run_verify(str(crm), "--local", "--json")
    assert result.exit_code == 0, result.output
    plan = json.loads((crm / "expected" / "plan.json").read_text())["databases"]["CrmDB"]
    assert plan["references"]["deals.contactId"] == "contacts"
    deals = json.loads((crm / "expected" / "content.json").read_text())["databases"]["CrmDB"]["deals"]
    assert deals["count"] == len(raw_tables(crm / "dump.json")["deals"])
    edit_dump(crm / "dump.json", "deals", lambda rows: rows[0].update(contactId=rows[1]["contactId"]))
    assert rows_differ(raw_tables(crm / "dump.json")["deals"], raw_tables(APPS / "crm-class-ts" / "dump.json")["deals"]) == [
        raw_tables(crm / "dump.json")["deals"][0]["id"]]
    drifts = drifts_of(run_verify(str(crm), "--local", "--json"))
    first = str(raw_tables(crm / "dump.json")["deals"][0]["id"])
    assert {(d["stage"], d["table"], d["key"], d["what"]) for d in drifts} == {
        ("content", "deals", first, "changed value in contactId"), ("local", "deals", first, "changed value in contactId")}


def rows_differ(a: list[dict], b: list[dict]) -> list:
    return [x["id"] for x, y in zip(a, b) if x != y]


def per_user_fixture(todo: Path) -> Path:
    """todo-js as one dump per user (alice's and bob's copies of the export; bob's first item edited),
    with a mapping that scopes keys per owner (`options.ownerField`)."""
    for user in ("alice", "bob"):
        shutil.copy(todo / "dump.json", todo / f"dump-{user}.json")
    (todo / "dump.json").unlink()
    edit_dump(todo / "dump-bob.json", "todoItems", lambda rows: rows[0].update(title="Bob's own"))
    mapping = commands.plan_mappings([todo / "src"], [todo / "dump-alice.json"], todo / "mappings").writes[0].path
    text = mapping.read_text()
    assert text.count('"ownerField": null') == 1
    mapping.write_text(text.replace('"ownerField": null', '"ownerField": "userId"'))
    return mapping


def test_owner_scoped_fixture_verifies_per_owner_and_key(todo: Path, node_available):
    per_user_fixture(todo)
    assert run_verify(str(todo), "--update").exit_code == 0
    content = json.loads((todo / "expected" / "content.json").read_text())["databases"]["TodoDB"]
    items = raw_tables(todo / "dump-alice.json")["todoItems"]
    assert set(content["todoItems"]["rows"]) == {f'["{user}",{r["id"]}]' for user in ("dump-alice", "dump-bob")
                                                 for r in items}
    alice, bob = (content["todoItems"]["rows"][f'["{u}",{items[0]["id"]}]'] for u in ("dump-alice", "dump-bob"))
    assert alice != bob                           # same key, different owners: two rows, each its own
    result = run_verify(str(todo), "--local", "--json")
    assert result.exit_code == 0, result.output
    edit_dump(todo / "dump-bob.json", "todoItems", lambda rows: rows[1].update(done=not rows[1]["done"]))
    drifts = drifts_of(run_verify(str(todo), "--local", "--json"))
    assert {(d["stage"], d["table"], d["key"], d["what"]) for d in drifts} == {
        (stage, "todoItems", f'["dump-bob",{items[1]["id"]}]', "changed value in done") for stage in ("content", "local")}


def test_verify_url_compares_per_owner_and_key(todo: Path, tmp_path: Path, node_available):
    mapping = per_user_fixture(todo)
    dumps = [todo / "dump-alice.json", todo / "dump-bob.json"]
    commands.generate_convex([mapping], tmp_path / "convex")
    with local_endpoint(tmp_path / "convex") as dep:
        key = dep.key.reveal()
        commands.import_dumps(mapping, dumps, ImportOptions(state_dir=tmp_path / "state", progress=False,
                                                            owner_field="userId", owner_from="filename"),
                              url=dep.url, deploy_key=key)
        clean = run_verify("--url", dep.url, "--deploy-key", key, str(mapping), *map(str, dumps))
        as_alice = tmp_path / "dump-alice.json"       # alice's file now holds bob's rows
        shutil.copy(dumps[1], as_alice)
        drift = run_verify("--url", dep.url, "--deploy-key", key, "--json", str(mapping), str(as_alice), str(dumps[1]))
    assert clean.exit_code == 0, clean.output
    first = raw_tables(dumps[0])["todoItems"][0]["id"]
    assert {(d["table"], d["key"], d["what"]) for d in drifts_of(drift)} == {
        ("todoItems", f'["dump-alice",{first}]', "changed value in title")}


def test_verify_url_reads_a_table_page_by_page(tmp_path: Path, node_available):
    """The deployment's documents come as a stream of pages: the first document is there after one request."""
    from migrator.sinks.convex_http import ConvexClient
    from migrator.verify.run import read_documents
    app = APPS / "todo-js"
    mapping = commands.plan_mappings([app / "src"], [app / "dump.json"], tmp_path / "mappings").writes[0].path
    commands.generate_convex([mapping], tmp_path / "convex")
    with local_endpoint(tmp_path / "convex") as dep:
        commands.import_dumps(mapping, [app / "dump.json"], ImportOptions(state_dir=tmp_path / "state", progress=False),
                              url=dep.url, deploy_key=dep.key.reveal())
        with ConvexClient(dep) as client:
            calls = []
            query = client.query
            client.query = lambda *a, **k: (calls.append(a), query(*a, **k))[1]
            docs = read_documents(client, "todoItems", page_size=4)
            first = next(docs)
            assert len(calls) == 1 and "_id" in first
            rest = list(docs)
    items = raw_tables(app / "dump.json")["todoItems"]
    assert 1 + len(rest) == len(items) and len(calls) >= len(items) // 4
    assert {d["id"] for d in [first, *rest]} == {float(r["id"]) for r in items}


def test_verify_url_reads_files_back_by_content(tmp_path: Path, node_available):
    """media-blobs: Blobs over 256 KiB sit in file storage; the deployment's storage ids map to the files' sha256."""
    app = APPS / "media-blobs"
    mapping = commands.plan_mappings([app / "src"], [app / "dump.json"], tmp_path / "mappings").writes[0].path
    assert r'"validator": "v.id(\"_storage\")"' in mapping.read_text()
    commands.generate_convex([mapping], tmp_path / "convex")
    with local_endpoint(tmp_path / "convex") as dep:
        key = dep.key.reveal()
        commands.import_dumps(mapping, [app / "dump.json"], ImportOptions(state_dir=tmp_path / "state", progress=False),
                              url=dep.url, deploy_key=key)
        result = run_verify("--url", dep.url, "--deploy-key", key, "--json", str(mapping), str(app / "dump.json"))
    assert result.exit_code == 0, result.output
    report, = json.loads(result.output)["reports"]
    rows = raw_tables(app / "dump.json")
    assert report["counts"]["MediaDB"]["media"] == len(rows["media"])
    assert report["counts"]["MediaDB"]["oddities"] == len(rows["oddities"]) - 1    # the bigint outside int64


def test_new_index_in_the_declarations_is_one_plan_drift_and_a_schema_drift(todo: Path):
    db_js = todo / "src" / "db.js"
    spec = '"++id, todoListId, [todoListId+done], dueDate"'
    assert db_js.read_text().count(spec) == 1
    db_js.write_text(db_js.read_text().replace(spec, spec[:-1] + ', title"'))
    drifts = drifts_of(run_verify(str(todo), "--json"))
    assert ("plan", "todoItems", "indexes[by_title]", "added") in {(d["stage"], d["table"], d["key"], d["what"])
                                                                   for d in drifts}
    schema, = [d for d in drifts if d["stage"] == "schema"]
    assert schema["table"] == "todoItems" and '+     .index("by_title", ["title"]),' in schema["message"]
    assert not [d for d in drifts if d["stage"] == "content"]


def test_verify_url_with_a_wrong_key_says_so_without_printing_it(tmp_path: Path, node_available):
    app = APPS / "todo-js"
    mapping = commands.plan_mappings([app / "src"], [app / "dump.json"], tmp_path / "mappings").writes[0].path
    commands.generate_convex([mapping], tmp_path / "convex")
    wrong = "not-the-key-" + "7" * 24
    with local_endpoint(tmp_path / "convex") as dep:
        result = CliRunner().invoke(cli, ["verify", "--url", dep.url, str(mapping), str(app / "dump.json")],
                                    env={"CONVEX_DEPLOY_KEY": wrong})
    assert result.exit_code == 1
    assert "deploy key" in result.output and wrong not in result.output
