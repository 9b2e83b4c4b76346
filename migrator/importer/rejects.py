"""Rows that could not be imported: one JSON line each, with table, original key and reason."""

from __future__ import annotations

import base64
import math
from pathlib import Path
from typing import Any

import orjson

from ..jsvalues import (UNDEFINED, JsBigInt, JsBinary, JsBlob, JsDate, JsFile, JsMap, JsRegExp, JsSet)


def jsonable(value: Any) -> Any:
    """The JS value as plain JSON, with tagged objects for what JSON cannot say."""
    if value is UNDEFINED:
        return {"$undefined": True}
    if isinstance(value, float) and not math.isfinite(value):
        return {"$number": repr(value)}
    if isinstance(value, JsDate):
        return {"$date": value.ms if math.isfinite(value.ms) else "NaN"}
    if isinstance(value, JsBigInt):
        return {"$bigint": str(value.value)}
    if isinstance(value, (JsBlob, JsFile)):
        return {"$blob": value.mime, "size": len(value.data), "base64": base64.b64encode(value.data).decode()}
    if isinstance(value, JsBinary):
        return {"$binary": value.kind, "base64": base64.b64encode(value.data).decode()}
    if isinstance(value, (bytes, bytearray)):
        return {"$bytes": base64.b64encode(value).decode()}
    if isinstance(value, JsRegExp):
        return {"$regexp": value.source, "flags": value.flags}
    if isinstance(value, JsMap):
        return {"$map": [[jsonable(k), jsonable(v)] for k, v in value.entries]}
    if isinstance(value, JsSet):
        return {"$set": [jsonable(v) for v in value.items]}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return value


class JsonLinesFile:
    """Appends one JSON object a line; opened lazily so a clean run leaves no empty file behind."""

    def __init__(self, path: Path):
        self.path = path
        self._file = None

    def append(self, record: dict) -> None:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("ab")
        self._file.write(orjson.dumps(record) + b"\n")
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


class RejectsFile(JsonLinesFile):
    """Rows that could not be imported, with the dump row as it was read."""

    def write(self, *, dump: str, table: str, key: Any, reason: str, row: Any) -> None:
        self.append({"dump": dump, "table": table, "key": jsonable(key), "reason": reason, "row": jsonable(row)})
