"""The "read dump" stage: export files as streams of revived rows.

`open_dump(path)` detects the format (dexie-export-import or indexeddb-export-import) and
returns a `Dump`: its header (`tables`, `database_name`) at once, its rows as a stream.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

from ..errors import DumpError
from .dexie_export import DexieExportReader
from .stream import Repairable
from .idb_export import IdbExportReader
from .model import DumpRow, DumpTable

__all__ = ["Dump", "DumpRow", "DumpTable", "open_dump"]


_FORMAT_NAME = re.compile(rb'^\{\s*"formatName"\s*:\s*"|[,{]\s*"formatName"\s*:\s*"')


def _sniff(path: Path) -> str:
    """dexie files start with {"formatName"...; anything else that is a JSON object is idb."""
    with path.open("rb") as f:
        head = f.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head.startswith(b"{"):
        raise DumpError(str(path), "not a JSON object: neither a dexie-export-import nor an "
                                   "indexeddb-export-import file", offset=0)
    return "dexie" if _FORMAT_NAME.search(head) else "indexeddb-export-import"


class Dump:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise DumpError(str(self.path), "no such file")
        self.format = _sniff(self.path)
        self.warnings: list[str] = []
        self._file = self.path.open("rb")
        self._reader = self._open_reader(tolerant=False)

    def _open_reader(self, tolerant: bool):
        if self.format == "indexeddb-export-import":
            return IdbExportReader(self.path, self._file, tolerant=tolerant)
        try:
            return DexieExportReader(self.path, self._file, tolerant=tolerant)
        except Repairable as defect:
            return self._tolerate(defect)

    def _tolerate(self, defect: Repairable):
        """Read again from the start through RepairStream (slower, same offsets)."""
        self.warnings.append(f"{self.path}: {defect.what} near byte {defect.offset}: reading again in "
                             "repairing mode, which is slower")
        self._file.close()
        self._file = self.path.open("rb")
        return self._open_reader(tolerant=True)

    @property
    def database_name(self) -> str | None:
        return self._reader.database_name

    @property
    def database_version(self) -> float | None:
        return self._reader.database_version

    @property
    def tables(self) -> list[DumpTable]:
        return self._reader.tables

    @property
    def bytes_read(self) -> int:
        """How far into the file the reader is (read-ahead included): for progress bars."""
        return self._file.tell()

    def rows(self) -> Iterator[DumpRow]:
        done: dict[str, int] = {}
        try:
            for row in self._reader.rows():
                done[row.table] = row.index + 1
                yield row
        except Repairable as defect:
            self._reader = self._tolerate(defect)
            yield from self._reader.rows(skip=done)
        self.warnings.extend(self._reader.warnings)
        if self._reader.filter is not None:
            self.warnings.extend(self._reader.filter.warnings(self.path))

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> "Dump":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_dump(path: str | Path) -> Dump:
    return Dump(path)
