"""The command line, in-process with CliRunner: exit codes, what is printed, what is written."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from migrator.cli import cli
from migrator.dumps import open_dump
from migrator.plan.validators import parse_validator

ROOT = Path(__file__).resolve().parent.parent
TODO = ROOT / "fixtures" / "apps" / "todo-js"
CRM = ROOT / "fixtures" / "apps" / "crm-class-ts"


def run(*args: str | Path):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_every_command_is_documented_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    for name, command in cli.commands.items():
        assert re.search(rf"^### `{re.escape(name)}\b", readme, re.M), f"README has no section for `{name}`"
        result = run(name, "--help")
        first_line = " ".join((command.help or "").split("\n")[0].split())
        assert result.exit_code == 0 and first_line and first_line in " ".join(result.output.split())


def test_top_level_help_lists_each_command_exactly_once():
    """Each command on one line of its own, once, with its short help; in pipeline order."""
    result = run("--help")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    listed = [line.split()[0] for line in lines if line.startswith("  ") and line.split()
              and line.split()[0] in cli.commands]
    assert listed == ["inspect", "plan", "generate", "diff", "import", "migrate", "verify"]
    assert sorted(listed) == sorted(cli.commands)
    for name, command in cli.commands.items():
        assert len(re.findall(rf"^  {name}\b", result.output, re.M)) == 1, result.output
        assert command.short_help and f"{name}  " in result.output


def test_inspect_prints_every_table_with_its_row_count():
    with open_dump(TODO / "dump.json") as dump:
        header = {t.name: t.row_count for t in dump.tables}
    result = run("inspect", TODO / "dump.json")
    assert result.exit_code == 0
    assert "database TodoDB" in result.output
    for name, rows in header.items():
        assert re.search(rf"^{name}: {rows} rows", result.output, re.M)


def test_inspect_json_counts_every_table():
    result = run("inspect", "--json", CRM / "dump.json")
    assert result.exit_code == 0
    [data] = json.loads(result.output)
    assert data["path"].endswith("dump.json") and data["database"] == "CrmDB"
    with open_dump(CRM / "dump.json") as dump:
        assert {t["name"]: t["rows"] for t in data["tables"]} == {t.name: t.row_count for t in dump.tables}


def test_inspect_truncated_dump_names_file_offset_table_and_row():
    result = run("inspect", ROOT / "fixtures" / "dumps" / "truncated.json")
    assert result.exit_code == 1
    assert re.search(r"truncated\.json, byte \d+, table '\w+', row \d+", result.output)
    assert "remedy:" in result.output


def test_plan_writes_the_mapping_then_keeps_it(tmp_path: Path):
    out = tmp_path / "mappings"
    first = run("plan", "--dexie", TODO / "src", TODO / "dump.json", "-o", out)
    assert first.exit_code == 0, first.output
    assert f"created: {out / 'TodoDB.json5'}" in first.output
    assert "todoItems: key id" in first.output
    text = (out / "TodoDB.json5").read_text()
    again = run("plan", "--dexie", TODO / "src", TODO / "dump.json", "-o", out)
    assert again.exit_code == 0 and "unchanged" in again.output
    assert (out / "TodoDB.json5").read_text() == text


def test_plan_dry_run_writes_nothing(tmp_path: Path):
    result = run("plan", "--dexie", TODO / "src", "-o", tmp_path / "m", "--dry-run")
    assert result.exit_code == 0 and "Database TodoDB" in result.output
    assert not (tmp_path / "m").exists()


def test_plan_json_has_the_promised_shape(tmp_path: Path):
    result = run("plan", "--dexie", CRM / "src", CRM / "dump.json", "-o", tmp_path, "--json")
    assert result.exit_code == 0
    data = json.loads(result.output)
    [db] = data["databases"]
    assert db["database"] == "CrmDB"
    dexie = json.loads((CRM / "dexie-parse.json").read_text())["databases"][0]
    assert sorted(t["source"] for t in db["tables"]) == sorted(t["name"] for t in dexie["tables"])
    for table in db["tables"]:
        assert {"source", "table", "keyField", "fields", "indexes"} <= set(table)
        names = [f["name"] for f in table["fields"]]
        assert table["keyField"] in names
        for f in table["fields"]:
            assert {"source", "name", "validator"} <= set(f)
            assert parse_validator(f["validator"]).to_ts() == f["validator"]
        for index in table["indexes"]:
            assert index["name"] and all(p.split(".")[0] in names for p in index["fields"])
    assert data["files"] == [{"path": str(tmp_path / "CrmDB.json5"), "status": "created", "added": [],
                              "keptEdits": []}]


def test_plan_unnamed_database_needs_a_name(tmp_path: Path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "db.ts").write_text('import Dexie from "dexie";\n'
                               "export const db = new Dexie(import.meta.env.VITE_DB_NAME);\n"
                               'db.version(1).stores({ items: "++id, name" });\n')
    failed = run("plan", "--dexie", src, "-o", tmp_path / "m")
    assert failed.exit_code == 1
    assert f"{src / 'db.ts'}:2:" in failed.output and "--database NAME" in failed.output
    named = run("plan", "--dexie", src, "--database", "Shop", "-o", tmp_path / "m")
    assert named.exit_code == 0, named.output
    assert (tmp_path / "m" / "Shop.json5").is_file()
    from_dump = run("plan", "--dexie", src, TODO / "dump.json", "-o", tmp_path / "d", "--json")
    assert from_dump.exit_code == 0, from_dump.output
    [db] = json.loads(from_dump.output)["databases"]
    assert db["database"] == "TodoDB" and "'TodoDB' comes from the dump" in " ".join(db["notes"])


def test_plan_without_input_is_an_error():
    result = run("plan")
    assert result.exit_code == 1 and "nothing to plan" in result.output


@pytest.fixture
def crm_mapping(tmp_path: Path) -> Path:
    assert run("plan", "--dexie", CRM / "src", CRM / "dump.json", "-o", tmp_path / "m").exit_code == 0
    return tmp_path / "m" / "CrmDB.json5"


def test_generate_check_typechecks_and_counts(crm_mapping: Path, tmp_path: Path, node_available):
    result = run("generate", crm_mapping, "-o", tmp_path / "convex", "--check")
    assert result.exit_code == 0, result.output
    assert f"wrote: {tmp_path / 'convex' / 'schema.ts'}" in result.output
    dexie = json.loads((CRM / "dexie-parse.json").read_text())["databases"][0]["tables"]
    tables = len(dexie)
    indexes = sum(len(t["indexes"]) + 1 for t in dexie)        # every Dexie index plus the key's
    assert f"schema.export() lists {tables} tables, {indexes} indexes" in result.output
    again = run("generate", crm_mapping, "-o", tmp_path / "convex")
    assert f"unchanged: {tmp_path / 'convex' / 'schema.ts'}" in again.output
    assert "no differences" in again.output and "do not carry over, and what" not in again.output


def test_generate_leaves_a_hand_written_schema_alone(crm_mapping: Path, tmp_path: Path):
    convex = tmp_path / "convex"
    convex.mkdir()
    mine = 'import { defineSchema } from "convex/server";\nexport default defineSchema({});\n'
    (convex / "schema.ts").write_text(mine)
    refused = run("generate", crm_mapping, "-o", convex)
    assert refused.exit_code != 0 and "--force" in refused.output
    assert (convex / "schema.ts").read_text() == mine
    forced = run("generate", crm_mapping, "-o", convex, "--force")
    assert forced.exit_code == 0 and (convex / "schema.ts").read_text() != mine


def test_migrate_plans_generates_and_imports_into_the_local_endpoint(tmp_path: Path, node_available):
    with open_dump(TODO / "dump.json") as dump:
        rows = {t.name: t.row_count for t in dump.tables}
    args = ["migrate", TODO / "dump.json", "--dexie", TODO / "src", "-o", tmp_path, "--state-dir", tmp_path / "state",
            "--summary-json", tmp_path / "summary.json", "-q"]
    first = run(*args)
    assert first.exit_code == 0, first.output
    assert f"created: {tmp_path / 'mappings' / 'TodoDB.json5'}" in first.output
    assert f"wrote: {tmp_path / 'convex' / 'schema.ts'}" in first.output
    summary = json.loads((tmp_path / "summary.json").read_text())["databases"]["TodoDB"]
    assert {t: c["inserted"] for t, c in summary["tables"].items()} == rows
    for table, n in rows.items():       # what the local endpoint held at the end
        assert len((tmp_path / "state" / "local-contents" / f"{table}.jsonl").read_text().splitlines()) == n
    again = run(*args)                  # the local endpoint starts empty each run: all imported again, once
    assert again.exit_code == 0, again.output
    summary = json.loads((tmp_path / "summary.json").read_text())["databases"]["TodoDB"]
    assert {t: (c["skipped"], c["inserted"]) for t, c in summary["tables"].items()} == {t: (0, n) for t, n in rows.items()}
    assert "unchanged: " + str(tmp_path / "mappings" / "TodoDB.json5") in again.output


def test_migrate_dry_run_sends_nothing(tmp_path: Path):
    result = run("migrate", CRM / "dump.json", "--dexie", CRM / "src", "-o", tmp_path, "--state-dir",
                 tmp_path / "state", "--dry-run", "-q")
    assert result.exit_code == 0, result.output
    assert "Dry run: nothing was sent" in result.output and "would send" in result.output
    assert not (tmp_path / "state" / "checkpoint.json").exists()


def test_migrate_several_databases_into_one_local_endpoint(tmp_path: Path, node_available):
    app = ROOT / "fixtures" / "apps" / "multi-db"
    dumps = sorted(app.glob("dump-*.json"))
    rows = {}
    for path in dumps:
        with open_dump(path) as dump:
            rows.update({t.name: t.row_count for t in dump.tables})
    result = run("migrate", *dumps, "--dexie", app / "src", "-o", tmp_path, "--state-dir", tmp_path / "state", "-q")
    assert result.exit_code == 0, result.output
    assert "== AppA" in result.output and "== AppB" in result.output
    urls = set(re.findall(r"Imported into the local Convex endpoint \((http://[^)]+)\)", result.output))
    assert len(urls) == 1                     # one endpoint serving the generated convex/ folder
    contents = tmp_path / "state" / "local-contents"
    assert {t: len((contents / f"{t}.jsonl").read_text().splitlines()) for t in rows} == rows
