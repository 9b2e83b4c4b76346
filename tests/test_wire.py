import math

import orjson
import pytest

from migrator.sinks.wire import Encoded, WireError, decode, encode


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


def test_encoded_values_pass_through_untouched():
    """A compiled transform's document is sent as it made it: not walked or encoded again."""
    inner = {"n": {"$integer": "AQAAAAAAAAA="}, "f": 1.5, "b": {"$bytes": "AAE="}}
    args = {"rows": [{"doc": Encoded(inner, 42), "sides": Encoded({"t": ["a"]})}], "limit": 2}
    out = encode(args)
    assert out["rows"][0]["doc"] is inner and out["rows"][0]["sides"] == {"t": ["a"]}
    assert out["limit"] == {"$integer": "AgAAAAAAAAA="}


def test_a_value_serialized_already_is_spliced_into_the_request():
    """A prepared row carries its document's JSON (made to measure it); the request takes
    those bytes as they are, so documents are serialized once."""
    inner = {"n": {"$integer": "AQAAAAAAAAA="}, "f": 1.5}
    made = orjson.dumps(inner)
    assert orjson.dumps(encode({"doc": Encoded(inner, 42, made)})) == orjson.dumps({"doc": inner})
    # The bytes are taken, not the value: a stand-in shows which one went out.
    assert orjson.dumps(encode({"doc": Encoded(inner, 42, b'{"spliced":true}')})) == b'{"doc":{"spliced":true}}'
