"""Peak memory and speed of `inspect` (read + profile), or of reading alone, as a single-line
dump grows.

    python benchmarks/dump_memory.py [--size-mb 1024] [--baseline-ratio 10] [--stage inspect|read]

Writes benchmarks/data/bench-<MB>.json (git-ignored): a dexie-export-import file on one
line with realistic rows (Dates, nested objects, tags, some Blobs, and a few rows of
several MB). Profiles it (`--stage read`: only reads and revives every row) in a child
process and prints rows/s, MB/s and peak RSS, next to a baseline run on a dump 1/ratio the
size, so flat memory shows as a ratio near 1. `--stage read` also times, on the smaller
dump, orjson loading the whole file and dumping each row once (the fastest Python can go
with memory to spare) and prints the ratio. Figures, not a pass/fail test.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import orjson

DATA = Path(__file__).parent / "data"
MB = 1024 * 1024


def write_dump(path: Path, size_mb: int, database: str, table: str, schema: str, make_row) -> int:
    """A one-table dexie-export-import file on one line, of at least `size_mb` MB, row i being
    `make_row(i)`; kept (with its row count beside it) and reused while big enough."""
    if path.exists() and path.stat().st_size >= size_mb * MB:
        return json.loads(path.with_suffix(".rows").read_text())
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = 0
    with path.open("wb") as f:
        f.write(b'{"formatName":"dexie","formatVersion":1,"data":{"databaseName":' + orjson.dumps(database)
                + b',"databaseVersion":3,"tables":[{"name":' + orjson.dumps(table) + b',"schema":' + orjson.dumps(schema)
                + b',"rowCount":0}],"data":[{"tableName":' + orjson.dumps(table) + b',"inbound":true,"rows":[')
        while f.tell() < size_mb * MB:
            f.write((b"," if rows else b"") + orjson.dumps(make_row(rows)))
            rows += 1
        f.write(b"]}]}}")
    path.with_suffix(".rows").write_text(str(rows))
    return rows


def make_dump(path: Path, size_mb: int) -> int:
    """Write the dump; returns its row count."""
    blob = base64.b64encode(bytes(range(256)) * 64).decode()          # 16 KiB Blob
    big = base64.b64encode(os.urandom(3 * MB)).decode()               # a 3 MiB row now and then

    def row_at(i: int) -> dict:
        row = {"id": i + 1, "title": f"Note {i}", "body": "lorem ipsum dolor sit amet " * 12,
               "tags": ["work", "home", f"t{i % 50}"], "updatedAt": 1700000000000 + i,
               "meta": {"author": {"name": "Ada", "id": i % 97}, "pinned": i % 7 == 0,
                        "score": i / 3}, "$types": {"updatedAt": "date"}}
        if i % 100 == 0:
            row["attachment"] = {"type": "image/png", "data": blob}
            row["$types"]["attachment"] = "blob2"
        if i % 20000 == 19999:
            row["attachment"] = {"type": "application/octet-stream", "data": big}
            row["$types"]["attachment"] = "blob2"
        return row
    return write_dump(path, size_mb, "bench", "notes", "++id,title,*tags,updatedAt", row_at)


CHILD = """
import json, resource, sys, time
from migrator.dumps import open_dump
from migrator.dumps.profile import profile_dump
start = time.perf_counter()
with open_dump(sys.argv[1]) as dump:
    if sys.argv[2] == "inspect":
        rows = sum(t.rows for t in profile_dump(dump).tables.values())
    else:
        rows = sum(1 for _ in dump.rows())
seconds = time.perf_counter() - start
print(json.dumps({"rows": rows, "seconds": seconds,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

ORJSON = """
import json, sys, time
import orjson
start = time.perf_counter()
with open(sys.argv[1], "rb") as f:
    export = orjson.loads(f.read())
rows = sum(1 for table in export["data"]["data"] for row in table["rows"] if orjson.dumps(row))
print(json.dumps({"rows": rows, "seconds": time.perf_counter() - start}))
"""


def child(script: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parent.parent)
    return json.loads(out.stdout)


def measure(path: Path, stage: str = "inspect") -> dict:
    """Profile (or read) in a child, which reports its own peak RSS."""
    result = child(CHILD, str(path), stage)
    result["mb"] = path.stat().st_size / MB
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--baseline-ratio", type=int, default=10)
    parser.add_argument("--stage", choices=["inspect", "read"], default="inspect")
    args = parser.parse_args()
    against_orjson = {}

    def timed(path: Path) -> dict:
        if args.stage == "read" and not against_orjson:      # the smaller dump: orjson holds it whole
            against_orjson.update(child(ORJSON, str(path)))
        return measure(path, args.stage)

    def ratio(result: dict) -> str:
        if not against_orjson or against_orjson["rows"] != result["rows"]:
            return ""
        return f"{result['seconds'] / against_orjson['seconds']:.2f}x orjson load + dump ({against_orjson['seconds']:.1f} s)"

    compare_sizes(args.size_mb, args.baseline_ratio, timed, ratio)


def compare_sizes(size_mb: int, baseline_ratio: int, measure, extra=lambda result: "") -> None:
    """Measure a baseline dump 1/ratio the size, then the full one; print both and the RSS ratio."""
    runs = []
    for size in (max(1, size_mb // baseline_ratio), size_mb):
        path = DATA / f"bench-{size}.json"
        t0 = time.perf_counter()
        make_dump(path, size)
        made = time.perf_counter() - t0
        result = measure(path)
        runs.append(result)
        print(f"{result['mb']:8.1f} MB  {result['rows']:>9} rows  {result['seconds']:7.1f} s  "
              f"{result['rows'] / result['seconds']:>9.0f} rows/s  {result['mb'] / result['seconds']:6.1f} MB/s  "
              f"peak RSS {result['peak_rss_mb']:6.1f} MB  {extra(result)} (dump made in {made:.0f} s)")
    small, large = runs
    print(f"size ratio {large['mb'] / small['mb']:.1f}x -> peak RSS ratio {large['peak_rss_mb'] / small['peak_rss_mb']:.2f}x")

if __name__ == "__main__":
    sys.exit(main())
