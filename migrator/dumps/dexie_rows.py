"""What both dexie-export-import readers (window and event-level) do with what they parse:
header tables, rows turned into `DumpRow`s (revived, keyed), and the checks on both."""

from __future__ import annotations

from typing import Any, Callable

from ..dexie_schema import DexieSchemaError, TableSchema, parse_legacy_spec
from ..jsvalues import JsBlob, JsFile
from .model import DumpRow, DumpTable, RowText, TextDecoder
from .typeson import UnknownType, revive_row

ROWS_PREFIX = "data.data.item.rows.item"     # where the rows sit, as an ijson prefix
REMEDY = "re-export the database, or repair the file at that offset"


class BadDump(Exception):
    """Something is wrong with what was parsed; the reader adds where (file, offset, row)."""

    def __init__(self, message: str, row: bool = True):
        self.message, self.row = message, row
        super().__init__(message)


def js_property(value: Any, name: str) -> Any:
    """A property IndexedDB evaluates a key path step on: an object's field, or one of the
    properties the spec lists for other values (a string's or array's `length`, a Blob's
    `size`/`type`, a File's `name`/`lastModified` too); None when there is none."""
    if isinstance(value, dict):
        return value.get(name)
    if name == "length" and isinstance(value, (str, list)):
        return len(value.encode("utf-16-le", "surrogatepass")) // 2 if isinstance(value, str) else len(value)
    if isinstance(value, (JsBlob, JsFile)):
        if name == "size":
            return len(value.data)
        if name == "type":
            return value.mime
        if isinstance(value, JsFile) and name in ("name", "lastModified"):
            return value.name if name == "name" else value.last_modified
    return None


def key_getter(schema: TableSchema | None) -> Callable[[Any], Any]:
    """The inbound key of a value: the value at the primary key path(s); a tuple if compound."""
    if schema is None or schema.outbound:
        return lambda value: None
    paths = [path.split(".") for path in schema.primary_key.paths]

    def at(value: Any, steps: list[str]) -> Any:
        for step in steps:
            value = js_property(value, step)
        return value

    if schema.primary_key.compound:
        return lambda value: tuple(at(value, steps) for steps in paths)
    steps = paths[0]
    if len(steps) == 1:
        name = steps[0]
        return lambda value: value.get(name) if value.__class__ is dict else js_property(value, name)
    return lambda value: at(value, steps)


def header_table(raw: dict) -> DumpTable:
    """A `data.tables` entry (its scalar fields: name, schema, rowCount) as a DumpTable."""
    name = str(raw.get("name"))
    schema = None
    if raw.get("schema") is not None:
        try:
            schema = parse_legacy_spec(name, str(raw["schema"]))
        except DexieSchemaError as exc:
            raise BadDump(f"table {name!r} has a schema Dexie would reject: {exc.reason}", row=False) from None
    count = raw.get("rowCount")
    return DumpTable(name=name, schema=schema, row_count=None if count is None else int(count))


def check_format(format_name: Any, format_version: Any) -> None:
    if format_name is not None and format_name != "dexie":
        raise BadDump(f"formatName is {format_name!r}, expected 'dexie'", row=False)
    if format_version is not None and format_version != 1:
        raise BadDump(f"formatVersion {format_version!r} is not supported (only 1)", row=False)


def outbound(table: DumpTable, inbound: bool | None) -> bool:
    """Are the rows [key, value] pairs? As the data entry says, else as the schema does."""
    return inbound is False or (inbound is None and table.schema is not None and table.schema.outbound)


def decoder_for(table: DumpTable | None, inbound: bool | None, typed: TextDecoder | None) -> TextDecoder | None:
    """`typed` where it reads the key as the table's rows hold it: inbound rows keyed by the
    one top-level property it takes the key from."""
    if typed is None or table is None or table.schema is None or outbound(table, inbound):
        return None
    key = table.schema.primary_key
    return typed if not key.compound and key.paths == (typed.key_path,) else None


class TableRows:
    """The rows of one table entry of `data.data`, turned into DumpRows."""

    def __init__(self, tables: dict[str, DumpTable], name: Any, inbound: bool | None, warnings: list[str],
                 path: object):
        table = tables.get(name)
        if table is None:
            raise BadDump(f"rows for table {name!r}, which the header does not list")
        if table.inbound is None and inbound is not None and table.schema is not None \
                and table.schema.outbound == inbound:
            warnings.append(f"{path}: table {name!r}: the data says inbound={inbound} but the schema "
                            f"{table.schema.spec!r} says the opposite; rows are read as the data says")
        table.inbound = inbound
        self.table = table
        self.outbound = outbound(table, inbound)
        self.key_of = key_getter(table.schema)

    def made(self, index: int, made: tuple[Any, Any], text: str) -> DumpRow:
        """A row a `TextDecoder` settled from its text: (key, what it made)."""
        key, result = made
        return DumpRow(self.table.name, index, key, None, RowText(text, self, index), result)

    def row(self, index: int, raw: Any, text: str | None = None) -> DumpRow:
        """`text`: the row's JSON text, when `raw` is what orjson parses it to."""
        try:
            value = revive_row(raw)
        except UnknownType as exc:
            raise BadDump(f"{exc}; this tool does not know that type") from None
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise BadDump(f"cannot revive the row's $types: {exc!r}") from None
        if self.outbound:
            if not (isinstance(value, list) and len(value) == 2):
                raise BadDump("an outbound row must be a [key, value] pair")
            return DumpRow(table=self.table.name, index=index, key=value[0], value=value[1],
                           text=None if text is None else RowText(text, self, index))
        return DumpRow(table=self.table.name, index=index, key=self.key_of(value), value=value,
                       text=None if text is None else RowText(text, self, index))


def row_count_warnings(path: object, tables: list[DumpTable], seen: dict[str, int]) -> list[str]:
    return [f"{path}: table {t.name!r}: the header says {t.row_count} rows, the file holds {seen.get(t.name, 0)}"
            for t in tables if t.row_count is not None and seen.get(t.name, 0) != t.row_count]
