"""indexeddb-export-import files: `{"storeName": [value, ...], ...}`, streamed.

No schema and no keys (outbound stores lose theirs), Dates already ISO strings, binary
gone: rows are what the file says, keyed by their position. Each store's rows are built
by ijson's C object builder under that store's prefix; a thin generator over the parse
events keeps track of the store and row being read, so memory holds one row.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import ijson

from ..errors import DumpError
from .model import DumpRow, DumpTable
from .stream import CountingReader, RepairStream, Repairable, error_offset, parse_events

_ROW_STARTS = frozenset({"start_map", "start_array", "string", "number", "boolean", "null"})


class IdbExportReader:
    database_name = None
    database_version = None

    def __init__(self, path: Path, raw, *, tolerant: bool = False):
        self.path = path
        self.tolerant = tolerant
        self.filter = RepairStream(raw) if tolerant else None
        self.reader = CountingReader(self.filter or raw, watch=not tolerant)
        self.tables: list[DumpTable] = []
        self.warnings: list[str] = []
        self._table: str | None = None
        self._row = -1

    def _fail(self, message: str, exc: Exception | None = None) -> DumpError:
        offset, exact = error_offset(str(exc), self.reader) if exc else (self.reader.chunk_start, False)
        return DumpError(str(self.path), message, offset=offset, exact=exact, table=self._table,
                         row=self._row if self._row >= 0 else None,
                         remedy="re-export the database, or repair the file at that offset")

    def _error(self, exc: Exception) -> Exception:
        if isinstance(exc, UnicodeDecodeError):
            if not self.tolerant:
                return Repairable("a lone UTF-16 surrogate (or invalid UTF-8)", self.reader.chunk_start)
            return self._fail(f"invalid UTF-8 in the file ({exc.reason})")
        first = str(exc).split("\n")[0]
        if not self.tolerant and "integer overflow" in first:
            return Repairable("an integer literal outside int64", error_offset(str(exc), self.reader)[0])
        if "premature EOF" in str(exc):
            return self._fail("the file is truncated (ends in the middle of the JSON)", exc)
        return self._fail(f"malformed JSON: {first}", exc)

    def _store(self, events: Iterator[tuple], name: str) -> Iterator[tuple]:
        """The events of one store's array (its closing event consumed), counting rows."""
        row_prefix = name + ".item"
        for event in events:
            prefix, kind, _ = event
            if prefix == name and kind == "end_array":
                return
            if prefix == row_prefix and kind in _ROW_STARTS:
                self._row += 1
            yield event

    def rows(self, skip: dict[str, int] | None = None) -> Iterator[DumpRow]:
        events = parse_events(self.reader)
        try:
            for prefix, kind, value in events:
                if prefix == "" and kind in ("start_map", "end_map"):
                    continue
                if prefix == "" and kind == "map_key":
                    self._table, self._row = value, -1
                    self.tables.append(DumpTable(name=value, schema=None, row_count=None, inbound=None))
                    continue
                if prefix == self._table and kind == "start_array" and self._table is not None:
                    for row in ijson.items(self._store(events, self._table), self._table + ".item"):
                        if skip and self._row < skip.get(self._table, 0):
                            continue
                        yield DumpRow(table=self._table, index=self._row, key=None, value=self._restore(row))
                    continue
                what = "the file" if self._table is None else f"store {self._table!r}"
                raise self._fail(f"{what} is not an indexeddb-export-import object of arrays "
                                 f"(found {kind} where {'an object' if self._table is None else 'an array'} belongs)")
        except (ijson.JSONError, UnicodeDecodeError) as exc:
            raise self._error(exc) from None

    def _restore(self, row: Any) -> Any:
        if self.filter is None:
            return row
        return self.filter.restore_marks(row, self.reader.offset, self.reader.chunk_start)
