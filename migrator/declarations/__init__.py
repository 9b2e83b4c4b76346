"""Read declarations: every Dexie database declared in the app's JS/TS source, evaluated
statically (spec strings merged across versions as Dexie does, row types from TypeScript).

This is what the code says the data looks like; the dump says what it holds. The planner
uses both, so anything that cannot be read here is reported with its place, not guessed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from migrator.errors import DeclarationError
from migrator.dexie_schema import MergedSchema, TableSchema, VersionSpec, merge_versions
from migrator.jstypes import ArrayOf, JsType, MapOf, ObjectOf, Prim, RecordOf, SetOf, UnionOf

from .databases import FoundDatabase, Unevaluated, add_helper_versions, add_imported_versions, find_databases
from .linker import Linker
from .modules import Modules
from .source import SourceCache, iter_source_files
from .ts_types import TypeConverter

__all__ = ["DeclaredTable", "DeclaredDatabase", "Unevaluated", "read_declarations"]


@dataclass
class DeclaredTable:
    name: str
    schema: TableSchema | None          # merged final spec; None when the source cannot be evaluated (`unknown`)
    row_type: JsType | None             # from TypeScript, None when untyped
    type_name: str | None               # e.g. "Contact"
    type_location: str | None           # file:line:col of the type declaration
    unknown: Unevaluated | None = None  # why the spec is not known (schema is None then)


@dataclass
class DeclaredDatabase:
    name: str                           # the Dexie database name ("" when it cannot be evaluated; see notes)
    location: str                       # file:line:col of `new Dexie(...)` / the class
    variable: str | None                # variable or class name in the source
    versions: list[VersionSpec]         # as declared (VersionSpec.location set, has_upgrade set)
    merged: MergedSchema
    tables: dict[str, DeclaredTable]    # the final tables
    upgrades: list[str] = field(default_factory=list)   # locations of .upgrade() calls
    notes: list[str] = field(default_factory=list)      # anything the user should know
    unevaluated: list[Unevaluated] = field(default_factory=list)  # what the source does not say statically

    def unknown_reason(self, table: str) -> Unevaluated | None:
        """Why the final spec of `table` is not known from the source (None: it is known).

        A part that could not be evaluated in version n leaves a table unknown unless a later
        version declares it again statically; one of unknown version leaves every table unknown.
        """
        covering = [p for p in self.unevaluated if (p.tables is None or table in p.tables) and (
            p.version is None or not any(v.number > p.version and table in v.stores for v in self.versions))]
        # the latest version's problem is the one that decides the final spec
        return max(covering, key=lambda p: (p.version is not None, p.version or 0), default=None)

    def complete(self) -> bool:
        return not self.unevaluated


def read_declarations(paths: Iterable[str | Path]) -> list[DeclaredDatabase]:
    """All databases declared in the given files and (recursively) directories."""
    cache = SourceCache()
    linker = Linker(cache)
    converter = TypeConverter(Modules(cache), linker)
    found: list[FoundDatabase] = []
    versions_elsewhere = []
    for path in iter_source_files(paths):
        if not path.is_file():
            raise DeclarationError(str(path), "no such file or directory",
                                   "pass the app's source folder or files (e.g. src/)")
        # Speed only: a file that never spells "dexie" cannot declare a database (this
        # skips bundles and vendored code); the decision itself is made on the syntax tree.
        text = path.read_bytes()
        if b"dexie" in text.lower():
            found.extend(find_databases(cache.get(path), linker))
        if b".version(" in text:
            versions_elsewhere.append(path)
    for path in versions_elsewhere:
        add_imported_versions(cache.get(path), linker, found)
    add_helper_versions(linker, found)
    databases = [_declare(db, converter) for db in found]
    _note_duplicates(databases)
    return databases


def _declare(found: FoundDatabase, converter: TypeConverter) -> DeclaredDatabase:
    merged = merge_versions(found.versions)
    notes = list(found.notes)
    if not found.versions:
        notes.append(f"no version(n).stores(...) call was found for this database ({found.location})")
    for location in found.upgrades:
        notes.append(f"an .upgrade() at {location} is not run: the data is expected to be already upgraded")
    for table, number in sorted(merged.deleted.items()):
        notes.append(f"table {table!r} is deleted in version {number:g} (`{table}: null`)")

    members = {}
    for type_node in found.type_nodes:
        members.update(converter.table_members(found.sf, type_node))
    if found.class_node is not None:
        members.update(converter.class_table_members(found.sf, found.class_node))

    declared = DeclaredDatabase(
        name=found.name if found.name is not None else "",
        location=found.location, variable=found.variable, versions=found.versions,
        merged=merged, tables={}, upgrades=list(found.upgrades), notes=notes, unevaluated=list(found.unevaluated))
    for problem in found.unevaluated:
        what = "every table" if problem.tables is None else ", ".join(map(repr, problem.tables))
        notes.append(f"not evaluated statically ({what}): {problem.error.message}")
    named = list(members) + [t for problem in found.unevaluated for t in problem.tables or ()]
    names = list(merged.tables) + [n for n in dict.fromkeys(named) if n not in merged.tables and declared.unknown_reason(n)]
    for name in names:
        unknown = declared.unknown_reason(name)
        table = DeclaredTable(name, None if unknown else merged.tables[name], None, None, None, unknown)
        if name in members:
            sf, type_node = members[name]
            row = converter.row_type(sf, type_node)
            table.type_name, table.type_location = row.name, row.location
            notes.extend(f"table {name!r}: {note}" for note in row.notes)
            if isinstance(row.type, Prim) and row.type.kind == "any":
                why = f" ({row.type.note})" if row.type.note else ""
                notes.append(f"table {name!r}: rows are declared as `any`{why}; treated as untyped")
            else:
                table.row_type = row.type
                notes.extend(f"table {name!r}: field {path}: any ({why})" for path, why in _any_notes(row.type, ""))
        else:
            notes.append(f"table {name!r} has no TypeScript row type (untyped)")
        declared.tables[name] = table
    for name in members:
        if name not in declared.tables:
            notes.append(f"table {name!r} is in the TypeScript type but not in the final schema")
    return declared


def _any_notes(t: JsType, path: str) -> list[tuple[str, str]]:
    """(field path, why) for every `any` that carries a reason."""
    if isinstance(t, Prim):
        return [(path or "(root)", t.note)] if t.kind == "any" and t.note else []
    if isinstance(t, ObjectOf):
        return [n for f in t.fields for n in _any_notes(f.type, f"{path}.{f.name}" if path else f.name)]
    if isinstance(t, (ArrayOf, SetOf)):
        return _any_notes(t.item, path + "[]")
    if isinstance(t, RecordOf):
        return _any_notes(t.value, path + "[*]")
    if isinstance(t, MapOf):
        return _any_notes(t.key, path + "<key>") + _any_notes(t.value, path + "<value>")
    if isinstance(t, UnionOf):
        return [n for m in t.members for n in _any_notes(m, path)]
    return []


def _note_duplicates(databases: list[DeclaredDatabase]) -> None:
    by_name: dict[str, list[DeclaredDatabase]] = {}
    for db in databases:
        if db.name:
            by_name.setdefault(db.name, []).append(db)
    for name, group in by_name.items():
        for db in group if len(group) > 1 else []:
            others = ", ".join(o.location for o in group if o is not db)
            db.notes.append(f"database {name!r} is also declared at {others}; the entries are kept apart")
