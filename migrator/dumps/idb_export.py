"""indexeddb-export-import files: `{"storeName": [value, ...], ...}`, streamed.

No schema and no keys (outbound stores lose theirs), Dates already ISO strings, binary
gone: rows are what the file says, keyed by their position.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import ijson
from ijson.common import ObjectBuilder

from ..errors import DumpError
from .model import DumpRow, DumpTable
from .stream import CountingReader, error_offset, parse_events


class IdbExportReader:
    database_name = None
    database_version = None

    def __init__(self, path: Path, raw):
        self.path = path
        self.reader = CountingReader(raw)
        self.tables: list[DumpTable] = []
        self.warnings: list[str] = []
        self._table: str | None = None
        self._row = -1

    def _fail(self, message: str, exc: Exception | None = None) -> DumpError:
        offset = error_offset(str(exc), self.reader)[0] if exc else self.reader.chunk_start
        return DumpError(str(self.path), message, offset=offset, table=self._table,
                         row=self._row if self._row >= 0 else None,
                         remedy="re-export the database, or repair the file at that offset")

    def rows(self, skip: dict[str, int] | None = None) -> Iterator[DumpRow]:
        builder: ObjectBuilder | None = None
        depth = nesting = 0           # depth: 0 outside, 1 in the stores map, 2 in a store's array
        try:
            for _prefix, event, value in parse_events(self.reader):
                if builder is None:
                    if depth == 0 and event == "start_map":
                        depth = 1
                        continue
                    if depth == 1 and event == "map_key":
                        self._table, self._row = value, -1
                        self.tables.append(DumpTable(name=value, schema=None, row_count=None, inbound=None))
                        continue
                    if depth == 1 and event == "start_array":
                        depth = 2
                        continue
                    if depth == 2 and event == "end_array":
                        depth = 1
                        continue
                    if depth == 1 and event == "end_map":
                        depth = 0
                        continue
                    if depth != 2:
                        raise self._fail(f"store {self._table!r} is not an array of values")
                    builder, nesting = ObjectBuilder(), 0
                    self._row += 1
                builder.event(event, value)
                if event in ("start_map", "start_array"):
                    nesting += 1
                elif event in ("end_map", "end_array"):
                    nesting -= 1
                if nesting == 0:
                    row, builder = builder.value, None
                    if not (skip and self._row < skip.get(self._table, 0)):
                        yield DumpRow(table=self._table, index=self._row, key=None, value=row)
        except ijson.JSONError as exc:
            first = str(exc).split("\n")[0]
            raise self._fail("the file is truncated" if "premature EOF" in str(exc) else f"malformed JSON: {first}",
                             exc) from None

