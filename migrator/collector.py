"""The cyclic garbage collector, set for streaming rows through batches.

Rows, documents and outcomes are acyclic dicts and lists, freed by reference counting once
their batch is recorded. With CPython's default (a young-generation pass every 700 container
allocations), the collector keeps re-scanning the batches still in flight and promoting
them: a fifth of a dry run's time on 200k rows (benchmarks/pipeline.py, alternated: 12.1-12.5 s
against 14.6-15.9 s). A pass every 100,000 allocations leaves that work to reference counting.

What reference counting cannot free, cycles, then waits long for a pass: a real import's
HTTP exchanges leave some (with their buffers), and without a sweep its client grew from
66 MB to 157 MB over 200k rows, 389 MB over 1.1M. So `Sweeper.batch_done`, called as each
batch is recorded, collects in full at most once every `SWEEP_SECONDS`.
"""

from __future__ import annotations

import gc
import time
from contextlib import contextmanager
from typing import Iterator

YOUNG_THRESHOLD = 100_000
SWEEP_SECONDS = 1.0
SWEEP_SHARE = 0.01            # of the time, at most, spent in full passes (a big heap takes longer to sweep)


class Sweeper:
    """Collects cyclic garbage between batches, at most once every SWEEP_SECONDS, and further
    apart when a full pass takes long enough to cost more than SWEEP_SHARE of the time."""

    def __init__(self) -> None:
        self._last = time.monotonic()
        self._took = 0.0                   # how long the last full pass took

    def batch_done(self) -> None:
        now = time.monotonic()
        if now - self._last >= max(SWEEP_SECONDS, self._took / SWEEP_SHARE):
            gc.collect()
            self._last = time.monotonic()
            self._took = self._last - now


@contextmanager
def streaming_rows() -> Iterator[Sweeper]:
    """Fewer young-generation passes while rows stream, the previous setting restored after;
    the caller tells the Sweeper of each batch it is done with."""
    before = gc.get_threshold()
    gc.set_threshold(max(before[0], YOUNG_THRESHOLD), *before[1:])
    try:
        yield Sweeper()
    finally:
        gc.set_threshold(*before)
