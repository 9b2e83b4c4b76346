"""Python stand-ins for the JS values a Dexie dump can hold.

Plain JSON maps as usual: dict, list, str, bool, None, and int/float for JS numbers
(a JS number is a float64; an integral one may arrive as a Python int). Everything JSON
cannot say gets a small frozen class, so that planning and transforming can tell a Date
from a number and a bigint from an integral float.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class _Undefined:
    """JS `undefined` (typeson `undef` / `sparseUndefined`). Convex drops it from objects."""

    _instance: "_Undefined | None" = None

    def __new__(cls) -> "_Undefined":
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "undefined"

    def __reduce__(self) -> str:
        return "UNDEFINED"


UNDEFINED = _Undefined()


@dataclass(frozen=True)
class JsBigInt:
    value: int


@dataclass(frozen=True, slots=True)      # slots: made for every Date of every row, a third faster
class JsDate:
    """A Date: milliseconds since the epoch, NaN for an invalid date."""

    ms: float


@dataclass(frozen=True)
class JsBlob:
    mime: str
    data: bytes


@dataclass(frozen=True)
class JsFile:
    mime: str
    data: bytes
    name: str
    last_modified: float | None


@dataclass(frozen=True)
class JsBinary:
    """ArrayBuffer, DataView or a typed array (`kind` is the JS class name)."""

    kind: str
    data: bytes


@dataclass(frozen=True)
class JsRegExp:
    source: str
    flags: str


@dataclass(frozen=True)
class JsMap:
    entries: tuple[tuple[Any, Any], ...]


@dataclass(frozen=True)
class JsSet:
    items: tuple[Any, ...]


def is_number(value: Any) -> bool:
    """A JS number (not a bool, not a bigint)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)
