"""An import against a deployment whose write budget is below what it could take.

    python benchmarks/write_budget.py [--size-mb 20] [--budgets 250000,1000000] [--retry-after SECONDS]

Starts the local endpoint on a dump of `--size-mb` MB (rows of about 4 KB, made on first use
in benchmarks/data/, git-ignored), first without a budget (the baseline: what the endpoint
takes), then once per budget in bytes per second, answered as Convex answers a spent budget
(429 TooManyWrites, no Retry-After unless `--retry-after`). Each is a real `dexie-convex
import` (the CLI, in a child process) into a fresh endpoint. Prints per run: exit code, rows
and rejected rows, seconds, the rate the endpoint committed over the import's writes (its own
count of argument bytes between the first and the last commit) and its share of the budget,
the 429s the endpoint answered and the client counted, and the rate the client settled at.
Figures, not a pass/fail test; on a shared machine they are indicative.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from dump_memory import DATA, MB, write_dump  # noqa: E402  (a sibling script, not a package)
from migrator import commands  # noqa: E402
from migrator.sinks.local_endpoint import local_endpoint  # noqa: E402


def page(i: int) -> dict:
    """A row of about 4 KB of text and numbers."""
    return {"id": i + 1, "title": f"Page {i}", "updatedAt": 1700000000000 + i,
            "body": f"paragraph {i} of the page, with enough words to weigh something. " * 55,
            "stats": {"views": i % 1000, "score": i / 7, "flags": [i % 2 == 0, i % 3 == 0]}}


def run_import(work: Path, mapping: Path, dump: Path, budget: int | None, retry_after: float | None) -> dict:
    """One import into a fresh endpoint with `budget` bytes/s (None: none); its figures."""
    with local_endpoint(work / "convex") as deployment:
        admin = httpx.Client(base_url=deployment.url, timeout=60,
                             headers={"Authorization": f"Convex {deployment.key.reveal()}"})
        config = {"bytesPerSecond": budget, **({"retryAfter": retry_after} if retry_after is not None else {})}
        admin.post("/_local/write-budget", json=config).raise_for_status()
        state = Path(tempfile.mkdtemp(dir=work))
        summary_path = state / "summary.json"
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "migrator", "import", str(mapping), str(dump), "--url",
                               deployment.url, "--state-dir", str(state), "-q", "--summary-json", str(summary_path)],
                              cwd=ROOT, capture_output=True, text=True,
                              env={**os.environ, "CONVEX_DEPLOY_KEY": deployment.key.reveal()})
        seconds = time.perf_counter() - start
        endpoint = admin.get("/_local/write-budget").json()
        admin.close()
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    tables = summary.get("tables", {})
    return {"exit": proc.returncode, "stderr": proc.stderr.strip().splitlines()[-1:] if proc.returncode else [],
            "seconds": seconds, "rows": sum(t["read"] for t in tables.values()),
            "written": sum(t["inserted"] + t["updated"] + t["unchanged"] for t in tables.values()),
            "rejected": summary.get("rejectedTotal"), "requests": summary.get("requests"),
            "retries": summary.get("retries"), "throttled": summary.get("throttled"),
            "settled": summary.get("settledBytesPerSecond"), "endpoint": endpoint}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=20)
    parser.add_argument("--budgets", default="250000,1000000", help="bytes per second, comma-separated")
    parser.add_argument("--retry-after", type=float, help="the 429s also carry this Retry-After (Convex sends none)")
    args = parser.parse_args()
    dump = DATA / f"budget-{args.size_mb}.json"
    rows = write_dump(dump, args.size_mb, "budget", "pages", "++id,title,updatedAt", page)
    print(f"dump: {dump.stat().st_size / MB:.1f} MB, {rows} rows; 429s "
          + (f"with Retry-After: {args.retry_after:g}" if args.retry_after is not None else "without Retry-After"))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        mapping = commands.plan_mappings([], [dump], work / "mappings").writes[0].path
        commands.generate_convex([mapping], work / "convex")
        baseline = None
        for budget in [None, *(int(b) for b in args.budgets.split(","))]:
            r = run_import(work, mapping, dump, budget, args.retry_after)
            rate = r["endpoint"]["committedBytesPerSecond"] or 0.0
            baseline = baseline or rate
            share = f"{rate / budget:6.1%} of budget" if budget else "  (no budget)  "
            settled = f"{r['settled'] / 1000:7.1f} KB/s" if r["settled"] else "      -    "
            print(f"budget {budget / 1000 if budget else 0:7.0f} KB/s: exit {r['exit']}  {r['written']}/{r['rows']} rows "
                  f"written, {r['rejected']} rejected  {r['seconds']:6.1f} s  committed "
                  f"{r['endpoint']['committedBytes'] / MB:5.1f} MB at {rate / 1000:7.1f} KB/s = {share}  "
                  f"({rate / baseline:4.2f}x baseline)  429s: endpoint {r['endpoint']['refused']}, client "
                  f"{r['throttled']}  {r['requests']} requests, {r['retries']} retried  settled at {settled}"
                  + (f"  {r['stderr']}" if r["stderr"] else ""))


if __name__ == "__main__":
    sys.exit(main())
