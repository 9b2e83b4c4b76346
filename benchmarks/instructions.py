"""Instructions per row of the dry run, counted by valgrind: the measure to compare code by.

    python benchmarks/instructions.py [--rows 20000]

Wall and CPU times on a shared VM drift by 15-20% from run to run; instruction counts under
valgrind's cachegrind (PYTHONHASHSEED=0) repeat to within 0.001%. Dry-runs
`benchmarks/pipeline.py`'s contacts dump at `rows` and at half of it, each under cachegrind
(the dry run's deployment process is forked, so valgrind follows it), and prints each
process's instructions per row from the difference (start-up cancels out), with the
orjson baseline's counted the same way. They do not see cache misses (sqlite's random keys
cost more time than their instructions say): confirm a change with `pipeline.py`. Needs
valgrind (Debian: `apt install valgrind`); takes a few minutes. Figures, not a test.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from pipeline import BASELINE, ROOT, make_dump, plan

DRY_RUN = """
import sys, tempfile
from pathlib import Path
from migrator import collector, commands
from migrator.importer.run import ImportOptions
collector.SWEEP_SECONDS = float("inf")     # a sweep a second would count the slowdown under valgrind
with tempfile.TemporaryDirectory() as state:
    commands.import_dumps(Path(sys.argv[1]), [Path(sys.argv[2])], ImportOptions(state_dir=Path(state), progress=False),
                          dry_run=True)
"""
COUNT = re.compile(r"==(\d+)== I\s+refs:\s+([\d,]+)")


def counted(script: str, *args: str) -> list[int]:
    """Instructions of each process the script ran, the first one started first."""
    run = subprocess.run(["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
                          sys.executable, "-c", script, *args], capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "PYTHONHASHSEED": "0"})
    if run.returncode:
        sys.exit(f"failed ({run.returncode}):\n{run.stderr[-3000:]}")
    found = sorted((int(pid), int(n.replace(",", ""))) for pid, n in COUNT.findall(run.stderr))
    return [n for _, n in found]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=20_000)
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (Debian: apt install valgrind)")
    half = args.rows // 2
    small, big = make_dump(half), make_dump(args.rows)
    with tempfile.TemporaryDirectory() as work:
        mapping = str(plan(big, Path(work)))
        base = [counted(BASELINE, str(d))[0] for d in (small, big)]
        dry = [counted(DRY_RUN, mapping, str(d)) for d in (small, big)]
    def per_row(fewer: int, more: int) -> float:
        return (more - fewer) / (args.rows - half)

    print(f"instructions per row ({half} -> {args.rows} rows of {big.name.split('-')[0]}):")
    print(f"  baseline (orjson load + per-row dump)  {per_row(*base):>9,.0f}")
    print(f"  dry run, the importer's process        {per_row(dry[0][0], dry[1][0]):>9,.0f}")
    if len(dry[0]) > 1:
        print(f"  dry run, the deployment's process      {per_row(dry[0][1], dry[1][1]):>9,.0f}")
        total = per_row(sum(dry[0]), sum(dry[1]))
        print(f"  dry run, both                          {total:>9,.0f}  ({total / per_row(*base):.1f}x the baseline)")


if __name__ == "__main__":
    sys.exit(main())
