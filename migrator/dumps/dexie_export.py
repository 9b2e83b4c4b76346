"""dexie-export-import files (formatVersion 1), read fast through a `JsonWindow`.

The header (`data.tables` with each table's schema) comes before `data.data`, and `rows`
last in each entry, so one pass serves both: this reader walks the few structural tokens
itself (a handful per table) and lets the C scanner build each row whole. Memory holds the
window (about a MiB) and one row, whatever the file size. What it cannot read raises
`SlowPath`, and `Dump` re-reads with the event-level reader (dexie_events.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, Mapping

from ..errors import DumpError
from .dexie_rows import REMEDY, BadDump, TableRows, check_format, decoder_for, header_table, row_count_warnings
from .model import DumpRow, DumpTable, TextDecoder
from .window import JsonWindow, SlowPath


class DexieExportReader:
    def __init__(self, path: Path, raw):
        self.path = path
        self.window = JsonWindow(raw)
        self.repairs = self.window.repairs
        self.database_name: str | None = None
        self.database_version: float | None = None
        self.tables: list[DumpTable] = []
        self.warnings: list[str] = []
        self._table: str | None = None
        self._row = -1
        self._read_header()

    def _fail(self, problem: BadDump, offset: int) -> DumpError:
        return DumpError(str(self.path), problem.message, offset=offset, table=self._table,
                         row=self._row if problem.row and self._row >= 0 else None, remedy=REMEDY)

    # -- header --------------------------------------------------------------------------
    def _read_header(self) -> None:
        """Up to and including the `[` of `data.data`; the rest of the file is rows() work."""
        w = self.window
        w.expect("{", "at the start of the file")
        format_name = format_version = None
        while True:
            key = w.key()
            if key != "data":
                value, start = w.value()
                if key == "formatName":
                    format_name = value
                elif key == "formatVersion":
                    format_version = value
                try:
                    check_format(format_name, format_version)
                except BadDump as problem:
                    raise self._fail(problem, w.offset(start)) from None
            elif format_name is None or format_version is None:
                raise self._fail(BadDump("no formatName/formatVersion before `data.data`", row=False), 0)
            else:
                break
            if not self._comma_or("}", "between the top-level keys"):
                raise SlowPath("no `data.data` in the file", w.offset())
        w.expect("{", "at the start of `data`")
        while True:
            key = w.key()
            if key == "data":
                w.expect("[", "at the start of `data.data`")
                return
            value, start = w.value()
            if key == "databaseName":
                self.database_name = value
            elif key == "databaseVersion" and isinstance(value, (int, float)) and not isinstance(value, bool):
                self.database_version = float(value)
            elif key == "tables" and isinstance(value, list):
                try:
                    self.tables = [header_table(_scalars(t)) for t in value if isinstance(t, dict)]
                except BadDump as problem:
                    raise self._fail(problem, w.offset(start)) from None
            if not self._comma_or("}", "between the keys of `data`"):
                raise SlowPath("no `data.data` in the file", w.offset())

    def _comma_or(self, close: str, where: str) -> bool:
        """After a member: True when a `,` follows, False when `close` does (consumed)."""
        if self.window.take(","):
            return True
        self.window.expect(close, where)
        return False

    # -- rows ----------------------------------------------------------------------------
    def rows(self, skip: dict[str, int] | None = None,
             typed: Mapping[str, TextDecoder] | None = None) -> Iterator[DumpRow]:
        """Rows in file order; `skip[table]` rows of a table are passed over (already yielded).
        `typed[table]`: a decoder tried on each row's text first (`decoder_for` says where)."""
        w = self.window
        by_name = {t.name: t for t in self.tables}
        seen: dict[str, int] = {}
        if not w.take("]"):
            while True:
                yield from self._entry(by_name, seen, skip or {}, typed or {})
                if not self._comma_or("]", "between the entries of `data.data`"):
                    break
        self._table, self._row = None, -1
        self._close_object("`data`")
        self._close_object("the top-level object")
        if not w.at_end():
            raise SlowPath("more text after the end of the JSON", w.offset())
        self.warnings.extend(row_count_warnings(self.path, self.tables, seen))

    def _close_object(self, what: str) -> None:
        """Skip any further members of an object whose interesting part is read, and its `}`."""
        while self._comma_or("}", f"at the end of {what}"):
            self.window.key()
            self.window.value()

    def _entry(self, by_name: dict[str, DumpTable], seen: dict[str, int], skip: dict[str, int],
               typed: Mapping[str, TextDecoder]) -> Iterator[DumpRow]:
        """One `{"tableName", "inbound", "rows"}` entry of `data.data`."""
        w = self.window
        w.expect("{", "at the start of a `data.data` entry")
        self._table, self._row = None, -1
        inbound = None
        if w.take("}"):
            return
        while True:
            key = w.key()
            if key == "rows":
                yield from self._rows(by_name, inbound, seen, skip, typed)
            else:
                value, _ = w.value()
                if key == "tableName":
                    self._table = value
                elif key == "inbound":
                    inbound = bool(value)
            if not self._comma_or("}", "between the keys of a `data.data` entry"):
                return

    def _rows(self, by_name: dict[str, DumpTable], inbound: bool | None, seen: dict[str, int],
              skip: dict[str, int], typed: Mapping[str, TextDecoder]) -> Iterator[DumpRow]:
        rows: TableRows | None = None
        index = done = -1
        w = self.window
        w.use(decoder_for(by_name.get(self._table), inbound, typed.get(self._table))
              if isinstance(self._table, str) else None)
        try:
            for raw, start in w.items(f"the rows of table {self._table!r}"):
                self._row = index = index + 1
                try:
                    if rows is None:
                        rows = TableRows(by_name, self._table, inbound, self.warnings, self.path)
                        done = skip.get(rows.table.name, 0)
                    if index >= done:
                        yield rows.row(index, raw, w.text) if w.made is None else rows.made(index, w.made, w.text)
                except BadDump as problem:
                    raise self._fail(problem, w.offset(start)) from None
        finally:
            w.use(None)
        if rows is not None:
            seen[rows.table.name] = index + 1


def _scalars(raw: dict) -> dict:
    """The fields of a header table the event-level reader sees: strings, numbers, nulls."""
    return {k: v for k, v in raw.items() if v is None or isinstance(v, (str, int, float)) and not isinstance(v, bool)}
