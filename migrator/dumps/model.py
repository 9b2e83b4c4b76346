"""What a dump yields: its tables (header) and its rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import msgspec
import orjson

from ..dexie_schema import TableSchema


@dataclass
class DumpTable:
    name: str
    schema: TableSchema | None      # from the header spec; None for formats without one
    row_count: int | None           # as the header says
    inbound: bool | None = None     # from the data entry; None until seen, or unknown


class DumpRow(msgspec.Struct, gc=False):
    """One per row, so built in C (see `transform.prepared.PreparedRow`)."""

    table: str
    index: int      # position of the row within its table, from 0
    key: Any        # outbound: the stored key; inbound: the value at the key path (tuple if compound)
    value: Any      # the revived JS value (None when `made`: the text was not parsed)
    text: "RowText | None" = None   # the row's text, when the reader can parse it again to `value`
    made: Any = None                # what a `TextDecoder` made of the text (then `value` is not read)

    def source(self) -> Any:
        """What to keep of the row while it is in flight, to reject it with its data later
        (`source_value`): its text when there is one, else its value."""
        return self.value if self.text is None else self.text


class TextDecoder(Protocol):
    """Turns a row's JSON text straight into what its consumer needs (`transform.typed`), or
    None when it cannot settle the row: the reader then parses and revives it as usual.
    `key_path`: the top-level property it takes the key from; the reader uses it only on
    inbound tables whose key path (from the dump's header) is that property."""

    key_path: str

    def __call__(self, text: str) -> tuple[Any, Any] | None: ...     # (the key, what it made)


class RowReader(Protocol):
    def row(self, index: int, raw: Any) -> DumpRow: ...


class RowText(msgspec.Struct, gc=False):
    """A row kept as the JSON text it was read from: one string of a few hundred bytes where
    its parsed value is dozens of objects. The import holds each row until its batch is
    answered; a thousand parsed rows in flight cost it a third of its time in cache misses
    (benchmarks/pipeline.py), and almost no row is ever needed again (rejected). Built in C, as `DumpRow`."""

    text: str
    reader: RowReader        # parses it as it did the first time (revived, keyed)
    index: int

    def value(self) -> Any:
        return self.reader.row(self.index, orjson.loads(self.text)).value


def source_value(source: Any) -> Any:
    """The revived value of what `DumpRow.source` gave."""
    return source.value() if type(source) is RowText else source
