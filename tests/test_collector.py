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
