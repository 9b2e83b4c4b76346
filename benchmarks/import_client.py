"""Speed and peak memory of an import (the dry run, or the real one into the local endpoint) as a dump grows.

    python benchmarks/import_client.py [--size-mb 100] [--baseline-ratio 10] [--target dry-run|local]

`--target dry-run` (default): `import --dry-run` reads, transforms, validates and batches
every row exactly as the real import does and sends nothing; it remembers a fingerprint of
every row's key and content (to tell inserted/updated/unchanged and resolve references as
the deployment would). `--target local`: the real import into the local endpoint (convex-test's
speed is not Convex's, so rows/s there say little).

Uses the dumps of benchmarks/dump_memory.py (made on first use, git-ignored). The mapping is
planned from the dump first (not timed). Each size runs in a child process that reports its
own peak RSS plus its largest child's (the dry run's deployment process; with `--target
local`, the Node endpoint). Figures, not a pass/fail test.
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
with tempfile.TemporaryDirectory() as work:
    work = Path(work)
    mapping = commands.plan_mappings([], [dump], work / "mappings").writes[0].path
    start = time.perf_counter()
    result = commands.import_dumps(mapping, [dump], ImportOptions(state_dir=work / "state", progress=False),
                                   dry_run=sys.argv[2] == "dry-run")
    seconds = time.perf_counter() - start
tables = result.summary.tables
print(json.dumps({"rows": sum(c["read"] for c in tables.values()),
                  "rejected": sum(c["rejected"] for c in tables.values()),
                  "requests": result.summary.requests, "files": sum(c["blobs"] for c in tables.values()),
                  "seconds": seconds,
                  # this process and its largest child (the dry run's deployment, or the local endpoint)
                  "peak_rss_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                                  + resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024}))
"""


def measure(path: Path, target: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(path), target], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parent.parent)
    result = json.loads(out.stdout)
    result["mb"] = path.stat().st_size / MB
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=100)
    parser.add_argument("--baseline-ratio", type=int, default=10)
    parser.add_argument("--target", choices=["dry-run", "local"], default="dry-run")
    args = parser.parse_args()
    compare_sizes(args.size_mb, args.baseline_ratio, lambda path: measure(path, args.target),
                  lambda r: f"{r['requests']} requests, {r['files']} files, {r['rejected']} rejected ")

if __name__ == "__main__":
    sys.exit(main())
