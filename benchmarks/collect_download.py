"""Speed and peak memory of `import --from-uploads` fetching an upload's file.

    python benchmarks/collect_download.py [--size-mb 100] [--baseline-ratio 10]

Starts the local endpoint on a collecting convex/ folder (the todo-js fixture mapping with
an owner field), uploads and records two files as a user (SIZE and SIZE / RATIO MB), then
has a child process download each the way the operator's import does (streamed to disk,
checked against the recorded sha256) and report its own peak RSS (VmHWM; Linux). The endpoint keeps files
in memory and is not counted. Figures, not a pass/fail test.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
from collect_helpers import Caller, generate_collect, owned_todo_mapping  # noqa: E402  (test helpers)
from migrator.sinks.local_endpoint import local_endpoint  # noqa: E402

MB = 1024 * 1024

CHILD = """
import json, re, sys, time
from pathlib import Path
from migrator.importer.uploads import Upload, download
from migrator.sinks.convex_http import ConvexClient, Deployment, Secret
url, key, raw, target = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), Path(sys.argv[4])
upload = Upload(upload_id=raw["uploadId"], owner=raw["owner"], database=raw["database"], sha256=raw["sha256"],
                size=int(raw["size"]), status=raw["status"])
with ConvexClient(Deployment(url, Secret(key))) as client:
    start = time.perf_counter()
    download(client, upload, target)
    seconds = time.perf_counter() - start
# VmHWM, not ru_maxrss: the latter carries the parent's peak over fork + exec (the parent held the file).
hwm = int(re.search(r"VmHWM:\s+(\d+) kB", Path("/proc/self/status").read_text()).group(1))
print(json.dumps({"seconds": seconds, "peak_rss_mb": hwm / 1024}))
"""


def upload_file(url: str, key: str, user: str, size: int) -> dict:
    """A JSON-ish file of `size` bytes, uploaded and recorded by `user`: its listing row."""
    caller = Caller.user(url, user)
    data = (b'{"formatName":"dexie","filler":"' + os.urandom(size // 2).hex().encode())[:size - 2] + b'"}'
    caller.value("mutation", "dexieCollect:recordUpload", {"storageId": caller.upload(data), "database": "TodoDB"})
    page = Caller(url, f"Convex {key}").value("query", "dexieCollect:listUploads", {
        "database": "TodoDB", "status": "pending", "paginationOpts": {"numItems": 100.0, "cursor": None}})["page"]
    return next(u for u in page if u["owner"].endswith(f"|{user}"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=100)
    parser.add_argument("--baseline-ratio", type=int, default=10)
    args = parser.parse_args()
    sizes = [max(1, args.size_mb // args.baseline_ratio), args.size_mb]
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        generate_collect(owned_todo_mapping(work), work / "convex", 300 * MB)
        key = secrets.token_hex(16)
        with local_endpoint(work / "convex", admin_key=key) as dep:
            figures = []
            for mb in sizes:
                row = upload_file(dep.url, key, f"bench-{mb}", mb * MB)
                out = subprocess.run([sys.executable, "-c", CHILD, dep.url, key, json.dumps(row),
                                      str(work / f"download-{mb}.json")],
                                     capture_output=True, text=True, check=True, cwd=ROOT)
                figures.append({"mb": mb, **json.loads(out.stdout)})
    print("download of an upload (streamed to disk, sha256 checked), shared machine: indicative figures")
    print(f"{'file':>8}  {'seconds':>8}  {'MB/s':>8}  {'peak RSS':>9}")
    for f in figures:
        print(f"{f['mb']:>5} MB  {f['seconds']:>8.2f}  {f['mb'] / f['seconds']:>8.1f}  {f['peak_rss_mb']:>6.1f} MB")
    print(f"peak RSS ratio for {args.baseline_ratio}x the size: "
          f"{figures[1]['peak_rss_mb'] / figures[0]['peak_rss_mb']:.2f}")


if __name__ == "__main__":
    main()
