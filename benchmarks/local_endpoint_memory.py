"""Peak memory and speed of a real import into the local endpoint as the dump grows.

    python benchmarks/local_endpoint_memory.py [--size-mb 400] [--baseline-ratio 4]

Uses the dumps of benchmarks/dump_memory.py (made on first use, git-ignored). Each size
runs in a child process: plan (not timed), then `import` into the local endpoint, which
writes its contents out (--state-out) when it stops. Printed per size: rows/s, the Node
endpoint's peak RSS (the child's RUSAGE_CHILDREN: the endpoint is its only child process),
the Python client's peak RSS, their sum (an upper bound on both at once), and the count of
documents the endpoint wrote out against the rows read. Figures, not a pass/fail test.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dump_memory import MB, compare_sizes  # noqa: E402  (a sibling script, not a package)

CHILD = """
import json, resource, sys, tempfile, time
from pathlib import Path
from migrator import commands
from migrator.importer.run import ImportOptions
dump = Path(sys.argv[1])
with tempfile.TemporaryDirectory(dir=sys.argv[2] or None) as work:
    work = Path(work)
    mapping = commands.plan_mappings([], [dump], work / "mappings").writes[0].path
    start = time.perf_counter()
    result = commands.import_dumps(mapping, [dump], ImportOptions(state_dir=work / "state", progress=False))
    seconds = time.perf_counter() - start
    written = {p.stem: sum(1 for _ in p.open("rb")) for p in result.local_contents.glob("*.jsonl")}
tables = result.summary.tables
print(json.dumps({"rows": sum(c["read"] for c in tables.values()),
                  "inserted": sum(c["inserted"] for c in tables.values()),
                  "rejected": sum(c["rejected"] for c in tables.values()),
                  "written": written, "seconds": seconds,
                  "python_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "node_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""


def measure(path: Path, work_dir: str | None) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(path), work_dir or ""], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parent.parent)
    if out.returncode != 0:
        raise SystemExit(f"the import of {path} failed:\n{out.stderr[-3000:]}")
    result = json.loads(out.stdout)
    result["mb"] = path.stat().st_size / MB
    result["peak_rss_mb"] = result["node_rss_mb"] + result["python_rss_mb"]
    return result


def describe(r: dict) -> str:
    table_docs = {t: n for t, n in r["written"].items() if not t.startswith("_") and t != "dexieImportFiles"}
    return (f"(Node {r['node_rss_mb']:.0f} MB + Python {r['python_rss_mb']:.0f} MB; {r['inserted']} inserted, "
            f"{r['rejected']} rejected; written out: {table_docs}) ")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=400)
    parser.add_argument("--baseline-ratio", type=int, default=4)
    parser.add_argument("--work-dir", default=None, help="where the state (and the endpoint's contents) go")
    args = parser.parse_args()
    compare_sizes(args.size_mb, args.baseline_ratio, lambda path: measure(path, args.work_dir), describe)


if __name__ == "__main__":
    sys.exit(main())
