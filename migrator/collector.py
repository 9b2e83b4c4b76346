"""The cyclic garbage collector, set for streaming rows through batches.

Rows, documents and outcomes are acyclic dicts and lists, freed by reference counting once
their batch is recorded. With CPython's default (a young-generation pass every 700 container
allocations), the collector keeps re-scanning the batches still in flight and promoting
them: a fifth of a dry run's time on 200k rows (benchmarks/pipeline.py, alternated: 12.1-12.5 s
against 14.6-15.9 s). A pass every 100,000 allocations leaves that work to reference counting.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Iterator

YOUNG_THRESHOLD = 100_000


@contextmanager
def streaming_rows() -> Iterator[None]:
    """Fewer young-generation passes while rows stream; the previous setting restored after."""
    before = gc.get_threshold()
    gc.set_threshold(max(before[0], YOUNG_THRESHOLD), *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)
