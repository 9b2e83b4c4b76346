"""Peak memory and speed of `verify --url`: documents read as a stream of pages vs. held whole.

    python benchmarks/verify_deployment.py [--size-mb 20]

Imports the dump of benchmarks/dump_memory.py (made on first use, git-ignored) into the local
endpoint (not timed), then verifies that deployment twice, each in a child process that
reports its own peak RSS: `stream` is `verify --url` as it is (pages folded into one digest
per row as they arrive); `held` first reads every table's documents into a list, as verify
did before, and then does the same comparison. The ratio held/stream is the memory the
stream saves. Both sides also hold the dump's expected digests (one per row). Figures, not a
pass/fail test; the local endpoint's speed is convex-test's, not Convex's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dump_memory import DATA, MB, make_dump  # noqa: E402  (a sibling script, not a package)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHILD = """
import json, os, resource, sys, time
from migrator.verify import run
mode, url, mapping, dump = sys.argv[1:5]
if mode == "held":
    stream = run.read_documents
    run.read_documents = lambda client, table, page_size=run.PAGE_SIZE: iter(list(stream(client, table, page_size)))
start = time.perf_counter()
report = run.verify_deployment(mapping, [dump], url=url, deploy_key=os.environ["CONVEX_DEPLOY_KEY"])
print(json.dumps({"ok": report.ok, "rows": sum(n for t in report.counts.values() for n in t.values()),
                  "seconds": time.perf_counter() - start,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def measure(mode: str, url: str, key: str, mapping: Path, dump: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, mode, url, str(mapping), str(dump)], capture_output=True,
                         text=True, check=True, cwd=ROOT, env={**os.environ, "CONVEX_DEPLOY_KEY": key})
    return json.loads(out.stdout)


def main() -> None:
    from migrator import commands
    from migrator.importer.run import ImportOptions
    from migrator.sinks.local_endpoint import local_endpoint

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=20)
    args = parser.parse_args()
    dump = DATA / f"bench-{args.size_mb}.json"
    make_dump(dump, args.size_mb)
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        mapping = commands.plan_mappings([], [dump], work / "mappings").writes[0].path
        commands.generate_convex([mapping], work / "convex")
        with local_endpoint(work / "convex") as dep:
            key = dep.key.reveal()
            commands.import_dumps(mapping, [dump], ImportOptions(state_dir=work / "state", progress=False),
                                  url=dep.url, deploy_key=key)
            runs = {mode: measure(mode, dep.url, key, mapping, dump) for mode in ("stream", "held")}
    for mode, r in runs.items():
        print(f"{mode:6}  {dump.stat().st_size / MB:7.1f} MB dump  {r['rows']:>8} rows  {r['seconds']:7.1f} s  "
              f"{r['rows'] / r['seconds']:>8.0f} rows/s  peak RSS {r['peak_rss_mb']:7.1f} MB  ok={r['ok']}")
    print(f"peak RSS held/stream: {runs['held']['peak_rss_mb'] / runs['stream']['peak_rss_mb']:.2f}x")


if __name__ == "__main__":
    sys.exit(main())
