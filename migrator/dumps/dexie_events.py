"""dexie-export-import files read event by event: slow, but it repairs and locates.

`Dump` reads through this reader when the fast one (dexie_export.py) cannot read on: the
repairing stream (stream.py) fixes in place what JS would read (trailing commas, integers
outside int64, lone surrogates), and an error is located in the chunk being parsed, so it
names the byte offset, table and row. ijson builds the rows under `data.data.item.rows.item`
while a thin generator over the events keeps track of the table and row being read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import ijson

from ..errors import DumpError
from .dexie_rows import REMEDY, ROWS_PREFIX, BadDump, TableRows, check_format, header_table, row_count_warnings
from .model import DumpRow, DumpTable
from .stream import CountingReader, RepairStream, locate_json_error, parse_events

# Events that begin a row (map_key events also carry the row's prefix, so they are not listed).
_ROW_STARTS = frozenset({"start_map", "start_array", "string", "number", "boolean", "null"})


class _Position:
    """Where the event stream is: the table entry and row being read."""

    def __init__(self) -> None:
        self.table: str | None = None
        self.inbound: bool | None = None
        self.row = -1
        self.entry = 0          # counts the entries of `data.data`


class DexieEventReader:
    def __init__(self, path: Path, raw):
        self.path = path
        self.repairs = RepairStream(raw)
        self.reader = CountingReader(self.repairs)
        self.events = parse_events(self.reader)
        self.pos = _Position()
        self.database_name: str | None = None
        self.database_version: float | None = None
        self.tables: list[DumpTable] = []
        self.warnings: list[str] = []
        self._read_header()

    # -- errors --------------------------------------------------------------------------
    def fail(self, message: str, *, offset: int | None = None, exact: bool = True, row: bool = True) -> DumpError:
        if offset is None:
            offset, exact = self.reader.chunk_start, False
        return DumpError(str(self.path), message, offset=offset, exact=exact, table=self.pos.table,
                         row=self.pos.row if row and self.pos.row >= 0 else None, remedy=REMEDY)

    def _json_error(self, exc: Exception) -> DumpError:
        message, offset, exact = locate_json_error(exc, self.reader, self.repairs.eof)
        return self.fail(message, offset=offset, exact=exact)

    def _next(self):
        try:
            return next(self.events)
        except StopIteration:
            raise self.fail("the file ends before `data.data` (not a complete dexie export)",
                            offset=self.reader.offset) from None
        except (ijson.JSONError, UnicodeDecodeError) as exc:
            raise self._json_error(exc) from None

    # -- header --------------------------------------------------------------------------
    def _read_header(self) -> None:
        format_name = format_version = None
        current: dict[str, Any] = {}
        while True:
            prefix, event, value = self._next()
            if prefix in ("formatName", "formatVersion"):
                if prefix == "formatName":
                    format_name = value
                else:
                    format_version = value
                try:
                    check_format(format_name, format_version)
                except BadDump as problem:
                    raise self.fail(problem.message, row=False) from None
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
        try:
            return header_table(raw)
        except BadDump as problem:
            raise self.fail(problem.message, row=False) from None

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
                pos.entry += 1
            elif prefix == ROWS_PREFIX and kind in _ROW_STARTS:
                pos.row += 1
            yield event

    def rows(self, skip: dict[str, int] | None = None) -> Iterator[DumpRow]:
        """Rows in file order; `skip[table]` rows of a table are passed over (already yielded)."""
        by_name = {t.name: t for t in self.tables}
        seen: dict[str, int] = {}
        items = ijson.items(self._tracked(), ROWS_PREFIX)
        entry, rows = None, None
        while True:
            try:
                raw = next(items)
            except StopIteration:
                break
            except (ijson.JSONError, UnicodeDecodeError) as exc:
                raise self._json_error(exc) from None
            index = self.pos.row
            try:
                if entry is not self.pos.entry:
                    entry = self.pos.entry
                    rows = TableRows(by_name, self.pos.table, self.pos.inbound, self.warnings, self.path)
                seen[rows.table.name] = index + 1
                if skip and index < skip.get(rows.table.name, 0):
                    continue
                raw = self.repairs.restore_marks(raw, self.reader.offset, self.reader.chunk_start)
                yield rows.row(index, raw)
            except BadDump as problem:
                raise self.fail(problem.message) from None
        self.warnings.extend(row_count_warnings(self.path, self.tables, seen))
