"""dexie-export-import files (formatVersion 1), read as a stream.

The header (`data.tables` with each table's schema) comes before `data.data`, and `rows`
last in each entry, so one pass serves both: parse events until `data.data` starts, then
let ijson build one row object at a time while a thin generator over the events keeps
track of which table the rows belong to. Memory holds one row, whatever the file size.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import ijson

from ..dexie_schema import DexieSchemaError, TableSchema, parse_legacy_spec
from ..errors import DumpError
from .model import DumpRow, DumpTable
from .stream import CountingReader, RepairStream, Repairable, error_offset, parse_events
from .typeson import UnknownType, revive_row

ROWS_PREFIX = "data.data.item.rows.item"
# Events that begin a row (map_key events also carry the row's prefix, so they are not listed).
_ROW_STARTS = frozenset({"start_map", "start_array", "string", "number", "boolean", "null"})


class _Position:
    """Where the event stream is: the table entry and row being read."""

    def __init__(self) -> None:
        self.table: str | None = None
        self.inbound: bool | None = None
        self.row = -1


def key_of(value: Any, schema: TableSchema | None) -> Any:
    """The inbound key: the value at the primary key path(s); a tuple for a compound key."""
    if schema is None or schema.outbound or not isinstance(value, dict):
        return None
    parts = []
    for path in schema.primary_key.paths:
        cur: Any = value
        for step in path.split("."):
            cur = cur.get(step) if isinstance(cur, dict) else None
        parts.append(cur)
    return tuple(parts) if schema.primary_key.compound else parts[0]


class DexieExportReader:
    def __init__(self, path: Path, raw, *, tolerant: bool = False):
        self.path = path
        self.tolerant = tolerant
        self.filter = RepairStream(raw) if tolerant else None
        self.reader = CountingReader(self.filter or raw, watch=not tolerant)
        self.events = parse_events(self.reader)
        self.pos = _Position()
        self.database_name: str | None = None
        self.database_version: float | None = None
        self.tables: list[DumpTable] = []
        self.warnings: list[str] = []
        self._read_header()

    # -- errors --------------------------------------------------------------------------
    def fail(self, message: str, exc: Exception | None = None, *, offset: int | None = None,
             row: bool = True) -> DumpError:
        exact = True
        if exc is not None and offset is None:
            offset, exact = error_offset(str(exc), self.reader)
        if offset is None:
            offset = self.reader.chunk_start
            exact = False
        return DumpError(str(self.path), message, offset=offset, exact=exact, table=self.pos.table,
                         row=self.pos.row if row and self.pos.row >= 0 else None,
                         remedy="re-export the database, or repair the file at that offset")

    def _next(self):
        try:
            return next(self.events)
        except StopIteration:
            raise self.fail("the file ends before `data.data` (not a complete dexie export)",
                            offset=self.reader.offset) from None
        except (ijson.JSONError, UnicodeDecodeError) as exc:
            raise self._json_error(exc) from None

    def _json_error(self, exc: Exception) -> Exception:
        """A DumpError, or `Repairable` when the repairing stream can read on (see stream.py)."""
        if isinstance(exc, UnicodeDecodeError):
            # yajl passes a lone-surrogate escape on as CESU-8, which Python refuses; raw invalid
            # UTF-8 ends up here too (and then stays an error in the repairing mode).
            if not self.tolerant:
                return Repairable("a lone UTF-16 surrogate (or invalid UTF-8)", self.reader.chunk_start)
            return self.fail(f"invalid UTF-8 in the file ({exc.reason})", offset=self.reader.chunk_start)
        text = str(exc)
        first = text.split("\n")[0]
        if "premature EOF" in text:
            return self.fail("the file is truncated (ends in the middle of the JSON)", exc)
        err = self.fail(f"malformed JSON: {first}", exc)
        if not self.tolerant and "integer overflow" in first:
            return Repairable("an integer literal outside int64", err.offset)
        if not self.tolerant and _is_trailing_comma(self.path, err.offset):
            return Repairable("a trailing comma", err.offset)
        return err

    # -- header --------------------------------------------------------------------------
    def _read_header(self) -> None:
        format_name = format_version = None
        current: dict[str, Any] = {}
        while True:
            prefix, event, value = self._next()
            if prefix == "formatName":
                format_name = value
                if value != "dexie":
                    raise self.fail(f"formatName is {value!r}, expected 'dexie'", row=False)
            elif prefix == "formatVersion":
                format_version = value
                if value != 1:
                    raise self.fail(f"formatVersion {value!r} is not supported (only 1)", row=False)
            elif prefix == "data.databaseName":
                self.database_name = value
            elif prefix == "data.databaseVersion" and event == "number":
                self.database_version = float(value)
            elif prefix == "data.tables.item" and event == "start_map":
                current = {}
            elif prefix.startswith("data.tables.item.") and event in ("string", "number", "null"):
                current[prefix.rsplit(".", 1)[1]] = value
            elif prefix == "data.tables.item" and event == "end_map":
                self.tables.append(self._table(current))
            elif prefix == "data.data" and event == "start_array":
                break
        if format_name is None or format_version is None:
            raise self.fail("no formatName/formatVersion before `data.data`", offset=0, row=False)

    def _table(self, raw: dict) -> DumpTable:
        name = str(raw.get("name"))
        schema = None
        if raw.get("schema") is not None:
            try:
                schema = parse_legacy_spec(name, str(raw["schema"]))
            except DexieSchemaError as exc:
                raise self.fail(f"table {name!r} has a schema Dexie would reject: {exc.reason}",
                                offset=self.reader.chunk_start, row=False) from None
        count = raw.get("rowCount")
        return DumpTable(name=name, schema=schema, row_count=None if count is None else int(count))

    # -- rows ----------------------------------------------------------------------------
    def _tracked(self) -> Iterator[tuple]:
        pos = self.pos
        for event in self.events:
            prefix, kind, value = event
            if prefix == "data.data.item.tableName":
                pos.table, pos.row = value, -1
            elif prefix == "data.data.item.inbound":
                pos.inbound = bool(value)
            elif prefix == "data.data.item" and kind == "start_map":
                pos.table, pos.inbound, pos.row = None, None, -1
            elif prefix == ROWS_PREFIX and kind in _ROW_STARTS:
                pos.row += 1
            yield event

    def rows(self, skip: dict[str, int] | None = None) -> Iterator[DumpRow]:
        """Rows in file order; `skip[table]` rows of a table are passed over (already yielded)."""
        by_name = {t.name: t for t in self.tables}
        seen: dict[str, int] = {}
        items = ijson.items(self._tracked(), ROWS_PREFIX)
        while True:
            try:
                raw = next(items)
            except StopIteration:
                break
            except (ijson.JSONError, UnicodeDecodeError) as exc:
                raise self._json_error(exc) from None
            name, index = self.pos.table, self.pos.row
            table = by_name.get(name)
            if table is None:
                raise self.fail(f"rows for table {name!r}, which the header does not list")
            if table.inbound is None and self.pos.inbound is not None:
                self._check_inbound(table, self.pos.inbound)
            table.inbound = self.pos.inbound
            seen[name] = index + 1
            if skip and index < skip.get(name, 0):
                continue
            if self.filter is not None:
                raw = self.filter.restore_marks(raw, self.reader.offset, self.reader.chunk_start)
            yield self._row(table, index, raw)
        for table in self.tables:
            if table.row_count is not None and seen.get(table.name, 0) != table.row_count:
                self.warnings.append(f"{self.path}: table {table.name!r}: the header says {table.row_count} rows, "
                                     f"the file holds {seen.get(table.name, 0)}")

    def _check_inbound(self, table: DumpTable, inbound: bool) -> None:
        if table.schema is not None and table.schema.outbound == inbound:
            self.warnings.append(f"{self.path}: table {table.name!r}: the data says inbound={inbound} but the "
                                 f"schema {table.schema.spec!r} says the opposite; rows are read as the data says")

    def _row(self, table: DumpTable, index: int, raw: Any) -> DumpRow:
        try:
            value = revive_row(raw)
        except UnknownType as exc:
            raise self.fail(f"{exc}; this tool does not know that type", offset=self.reader.chunk_start) from None
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise self.fail(f"cannot revive the row's $types: {exc!r}", offset=self.reader.chunk_start) from None
        outbound = table.inbound is False or (table.inbound is None and table.schema is not None
                                              and table.schema.outbound)
        if outbound:
            if not (isinstance(value, list) and len(value) == 2):
                raise self.fail("an outbound row must be a [key, value] pair", offset=self.reader.chunk_start)
            return DumpRow(table=table.name, index=index, key=value[0], value=value[1])
        return DumpRow(table=table.name, index=index, key=key_of(value, table.schema), value=value)


def _is_trailing_comma(path: Path, offset: int) -> bool:
    """Is the byte at `offset` a `]`/`}` whose previous non-blank byte is a comma?"""
    with path.open("rb") as f:
        f.seek(max(0, offset - 256))
        window = f.read(min(offset, 256) + 1)
    if not window or window[-1:] not in (b"]", b"}"):
        return False
    return window[:-1].rstrip(b" \t\r\n").endswith(b",")
