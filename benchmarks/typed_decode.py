"""Feasibility figure for the next step: reading and transforming rows in C, not in Python.

    pip install msgspec     # not a dependency of dexie-convex: this script alone needs it
    python benchmarks/typed_decode.py [--rows 200000] [--pairs 3]

`pipeline.py --stages` shows reading and transforming the rows in Python already take about
1.4x its orjson baseline, so no faster rest of the pipeline can reach the 1.5x goal. This
measures the candidate replacement on the same contacts dump: each row, found at its `},{`
boundary as `dumps/window.py` finds it, decoded by msgspec into a `Struct` typed as the
contacts plan's validators say (unknown fields refused, every field's type checked in C),
then encoded once; rows it refuses (those with a Blob, whose `$types` differ) go to orjson.
It is a hand-written prototype of the contacts table, not the product's code path: it does
not yet size documents by Convex's formula, check strings for lone surrogates, turn keys and
side rows out, or generate the Struct from a plan. Alternated with the baseline of
`pipeline.py` in this process; figures, not a test.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Union

import orjson

from pipeline import make_dump

try:
    import msgspec
except ImportError:
    sys.exit("needs msgspec (not a dependency of dexie-convex): pip install msgspec")


class Address(msgspec.Struct, forbid_unknown_fields=True):
    city: str
    zip: str


class Company(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    size: float
    address: Address


class Contact(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    id: float
    name: str
    email: str
    createdAt: float
    updatedAt: float
    company: Company
    tags: list[str]
    score: float
    active: bool
    notes: Union[str, None, msgspec.UnsetType] = msgspec.UNSET
    phone: Union[str, msgspec.UnsetType] = msgspec.UNSET
    types: Union[dict[str, str], msgspec.UnsetType] = msgspec.field(default=msgspec.UNSET, name="$types")


DATES = {"createdAt": "date", "updatedAt": "date"}     # Dates as epoch ms: the number is the value


def typed(path) -> tuple[float, int, int]:
    """Seconds, rows, rows left to orjson."""
    decode, encode = msgspec.json.Decoder(Contact).decode, msgspec.json.Encoder().encode
    start = time.perf_counter()
    text = path.read_bytes()
    pos, end = text.index(b'"rows":[') + len(b'"rows":['), len(text) - len(b"]}]}}")
    rows = refused = 0
    while pos < end:
        stop = text.find(b"},{", pos)
        stop = end - 1 if stop < 0 else stop
        piece = text[pos:stop + 1]
        try:
            row = decode(piece)
            if row.types != DATES:
                raise msgspec.ValidationError
            row.types = msgspec.UNSET
            encode(row)
        except msgspec.ValidationError:
            refused += 1
            orjson.dumps(orjson.loads(piece))
        rows += 1
        pos = stop + 2
    return time.perf_counter() - start, rows, refused


def baseline(path) -> float:
    start = time.perf_counter()
    export = orjson.loads(path.read_bytes())
    for table in export["data"]["data"]:
        for row in table["rows"]:
            orjson.dumps(row)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--pairs", type=int, default=3)
    args = parser.parse_args()
    dump = make_dump(args.rows)
    ratios = []
    for _ in range(args.pairs):
        base = baseline(dump)
        seconds, rows, refused = typed(dump)
        ratios.append(seconds / base)
        print(f"baseline {base:.2f} s   typed decode + encode {seconds:.2f} s ({rows} rows, {refused} to orjson)"
              f"   ratio {ratios[-1]:.2f}")
    print(f"median ratio typed / baseline over {args.pairs} pairs: {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    sys.exit(main())
