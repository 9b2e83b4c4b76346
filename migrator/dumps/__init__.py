"""The "read dump" stage: export files as streams of revived rows.

`open_dump(path)` detects the format (dexie-export-import or indexeddb-export-import) and
returns a `Dump`: its header (`tables`, `database_name`) at once, its rows as a stream.
"""

from __future__ import annotations

import errno
import re
import stat
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator, Mapping

from ..errors import DumpError
from .dexie_events import DexieEventReader
from .dexie_export import DexieExportReader
from .idb_export import IdbEventReader, IdbExportReader
from .model import DumpRow, DumpTable, TextDecoder
from .window import SlowPath

__all__ = ["Dump", "DumpRow", "DumpTable", "open_dump"]

IDB = "indexeddb-export-import"
FAST_READERS = {"dexie": DexieExportReader, IDB: IdbExportReader}
SLOW_READERS = {"dexie": DexieEventReader, IDB: IdbEventReader}   # repair, and locate errors

_FORMAT_NAME = re.compile(rb'^\{\s*"formatName"\s*:\s*"|[,{]\s*"formatName"\s*:\s*"')
_NOT_UTF8 = [(b"\x1f\x8b", "is gzip-compressed", "decompress it first (gunzip)"),
             (b"PK\x03\x04", "is a zip archive", "extract the export file from it"),
             (b"\xff\xfe\x00\x00", "is UTF-32 text, not UTF-8", "save it as UTF-8"),
             (b"\x00\x00\xfe\xff", "is UTF-32 text, not UTF-8", "save it as UTF-8"),
             (b"\xff\xfe", "is UTF-16 text, not UTF-8", "save it as UTF-8"),
             (b"\xfe\xff", "is UTF-16 text, not UTF-8", "save it as UTF-8")]
_FILE_KINDS = [(stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
               (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")]


def _sniff(path: Path, f: BinaryIO) -> str:
    """dexie files start with {"formatName"...; anything else that is a JSON object is idb."""
    raw = f.read(4096)
    if not raw:
        raise DumpError(str(path), "the file is empty", offset=0, remedy="export the database again")
    for magic, what, remedy in _NOT_UTF8:
        if raw.startswith(magic):
            raise DumpError(str(path), f"the file {what}", offset=0, remedy=remedy)
    if b"\x00" in raw:              # JSON text has none (strings escape control characters)
        raise DumpError(str(path), "the file is not UTF-8 text (NUL bytes: UTF-16 or binary)",
                        offset=raw.index(b"\x00"), remedy="give the JSON file dexie-export-import wrote, as UTF-8")
    head = raw.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head.startswith(b"{"):
        raise DumpError(str(path), "not a JSON object: neither a dexie-export-import nor an "
                                   "indexeddb-export-import file", offset=0)
    return "dexie" if _FORMAT_NAME.search(head) else IDB


def _check_file(path: Path) -> None:
    """A clear error for every path that is not a readable regular file."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise DumpError(str(path), "no such file", remedy="check the path") from None
    except OSError as exc:
        raise _os_error(path, exc, "cannot look at the file") from None
    if stat.S_ISDIR(info.st_mode):
        raise DumpError(str(path), "is a directory, not a dump file", remedy="give the export file inside it")
    for test, kind in _FILE_KINDS:
        if test(info.st_mode):
            raise DumpError(str(path), f"is {kind}, not a regular file: a dump is read again from the start "
                                       "when it needs repairs", remedy="save the export to a file first")


def _os_error(path: Path, exc: OSError, doing: str, offset: int | None = None) -> DumpError:
    name = errno.errorcode.get(exc.errno or 0)
    why = f"{exc.strerror or exc}{f' ({name})' if name else ''}"
    remedy = ("give the user running dexie-convex read access to it" if isinstance(exc, PermissionError)
              else "check the disk or copy the file elsewhere and try again")
    return DumpError(str(path), f"{doing}: {why}", offset=offset, remedy=remedy)


class Dump:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        _check_file(self.path)
        self.warnings: list[str] = []
        self._file = self._open()
        try:
            with self._io_errors("cannot read the file"):
                self.format = _sniff(self.path, self._file)
                self._file.seek(0)
                try:
                    self._reader = FAST_READERS[self.format](self.path, self._file)
                except SlowPath as stop:
                    self._reader = self._slow(stop)
        except BaseException:
            self._file.close()          # no `with` block will close it
            raise

    def _open(self) -> BinaryIO:
        try:
            return self.path.open("rb")
        except OSError as exc:
            raise _os_error(self.path, exc, "cannot open the file") from None

    @contextmanager
    def _io_errors(self, doing: str):
        """An OSError while reading (EIO, a vanished mount...) as a DumpError naming the file."""
        try:
            yield
        except OSError as exc:
            try:
                offset = self._file.tell()
            except (OSError, ValueError):
                offset = None
            raise _os_error(self.path, exc, doing, offset) from None

    def _slow(self, stop: SlowPath):
        """Read again from the start with the event-level reader, which repairs and locates."""
        self.warnings.append(f"{self.path}: {stop.what} near byte {stop.offset}: reading again in the "
                             "slower, repairing mode")
        self._file.close()
        self._file = self._open()
        return SLOW_READERS[self.format](self.path, self._file)

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

    def rows(self, typed: Mapping[str, TextDecoder] | None = None) -> Iterator[DumpRow]:
        """`typed`: per table, a decoder tried on each row's text before it is parsed (dexie-export-import
        files read fast; its rows come with `made`, see DexieExportReader.rows)."""
        done: dict[str, int] = {}
        reader = self._reader
        with self._io_errors("cannot read the file"):
            try:
                for row in reader.rows(typed=typed) if typed and type(reader) is DexieExportReader else reader.rows():
                    done[row.table] = row.index + 1
                    yield row
            except SlowPath as stop:
                self._reader = self._slow(stop)
                yield from self._reader.rows(skip=done)
        self.warnings.extend(self._reader.warnings)
        self.warnings.extend(self._reader.repairs.warnings(self.path))

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> "Dump":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_dump(path: str | Path) -> Dump:
    return Dump(path)
