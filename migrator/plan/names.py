"""Deterministic, collision-free Convex names for Dexie tables, fields and indexes."""

from __future__ import annotations

import hashlib
import re
import unicodedata

from ..convex_names import index_name_problem, table_name_problem

MAX_IDENTIFIER = 64


def _ascii_identifier(name: str) -> str:
    """Fold to ASCII, replace other characters with `_`, strip leading `_`/`$`."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    text = re.sub(r"[^A-Za-z0-9_]+", "_", folded).strip("_")
    if not text:
        text = "field"
    if text[0].isdigit():
        text = "f_" + text
    if len(text) > MAX_IDENTIFIER:
        digest = hashlib.sha1(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        text = text[: MAX_IDENTIFIER - 9] + "_" + digest
    return text


def _unique(candidate: str, taken: set[str]) -> str:
    if candidate not in taken:
        return candidate
    n = 2
    while True:
        suffix = f"_{n}"
        name = candidate[: MAX_IDENTIFIER - len(suffix)] + suffix
        if name not in taken:
            return name
        n += 1


def sanitize_table_name(name: str, taken: set[str]) -> str:
    """Keep a valid Convex table name; otherwise derive one (`room-members` -> `room_members`)."""
    if table_name_problem(name) is None and name not in taken:
        return name
    return _unique(_ascii_identifier(name), taken)


def assign_field_names(sources: list[str], problem) -> dict[str, str]:
    """Map source field names to Convex names.

    Names Convex accepts keep themselves and are claimed first; the rest are renamed in
    sorted order, so the same input always gives the same names and none collide.
    `problem(name)` says why a name is refused (or None).
    """
    result: dict[str, str] = {}
    taken: set[str] = set()
    for source in sources:
        if problem(source) is None:
            result[source] = source
            taken.add(source)
    for source in sorted(s for s in sources if s not in result):
        name = _unique(_ascii_identifier(source), taken)
        result[source] = name
        taken.add(name)
    return result


def index_name(fields: list[str], taken: set[str]) -> str:
    """`by_email`, `by_roomId_userId`: readable, valid, unique in the table."""
    base = "by_" + "_".join(_ascii_identifier(f.replace(".", "_")) for f in fields)
    if len(base) > MAX_IDENTIFIER:
        digest = hashlib.sha1(base.encode()).hexdigest()[:8]
        base = base[: MAX_IDENTIFIER - 9] + "_" + digest
    if index_name_problem(base) is not None:
        base = base + "_key"
    return _unique(base, taken)


