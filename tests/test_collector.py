"""The collector setting for streaming rows is scoped: raised while rows stream, then restored."""

from __future__ import annotations

import gc

import pytest

from migrator.collector import YOUNG_THRESHOLD, streaming_rows


def test_raised_while_rows_stream_and_restored_after_an_error():
    before = gc.get_threshold()
    with pytest.raises(KeyError):
        with streaming_rows():
            assert gc.get_threshold() == (max(before[0], YOUNG_THRESHOLD), *before[1:])
            raise KeyError("a failing import")
    assert gc.get_threshold() == before


def test_a_higher_setting_is_left_as_it_is():
    before = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD * 2, *before[1:])
    try:
        with streaming_rows():
            assert gc.get_threshold()[0] == YOUNG_THRESHOLD * 2
    finally:
        gc.set_threshold(*before)


def test_cycles_left_while_rows_stream_are_swept_between_batches(monkeypatch):
    """Reference counting cannot free a cycle (an HTTP exchange leaves some, with its
    buffers); with young passes this rare, the sweep between batches is what frees them."""
    import weakref

    from migrator import collector

    class Node:
        pass

    def cycle() -> weakref.ref:
        a, b = Node(), Node()
        a.other, b.other, a.buffer = b, a, bytearray(1024)
        return weakref.ref(a)

    monkeypatch.setattr(collector, "SWEEP_SECONDS", 3600.0)
    with streaming_rows() as sweeper:
        left = cycle()
        sweeper.batch_done()                  # within the hour: no sweep yet
        assert left() is not None
        monkeypatch.setattr(collector, "SWEEP_SECONDS", 0.0)
        sweeper.batch_done()
        assert left() is None


def test_a_slow_sweep_spaces_the_next_ones(monkeypatch):
    """A full pass over a big heap that takes 0.5 s is not repeated every second: sweeps stay
    under SWEEP_SHARE of the time."""
    from migrator import collector

    clock = [0.0]
    passes = []

    def slow_collect() -> None:
        passes.append(clock[0])
        clock[0] += 0.5

    monkeypatch.setattr(collector.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(collector.gc, "collect", slow_collect)
    sweeper = collector.Sweeper()
    while clock[0] < 500:
        clock[0] += 0.01                   # a batch every 10 ms
        sweeper.batch_done()
    gaps = [b - a for a, b in zip(passes, passes[1:])]
    assert passes[0] < 1.1 and gaps and min(gaps) >= 0.5 / collector.SWEEP_SHARE
    assert 0.5 * len(passes) <= 500 * collector.SWEEP_SHARE * 1.1
