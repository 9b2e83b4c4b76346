"""The whole pipeline against the fastest thing Python can do with the same file.

    python benchmarks/pipeline.py [--rows 200000] [--pairs 3] [--scale 4] [--import]

Writes benchmarks/data/contacts-<rows>.json (git-ignored): a single-line dexie-export-import
dump of a contacts table as a real app holds it (two Dates, a nested company object, an
array of tags behind a `*tags` index, a unique `&email`, optional and null fields, a small
avatar Blob in 1 row of 200). Plans its mapping (not timed), then alternates, in child
processes, `pairs` times:

- baseline: `orjson.loads` of the whole file, then `orjson.dumps` of every row once;
- the dry run: `import --dry-run` (read, revive, transform, validate, batch, account).

and prints each pair's ratio and their median. `--scale N` then dry-runs a dump N times the
rows and prints the peak-RSS ratio (flat memory: near 1). `--stages` also times, in each pair,
the dry run's first stages alone in one process (reading the rows; reading and transforming
them), each against the same baseline: what the rest of the pipeline (batching, the key
ledger, the deployment's checks) adds, and what no faster rest could win. `--import` also imports the dump
into the local endpoint (the client's rows/s and MB/s; the endpoint's own speed is
convex-test's, not Convex's). Each child reports its own time and peak RSS (an import's: its
own plus its largest child's, the dry run's deployment process or the local endpoint). Figures, not a
pass/fail test.
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import orjson

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).resolve().parent.parent
MB = 1024 * 1024
EPOCH_MS = 1_600_000_000_000
TAGS = ["lead", "customer", "vip", "partner", "churned", "newsletter", "beta", "investor", "press", "vendor"]
CITIES = ["Lisbon", "Berlin", "Osaka", "Lagos", "Lima", "Oslo", "Austin", "Pune"]


def contact(rng: random.Random, n: int, avatar: str) -> dict:
    """One row as dexie-export-import writes it: Dates as epoch ms, Blobs as base64, `$types` beside."""
    row: dict = {"id": n + 1, "name": f"Contact {n}", "email": f"contact{n}@example.com",
                 "createdAt": EPOCH_MS + n * 1000, "updatedAt": EPOCH_MS + n * 1000 + rng.randrange(10**9),
                 "company": {"name": f"Company {n % 5000}", "size": rng.randrange(1, 5000),
                             "address": {"city": rng.choice(CITIES), "zip": f"{rng.randrange(10**5):05d}"}},
                 "tags": rng.sample(TAGS, rng.randrange(0, 4)), "score": round(rng.random() * 100, 3),
                 "active": rng.random() < 0.8}
    types = {"createdAt": "date", "updatedAt": "date"}
    if n % 3:
        row["phone"] = f"+1-555-{n % 10000:04d}"
    if n % 6 == 0:
        row["notes"] = None
    elif n % 6 == 1:
        row["notes"] = "called about the renewal; wants a follow-up next quarter " * rng.randrange(1, 4)
    if n % 200 == 0:
        row["avatar"] = {"type": "image/png", "data": avatar}
        types["avatar"] = "blob2"
    row["$types"] = types
    return row


def make_dump(rows: int) -> Path:
    path = DATA / f"contacts-{rows}.json"
    if path.exists():
        return path
    DATA.mkdir(parents=True, exist_ok=True)
    rng = random.Random(rows)
    avatar = base64.b64encode(bytes(rng.randrange(256) for _ in range(2048))).decode()
    header = {"databaseName": "crm", "databaseVersion": 2,
              "tables": [{"name": "contacts", "schema": "++id,&email,name,*tags,createdAt,updatedAt",
                          "rowCount": rows}]}
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as f:
        f.write(b'{"formatName":"dexie","formatVersion":1,"data":' + orjson.dumps(header)[:-1]
                + b',"data":[{"tableName":"contacts","inbound":true,"rows":[')
        for n in range(rows):
            f.write((b"," if n else b"") + orjson.dumps(contact(rng, n, avatar)))
        f.write(b"]}]}}")
    tmp.rename(path)
    return path


BASELINE = """
import json, resource, sys, time
import orjson
start = time.perf_counter()
with open(sys.argv[1], "rb") as f:
    export = orjson.loads(f.read())
rows = 0
for table in export["data"]["data"]:
    for row in table["rows"]:
        orjson.dumps(row)
        rows += 1
print(json.dumps({"rows": rows, "seconds": time.perf_counter() - start,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

IMPORT = """
import json, resource, sys, tempfile, time
from pathlib import Path
from migrator import commands
from migrator.importer.run import ImportOptions
mapping, dump, target = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
with tempfile.TemporaryDirectory() as state:
    start = time.perf_counter()
    result = commands.import_dumps(mapping, [dump], ImportOptions(state_dir=Path(state), progress=False),
                                   dry_run=target == "dry-run")
    seconds = time.perf_counter() - start
tables = result.summary.tables
print(json.dumps({"rows": sum(c["read"] for c in tables.values()),
                  "rejected": sum(c["rejected"] for c in tables.values()),
                  "seconds": seconds,
                  # this process and its largest child (the dry run's deployment, or the local endpoint)
                  "peak_rss_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                                  + resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024}))
"""

# The dry run's first stages alone, in this process: `read` (rows parsed and revived: the usual
# path), `transform` (rows turned into their checked, Convex-encoded documents as the import does
# it: from their text in C where the plan allows, `transform/typed.py`, else parsed, revived and
# transformed).
STAGES = """
import json, resource, sys, time
from pathlib import Path
from migrator.dumps import open_dump
from migrator.plan.mapping_file import load_mapping
from migrator.transform.compiled import Transforms
mapping, dump, stage = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
plan = load_mapping(mapping)
transforms = Transforms(plan)
tables = {t.source: transforms.tables[t.source].prepare for t in plan.mapped_tables()}
start = time.perf_counter()
rows = 0
with open_dump(dump) as rows_of:
    for row in rows_of.rows(typed=transforms.typed if stage == "transform" else None):
        rows += 1
        if stage == "transform" and row.made is None:
            tables[row.table](row.index if row.key is None else row.key, row.value)
print(json.dumps({"rows": rows, "seconds": time.perf_counter() - start,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def child(script: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, cwd=ROOT)
    if out.returncode:
        sys.exit(f"child failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def plan(dump: Path, work: Path) -> Path:
    sys.path.insert(0, str(ROOT))
    from migrator import commands
    return commands.plan_mappings([], [dump], work / "mappings").writes[0].path


def line(label: str, r: dict, mb: float) -> str:
    return (f"{label:<10} {r['rows']:>9} rows  {r['seconds']:7.2f} s  {r['rows'] / r['seconds']:>9.0f} rows/s  "
            f"{mb / r['seconds']:6.1f} MB/s  peak RSS {r['peak_rss_mb']:7.1f} MB"
            + (f"  rejected {r['rejected']}" if "rejected" in r else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--scale", type=int, default=4, help="dry-run a dump this many times the rows (0: skip)")
    parser.add_argument("--import", dest="local", action="store_true", help="also import into the local endpoint")
    parser.add_argument("--stages", action="store_true", help="also time reading, and reading and transforming, alone")
    args = parser.parse_args()
    dump = make_dump(args.rows)
    mb = dump.stat().st_size / MB
    print(f"dump {dump.name}: {mb:.1f} MB, {args.rows} rows")
    with tempfile.TemporaryDirectory() as work:
        mapping = plan(dump, Path(work))
        ratios: dict[str, list[float]] = {"dry run": [], **({"read": [], "transform": []} if args.stages else {})}
        for i in range(args.pairs):
            base = child(BASELINE, str(dump))
            print(line("baseline", base, mb))
            for stage in ratios:
                if stage == "dry run":
                    took = dry = child(IMPORT, str(mapping), str(dump), "dry-run")
                else:
                    took = child(STAGES, str(mapping), str(dump), stage)
                ratios[stage].append(took["seconds"] / base["seconds"])
                print(line(stage, took, mb) + f"  ratio {ratios[stage][-1]:.2f}")
        for stage, found in ratios.items():
            print(f"median ratio {stage} / baseline over {args.pairs} pairs: {statistics.median(found):.2f}")
        if args.scale:
            big = make_dump(args.rows * args.scale)
            scaled = child(IMPORT, str(mapping), str(big), "dry-run")
            print(line(f"dry run x{args.scale}", scaled, big.stat().st_size / MB))
            print(f"peak RSS ratio x{args.scale} rows / x1: {scaled['peak_rss_mb'] / dry['peak_rss_mb']:.2f}")
        if args.local:
            print(line("local", child(IMPORT, str(mapping), str(dump), "local"), mb))


if __name__ == "__main__":
    sys.exit(main())
