"""Convert revived JS values into Convex values, guided by the planned validator.

Convex values in Python: str, bool, None, float (a JS number), int (an int64, from a
bigint), bytes, list, dict. Anything that cannot become one raises `ValueRejected` with
the path of the value, so the row goes to the rejects file with a reason.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..jsvalues import (UNDEFINED, JsBigInt, JsBinary, JsBlob, JsDate, JsFile, JsMap, JsRegExp, JsSet,
                        is_number)
from ..plan.validators import Validator

if TYPE_CHECKING:
    from ..plan.model import DatabasePlan

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


class ValueRejected(ValueError):
    def __init__(self, path: str, reason: str):
        self.path, self.reason = path, reason
        super().__init__(f"{path or '(value)'}: {reason}")


@dataclass(frozen=True)
class BlobToStore:
    """A Blob bound for Convex file storage; replaced by its storage id at import."""

    data: bytes
    mime: str


def iso_from_ms(ms: float, path: str) -> str:
    """JS `Date.prototype.toISOString`."""
    if not math.isfinite(ms):
        raise ValueRejected(path, "invalid Date (NaN) cannot be written as an ISO string; use dates: 'ms'")
    try:
        stamp = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(milliseconds=ms)
    except OverflowError:
        raise ValueRejected(path, f"Date {ms} ms is outside the years 1-9999; use dates: 'ms'") from None
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def escape_record_key(key: str) -> str:
    """Keys Convex refuses in a record (non-printable-ASCII, leading `$`) are percent-encoded."""
    out = []
    for i, ch in enumerate(key):
        if ch == "%" or not 32 <= ord(ch) <= 126 or (i == 0 and ch == "$"):
            out.append("".join(f"%{b:02X}" for b in ch.encode("utf-8", "surrogatepass")))
        else:
            out.append(ch)
    return "".join(out)


def _check_string(text: str, path: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueRejected(path, "string holds a lone UTF-16 surrogate, which Convex cannot store") from None
    return text


@dataclass
class Converter:
    dates: str = "ms"
    key_encodings: dict[str, str] = field(default_factory=dict)   # Dexie table -> how its keys are stored

    @classmethod
    def for_plan(cls, plan: "DatabasePlan") -> "Converter":
        return cls(dates=plan.options.dates,
                   key_encodings={t.source: t.key.encoding for t in plan.mapped_tables() if t.key})

    def reference(self, value: Any, val: Validator, target: str, path: str) -> Any:
        """Original keys of `target`, encoded as its key field holds them, for the import to look up."""
        encoding = self.key_encodings.get(target)
        if encoding is None or value is None:
            return self.convert(value, val, path)
        if val.required.kind == "array":
            if not isinstance(value, (list, tuple)):
                raise ValueRejected(path, f"expected an array of {target} keys, found {type(value).__name__}")
            return [encode_key(k, encoding, f"{path}[{i}]") for i, k in enumerate(value)]
        return encode_key(value, encoding, path)

    def convert(self, value: Any, val: Validator, path: str = "") -> Any:
        kind = val.kind
        if kind == "optional":
            return self.convert(value, val.args[0], path)
        if kind == "id" and val.args[0] == "_storage" and isinstance(value, (JsBlob, JsFile)):
            return BlobToStore(value.data, value.mime)
        if kind == "record":
            return self._record(value, val.args[1], path)
        if kind == "object" and isinstance(value, dict):
            fields = val.fields
            return {k: self.convert(v, fields.get(k, Validator("any")), f"{path}.{k}" if path else k)
                    for k, v in value.items() if v is not UNDEFINED}
        if kind == "array":
            return self._array(value, val.args[0], path)
        if kind == "union":
            return self._union(value, val, path)
        return self.generic(value, path)

    def _union(self, value: Any, val: Validator, path: str) -> Any:
        """Pick the member that fits the value's shape, whatever the members' order.

        An object goes to an object member whose fields it fits, else to a record (whose keys
        are escaped); a Map with string keys to a record, other Maps, Sets and arrays to an
        array; a Blob to file storage when the union has it. Anything else converts by its own
        type (scalars are the same whatever member they match).
        """
        def first(kind: str) -> Validator | None:
            return next((m for m in val.args if m.kind == kind), None)

        chosen = None
        if isinstance(value, dict):
            keys = {k for k, v in value.items() if v is not UNDEFINED}
            chosen = next((m for m in val.args if m.kind == "object" and _fits(m, keys)), None) \
                or first("record") or first("object")
        elif isinstance(value, JsMap):
            string_keys = all(isinstance(k, str) for k, _ in value.entries)
            chosen = (first("record") if string_keys else None) or first("array")
        elif isinstance(value, (list, tuple, JsSet)):
            chosen = first("array")
        elif isinstance(value, (JsBlob, JsFile)):
            chosen = next((m for m in val.args if m.kind == "id" and m.args[0] == "_storage"), None)
        return self.convert(value, chosen, path) if chosen is not None else self.generic(value, path)

    def _record(self, value: Any, item: Validator, path: str) -> dict:
        entries = value.entries if isinstance(value, JsMap) else value.items() if isinstance(value, dict) else None
        if entries is None:
            return self.generic(value, path)
        out = {}
        for k, v in entries:
            if v is UNDEFINED:
                continue
            if not isinstance(k, str):
                raise ValueRejected(path, f"Map key {k!r} is not a string; set the field to an array of pairs")
            key = escape_record_key(_check_string(k, path))
            if key in out:
                raise ValueRejected(path, f"two keys become {key!r} after escaping")
            out[key] = self.convert(v, item, f"{path}.{k}")
        return out

    def _array(self, value: Any, item: Validator, path: str) -> list:
        if isinstance(value, JsMap):
            return [{"key": self.generic(k, f"{path}[{i}].key"), "value": self.convert(v, item.fields.get("value", Validator("any")), f"{path}[{i}].value")}
                    for i, (k, v) in enumerate(value.entries)]
        items = value.items if isinstance(value, JsSet) else value
        if not isinstance(items, (list, tuple)):
            return self.generic(value, path)
        return [None if v is UNDEFINED else self.convert(v, item, f"{path}[{i}]") for i, v in enumerate(items)]

    def generic(self, value: Any, path: str) -> Any:
        """Conversion by the value's own JS type (for v.any() and scalar validators)."""
        if value is None or isinstance(value, bool):
            return value
        if is_number(value):
            return float(value)
        if isinstance(value, str):
            return _check_string(value, path)
        if isinstance(value, JsDate):
            return float(value.ms) if self.dates == "ms" else iso_from_ms(value.ms, path)
        if isinstance(value, JsBigInt):
            if not INT64_MIN <= value.value <= INT64_MAX:
                raise ValueRejected(path, f"bigint {value.value} is outside int64; store it as a string in the mapping")
            return value.value
        if isinstance(value, (JsBlob, JsFile, JsBinary)):
            return value.data
        if isinstance(value, JsRegExp):
            return {"source": _check_string(value.source, path), "flags": value.flags}
        if isinstance(value, JsSet):
            return self._array(value, Validator("any"), path)
        if isinstance(value, JsMap):
            if all(isinstance(k, str) for k, _ in value.entries):
                return self._record(value, Validator("any"), path)
            return self._array(value, Validator("any"), path)
        if isinstance(value, (list, tuple)):
            return self._array(list(value), Validator("any"), path)
        if isinstance(value, dict):
            return self._record(value, Validator("any"), path)
        if value is UNDEFINED:
            raise ValueRejected(path, "undefined cannot be stored here")
        raise ValueRejected(path, f"unsupported value of type {type(value).__name__}")


def _fits(obj: Validator, keys: set[str]) -> bool:
    """An object with these keys matches `v.object(...)`: no unknown key, every required one present."""
    fields = obj.fields
    return keys <= set(fields) and all(k in keys for k, f in fields.items() if not f.is_optional)


# -- original keys ---------------------------------------------------------------------------
def _key_json_value(key: Any, path: str) -> Any:
    if isinstance(key, bool) or key is None:
        raise ValueRejected(path, f"{key!r} is not a valid IndexedDB key")
    if is_number(key):
        return int(key) if float(key).is_integer() and abs(key) < 2**53 else float(key)
    if isinstance(key, str):
        return _check_string(key, path)
    if isinstance(key, JsDate):
        return {"$date": _key_json_value(key.ms, path)}
    if isinstance(key, JsBinary):
        return {"$bytes": base64.b64encode(key.data).decode()}
    if isinstance(key, (list, tuple)):
        return [_key_json_value(k, path) for k in key]
    raise ValueRejected(path, f"{type(key).__name__} is not a valid IndexedDB key")


def encode_key(key: Any, encoding: str, path: str = "(key)") -> Any:
    """The original Dexie key as stored in the key field (see KeyPlan.encoding)."""
    if encoding == "json":
        return json.dumps(_key_json_value(key, path), separators=(",", ":"), ensure_ascii=False)
    if encoding == "number" and is_number(key):
        return float(key)
    if encoding == "string" and isinstance(key, str):
        return _check_string(key, path)
    if encoding == "bytes" and isinstance(key, JsBinary):
        return key.data
    if encoding in ("date-ms", "date-iso") and isinstance(key, JsDate):
        return float(key.ms) if encoding == "date-ms" else iso_from_ms(key.ms, path)
    raise ValueRejected(path, f"key {key!r} does not fit the key encoding {encoding!r}; "
                              "set key.encoding to 'json' in the mapping")
