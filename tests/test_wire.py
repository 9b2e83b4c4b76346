import math

import orjson
import pytest

from migrator.sinks.wire import EncodedRows, WireError, decode, encode


def test_values_from_convex_facts():
    assert encode(1) == {"$integer": "AQAAAAAAAAA="}
    assert encode(-1) == {"$integer": "//////////8="}
    assert encode(float("nan")) == {"$float": "AAAAAAAA+H8="}
    assert encode(float("inf")) == {"$float": "AAAAAAAA8H8="}
    assert encode(float("-inf")) == {"$float": "AAAAAAAA8P8="}
    assert encode(-0.0) == {"$float": "AAAAAAAAAIA="}
    assert encode(1.5) == 1.5 and encode(0.0) == 0.0
    assert encode(b"\x00\x01") == {"$bytes": "AAE="}


def test_round_trip():
    value = {"a": [1, 2.5, None, True, "s", b"x", {"n": -(2**63)}], "f": float("inf")}
    assert decode(encode(value)) == value
    assert math.isnan(decode(encode(float("nan"))))


def test_int64_range():
    with pytest.raises(WireError):
        encode(2**63)


def test_rows_serialized_already_are_spliced_into_the_request():
    """upsertBatch's rows carry their documents' JSON (made to measure them): the request takes
    those bytes as they are, not walked or encoded again, so documents are serialized once."""
    rows = EncodedRows(b'[{"spliced":true}]', [42])
    assert orjson.dumps(encode({"rows": rows, "limit": 2})) == b'{"rows":[{"spliced":true}],"limit":{"$integer":"AgAAAAAAAAA="}}'
