"""Ctrl-C during `import --dry-run`: the importer stops with its summary, and the dry run's
deployment process (which ignores SIGINT: the importer decides) ends with it, in a terminal
(the whole process group signalled) and when only the importer is signalled."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from conftest import sigint_as_ctrl_c
from migrator import commands

ROOT = Path(__file__).resolve().parent.parent


def contacts_dump(path: Path, rows: int) -> Path:
    """A one-table dexie-export-import file, big enough for a dry run to take a few seconds."""
    rng = random.Random(rows)
    body = b",".join(orjson.dumps({"id": n + 1, "name": f"Contact {n}", "createdAt": 1_600_000_000_000 + n,
                                   "tags": rng.sample(["a", "b", "c", "d"], 2), "$types": {"createdAt": "date"}})
                     for n in range(rows))
    header = {"databaseName": "crm", "databaseVersion": 1,
              "tables": [{"name": "contacts", "schema": "++id,name,*tags", "rowCount": rows}]}
    path.write_bytes(b'{"formatName":"dexie","formatVersion":1,"data":' + orjson.dumps(header)[:-1]
                     + b',"data":[{"tableName":"contacts","inbound":true,"rows":[' + body + b"]}]}}")
    return path


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found += [int(c) for c in text]
    return found


def gone(pid: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state == "Z":                   # exited, waiting to be reaped by its (former) parent
            return True
        time.sleep(0.05)
    return False


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads child processes from /proc")
@pytest.mark.parametrize("group", [True, False], ids=["terminal", "importer-only"])
def test_ctrl_c_stops_the_dry_run_and_its_deployment_process(tmp_path, group):
    dump = contacts_dump(tmp_path / "crm.json", 150_000)
    [written] = commands.plan_mappings([], [dump], tmp_path / "mappings").writes
    proc = subprocess.Popen([sys.executable, "-m", "migrator", "import", str(written.path), str(dump), "--dry-run",
                             "-q", "--state-dir", str(tmp_path / "state")],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=sigint_as_ctrl_c)
    deployment = []
    deadline = time.monotonic() + 60
    while not deployment and proc.poll() is None and time.monotonic() < deadline:
        deployment = children(proc.pid)
        time.sleep(0.05)
    assert deployment, "the dry run's deployment process never started"
    time.sleep(0.5)                        # rows on their way
    assert proc.poll() is None, "the dry run ended before it could be interrupted: make the dump bigger"
    if group:
        os.killpg(proc.pid, signal.SIGINT)
    else:
        proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    assert "interrupted" in err and "Traceback" not in err, err
    assert "Dry run" in out or "read" in out, out
    assert all(gone(pid, within=10) for pid in deployment)
