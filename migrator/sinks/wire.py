"""Convex-encoded JSON (convex-js `src/values/value.ts`), for values as `transform` makes them.

float -> JSON number, except NaN/±Infinity/-0 -> {"$float": base64 LE IEEE754};
int -> {"$integer": base64 LE int64}; bytes -> {"$bytes": base64}.
"""

from __future__ import annotations

import base64
import math
import struct
from typing import Any

import orjson


class WireError(ValueError):
    pass


def _special_float(x: float) -> bool:
    return not math.isfinite(x) or (x == 0.0 and math.copysign(1.0, x) < 0)


def encode(value: Any) -> Any:
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, float):
        if _special_float(value):
            return {"$float": base64.b64encode(struct.pack("<d", value)).decode()}
        return value
    if isinstance(value, int):
        if not -(2**63) <= value < 2**63:
            raise WireError(f"{value} does not fit in int64")
        return {"$integer": base64.b64encode(struct.pack("<q", value)).decode()}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$bytes": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise WireError(f"object key {k!r} is not a string")
            out[k] = encode(v)
        return out
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
