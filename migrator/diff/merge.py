"""`generate --merge`: the user's schema.ts with the mapped tables replaced or added.

Edits are byte ranges from the parse tree: everything else in the file (other tables,
comments, imports, consts, defineSchema options, search and vector indexes of the mapped
tables) stays exactly as the user wrote it.
"""

from __future__ import annotations

from ..errors import MigratorError
from .schema_reader import SchemaFile

NEEDED_IMPORTS = {"defineTable": "convex/server", "v": "convex/values"}


def _reindent(planned: SchemaFile, start: int, end: int, indent: int) -> str:
    """A generated entry, its continuation lines shifted to the user's indentation."""
    lines = planned.text(start, end).split("\n")
    shift = indent - planned.indent
    return "\n".join([lines[0]] + [" " * shift + line if shift >= 0 else line[-shift:] for line in lines[1:]])


def merge_schema(existing: SchemaFile, planned: SchemaFile) -> str:
    """The merged schema.ts text."""
    edits: list[tuple[int, int, str]] = []
    added = ""
    for name, table in planned.tables.items():
        mine = existing.tables.get(name)
        if mine is None:
            entry = _reindent(planned, table.block_start, table.end, existing.indent)
            added += "\n" + " " * existing.indent + entry + ","
            continue
        if mine.problem:
            raise MigratorError(f"cannot merge into {existing.path}: table {name!r} is not understood "
                                f"({mine.problem})",
                                "write it as `defineTable({...})` with `v.*` validators, remove it, "
                                "or replace the whole file with --force")
        kept = "".join(index.text for index in mine.verbatim_indexes)
        edits.append((mine.start, mine.end, _reindent(planned, table.start, table.end, existing.indent) + kept))
    if added:
        if existing.needs_comma:
            added = "," + added
        if not existing.tables and not existing.unread:
            added += "\n"
        edits.append((existing.insert_at, existing.insert_at, added))
    for name, module in NEEDED_IMPORTS.items():
        if existing.imported.get(name) not in (None, module):
            raise MigratorError(f"cannot merge into {existing.path}: `{name}` is imported from "
                                f"{existing.imported[name]!r}, the generated tables need it from {module!r}",
                                f"import `{name}` from {module!r} there, or replace the whole file with --force")
    missing = [f"import {{ {name} }} from {module!r};".replace("'", '"')
               for name, module in NEEDED_IMPORTS.items() if existing.imported.get(name) != module]
    if missing:
        at = existing.imports_end
        edits.append((at, at, ("\n" if at else "") + "\n".join(missing) + ("" if at else "\n")))
    source = existing.source
    for start, end, text in sorted(edits, key=lambda e: e[0], reverse=True):
        source = source[:start] + text.encode("utf-8") + source[end:]
    return source.decode("utf-8")
