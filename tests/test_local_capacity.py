"""The check before a local import: dumps the local endpoint cannot hold are refused up front,
naming the dumps, what they need, what the machine has and the remedy; nothing is started."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from migrator import commands
from migrator.cli import cli
from migrator.dumps import open_dump
from migrator.importer.run import ImportOptions
from migrator.sinks import local_capacity
from migrator.sinks.local_endpoint import local_endpoint
from migrator.sinks.local_capacity import (BASE_MEMORY, MB, LocalEndpointTooSmall, LocalNeeds, LocalRoom, TYPICAL_ROW_BYTES,
                                           check_room, estimate_needs, measure_room)

from conftest import FIXTURES

APP_DUMPS = sorted((FIXTURES / "apps").glob("*/dump*.json"))
PLENTY = 1 << 50


def rows_in(path: Path) -> Counter:
    with open_dump(path) as dump:
        return Counter(row.table for row in dump.rows())


@pytest.mark.parametrize("dump", APP_DUMPS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_rows_come_from_the_header_of_a_real_export(dump):
    needs = estimate_needs([dump])
    assert needs.rows == sum(rows_in(dump).values())
    assert needs.dump_bytes == dump.stat().st_size
    assert needs.memory > BASE_MEMORY and needs.disk > needs.dump_bytes


def test_a_header_without_counts_gives_an_estimate_from_the_size(tmp_path):
    """Hand-made files (rowCount 0) and indexeddb-export-import files (no header counts): rows
    of TYPICAL_ROW_BYTES or more are not under-counted."""
    rows = [{"id": i, "text": "x" * (TYPICAL_ROW_BYTES - 20 + i % 50)} for i in range(3000)]
    dexie = tmp_path / "hand-made.json"
    dexie.write_text(json.dumps({"formatName": "dexie", "formatVersion": 1, "data": {
        "databaseName": "d", "databaseVersion": 1, "tables": [{"name": "t", "schema": "id", "rowCount": 0}],
        "data": [{"tableName": "t", "inbound": True, "rows": rows}]}}))
    idb = FIXTURES / "dumps" / "idb-export.json"
    for path in (dexie, idb):
        needs = estimate_needs([path])
        assert needs.rows >= sum(rows_in(path).values()) > 0, path
    two = estimate_needs([dexie, idb])
    assert two.rows == estimate_needs([dexie]).rows + estimate_needs([idb]).rows
    assert two.dump_bytes == dexie.stat().st_size + idb.stat().st_size


@pytest.mark.parametrize("memory, disk, short", [
    (100 * MB, PLENTY, ["memory"]),
    (PLENTY, 10 * MB, ["disk"]),
    (100 * MB, 10 * MB, ["memory", "disk"]),
])
def test_refused_when_memory_or_disk_is_short(tmp_path, memory, disk, short):
    dump = APP_DUMPS[0]
    needs = LocalNeeds(dump_bytes=400 * MB, rows=2_000_000, memory=1200 * MB, disk=1000 * MB)
    with pytest.raises(LocalEndpointTooSmall) as raised:
        check_room([dump], needs, LocalRoom(memory=memory, disk=disk, store_dir=tmp_path / "store"))
    error = raised.value
    assert ["memory" if " of memory" in s else "disk" if " of disk" in s else s for s in error.short] == short
    text = str(error)
    assert str(dump) in text and "2,000,000 rows" in text and "400 MB" in text
    if "memory" in short:
        assert "1,200 MB of memory, 100 MB is available" in text
    if "disk" in short:
        assert f"1,000 MB of disk under {tmp_path / 'store'}, 10 MB is free" in text
    assert "--dry-run" in error.remedy and "--url" in error.remedy and "--state-dir" in error.remedy


def test_room_enough_passes_with_headroom(tmp_path):
    needs = LocalNeeds(dump_bytes=MB, rows=10, memory=800 * MB, disk=80 * MB)
    check_room([APP_DUMPS[0]], needs, LocalRoom(memory=1000 * MB, disk=100 * MB, store_dir=tmp_path))
    with pytest.raises(LocalEndpointTooSmall):      # 800 MB is more than 80% of 999 MB
        check_room([APP_DUMPS[0]], needs, LocalRoom(memory=999 * MB, disk=100 * MB, store_dir=tmp_path))


def test_measure_room_of_a_folder_not_made_yet(tmp_path):
    room = measure_room(tmp_path / "a" / "b")
    assert room.store_dir == tmp_path / "a" / "b" and not room.store_dir.exists()
    assert 0 < room.memory and 0 < room.disk


@pytest.fixture
def small_machine(monkeypatch, tmp_path):
    """A stand-in for a machine with 200 MB of memory free (this one has more): the room is
    measured by `measure_room`, replaced here; the needs are estimated from the real dump."""
    def room(store_dir):
        return LocalRoom(memory=200 * MB, disk=PLENTY, store_dir=Path(store_dir))
    monkeypatch.setattr(local_capacity, "measure_room", room)


def planned(tmp_path, app="crm-class-ts"):
    dumps = sorted((FIXTURES / "apps" / app).glob("dump*.json"))
    mapping = commands.plan_mappings([], dumps, tmp_path / "mappings").writes[0].path
    return mapping, dumps


def test_import_refuses_before_starting_the_endpoint(tmp_path, small_machine):
    mapping, dumps = planned(tmp_path)
    state = tmp_path / "state"
    with pytest.raises(LocalEndpointTooSmall) as raised:
        commands.import_dumps(mapping, dumps, ImportOptions(state_dir=state, progress=False))
    assert raised.value.room.store_dir == state / "local-store"
    assert not (state / "local-convex.log").exists() and not (state / "local-store").exists()
    assert not (state / "checkpoint.json").exists()


def test_cli_import_and_migrate_exit_non_zero_with_the_remedy(tmp_path, small_machine):
    mapping, dumps = planned(tmp_path)
    runs = {
        "import": ["import", mapping, dumps[0], "--state-dir", tmp_path / "s1", "-q"],
        "migrate": ["migrate", dumps[0], "-o", tmp_path / "out", "--state-dir", tmp_path / "s2", "-q"],
    }
    for name, args in runs.items():
        result = CliRunner().invoke(cli, [str(a) for a in args])
        assert result.exit_code == 1, (name, result.output)
        assert "more than the local Convex endpoint can hold" in result.output, (name, result.output)
        assert "200 MB is available" in result.output and "--dry-run" in result.output, name


def test_dry_run_and_a_named_deployment_are_not_checked(tmp_path, small_machine):
    mapping, dumps = planned(tmp_path)
    result = commands.import_dumps(mapping, dumps, ImportOptions(state_dir=tmp_path / "dry", progress=False),
                                   dry_run=True)
    assert result.summary.stopped is None
    commands.generate_convex([mapping], tmp_path / "convex", force=True)
    with local_endpoint(tmp_path / "convex") as dep:
        result = commands.import_dumps(mapping, dumps, ImportOptions(state_dir=tmp_path / "state", progress=False),
                                       url=dep.url, deploy_key=dep.key.reveal())
    assert result.summary.stopped is None and result.target == dep.url
    assert sum(c["inserted"] for c in result.summary.tables.values()) == sum(
        sum(rows_in(d).values()) for d in dumps)
