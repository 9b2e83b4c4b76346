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
