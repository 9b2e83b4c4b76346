"""What a dump yields: its tables (header) and its rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..dexie_schema import TableSchema


@dataclass
class DumpTable:
    name: str
    schema: TableSchema | None      # from the header spec; None for formats without one
    row_count: int | None           # as the header says
    inbound: bool | None = None     # from the data entry; None until seen, or unknown


@dataclass
class DumpRow:
    table: str
    index: int      # position of the row within its table, from 0
    key: Any        # outbound: the stored key; inbound: the value at the key path (tuple if compound)
    value: Any      # the revived JS value
