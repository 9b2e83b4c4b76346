"""Error types that carry their data, so callers (and tests) can inspect what went wrong.

Every error has a message and, where there is one, a remedy: the flag or mapping entry
that fixes it. The CLI shows both and exits non-zero.
"""

from __future__ import annotations


class MigratorError(Exception):
    def __init__(self, message: str, remedy: str | None = None):
        self.message, self.remedy = message, remedy
        super().__init__(message if not remedy else f"{message}\n  remedy: {remedy}")


class DumpError(MigratorError):
    """A dump that cannot be read: where (file, byte offset) and what (table, row)."""

    def __init__(self, path: str, message: str, *, offset: int | None = None,
                 table: str | None = None, row: int | None = None, remedy: str | None = None,
                 exact: bool = True):
        """`exact=False`: `offset` is only near the fault (shown as "near byte N")."""
        self.path, self.offset, self.table, self.row = path, offset, table, row
        self.exact_offset = exact
        where = [str(path)]
        if offset is not None:
            where.append(f"byte {offset}" if exact else f"near byte {offset}")
        if table is not None:
            where.append(f"table {table!r}")
        if row is not None:
            where.append(f"row {row}")
        super().__init__(f"{', '.join(where)}: {message}", remedy)


DUMP_REMEDY = ("give the database's dump to `plan` as well (`dexie-convex plan --dexie SRC DUMP`): "
               "tables the source cannot evaluate are then read from the dump's own schema")


class DeclarationError(MigratorError):
    """Dexie declarations the tool cannot evaluate statically; `location` is file:line:col."""

    def __init__(self, location: str, message: str, remedy: str | None = None):
        self.location = location
        super().__init__(f"{location}: {message}", remedy or DUMP_REMEDY)


class MappingError(MigratorError):
    """A mapping file (or plan) that is invalid or cannot be applied."""

    def __init__(self, path: str, message: str, remedy: str | None = None):
        self.path = path
        super().__init__(f"{path}: {message}", remedy)
