"""The summary's counters add up to what the dumps hold, and duplicate primary keys are caught.

Every expectation is computed here from the dump read with plain `json` (rows, Blob fields,
multiEntry elements, which references exist), never from the code under test. Imports run the
real CLI against the local Convex endpoint (convex-test over HTTP); the killed-and-resumed runs
use an endpoint started here (the resilience tests' helpers), so it outlives the importers.
"""

from __future__ import annotations

import base64
import copy
import json
import random
import re
import signal
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from migrator import commands
from migrator.cli import cli
from test_import_resilience import endpoint, run as run_proc, start

ROOT = Path(__file__).resolve().parent.parent
APPS = ROOT / "fixtures" / "apps"


def cli_run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def whole_import(summary: dict) -> dict:
    """Per table the counts over every run: `totals` when the last run resumed, else its own."""
    tables = summary["totals"]["tables"] if summary["totals"] else summary["tables"]
    return {t: {k: v for k, v in c.items() if k not in ("read", "skipped", "seconds")} for t, c in tables.items()}


def whole_sides(summary: dict) -> dict:
    return summary["totals"]["sideTables"] if summary["totals"] else summary["sideTables"]


def kill_at_random_points(cmd: list[str], state: Path, rng: random.Random, kills: int) -> int:
    """Start the import and SIGKILL it once its checkpoint has moved, `kills` times (or until it
    finishes first); returns how many kills landed mid-run."""
    landed = 0
    for _ in range(kills):
        before = _checkpoint_text(state)
        proc = start(cmd)
        while proc.poll() is None and _checkpoint_text(state) == before:
            time.sleep(0.01)
        time.sleep(rng.uniform(0, 0.4))
        if proc.poll() is not None:
            proc.communicate()
            break
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        landed += 1
    return landed


def _checkpoint_text(state: Path) -> str:
    path = state / "checkpoint.json"
    return path.read_text() if path.exists() else ""


# -- counters after deferred rounds, killed and resumed ------------------------------------------
def media_with_albums(path: Path) -> dict:
    """The media-blobs fixture export, grown to 40 media rows (each with a Blob bound for file
    storage, 0-3 multiEntry tags and a required albumId) and followed by an albums table whose
    optional coverId names a media row, or in one album a row that does not exist. Media rows
    come first in the dump, so each waits for its album: rounds are needed."""
    raw = json.loads((APPS / "media-blobs" / "dump.json").read_text())
    media = raw["data"]["data"][0]
    real = media["rows"]
    small = [r for r in real if len(r["data"]["data"]) < 1000]
    rows = []
    for i in range(40):
        row = copy.deepcopy(real[i] if i < len(real) else small[i % len(small)])
        row["id"] = i + 1
        if i >= len(real):
            row["name"] = f"copy-{i}.txt"
            row["data"] = {"type": "text/plain", "data": base64.b64encode(f"file number {i}".encode()).decode()}
        row["albumId"] = i % 5 + 1
        row["tags"] = [f"t{j}" for j in range(i % 4)]
        rows.append(row)
    media["rows"] = rows
    albums = [{"id": k, "title": f"Album {k}"} for k in range(1, 6)]
    albums[0]["coverId"], albums[1]["coverId"], albums[2]["coverId"] = 3, 5, 999
    raw["data"]["tables"] = [{"name": "media", "schema": "++id,name,mime,createdAt,*tags,albumId", "rowCount": 40},
                             {"name": "albums", "schema": "++id,title", "rowCount": 5}]
    raw["data"]["data"] = [media, {"tableName": "albums", "inbound": True, "rows": albums}]
    path.write_text(json.dumps(raw))
    return raw


def expected_counts(raw: dict) -> tuple[dict, dict, list]:
    """(per table counts, side rows per side table, dangling references) as the dump dictates."""
    media = next(t["rows"] for t in raw["data"]["data"] if t["tableName"] == "media")
    albums = next(t["rows"] for t in raw["data"]["data"] if t["tableName"] == "albums")
    media_ids = {r["id"] for r in media}
    blob_fields = sum(1 for r in media if r.get("$types", {}).get("data") == "blob2")
    covers = [a for a in albums if "coverId" in a]
    dangling = [a for a in covers if a["coverId"] not in media_ids]
    zero = dict.fromkeys(("inserted", "updated", "unchanged", "rejected", "duplicates", "deferred", "resolved",
                          "dangling", "blobs"), 0)
    tables = {
        # every media row waits for its album (required): deferred, then written in a round
        "media": {**zero, "inserted": len(media), "deferred": len(media), "resolved": len(media),
                  "blobs": blob_fields},
        # albums with a cover are written at once without it (optional), then resolved or dangling
        "albums": {**zero, "inserted": len(albums), "deferred": len(covers), "resolved": len(covers) - len(dangling),
                   "dangling": len(dangling)},
    }
    sides = {"media_tags": sum(len(r["tags"]) for r in media)}
    return tables, sides, [("albums", a["id"], "coverId", [a["coverId"]]) for a in dangling]


@pytest.fixture(scope="module")
def media_app(tmp_path_factory):
    base = tmp_path_factory.mktemp("media")
    raw = media_with_albums(base / "media.json")
    mapping = commands.plan_mappings([], [base / "media.json"], base / "mappings").writes[0].path
    text = mapping.read_text()
    mapping.write_text(re.sub(r'"references": \{[^}]*\}',
                              '"references": {"media.albumId": "albums", "albums.coverId": "media"}', text))
    commands.plan_mappings([], [base / "media.json"], base / "mappings")
    commands.generate_convex([mapping], base / "convex")
    schema = (base / "convex" / "schema.ts").read_text()
    assert 'albumId: v.id("albums")' in schema and 'coverId: v.optional(v.id("media"))' in schema
    assert 'data: v.id("_storage")' in schema and "media_tags" in schema
    return base / "media.json", mapping, base / "convex", raw


def test_counts_add_up_after_rounds_dry_run_and_real(media_app, tmp_path):
    dump, mapping, _, raw = media_app
    tables, sides, dangling = expected_counts(raw)
    for extra in (["--dry-run"], []):
        summary_path = tmp_path / "summary.json"
        # one batch at a time, so every media row is read (and deferred) before any album is written
        result = cli_run("import", mapping, dump, "-q", "--state-dir", tmp_path / "state", "--batch-size", "3",
                         "--concurrency", "1", "--summary-json", summary_path, *extra)
        assert result.exit_code == 0, result.output
        summary = json.loads(summary_path.read_text())
        assert summary["totals"] is None                      # one whole run: each count shown once
        assert whole_import(summary) == tables, extra
        assert summary["sideTables"] == sides
        assert summary["danglingTotal"] == len(dangling) and summary["rejectedTotal"] == 0
        state = tmp_path / "state" / ("dry-run" if extra else "")
        found = [(d["table"], d["key"], d["field"], d["missing"]) for d in lines(state / "dangling.jsonl")]
        assert found == dangling
        assert f"{len(dangling)} optional references name rows that do not exist" in result.output
        assert "side tables (rows written): media_tags " + str(sides["media_tags"]) in result.output
        assert "whole import" not in result.output


@pytest.mark.parametrize("seed", [1, 2])
def test_counts_add_up_after_kills_at_random_points(media_app, seed, tmp_path):
    """Batches in flight when the importer dies may have landed: re-sent, such a row counts as
    unchanged (or, written before its reference was there, updated), and a row may find its
    reference already written and not wait; every row is still settled once and every Blob,
    side row and dangling reference counted once."""
    dump, mapping, convex, raw = media_app
    tables, sides, dangling = expected_counts(raw)
    state, summary_path = tmp_path / "state", tmp_path / "summary.json"
    rng = random.Random(seed)
    with endpoint(convex, tmp_path) as ep:
        cmd = [sys.executable, "-m", "migrator", "import", str(mapping), str(dump), "--url", ep.url,
               "--state-dir", str(state), "-q", "--batch-size", "2", "--concurrency", "2",
               "--summary-json", str(summary_path)]
        ep.faults({"delayMs": [30, 80], "seed": seed})
        assert kill_at_random_points(cmd, state, rng, kills=5) >= 2
        ep.faults({})
        final = run_proc(cmd)
        assert final.returncode == 0, final.stderr
        stored = ep.tables()
        ep.contents(tmp_path / "contents")
    summary = json.loads(summary_path.read_text())
    for table, got in whole_import(summary).items():
        want = tables[table]
        assert got["inserted"] + got["updated"] + got["unchanged"] == want["inserted"], (table, got)
        for name in ("rejected", "duplicates", "dangling", "blobs"):
            assert got[name] == want[name], (table, name, got)
        assert got["deferred"] == got["resolved"] + got["dangling"] <= want["deferred"], (table, got)
    assert whole_sides(summary) == sides
    assert stored["media"] == len(raw["data"]["data"][0]["rows"]) and stored["media_tags"] == sides["media_tags"]
    files = lines(tmp_path / "contents" / "_storage.jsonl")        # one per distinct content
    assert len(files) == len({r["data"]["data"] for r in raw["data"]["data"][0]["rows"]})
    found = [(d["table"], d["key"], d["field"], d["missing"]) for d in lines(state / "dangling.jsonl")]
    assert found == dangling                            # once, however often the importer died
    assert summary["danglingTotal"] == len(dangling) and summary["rejectedTotal"] == 0
    assert not (state / "rejects.jsonl").exists()


# -- duplicate primary keys ------------------------------------------------------------------------
def friends_with_duplicate(path: Path) -> tuple[dict, dict]:
    """The friends fixture export with row 6 given row 3's key; returns (first, later) rows."""
    raw = json.loads((APPS / "friends-entity-class" / "dump.json").read_text())
    rows = raw["data"]["data"][0]["rows"]
    rows[5]["id"] = rows[2]["id"]
    path.write_text(json.dumps(raw))
    return rows[2], rows[5]


def friends_mapping(out: Path, owner: bool = False) -> Path:
    mapping = commands.plan_mappings([APPS / "friends-entity-class" / "src"],
                                     [APPS / "friends-entity-class" / "dump.json"], out).writes[0].path
    if owner:
        mapping.write_text(mapping.read_text().replace('"ownerField": null', '"ownerField": "owner"'))
        commands.plan_mappings([APPS / "friends-entity-class" / "src"], [APPS / "friends-entity-class" / "dump.json"],
                               out)
    return mapping


@pytest.mark.parametrize("dry_run", [True, False])
def test_duplicate_key_in_one_dump_is_rejected_naming_both_rows(dry_run, tmp_path):
    dump = tmp_path / "friends.json"
    first, later = friends_with_duplicate(dump)
    mapping = friends_mapping(tmp_path / "m")
    state = tmp_path / "state"
    extra = ["--dry-run"] if dry_run else ["--local-out", tmp_path / "contents"]

    def imported(*flags) -> tuple[int, dict, list[str]]:
        """(exit code, the friends counts, the names the local endpoint holds under the duplicated key)."""
        result = cli_run("import", mapping, dump, "-q", "--state-dir", state, "--summary-json", tmp_path / "s.json",
                         *flags, *extra)
        counts = json.loads((tmp_path / "s.json").read_text())["tables"]["friends"]
        names = [] if dry_run else [d["name"] for d in lines(tmp_path / "contents" / "friends.jsonl")
                                    if d["id"] == first["id"]]
        return result.exit_code, {k: counts[k] for k in ("read", "inserted", "updated", "rejected", "duplicates")}, names

    code, counts, names = imported()
    assert code == 1
    assert counts == {"read": 10, "inserted": 9, "updated": 0, "rejected": 1, "duplicates": 1}
    [reject] = lines(state / ("dry-run" if dry_run else "") / "rejects.jsonl")
    assert reject["key"] == first["id"] and reject["row"]["name"] == later["name"]
    assert "duplicate primary key" in reject["reason"] and "--duplicates last-wins" in reject["reason"]
    assert f"{dump}, table friends, row 6" in reject["reason"] and f"{dump}, table friends, row 3" in reject["reason"]
    assert names == ([] if dry_run else [first["name"]])
    # last-wins: the later row is written over the first, counted as a duplicate, nothing rejected
    code, counts, names = imported("--duplicates", "last-wins")
    assert code == 0
    assert counts == {"read": 10, "inserted": 9, "updated": 1, "rejected": 0, "duplicates": 1}
    assert names == ([] if dry_run else [later["name"]])


@pytest.mark.parametrize("dry_run", [True, False])
def test_duplicates_across_dumps_of_one_owner_not_across_owners(dry_run, tmp_path):
    source = (APPS / "friends-entity-class" / "dump.json").read_bytes()
    rows = len(json.loads(source)["data"]["data"][0]["rows"])
    dumps = [tmp_path / "alice.json", tmp_path / "bob.json"]
    for d in dumps:
        d.write_bytes(source)
    mapping = friends_mapping(tmp_path / "m", owner=True)
    extra = ["--dry-run"] if dry_run else []
    # one owner named for both dumps: every key of the second is a duplicate of the first's
    one = cli_run("import", mapping, *dumps, "-q", "--owner-field", "owner", "--owner-from", "carol",
                  "--state-dir", tmp_path / "s1", "--summary-json", tmp_path / "1.json", *extra)
    assert one.exit_code == 1 and f"{rows} rows rejected" in one.output, one.output
    counts = json.loads((tmp_path / "1.json").read_text())["tables"]["friends"]
    assert (counts["inserted"], counts["rejected"], counts["duplicates"]) == (rows, rows, rows)
    rejects = lines(tmp_path / "s1" / ("dry-run" if dry_run else "") / "rejects.jsonl")
    assert all(str(dumps[1]) in r["reason"] and str(dumps[0]) in r["reason"] for r in rejects)
    # an owner per dump (its file name): the same keys are different rows
    two = cli_run("import", mapping, *dumps, "-q", "--owner-field", "owner", "--state-dir", tmp_path / "s2",
                  "--summary-json", tmp_path / "2.json", *extra)
    assert two.exit_code == 0, two.output
    counts = json.loads((tmp_path / "2.json").read_text())["tables"]["friends"]
    assert (counts["inserted"], counts["rejected"], counts["duplicates"]) == (2 * rows, 0, 0)


def many_friends(path: Path, rng: random.Random) -> tuple[dict, dict[int, int]]:
    """60 friends rows (the fixture's, repeated with new keys), 12 of which take the key of an
    earlier row; returns the raw dump and {later row index: index of the first row with its key}."""
    raw = json.loads((APPS / "friends-entity-class" / "dump.json").read_text())
    table = raw["data"]["data"][0]
    base = table["rows"]
    rows = []
    for i in range(60):
        row = copy.deepcopy(base[i % len(base)])
        row["id"], row["name"] = i + 1, f"{row['name']} {i}"
        rows.append(row)
    duplicates = {}
    for later in sorted(rng.sample(range(5, 60), 12)):
        first = rng.choice([i for i in range(later) if i not in duplicates])
        rows[later]["id"] = rows[first]["id"]
        duplicates[later] = first
    table["rows"] = rows
    raw["data"]["tables"][0]["rowCount"] = len(rows)
    path.write_text(json.dumps(raw))
    return raw, duplicates


def test_duplicates_exactly_once_across_sigkill_restart_and_replace(tmp_path):
    rng = random.Random(7)
    dump = tmp_path / "friends.json"
    raw, duplicates = many_friends(dump, rng)
    rows = raw["data"]["data"][0]["rows"]
    mapping = friends_mapping(tmp_path / "m")
    commands.generate_convex([mapping], tmp_path / "convex")
    state, summary_path = tmp_path / "state", tmp_path / "summary.json"
    want_rejects = sorted((rows[i]["id"], rows[i]["name"]) for i in duplicates)
    with endpoint(tmp_path / "convex", tmp_path) as ep:
        cmd = [sys.executable, "-m", "migrator", "import", str(mapping), str(dump), "--url", ep.url,
               "--state-dir", str(state), "-q", "--batch-size", "1", "--concurrency", "2",
               "--summary-json", str(summary_path)]
        ep.faults({"delayMs": [30, 70], "seed": 3})
        assert kill_at_random_points(cmd, state, rng, kills=5) >= 2
        ep.faults({})
        final = run_proc(cmd)
        assert final.returncode == 1 and f"{len(duplicates)} rows rejected" in final.stderr, final.stderr
        # no row re-read after a kill counted as a duplicate of itself, no true duplicate missed
        got = sorted((r["key"], r["row"]["name"]) for r in lines(state / "rejects.jsonl"))
        assert got == want_rejects
        summary = json.loads(summary_path.read_text())
        assert whole_import(summary)["friends"]["duplicates"] == len(duplicates)
        assert whole_import(summary)["friends"]["rejected"] == len(duplicates)
        firsts = {rows[i]["id"]: rows[i]["name"] for i in range(len(rows)) if i not in duplicates}
        contents = ep.contents(tmp_path / "contents")
        assert {d["id"]: d["name"] for d in contents["friends"]} == firsts
        # --restart and --replace forget the ledger with the checkpoint: the same duplicates, no more
        for again in (["--restart"], ["--replace", "--yes"]):
            result = run_proc(cmd + again)
            assert result.returncode == 1 and f"{len(duplicates)} rows rejected" in result.stderr, result.stderr
            assert sorted((r["key"], r["row"]["name"]) for r in lines(state / "rejects.jsonl")) == want_rejects
        assert {d["id"]: d["name"] for d in ep.contents(tmp_path / "contents2")["friends"]} == firsts


def test_last_wins_holds_with_batches_that_would_finish_out_of_order(tmp_path):
    """Batches of one row on an endpoint that answers after random delays: the later row's
    write must land after the first's, whatever --concurrency asks for."""
    dump = tmp_path / "friends.json"
    raw, _ = many_friends(dump, random.Random(11))
    rows = raw["data"]["data"][0]["rows"]
    for i, row in enumerate(rows):                             # rows in pairs with one key: in flight together
        row["id"] = i // 2 + 1
    dump.write_text(json.dumps(raw))
    duplicates = len(rows) // 2
    last = {row["id"]: row["name"] for row in rows}            # the later occurrence overwrites the earlier
    mapping = friends_mapping(tmp_path / "m")
    commands.generate_convex([mapping], tmp_path / "convex")
    with endpoint(tmp_path / "convex", tmp_path) as ep:
        ep.faults({"delayMs": [0, 80], "seed": 4})
        result = run_proc([sys.executable, "-m", "migrator", "import", str(mapping), str(dump), "--url", ep.url,
                           "--state-dir", str(tmp_path / "state"), "-q", "--batch-size", "1", "--concurrency", "4",
                           "--duplicates", "last-wins", "--summary-json", str(tmp_path / "s.json")])
        assert result.returncode == 0, result.stderr
        ep.faults({})
        assert {d["id"]: d["name"] for d in ep.contents(tmp_path / "contents")["friends"]} == last
    counts = json.loads((tmp_path / "s.json").read_text())["tables"]["friends"]
    assert (counts["duplicates"], counts["rejected"], counts["inserted"], counts["updated"]) == \
        (duplicates, 0, len(rows) - duplicates, duplicates)
