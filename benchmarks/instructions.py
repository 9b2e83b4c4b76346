"""Instructions per row of the dry run, counted by valgrind: the measure to compare code by.

    python benchmarks/instructions.py [--rows 20000]

Wall and CPU times on a shared VM drift by 15-20% from run to run; instruction counts under
valgrind's cachegrind (PYTHONHASHSEED=0) repeat to within 0.001%. Dry-runs
`benchmarks/pipeline.py`'s contacts dump at `rows` and at half of it, each under cachegrind
(the dry run's deployment process is forked, so valgrind follows it), and prints each
process's instructions per row from the difference (start-up cancels out), with the
orjson baseline's counted the same way. Instructions do not see cache misses (sqlite's random
keys, or rows held in flight, cost more time than their instructions say): `--cache` also
simulates the caches and prints data misses per row, as deterministic as the instructions: in
the first level, and in this core's own L2 (valgrind's last level is set to it; a shared L3 on
a busy host is not one to count on). Confirm a change with
`pipeline.py`. Needs valgrind (Debian: `apt install valgrind`); takes a few minutes (twice as
long with `--cache`). Figures, not a test.
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
COUNT = re.compile(r"==(\d+)== (I|D1|LLd)\s+(?:refs|misses):\s+([\d,]+)")
MEASURES = {"I": "instructions", "D1": "D1 data misses", "LLd": "L2 data misses"}


def l2_cache() -> list[str]:
    """valgrind's option making its last-level cache this machine's L2 (none where sysfs does not say)."""
    index = Path("/sys/devices/system/cpu/cpu0/cache/index2")
    try:
        size, ways, line = ((index / name).read_text().strip()
                            for name in ("size", "ways_of_associativity", "coherency_line_size"))
    except OSError:
        return []
    units = {"K": 1024, "M": 1024 * 1024}
    return [f"--LL={int(size.rstrip('KM')) * units.get(size[-1], 1)},{ways},{line}"]


def counted(script: str, *args: str, cache: bool = False) -> dict[str, list[int]]:
    """Per measure (instructions; data misses with `cache`), its count in each process the
    script ran, the first one started first."""
    run = subprocess.run(["valgrind", "--tool=cachegrind", f"--cache-sim={'yes' if cache else 'no'}",
                          *(l2_cache() if cache else []),
                          "--cachegrind-out-file=/dev/null", sys.executable, "-c", script, *args],
                         capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONHASHSEED": "0"})
    if run.returncode:
        sys.exit(f"failed ({run.returncode}):\n{run.stderr[-3000:]}")
    found = sorted((int(pid), measure, int(n.replace(",", ""))) for pid, measure, n in COUNT.findall(run.stderr))
    return {MEASURES[m]: [n for _, measure, n in found if measure == m] for m in MEASURES
            if any(measure == m for _, measure, _ in found)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--cache", action="store_true", help="also simulate the caches: data misses per row")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (Debian: apt install valgrind)")
    half = args.rows // 2
    small, big = make_dump(half), make_dump(args.rows)
    with tempfile.TemporaryDirectory() as work:
        mapping = str(plan(big, Path(work)))
        base = [counted(BASELINE, str(d), cache=args.cache) for d in (small, big)]
        dry = [counted(DRY_RUN, mapping, str(d), cache=args.cache) for d in (small, big)]

    def per_row(fewer: int, more: int) -> float:
        return (more - fewer) / (args.rows - half)

    for measure in base[0]:
        b, d = [c[measure] for c in base], [c[measure] for c in dry]
        print(f"{measure} per row ({half} -> {args.rows} rows of {big.name.split('-')[0]}):")
        print(f"  baseline (orjson load + per-row dump)  {per_row(b[0][0], b[1][0]):>9,.0f}")
        print(f"  dry run, the importer's process        {per_row(d[0][0], d[1][0]):>9,.0f}")
        if len(d[0]) > 1:
            print(f"  dry run, the deployment's process      {per_row(d[0][1], d[1][1]):>9,.0f}")
            total = per_row(sum(d[0]), sum(d[1]))
            print(f"  dry run, both                          {total:>9,.0f}  "
                  f"({total / per_row(b[0][0], b[1][0]):.1f}x the baseline)")


if __name__ == "__main__":
    sys.exit(main())
