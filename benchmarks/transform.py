"""Per-row cost of the transform stage (convert + check + Convex-encode + size), generic vs compiled.

    python benchmarks/transform.py [--size-mb 20 | --dump FILE] [--repeat 3]

Reads the rows of a benchmarks/dump_memory.py dump (or of FILE, e.g. the contacts dump of
benchmarks/pipeline.py) once (revived values, kept in memory;
reading is not timed), plans a mapping from it, then times per row:

- generic: what the import did before the compiled transforms: `transform_row` (per-value
  dispatch), `wire.encode` + `orjson.dumps` for the batch size, and the dry run's second
  `encode` and `check_document` over the whole document;
- compiled: `Transforms.prepare` (one pass: converted, checked, encoded, sized);
- baseline: `orjson.dumps` of the revived row as is (a floor no transform can beat).

Prints µs/row and rows/s for each, and the ratio generic/compiled, best of --repeat runs, in CPU time of this process (the machine may be shared).
Figures, not a pass/fail test; on a shared machine they are indicative only.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dump_memory import DATA, make_dump  # noqa: E402  (a sibling script, not a package)

from migrator import commands  # noqa: E402
from migrator.dumps import open_dump  # noqa: E402
from migrator.jsvalues import JsBlob  # noqa: E402
from migrator.sinks.wire import encode  # noqa: E402
from migrator.transform.compiled import Transforms  # noqa: E402
from migrator.transform.rows import transform_row  # noqa: E402
from migrator.transform.values import BlobToStore  # noqa: E402
from migrator.validate.document import check_document  # noqa: E402


def _sized(doc: dict) -> dict:
    return {k: (v.data if isinstance(v, BlobToStore) else v) for k, v in doc.items()}


def generic(plan, tables, rows, converter) -> None:
    for source, key, value in rows:
        t = tables[source]
        row = transform_row(t, key, value, converter)
        len(orjson.dumps(encode(_sized(row.document))))           # the importer's batch size
        encode(_sized(row.document))                                 # the client's (or dry run's) encode
        check_document(row.document, t.document_validator())        # the dry run's check


def compiled(plan, tables, rows, transforms) -> None:
    for source, key, value in rows:
        transforms.prepare(tables[source], key, value)


def baseline(rows) -> None:
    for _, _, value in rows:
        orjson.dumps(value, default=lambda v: None, option=orjson.OPT_PASSTHROUGH_DATACLASS)


def best(run, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.process_time()
        run()
        times.append(time.process_time() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=20)
    parser.add_argument("--dump", type=Path, help="a dump of your own instead")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    path = args.dump or DATA / f"bench-{args.size_mb}.json"
    if args.dump is None:
        make_dump(path, args.size_mb)
    with tempfile.TemporaryDirectory() as work:
        plan = commands.load_mapping(commands.plan_mappings([], [path], Path(work)).writes[0].path)
    tables = {t.source: t for t in plan.mapped_tables()}
    with open_dump(path) as dump:
        rows = [(r.table, r.index if r.key is None else r.key, r.value) for r in dump.rows()
                if not any(isinstance(v, JsBlob) and len(v.data) > 1024 * 1024 for v in r.value.values())]
    transforms = Transforms(plan)
    settled = 0
    for source, key, value in rows:
        try:
            transforms.tables[source].fast(key, value)
            settled += 1
        except Exception:
            pass
    print(f"{len(rows)} rows of {path.name} ({path.stat().st_size / 2**20:.0f} MB; rows with a multi-MB Blob left out); "
          f"the compiled fast path settles {settled / len(rows):.1%} of them")
    figures = {
        "baseline (orjson.dumps of the revived row)": best(lambda: baseline(rows), args.repeat),
        "generic (transform_row + encode x2 + check_document)":
            best(lambda: generic(plan, tables, rows, transforms.converter), args.repeat),
        "compiled (Transforms.prepare)": best(lambda: compiled(plan, tables, rows, transforms), args.repeat),
    }
    for name, seconds in figures.items():
        print(f"  {name:55s} {seconds / len(rows) * 1e6:7.2f} µs/row  {len(rows) / seconds:10,.0f} rows/s")
    values = list(figures.values())
    print(f"  generic / compiled: {values[1] / values[2]:.2f}x   compiled / baseline: {values[2] / values[0]:.2f}x")


if __name__ == "__main__":
    main()
