"""Revive the typeson encodings dexie-export-import writes into a row's `$types`.

`$types` maps key paths (dotted; `~0` is `~` and `~1` is `.` inside a component) to a type
name, or a list of names applied in order. Deeper paths are revived first, so that a
typed array's `.buffer` is bytes before the array itself is built; `#` references are
resolved last, against the revived value.
"""

from __future__ import annotations

import base64
import math
from typing import Any

from ..jsvalues import (UNDEFINED, JsBigInt, JsBinary, JsBlob, JsDate, JsFile, JsMap, JsRegExp, JsSet)

TYPED_ARRAYS = {
    "int8array": "Int8Array", "uint8array": "Uint8Array", "uint8clampedarray": "Uint8ClampedArray",
    "int16array": "Int16Array", "uint16array": "Uint16Array", "int32array": "Int32Array",
    "uint32array": "Uint32Array", "float32array": "Float32Array", "float64array": "Float64Array",
    "bigint64array": "BigInt64Array", "biguint64array": "BigUint64Array",
}
ELEMENT_SIZE = {"Int8Array": 1, "Uint8Array": 1, "Uint8ClampedArray": 1, "Int16Array": 2, "Uint16Array": 2,
                "Int32Array": 4, "Uint32Array": 4, "Float32Array": 4, "Float64Array": 8,
                "BigInt64Array": 8, "BigUint64Array": 8}


class UnknownType(ValueError):
    def __init__(self, type_name: str, path: str):
        self.type_name, self.path = type_name, path
        super().__init__(f"unknown $types entry {type_name!r} at {path or '(root)'}")


def split_path(path: str) -> list[str]:
    if path == "":
        return []
    return [part.replace("~1", ".").replace("~0", "~") for part in path.split(".")]


def _b64(text: Any) -> bytes:
    if isinstance(text, (bytes, bytearray)):
        return bytes(text)
    return base64.b64decode(text) if text else b""


def _number(value: Any) -> float:
    return float(value) if not isinstance(value, str) else float({"NaN": "nan", "Infinity": "inf",
                                                                   "-Infinity": "-inf"}.get(value, value))


def _contents(value: dict) -> bytes:
    """Blob/File bytes: base64 `data` (blob2) or a latin-1 binary `stringContents` (blob, file)."""
    contents = value.get("stringContents")
    return contents.encode("latin-1") if isinstance(contents, str) else _b64(value.get("data"))


def _buffer(encoded: Any, value: dict, buffers: list[bytes]) -> bytes:
    """A view's buffer: revived (`<path>.buffer`), base64, or `index` of a buffer seen before."""
    if isinstance(encoded, JsBinary):
        return encoded.data
    if encoded is None and "index" in value:
        return buffers[int(value["index"])]
    return _b64(encoded)


def _typed_array(kind: str, value: Any, buffers: list[bytes]) -> JsBinary:
    if isinstance(value, dict):
        data = _buffer(value.get("buffer"), value, buffers)
        offset = int(value.get("byteOffset", 0) or 0)
        length = value.get("length")
        end = len(data) if length is None else offset + int(length) * ELEMENT_SIZE[kind]
        return JsBinary(kind, data[offset:end])
    return JsBinary(kind, _b64(value))


def revive_one(type_name: str, value: Any, path: str, buffers: Any = ()) -> Any:
    """One typeson type applied to its encoded value.

    `buffers`: the row's ArrayBuffers in encoding order, for older typeson-registry versions
    that write `{"index": n}` for a buffer met before.
    """
    name = type_name
    if name == "date":
        return JsDate(_number(value))
    if name in ("bigint", "BigInt"):
        return JsBigInt(int(value))
    if name == "nan":
        return math.nan
    if name == "infinity":
        return math.inf
    if name == "negativeInfinity":
        return -math.inf
    if name in ("undef", "sparseUndefined", "undefined"):
        return UNDEFINED
    if name in ("blob2", "blob"):
        return JsBlob(str(value.get("type") or ""), _contents(value))
    if name in ("file", "file2"):
        data = _contents(value)
        modified = value.get("lastModified")
        return JsFile(str(value.get("type") or ""), data, str(value.get("name") or ""),
                      None if modified is None else float(modified))
    if name == "arraybuffer":
        if isinstance(value, dict) and "index" in value:      # older typeson-registry: a buffer seen before
            return JsBinary("ArrayBuffer", buffers[int(value["index"])])
        return JsBinary("ArrayBuffer", _b64(value))
    if name == "dataview":
        if not isinstance(value, dict):
            return JsBinary("DataView", _b64(value))
        data = _buffer(value.get("encoded", value.get("buffer")), value, buffers)
        start = int(value.get("byteOffset") or 0)
        length = value.get("byteLength")
        return JsBinary("DataView", data[start:] if length is None else data[start:start + int(length)])
    base = name[:-1] if name.endswith("2") else name
    if base in TYPED_ARRAYS:
        return _typed_array(TYPED_ARRAYS[base], value, buffers)
    if name == "regexp":
        return JsRegExp(str(value.get("source", "")), str(value.get("flags", "")))
    if name == "map":
        return JsMap(tuple((k, v) for k, v in value))
    if name == "set":
        return JsSet(tuple(value))
    if name in ("StringObject", "NumberObject", "BooleanObject", "userObject", "arrayNonindexKeys"):
        return value
    raise UnknownType(name, path)


def _get(root: Any, parts: list[str]) -> Any:
    for part in parts:
        root = root[int(part)] if isinstance(root, list) else root[part]
    return root


def _set(root: Any, parts: list[str], value: Any) -> Any:
    if not parts:
        return value
    parent = _get(root, parts[:-1])
    if isinstance(parent, list):
        parent[int(parts[-1])] = value
    else:
        parent[parts[-1]] = value
    return root


class _Buffers:
    """The row's encoded ArrayBuffers in `$types` (= encoding) order, decoded on first use.

    Only older typeson-registry versions refer to them, as `{"index": n}`; built lazily
    from the original encodings (the `$types` map keeps the order typeson met them in).
    """

    def __init__(self, value: Any, types: dict):
        self.value, self.types, self.list = value, types, None

    def __getitem__(self, index: int) -> bytes:
        if self.list is None:
            self.list = []
            for path, names in self.types.items():
                name = (names[0] if isinstance(names, list) and names else names)
                if name in ("arraybuffer", "dataview") or (isinstance(name, str) and name in TYPED_ARRAYS):
                    try:
                        enc = _get(self.value, split_path(path))
                    except (KeyError, IndexError, TypeError, ValueError):
                        continue
                    enc = enc.get("buffer", enc.get("encoded")) if isinstance(enc, dict) else enc
                    if isinstance(enc, JsBinary):
                        self.list.append(enc.data)
                    elif isinstance(enc, str):
                        self.list.append(_b64(enc))
        return self.list[index]


_last_top_level: list[dict | None] = [None]    # the last `$types` map `_top_level_only` accepted


def _top_level_only(value: Any, types: dict) -> bool:
    """Does `types` name only fields of the object `value`, one type each, no references?
    (The case of nearly every row.)"""
    if not isinstance(value, dict):
        return False
    for path, name in types.items():
        if name.__class__ is not str or name == "#" or not path or "." in path or "~" in path:
            return False
    return True


def revive(value: Any, types: Any) -> Any:
    """Apply a `$types` map to `value` (in place where it can) and return the revived value.

    A `#` reference points at a value by its path; typeson writes the target before any
    reference to it, so a reference resolves to the already revived target (two typed
    arrays over one ArrayBuffer share the revived buffer), or at the end to the tree.
    """
    if not isinstance(types, dict) or not types:
        return value
    if value.__class__ is dict and (types == _last_top_level[0] or _top_level_only(value, types)):
        _last_top_level[0] = types              # the next row's map is most often equal: one comparison
        buffers = None
        for path, name in types.items():        # the usual row: in any order, Dates the most often
            if name == "date":
                value[path] = JsDate(_number(value[path]))
                continue
            if buffers is None:
                buffers = _Buffers(value, types)
            value[path] = revive_one(name, value[path], path, buffers)
        return value
    buffers = _Buffers(value, types)
    entries = [(split_path(p) if "." in p or "~" in p else [p] if p else [], p, t) for p, t in types.items()]
    if len(entries) > 1:
        entries.sort(key=lambda e: -len(e[0]))
    revived: dict[str, Any] = {}
    late = []
    for parts, path, type_names in entries:
        for name in (type_names if isinstance(type_names, list) else (type_names,)):
            if name == "#":
                target = str(_get(value, parts))[1:]
                if target in revived:
                    value = _set(value, parts, revived[target])
                else:
                    late.append((parts, target))
                continue
            if parts:
                parent = _get(value, parts[:-1]) if len(parts) > 1 else value
                last: Any = int(parts[-1]) if isinstance(parent, list) else parts[-1]
                new = parent[last] = revive_one(name, parent[last], path, buffers)
            else:
                new = value = revive_one(name, value, path, buffers)
            revived[path] = new
    for parts, target in late:
        value = _set(value, parts, _get(value, split_path(target)))
    return value


def revive_row(row: Any) -> Any:
    """A row as written by dexie-export-import: plain, carrying `$types`, or wrapped as {"$": ..}.

    A row with `$types` loses it in place (rows come freshly parsed)."""
    if isinstance(row, dict) and "$types" in row:
        types = row.pop("$types")
        if len(row) == 1 and "$" in row:
            inner = types.get("$") if isinstance(types, dict) else None
            return revive(row["$"], inner if isinstance(inner, dict) else {})
        return revive(row, types if isinstance(types, dict) else {})
    return row
