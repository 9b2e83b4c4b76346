"""`generate --collect` and `import --from-uploads` at the command line: usage errors, uploads
that cannot be imported (failed with the reason, or imported with their own rejects file),
--retry-failed, --watch, and the deploy key kept out of every output and file."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from migrator.cli import cli
from migrator.sinks.local_endpoint import local_endpoint

from conftest import sigint_as_ctrl_c
from collect_helpers import TODO, Caller, generate_collect, owned_todo_mapping
from conftest import ROOT

KEY = "collect-cli-" + secrets.token_hex(8)


def invoke(*args, env=None):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False,
                              env={"CONVEX_DEPLOY_KEY": KEY, **(env or {})})


@pytest.fixture
def deployment(tmp_path, node_available):
    mapping = owned_todo_mapping(tmp_path)
    generate_collect(mapping, tmp_path / "convex", 1024 * 1024)
    with local_endpoint(tmp_path / "convex", admin_key=KEY, log_path=tmp_path / "endpoint.log") as dep:
        yield mapping, dep.url


def todo_export(edit=None) -> bytes:
    data = json.loads((TODO / "dump.json").read_text())
    if edit:
        edit(data)
    return json.dumps(data).encode()


def statuses(url: str) -> dict[str, dict]:
    admin, found = Caller(url, f"Convex {KEY}"), {}
    for status in ("pending", "importing", "imported", "failed"):
        for u in admin.value("query", "dexieCollect:listUploads", {
                "database": "TodoDB", "status": status, "paginationOpts": {"numItems": 100, "cursor": None}})["page"]:
            found[u["owner"].split("|", 1)[1]] = u
    return found


def record(url: str, user: str, data: bytes) -> dict:
    caller = Caller.user(url, user)
    return caller.value("mutation", "dexieCollect:recordUpload", {"storageId": caller.upload(data), "database": "TodoDB"})


@pytest.mark.parametrize("args,message", [
    (["--watch", "5"], "--watch and --retry-failed go with --from-uploads"),
    (["--retry-failed"], "--watch and --retry-failed go with --from-uploads"),
    ([], "give the DUMPS to import, or --from-uploads"),
    (["--from-uploads", TODO / "dump.json"], "--from-uploads takes no DUMPS"),
    (["--from-uploads", "--owner-field", "owner"], "--from-uploads takes no DUMPS and no --owner-field"),
    (["--from-uploads", "--replace"], "--replace"),
])
def test_import_usage_errors(tmp_path, args, message):
    mapping = owned_todo_mapping(tmp_path)
    result = invoke("import", mapping, *args)
    assert result.exit_code == 2 and message in result.output, result.output


def test_from_uploads_needs_a_deployment_and_an_owner_field(tmp_path):
    mapping = owned_todo_mapping(tmp_path)
    result = invoke("import", mapping, "--from-uploads", env={"CONVEX_DEPLOY_KEY": None})
    assert result.exit_code == 1 and "needs the deployment that holds the uploads" in result.output
    plain = tmp_path / "plain.json5"
    plain.write_text(mapping.read_text().replace('"ownerField": "owner"', '"ownerField": null'))
    result = invoke("import", plain, "--from-uploads", "--url", "http://127.0.0.1:9")
    assert result.exit_code == 1 and "no options.ownerField" in result.output


def test_generate_collect_flags(tmp_path, node_available):
    mapping = owned_todo_mapping(tmp_path)
    result = invoke("generate", mapping, "-o", tmp_path / "convex", "--collect", "--collect-max-bytes", "999",
                    "--browser-module", tmp_path / "src" / "uploadToConvex.ts", "--check")
    assert result.exit_code == 0, result.output
    for name in ("schema.ts", "dexieImport.ts", "dexieCollect.ts"):
        assert f"wrote: {tmp_path / 'convex' / name}" in result.output
    assert "uploadToConvex.ts type-checks" in result.output
    assert "const MAX_UPLOAD_BYTES = 999;" in (tmp_path / "convex" / "dexieCollect.ts").read_text()
    assert invoke("generate", mapping, "--collect-max-bytes", "5").exit_code == 2
    assert invoke("generate", mapping, "-o", tmp_path / "c2", "--browser-module", tmp_path / "x.ts").exit_code == 1


def test_uploads_that_cannot_be_imported(deployment, tmp_path):
    """Each outcome with its own state folder: not a dexie export and another database's
    export fail with the reason; rows the mapping refuses go to the upload's own rejects file."""
    mapping, url = deployment

    def lose_created_at(data):
        row = data["data"]["data"][0]["rows"][0]
        del row["createdAt"], row["$types"]["createdAt"]

    def other_database(data):
        data["data"]["databaseName"] = "ShopDB"

    record(url, "garbage", b'{"formatName": "not dexie"}')
    record(url, "wrongdb", todo_export(other_database))
    record(url, "partial", todo_export(lose_created_at))
    record(url, "fine", todo_export())
    state = tmp_path / "state"
    result = invoke("import", mapping, "--from-uploads", "--url", url, "--state-dir", state, "-q")
    assert result.exit_code == 1 and "3 upload(s) failed or had rejected rows" in result.output, result.output
    found = statuses(url)
    assert {u: x["status"] for u, x in found.items()} == \
        {"garbage": "failed", "wrongdb": "failed", "partial": "imported", "fine": "imported"}
    mine = {u: Caller.user(url, u).value("query", "dexieCollect:myUploads")[0] for u in found}
    assert "formatName" in mine["garbage"]["reason"] and "'ShopDB'" in mine["wrongdb"]["reason"]
    assert mine["partial"]["summary"]["rejected"] == 1 and mine["fine"]["summary"]["rejected"] == 0
    rejects = list(state.glob("uploads/*/rejects.jsonl"))
    with_rows = [p for p in rejects if p.read_text().strip()]
    assert len(with_rows) == 1 and "createdAt" in with_rows[0].read_text()
    assert f"rejects: {with_rows[0]}" in result.output
    # failed uploads stay failed on a re-run; --retry-failed takes them again (and they fail again)
    again = invoke("import", mapping, "--from-uploads", "--url", url, "--state-dir", state, "-q")
    assert again.exit_code == 0 and again.output.strip() == "no uploads to import"
    retried = invoke("import", mapping, "--from-uploads", "--url", url, "--state-dir", state, "--retry-failed", "-q")
    assert retried.exit_code == 1 and retried.output.count(": failed: ") == 2, retried.output
    assert Caller(url, f"Convex {KEY}").value("query", "dexieCollect:listUploads", {
        "database": "TodoDB", "status": "failed", "paginationOpts": {"numItems": 10, "cursor": None}})["page"][0][
        "attempts"] == 2
    for text in (result.output, again.output, retried.output):
        assert KEY not in text
    for path in state.rglob("*"):
        assert not path.is_file() or KEY.encode() not in path.read_bytes(), path


def test_watch_picks_up_uploads_as_they_arrive(deployment, tmp_path):
    mapping, url = deployment
    cmd = [sys.executable, "-m", "migrator", "import", str(mapping), "--from-uploads", "--url", url,
           "--state-dir", str(tmp_path / "state"), "--watch", "1", "-q"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, "CONVEX_DEPLOY_KEY": KEY, "PYTHONUNBUFFERED": "1"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=sigint_as_ctrl_c)
    try:
        for user in ("early", "late"):
            record(url, user, todo_export())
            deadline = time.monotonic() + 120
            while statuses(url)[user]["status"] != "imported":
                assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
                time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "early: imported" in out and "late: imported" in out   # late arrived after early was imported
    assert "stopped watching" in err
