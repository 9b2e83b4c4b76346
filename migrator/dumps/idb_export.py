"""indexeddb-export-import files: `{"storeName": [value, ...], ...}`, streamed.

No schema and no keys (outbound stores lose theirs), Dates already ISO strings, binary
gone: rows are what the file says, keyed by their position. `IdbExportReader` reads them
through a `JsonWindow` (rows built whole in C); when it cannot read on, `Dump` re-reads
with `IdbEventReader`, which repairs and locates (ijson's C object builder under each
store's prefix, a thin generator over the events tracking the store and row).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import ijson

from ..errors import DumpError
from .dexie_rows import REMEDY
from .model import DumpRow, DumpTable
from .stream import CountingReader, RepairStream, locate_json_error, parse_events
from .window import JsonWindow, SlowPath

_ROW_STARTS = frozenset({"start_map", "start_array", "string", "number", "boolean", "null"})


class _IdbFile:
    """What the format has for both readers: no database name or version, stores met as read."""

    database_name = None
    database_version = None

    def __init__(self, path: Path):
        self.path = path
        self.tables: list[DumpTable] = []
        self.warnings: list[str] = []


class IdbExportReader(_IdbFile):
    def __init__(self, path: Path, raw):
        super().__init__(path)
        self.window = JsonWindow(raw)
        self.repairs = self.window.repairs

    def rows(self, skip: dict[str, int] | None = None) -> Iterator[DumpRow]:
        w = self.window
        w.expect("{", "at the start of the file")
        if not w.take("}"):
            while True:
                name = w.key()
                self.tables.append(DumpTable(name=name, schema=None, row_count=None, inbound=None))
                done = (skip or {}).get(name, 0)
                for index, (value, _) in enumerate(w.items(f"store {name!r}")):
                    if index >= done:
                        yield DumpRow(table=name, index=index, key=None, value=value)
                if not w.take(","):
                    w.expect("}", "between the stores")
                    break
        if not w.at_end():
            raise SlowPath("more text after the end of the JSON", w.offset())


class IdbEventReader(_IdbFile):
    def __init__(self, path: Path, raw):
        super().__init__(path)
        self.repairs = RepairStream(raw)
        self.reader = CountingReader(self.repairs)
        self._table: str | None = None
        self._row = -1

    def _fail(self, message: str, offset: int | None = None, exact: bool = False) -> DumpError:
        return DumpError(str(self.path), message, offset=self.reader.chunk_start if offset is None else offset,
                         exact=exact, table=self._table, row=self._row if self._row >= 0 else None, remedy=REMEDY)

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
            raise self._fail(*locate_json_error(exc, self.reader, self.repairs.eof)) from None

    def _restore(self, row: Any) -> Any:
        return self.repairs.restore_marks(row, self.reader.offset, self.reader.chunk_start)
