"""Convex-encoded JSON (convex-js `src/values/value.ts`), for values as `transform` makes them.

float -> JSON number, except NaN/±Infinity/-0 -> {"$float": base64 LE IEEE754};
int -> {"$integer": base64 LE int64}; bytes -> {"$bytes": base64}.
"""

from __future__ import annotations

import base64
import math
import struct
from dataclasses import dataclass
from typing import Any

import orjson


class WireError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class EncodedRows:
    """upsertBatch's `rows`, serialized already (each `{"doc": ..., "sides": ...}` joined from the
    JSON the transforms made: no object per row to build and walk again), with each document's
    Convex size (None when not known) for the dry run."""

    json: bytes
    convex_sizes: list[int | None]


def encode_float(x: float) -> Any:
    """NaN, ±Infinity and -0 have no JSON number: `x - x` is NaN (truthy) exactly for NaN and ±Infinity."""
    if x - x or (x == 0.0 and math.copysign(1.0, x) < 0.0):
        return {"$float": base64.b64encode(struct.pack("<d", x)).decode()}
    return x


def encode_int64(value: int) -> dict:
    if not -(2**63) <= value < 2**63:
        raise WireError(f"{value} does not fit in int64")
    return {"$integer": base64.b64encode(struct.pack("<q", value)).decode()}


def encode_bytes(data: bytes) -> dict:
    return {"$bytes": base64.b64encode(data).decode()}


def encode(value: Any) -> Any:
    t = type(value)          # the common exact types first
    if t is EncodedRows:
        return orjson.Fragment(value.json)
    if t is str or value is None or t is bool:
        return value
    if t is dict:
        out = {}
        for k, v in value.items():
            if type(k) is not str and not isinstance(k, str):
                raise WireError(f"object key {k!r} is not a string")
            out[k] = encode(v)
        return out
    if t is list:
        return [encode(v) for v in value]
    if isinstance(value, (bool, str)):
        return value
    if isinstance(value, float):
        return encode_float(value)
    if isinstance(value, int):
        return encode_int64(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return encode_bytes(bytes(value))
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return encode(dict(value))
    raise WireError(f"cannot encode {type(value).__name__} for Convex")


def decode(value: Any) -> Any:
    if isinstance(value, list):
        return [decode(v) for v in value]
    if isinstance(value, dict):
        if len(value) == 1:
            (k, v), = value.items()
            if k == "$integer":
                return struct.unpack("<q", base64.b64decode(v))[0]
            if k == "$float":
                return struct.unpack("<d", base64.b64decode(v))[0]
            if k == "$bytes":
                return base64.b64decode(v)
        return {k: decode(v) for k, v in value.items()}
    return value


def json_text(encoded: Any) -> str:
    """A Convex-encoded value as JSON.stringify shows it (keys sorted): a whole float is `5`,
    not `5.0`. How keys are named in messages and reports, on either side of the wire."""
    if isinstance(encoded, float) and encoded.is_integer() and abs(encoded) < 2**53:
        return str(int(encoded))
    return orjson.dumps(encoded, option=orjson.OPT_SORT_KEYS).decode()
