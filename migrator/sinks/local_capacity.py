"""Will these dumps fit the local endpoint? Asked before an import starts, so a run that
would exhaust the machine's memory or disk half-way through is refused up front, with the
remedy.

The endpoint keeps documents and stored files on disk (its store folder) and, in memory,
about a hundred bytes per document (where it is on disk, index entries) on top of a fixed
base. So what a dump needs is estimated from its size and row count, with factors measured
by `benchmarks/local_endpoint_memory.py` and rounded up.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..dumps import open_dump
from ..errors import MigratorError

MB = 1024 * 1024
# Measured on benchmarks/local_endpoint_memory.py's dumps (a row + 3 side rows): Node ~160 MB
# loaded, ~310 B a row more at 780k rows (heap slack included); Python ~90 MB; the store
# ~1.1x the dump and the JSONL contents ~1x.
BASE_MEMORY = 350 * MB           # Node with convex, convex-test and typescript loaded; the Python client
MEMORY_PER_ROW = 400             # a row and its side rows: locations, index entries, heap slack
TYPICAL_ROW_BYTES = 100          # when a header does not count rows: fewer bytes a row is rare
DISK_PER_DUMP_BYTE = 2.5         # the store (documents, files, superseded versions) plus the JSONL contents
HEADROOM = 0.8                   # use at most this share of what is free


@dataclass(frozen=True)
class LocalNeeds:
    dump_bytes: int
    rows: int                    # the headers' row counts, or an estimate from the size
    memory: int
    disk: int


@dataclass(frozen=True)
class LocalRoom:
    memory: int                  # available memory (MemAvailable, within a cgroup's limit)
    disk: int                    # free space where the store folder goes
    store_dir: Path


class LocalEndpointTooSmall(MigratorError):
    """The dumps need more memory or disk than the local endpoint has: nothing was started."""

    def __init__(self, dumps: list[Path], needs: LocalNeeds, room: LocalRoom, short: list[str]):
        self.dumps, self.needs, self.room, self.short = dumps, needs, room, short
        names = ", ".join(str(d) for d in dumps)
        super().__init__(
            f"{names} ({needs.dump_bytes / MB:,.0f} MB, about {needs.rows:,} rows) is more than the local "
            f"Convex endpoint can hold here: {'; '.join(short)}",
            "check the rows with `import --dry-run` (needs no endpoint), or import into a real deployment "
            "(--url / CONVEX_URL with --deploy-key / CONVEX_DEPLOY_KEY); for more disk, point --state-dir at "
            f"a file system with room (the endpoint keeps its store under it, now {room.store_dir})")


def estimate_needs(dumps: list[Path]) -> LocalNeeds:
    """From each dump's size and its header's row counts; where the header does not count
    every table (indexeddb-export-import files) or counts none (hand-made files), an estimate
    from the size (low only for dumps of rows under TYPICAL_ROW_BYTES)."""
    size = rows = 0
    for path in dumps:
        dump_bytes = Path(path).stat().st_size
        with open_dump(path) as dump:
            counts = [t.row_count for t in dump.tables]
        size += dump_bytes
        known = counts and None not in counts and sum(counts) > 0
        rows += sum(counts) if known else dump_bytes // TYPICAL_ROW_BYTES
    return LocalNeeds(dump_bytes=size, rows=rows, memory=BASE_MEMORY + rows * MEMORY_PER_ROW,
                      disk=int(size * DISK_PER_DUMP_BYTE))


def _available_memory() -> int:
    """MemAvailable, capped by the cgroup (v2) limit less its usage when there is one."""
    available = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                available = int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = int(Path("/sys/fs/cgroup/memory.current").read_text())
        if limit != "max":
            available = min(available, int(limit) - used)
    except (OSError, ValueError):
        pass
    return available


def measure_room(store_dir: Path) -> LocalRoom:
    """What this machine has free now, for a store under `store_dir` (which may not exist yet)."""
    existing = Path(store_dir).resolve()
    while not existing.exists():
        existing = existing.parent
    return LocalRoom(memory=_available_memory(), disk=shutil.disk_usage(existing).free, store_dir=Path(store_dir))


def check_room(dumps: list[Path], needs: LocalNeeds, room: LocalRoom) -> None:
    """Raise LocalEndpointTooSmall when the needs exceed the room (with HEADROOM to spare)."""
    short = []
    if needs.memory > room.memory * HEADROOM:
        short.append(f"it needs about {needs.memory / MB:,.0f} MB of memory, {room.memory / MB:,.0f} MB is available")
    if needs.disk > room.disk * HEADROOM:
        short.append(f"it needs about {needs.disk / MB:,.0f} MB of disk under {room.store_dir}, "
                     f"{room.disk / MB:,.0f} MB is free")
    if short:
        raise LocalEndpointTooSmall([Path(d) for d in dumps], needs, room, short)


def ensure_room(dumps: list[Path], store_dir: Path) -> None:
    """Refuse (LocalEndpointTooSmall) before starting when the dumps will not fit."""
    check_room(dumps, estimate_needs(dumps), measure_room(store_dir))
