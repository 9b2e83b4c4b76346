"""Dexie `stores()` spec strings: parse them the way Dexie 4 does, and merge versions.

The parse mirrors Dexie's own (`parseIndexSyntax` + `Version._parseStoresSpec`), checked
against what real Dexie parsed for the corpus in `fixtures/spec-corpus/`. On top of that,
key paths are checked the way IndexedDB checks them when the store is created, because a
spec Dexie accepts can still fail at `db.open()`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Iterable

KeyPath = str | tuple[str, ...] | None

_MODIFIERS = re.compile(r"[&*]|\+\+")
# IndexedDB: a key path is "" or identifier names joined by "." (ECMAScript IdentifierName).
_IDENTIFIER_NAME = re.compile(r"^(?!\d)[$_\w][$\w\u200c\u200d]*$", re.UNICODE)


class DexieSchemaError(ValueError):
    """A spec string Dexie (or IndexedDB, at open) would reject. `reason` is Dexie's wording."""

    def __init__(self, table: str, spec: str, reason: str):
        self.table, self.spec, self.reason = table, spec, reason
        super().__init__(f"table {table!r}: spec {spec!r}: {reason}")


@dataclass(frozen=True)
class IndexSpec:
    """One part of a spec string, with the same fields as Dexie's IndexSpec."""

    name: str
    key_path: KeyPath
    unique: bool
    multi: bool
    auto: bool
    compound: bool
    src: str
    type: str | None = None

    @property
    def paths(self) -> tuple[str, ...]:
        """The key path(s) as a tuple: () for an outbound key."""
        if self.key_path is None:
            return ()
        return self.key_path if isinstance(self.key_path, tuple) else (self.key_path,)

    def to_dexie_json(self) -> dict:
        """The shape Dexie's IndexSpec has in JSON (as recorded by fixtures/generate)."""
        key_path = list(self.key_path) if isinstance(self.key_path, tuple) else self.key_path
        return {
            "name": self.name,
            "keyPath": key_path,
            "unique": self.unique,
            "multi": self.multi,
            "auto": self.auto,
            "compound": self.compound,
            "src": self.src,
        }


@dataclass(frozen=True)
class TableSchema:
    name: str
    primary_key: IndexSpec
    indexes: tuple[IndexSpec, ...]
    spec: str

    @property
    def outbound(self) -> bool:
        return self.primary_key.key_path is None

    def to_dexie_json(self) -> dict:
        return {
            "name": self.name,
            "primKey": self.primary_key.to_dexie_json(),
            "indexes": [index.to_dexie_json() for index in self.indexes],
        }


def _name_from_key_path(key_path: KeyPath) -> str:
    if isinstance(key_path, tuple):
        return "[" + "+".join(key_path) + "]"
    return key_path or ""


def _parse_part(table: str, spec: str, raw: str, is_primary: bool) -> IndexSpec:
    text, _, type_part = raw.partition(":")
    type_name = type_part.strip() or None
    text = text.strip()
    name = _MODIFIERS.sub("", text)
    key_path: KeyPath
    if name.startswith("["):
        match = re.fullmatch(r"\[(.*)\]", name, re.DOTALL)
        if match is None:
            raise DexieSchemaError(table, spec, f"unterminated compound index {text!r} (Dexie throws a TypeError)")
        key_path = tuple(match.group(1).split("+"))
    else:
        key_path = name or None
    unique = "&" in text
    multi = "*" in text
    auto = "++" in text
    compound = isinstance(key_path, tuple)
    src = ("&" if unique and not is_primary else "") + ("*" if multi else "") + ("++" if auto else "")
    return IndexSpec(
        name=name,
        key_path=key_path,
        unique=unique,
        multi=multi,
        auto=auto,
        compound=compound,
        src=src + _name_from_key_path(key_path),
        type=type_name,
    )


def _check_idb_key_path(table: str, spec: str, index: IndexSpec) -> None:
    """IndexedDB rejects invalid key paths at createObjectStore/createIndex time."""
    for path in index.paths:
        if path == "":        # the empty key path is valid, alone or inside a compound one
            continue
        if not all(_IDENTIFIER_NAME.match(part) for part in path.split(".")):
            raise DexieSchemaError(table, spec, f"SyntaxError: {path!r} is not a valid key path (IndexedDB)")
    if index.compound and index.multi:
        raise DexieSchemaError(table, spec, "InvalidAccessError: a compound index cannot be multiEntry (IndexedDB)")
    if index.auto and (index.compound or (index.key_path is not None and index.key_path == "")):
        raise DexieSchemaError(table, spec, "InvalidAccessError: autoIncrement needs a non-empty, non-array key path (IndexedDB)")


def parse_table_spec(table: str, spec: str) -> TableSchema:
    """Parse one table's spec string; raise DexieSchemaError where Dexie or IndexedDB would."""
    parts = [_parse_part(table, spec, raw, i == 0) for i, raw in enumerate(spec.split(","))]
    primary, indexes = parts[0], parts[1:]
    primary = IndexSpec(**{**primary.__dict__, "unique": True})
    if primary.multi:
        raise DexieSchemaError(table, spec, "SchemaError: Primary key cannot be multiEntry*")
    for index in indexes:
        if index.auto:
            raise DexieSchemaError(table, spec, "SchemaError: Only primary key can be marked as autoIncrement (++)")
        if not index.key_path:
            raise DexieSchemaError(table, spec, "SchemaError: Index must have a name and cannot be an empty string")
    for index in parts:
        _check_idb_key_path(table, spec, index if index is not parts[0] else primary)
    seen: set[str] = set()
    for index in indexes:
        if index.name in seen:
            raise DexieSchemaError(table, spec, f"ConstraintError: index {index.name!r} declared twice (IndexedDB)")
        seen.add(index.name)
    return TableSchema(name=table, primary_key=primary, indexes=tuple(indexes), spec=spec)


def parse_legacy_spec(table: str, spec: str) -> TableSchema:
    """Specs as written by old (Dexie 2/3) exports: outbound keys as `null` / `++null`."""
    head, sep, rest = spec.partition(",")
    stripped = head.strip()
    if stripped in ("null", "++null", "&null"):
        head = "++" if stripped.startswith("++") else ""
    return parse_table_spec(table, head + sep + rest)


@dataclass
class VersionSpec:
    """One `db.version(n).stores({...})` call (or several for the same n, merged)."""

    number: float
    stores: dict[str, str | None]
    has_upgrade: bool = False
    location: str | None = None


@dataclass
class MergedSchema:
    version: float | None
    tables: dict[str, TableSchema] = field(default_factory=dict)
    # table -> version number where it was deleted with `null` (and not re-created)
    deleted: dict[str, float] = field(default_factory=dict)


def round_version(number: float) -> float:
    """Dexie rounds version numbers to one decimal, with JS Math.round (halves go up:
    2.05 -> 2.1, where Python's round() would give 2.0)."""
    return math.floor(number * 10 + 0.5) / 10


def merge_versions(versions: Iterable[VersionSpec]) -> MergedSchema:
    """Overlay versions in ascending order, table by table, as Dexie's Version.stores does."""
    by_number: dict[float, dict[str, str | None]] = {}
    for version in versions:
        by_number.setdefault(round_version(version.number), {}).update(version.stores)
    overlay: dict[str, str | None] = {}
    deleted: dict[str, float] = {}
    for number in sorted(by_number):
        for table, spec in by_number[number].items():
            overlay[table] = spec
            if spec is None:
                deleted[table] = number
            else:
                deleted.pop(table, None)
    merged = MergedSchema(version=max(by_number) if by_number else None, deleted=deleted)
    for table, spec in overlay.items():
        if spec is not None:
            merged.tables[table] = parse_table_spec(table, spec)
    return merged
