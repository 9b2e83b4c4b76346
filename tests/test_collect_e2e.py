"""End to end: users' browsers upload, the operator imports each upload with its owner.

Browsers are Node processes running real Dexie on fake-indexeddb and the generated
uploadToConvex.ts with the real ConvexHttpClient and fetch (tests/collect/browser_user.mjs);
the operator is the real CLI (`python -m migrator import --from-uploads`) in a subprocess;
the deployment is the local endpoint over HTTP. What each user's rows must be is what the
browser seeded (written here, not read back from the tool).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from migrator.importer.run import ImportOptions
from migrator.importer.uploads import UploadImporter
from migrator.node_tools import ensure_node_modules
from migrator.plan.mapping_file import load_mapping
from migrator.sinks.convex_http import ConvexCallError, ConvexClient, Deployment, Secret
from migrator.sinks.local_endpoint import local_endpoint

from collect_helpers import Caller, generate_collect, owned_todo_mapping, token_identifier, unsigned_jwt, ISSUER
from conftest import ROOT

KEY = "collect-e2e-" + secrets.token_hex(8)
DRIVER = Path(__file__).parent / "collect" / "browser_user.mjs"
GLOBALS = ROOT / "fixtures" / "generate" / "browser_globals.mjs"


class App:
    def __init__(self, tmp: Path, url: str):
        self.tmp, self.url = tmp, url
        self.mapping = tmp / "mappings" / "TodoDB.json5"
        self.module = tmp / "src" / "uploadToConvex.ts"
        self.admin = Caller(url, f"Convex {KEY}")

    def browser(self, user: str, items: int) -> dict:
        """Seed `user`'s TodoDB with 2 lists and `items` items and upload it from 'their browser'."""
        work = ensure_node_modules() / f".check-collect-{secrets.token_hex(6)}"
        work.mkdir()
        try:
            shutil.copy(DRIVER, work / DRIVER.name)
            shutil.copy(GLOBALS, work / GLOBALS.name)
            token = unsigned_jwt({"iss": ISSUER, "sub": user})
            run = subprocess.run(["node", str(work / DRIVER.name), str(self.module), self.url, token, user, str(items)],
                                 capture_output=True, text=True, timeout=300)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        assert run.returncode == 0, run.stderr
        return json.loads(run.stdout)

    def import_cmd(self, state: Path, *extra: str) -> list[str]:
        return [sys.executable, "-m", "migrator", "import", str(self.mapping), "--from-uploads", "--url", self.url,
                "--state-dir", str(state), "-q", *extra]

    def start(self, cmd: list[str]) -> subprocess.Popen:
        return subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, "CONVEX_DEPLOY_KEY": KEY},
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def run(self, state: Path, *extra: str) -> subprocess.CompletedProcess:
        proc = self.start(self.import_cmd(state, *extra))
        out, err = proc.communicate(timeout=600)
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)

    def contents(self) -> dict[str, list[dict]]:
        out = self.tmp / f"dump-{secrets.token_hex(4)}"
        httpx.post(f"{self.url}/_local/dump", json={"dir": str(out)}, headers={"Authorization": f"Convex {KEY}"},
                   timeout=120).raise_for_status()
        return {p.stem: [json.loads(line) for line in p.read_text().splitlines()] for p in out.glob("*.jsonl")}

    def uploads(self) -> dict[str, dict]:
        """Every upload by owner subject (one each in these tests)."""
        found = {}
        for status in ("pending", "importing", "imported", "failed"):
            page = self.admin.value("query", "dexieCollect:listUploads", {
                "database": "TodoDB", "status": status, "paginationOpts": {"numItems": 1000, "cursor": None}})
            for u in page["page"]:
                found[u["owner"].split("|", 1)[1]] = u
        return found

    def faults(self, config: dict) -> None:
        httpx.post(f"{self.url}/_local/faults", json=config, headers={"Authorization": f"Convex {KEY}"}).raise_for_status()


@pytest.fixture
def app(tmp_path, node_available):
    mapping = owned_todo_mapping(tmp_path)
    generate_collect(mapping, tmp_path / "convex", 50 * 1024 * 1024, browser=tmp_path / "src" / "uploadToConvex.ts")
    with local_endpoint(tmp_path / "convex", admin_key=KEY, log_path=tmp_path / "endpoint.log") as dep:
        yield App(tmp_path, dep.url)


def expected_rows(user: str, items: int) -> dict[str, Counter]:
    """What the browser seeded, as (id, title) per table: browser_user.mjs's rows."""
    return {"todoLists": Counter({(1.0, f"{user} list 1"): 1, (2.0, f"{user} list 2"): 1}),
            "todoItems": Counter({(float(i + 1), f"{user} item {i}"): 1 for i in range(items)})}


def rows_by_owner(contents: dict[str, list[dict]]) -> dict[str, dict[str, Counter]]:
    found: dict[str, dict[str, Counter]] = {}
    for table in ("todoLists", "todoItems"):
        for doc in contents.get(table, []):
            owner = doc["owner"].split("|", 1)[1]
            found.setdefault(owner, {"todoLists": Counter(), "todoItems": Counter()})[table][(doc["id"], doc["title"])] += 1
    return found


def test_users_upload_from_the_browser_and_each_is_imported_with_its_owner_exactly_once(app):
    seeded = {"alice": 5, "bob": 7}
    for user, items in seeded.items():
        sent = app.browser(user, items)
        assert sent["first"]["sent"] is True
        assert sent["phases"] == ["exporting", "checking", "uploading", "recording", "done"]
        # the same data again: remembered, or found among the user's uploads: not sent twice
        assert (sent["again"]["sent"], sent["elsewhere"]["sent"]) == (False, False)
        assert sent["again"]["upload"]["uploadId"] == sent["elsewhere"]["upload"]["uploadId"] \
            == sent["first"]["upload"]["uploadId"]
    uploads = app.uploads()
    assert {u: (x["status"], x["owner"]) for u, x in uploads.items()} == \
        {u: ("pending", token_identifier(u)) for u in seeded}

    state = app.tmp / "state"
    first = app.run(state)
    assert first.returncode == 0, first.stderr
    assert first.stdout.count(": imported (") == 2, first.stdout
    contents = app.contents()
    assert rows_by_owner(contents) == {u: expected_rows(u, n) for u, n in seeded.items()}
    for user, items in seeded.items():
        upload = app.uploads()[user]
        assert upload["status"] == "imported"
        mine, = Caller.user(app.url, user).value("query", "dexieCollect:myUploads")
        assert mine["summary"] == {"read": 2.0 + items, "inserted": 2.0 + items, "updated": 0.0, "unchanged": 0.0,
                                   "rejected": 0.0}

    again = app.run(state)
    assert again.returncode == 0 and again.stdout.strip() == "no uploads to import", again.stdout
    assert app.contents()["todoItems"] == contents["todoItems"]

    later = app.browser("carol", 3)
    assert later["first"]["sent"] is True and app.uploads()["carol"]["status"] == "pending"
    dry = app.run(state, "--dry-run")
    assert dry.returncode == 0 and "carol: dry-run" in dry.stdout, dry.stdout
    assert app.uploads()["carol"]["status"] == "pending" and "carol" not in rows_by_owner(app.contents())
    third = app.run(state)
    assert third.returncode == 0 and third.stdout.count(": imported (") == 1 and "carol: imported" in third.stdout
    assert rows_by_owner(app.contents()) == {u: expected_rows(u, n) for u, n in {**seeded, "carol": 3}.items()}


def test_sigkill_during_an_uploads_import_then_a_rerun_gives_exact_contents_and_statuses(app):
    items = 600
    assert app.browser("erin", items)["first"]["sent"] is True
    app.browser("fred", 4)
    app.faults({"delayMs": [30, 60], "seed": 7})            # slow enough for kills to land mid-import
    state = app.tmp / "state"
    cmd = app.import_cmd(state, "--batch-size", "20", "--concurrency", "1")
    kills = 0
    for _ in range(3):
        before = sum(sum(c.values()) for c in rows_by_owner(app.contents()).get("erin", {}).values())
        proc = app.start(cmd)
        while proc.poll() is None:
            now = sum(sum(c.values()) for c in rows_by_owner(app.contents()).get("erin", {}).values())
            if now > before:
                break
            time.sleep(0.05)
        if proc.poll() is not None:
            proc.communicate()
            break
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        kills += 1
        assert app.uploads()["erin"]["status"] == "importing"    # claimed, not finished: taken back next run
    assert kills >= 2
    app.faults({})
    final = app.run(state)
    assert final.returncode == 0, final.stderr
    assert rows_by_owner(app.contents()) == {"erin": expected_rows("erin", items), "fred": expected_rows("fred", 4)}
    uploads = app.uploads()
    assert {u: x["status"] for u, x in uploads.items()} == {"erin": "imported", "fred": "imported"}
    summary = Caller.user(app.url, "erin").value("query", "dexieCollect:myUploads")[0]["summary"]
    assert summary["read"] == items + 2 and summary["rejected"] == 0
    assert summary["inserted"] + summary["unchanged"] == items + 2 and summary["updated"] == 0
    assert app.run(state).stdout.strip() == "no uploads to import"


class StopAtMark:
    """A ConvexClient cut off at markImported (a stand-in for a kill or lost connection at
    exactly that call); every other call goes to the real endpoint. `ran`: whether the mark
    reached the deployment before the reply was lost."""

    def __init__(self, client, ran: bool):
        self.client, self.ran = client, ran

    def __getattr__(self, name):
        return getattr(self.client, name)

    def mutation(self, path, args, **kw):
        if path != "dexieCollect:markImported":
            return self.client.mutation(path, args, **kw)
        if self.ran:
            self.client.mutation(path, args, **kw)
        raise ConvexCallError(path, "network error (cut off)")


@pytest.mark.parametrize("ran", [False, True])
def test_cut_off_at_the_mark_then_a_rerun_settles_the_upload_once(app, ran):
    plan = load_mapping(app.mapping)
    options = ImportOptions(state_dir=app.tmp / "state", progress=False)
    app.browser("gina", 9)
    with ConvexClient(Deployment(app.url, Secret(KEY))) as client:
        with pytest.raises(ConvexCallError, match="cut off"):
            UploadImporter(plan, StopAtMark(client, ran), options).run_once()
        assert app.uploads()["gina"]["status"] == ("imported" if ran else "importing")
        outcomes = UploadImporter(plan, client, options).run_once()
    assert [(o.upload.owner, o.status) for o in outcomes] == ([] if ran else [(token_identifier("gina"), "imported")])
    assert rows_by_owner(app.contents()) == {"gina": expected_rows("gina", 9)}
    summary = Caller.user(app.url, "gina").value("query", "dexieCollect:myUploads")[0]["summary"]
    assert summary == {"read": 11.0, "inserted": 11.0, "updated": 0.0, "unchanged": 0.0, "rejected": 0.0}
