"""The dry run's deployment in a process of its own (what `import --dry-run` uses) answers
exactly as in the importer's process, and ends cleanly however the run ends.

The in-process deployment, keeping every row, is the reference: the same calls, in the same
order, must give the same summary, rejects, dangling references and report from both, on
every fixture app and on a dump broken on purpose. The own process keeps only the rows that
can be asked for again (`keys_unique`, as `import --dry-run` runs it).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
from pathlib import Path

import pytest

from migrator import commands
from migrator.errors import MigratorError
from migrator.generate.import_module import MODULE, plan_hash
from migrator.importer.run import ImportOptions, run_import
from migrator.plan.mapping_file import load_mapping
from migrator.sinks.dry_run_client import DryRunClient

ROOT = Path(__file__).resolve().parent.parent
APPS = sorted(p for p in (ROOT / "fixtures" / "apps").iterdir() if (p / "dump.json").exists())


def dry_run(plan, dumps: list[Path], state: Path, *, separate: bool) -> dict:
    options = ImportOptions(state_dir=state, progress=False, restart=True, resumable=False, batch_rows=7)
    with DryRunClient(plan, separate=separate, keys_unique=separate) as client:
        summary = run_import(plan, dumps, client, options)
    found = summary.to_json()
    for counts in found["tables"].values():
        counts.pop("seconds")
    for name in ("rejectsFile", "danglingFile"):
        found.pop(name)
    lines = {name: (state / name).read_text().splitlines() if (state / name).exists() else []
             for name in ("rejects.jsonl", "dangling.jsonl")}
    return {"summary": found, "files": lines, "report": dataclasses.asdict(client.report),
            "requests": client.stats.requests}


@pytest.mark.parametrize("app", APPS, ids=lambda p: p.name)
def test_own_process_answers_as_in_process(app, tmp_path):
    [written] = commands.plan_mappings([app / "src"], [app / "dump.json"], tmp_path / "mappings").writes
    plan = load_mapping(written.path)
    here = dry_run(plan, [app / "dump.json"], tmp_path / "here", separate=False)
    apart = dry_run(plan, [app / "dump.json"], tmp_path / "apart", separate=True)
    assert apart == here
    assert here["report"]["batches"] >= 1                 # small batches: several calls pipelined


def test_own_process_answers_references_as_in_process(tmp_path):
    """crm-class-ts with its suggested references applied, one of them to a row that does not
    exist: rows deferred, resolved and refused, so the referenced tables' rows must be kept."""
    app = ROOT / "fixtures" / "apps" / "crm-class-ts"
    [written] = commands.plan_mappings([app / "src"], [app / "dump.json"], tmp_path / "mappings").writes
    written.path.write_text(re.sub(r'// suggested: ("[^"]+": "[^"]+",)', r"\1", written.path.read_text()))
    [written] = commands.plan_mappings([app / "src"], [app / "dump.json"], tmp_path / "mappings").writes
    plan = load_mapping(written.path)
    assert any(f.references for t in plan.tables for f in t.fields)
    data = json.loads((app / "dump.json").read_text())
    contacts = next(t for t in data["data"]["data"] if t["tableName"] == "contacts")
    contacts["rows"][0]["companyId"] = 999
    dump = tmp_path / "crm.json"
    dump.write_text(json.dumps(data))
    here = dry_run(plan, [dump], tmp_path / "here", separate=False)
    apart = dry_run(plan, [dump], tmp_path / "apart", separate=True)
    assert apart == here
    counts = here["summary"]["tables"]["contacts"]
    assert counts["deferred"] > 0 and counts["resolved"] > 0 and counts["rejected"] == 1


def test_own_process_answers_rejects_as_in_process(tmp_path):
    """Rows refused by the transform (over 1 MiB), by the key ledger (a duplicate key) and by
    the deployment (a unique-index clash: nested-dotted declares `&contact.email`)."""
    app = ROOT / "fixtures" / "apps" / "nested-dotted"
    data = json.loads((app / "dump.json").read_text())
    [people] = data["data"]["data"]
    rows = people["rows"]
    rows[1]["contact"]["email"] = rows[0]["contact"]["email"]
    rows[2]["name"] = "x" * (1024 * 1024)
    rows.append(json.loads(json.dumps(rows[3])))
    dump = tmp_path / "broken.json"
    dump.write_text(json.dumps(data))
    [written] = commands.plan_mappings([app / "src"], [app / "dump.json"], tmp_path / "mappings").writes
    plan = load_mapping(written.path)
    here = dry_run(plan, [dump], tmp_path / "here", separate=False)
    apart = dry_run(plan, [dump], tmp_path / "apart", separate=True)
    assert apart == here
    reasons = [json.loads(line)["reason"] for line in here["files"]["rejects.jsonl"]]
    assert len(reasons) == 3 and here["summary"]["tables"]["people"]["duplicates"] == 1
    assert any("unique index" in r for r in reasons) and any("duplicate primary key" in r for r in reasons)


@pytest.fixture()
def friends_plan(tmp_path):
    app = ROOT / "fixtures" / "apps" / "friends-entity-class"
    [written] = commands.plan_mappings([app / "src"], [app / "dump.json"], tmp_path / "mappings").writes
    return load_mapping(written.path)


def test_a_deployment_process_that_dies_is_an_error_not_a_hang(friends_plan):
    client = DryRunClient(friends_plan, separate=True)
    assert client.hosted_ledger().dump_number("identity", "file", "path") == 1
    assert client.query(f"{MODULE}:planInfo", {})["planHashes"] == {friends_plan.database: plan_hash([friends_plan])}
    os.kill(client._process.pid, signal.SIGKILL)
    client._process.join()
    with pytest.raises(MigratorError, match="deployment process stopped"):
        client.query(f"{MODULE}:planInfo", {})
    with pytest.raises(MigratorError, match="deployment process stopped"):     # the key ledger it kept
        client.hosted_ledger().dump_number("identity", "file", "path")


def test_closing_with_answers_unread_ends_the_process(friends_plan):
    """An import that stops (Ctrl-C, too many errors) leaves calls unanswered: closing still
    reads the report and the deployment's process exits by itself."""
    client = DryRunClient(friends_plan, separate=True)
    args = {"planHash": plan_hash([friends_plan]), "table": "friends", "rows": [], "deferRefs": True}
    for _ in range(20):
        client.submit("mutation", f"{MODULE}:upsertBatch", args)
    client.close()
    assert client._process.exitcode == 0
    assert client.report.batches == 20


def test_a_spawned_deployment_process_answers_too(friends_plan, tmp_path, monkeypatch):
    """Where there is no fork (macOS, Windows), the deployment's process is spawned: the plan
    goes to it pickled, and it answers as the forked one does."""
    import multiprocessing

    from migrator.sinks import dry_run_client
    monkeypatch.setattr(dry_run_client, "_context", lambda: multiprocessing.get_context("spawn"))
    app = ROOT / "fixtures" / "apps" / "friends-entity-class"
    here = dry_run(friends_plan, [app / "dump.json"], tmp_path / "here", separate=False)
    spawned = dry_run(friends_plan, [app / "dump.json"], tmp_path / "spawned", separate=True)
    assert spawned == here


@pytest.mark.skipif(not hasattr(__import__("fcntl"), "F_GETPIPE_SZ"), reason="pipe sizes are Linux's")
def test_the_pipes_hold_several_batches(friends_plan):
    """With the kernel's 64 KiB a batch's request (~100 KB) made the importer wait in write()
    until the deployment had read it; the pipes now hold several."""
    import fcntl

    from migrator.sinks.dry_run_client import PIPE_BYTES
    with DryRunClient(friends_plan, separate=True) as client:
        for end in (client._requests, client._answers_in):
            assert fcntl.fcntl(end.fileno(), fcntl.F_GETPIPE_SZ) >= PIPE_BYTES
