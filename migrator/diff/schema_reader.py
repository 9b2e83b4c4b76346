"""Read an existing `convex/schema.ts` statically (tree-sitter): tables, fields, indexes.

The diff must never claim "no differences" about a file it did not understand, so every
construct it cannot evaluate is either an error naming `file:line:col` (for the file as a
whole) or a table marked "not understood" with the reason. Validators are rebuilt as text
(consts and spreads resolved) and parsed by `plan.validators.parse_validator`, the same
model the plan uses, so both sides compare as data. Search and vector indexes are kept
verbatim: the plan never produces them, and a merge carries them over unchanged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from tree_sitter import Node

from ..declarations.evaluate import Evaluator, find_binding, import_source, string_value
from ..declarations.source import SourceFile, kids, parse_source, unwrap, walk
from ..errors import DeclarationError, MigratorError
from ..plan.validators import Validator, ValidatorSyntaxError, parse_validator

VERBATIM_INDEX_METHODS = ("searchIndex", "vectorIndex")


class SchemaReadError(MigratorError):
    """A schema.ts the tool cannot read at all; `location` is file:line:col."""

    def __init__(self, location: str, message: str, remedy: str | None = None):
        self.location = location
        super().__init__(f"{location}: {message}", remedy or
                         "write the schema as `export default defineSchema({ table: defineTable({...}), ... })` "
                         "in that file, or compare against an empty schema (no --against)")


@dataclass
class VerbatimIndex:
    """A `.searchIndex(...)` / `.vectorIndex(...)` call, kept as the user wrote it."""

    method: str
    name: str
    text: str          # from the end of the receiver to the closing `)`, with its line break and indent


@dataclass
class SchemaTable:
    name: str
    location: str
    start: int                     # byte range of the whole `name: defineTable(...)...` property
    end: int
    block_start: int               # where the comments directly above the property begin
    document: Validator | None = None
    indexes: dict[str, list[str]] = field(default_factory=dict)
    verbatim_indexes: list[VerbatimIndex] = field(default_factory=list)
    problem: str | None = None     # why the table is not understood ("file:line:col: ...")

    @property
    def fields(self) -> dict[str, Validator] | None:
        """Top-level fields when the document is a `v.object`; None for unions and unread tables."""
        return self.document.fields if self.document is not None and self.document.kind == "object" else None


@dataclass
class UnreadEntry:
    """An entry of the `defineSchema` object that names no table statically (`...authTables`)."""

    location: str
    text: str


@dataclass
class SchemaFile:
    path: str | None                       # None: the empty schema
    source: bytes = b""
    tables: dict[str, SchemaTable] = field(default_factory=dict)
    unread: list[UnreadEntry] = field(default_factory=list)
    options: str | None = None             # defineSchema's second argument, verbatim
    insert_at: int = 0                     # where a new table entry goes (after the last entry)
    needs_comma: bool = False              # the last entry has no trailing comma
    indent: int = 2                        # the column the entries start at
    imports_end: int = 0                   # after the last import statement
    imported: dict[str, str] = field(default_factory=dict)  # local name -> module, for convex imports

    def text(self, start: int, end: int) -> str:
        return self.source[start:end].decode("utf-8")


def read_schema(path: str | Path, source: bytes | None = None) -> SchemaFile:
    """Parse a schema.ts; raises SchemaReadError when there is no readable defineSchema."""
    try:
        sf = parse_source(path, source)
    except OSError as exc:
        raise SchemaReadError(f"{path}:1:1", f"cannot read the file: {exc.strerror or exc}",
                              "check the --against path") from None
    if sf.root.has_error:
        bad = next(n for n in walk(sf.root) if n.type == "ERROR" or n.is_missing)
        raise SchemaReadError(sf.location(bad), "syntax error: the file does not parse as TypeScript",
                              "fix the syntax (tsc shows the same place)")
    return _Reader(sf).read()


class _NotStatic(Exception):
    def __init__(self, node: Node, why: str):
        self.node, self.why = node, why


class _Reader:
    def __init__(self, sf: SourceFile):
        self.sf = sf
        self.ev = Evaluator(sf)

    def read(self) -> SchemaFile:
        sf = self.sf
        schema = SchemaFile(path=sf.path, source=sf.source)
        for statement in kids(sf.root):
            if statement.type == "import_statement":
                schema.imports_end = statement.end_byte
        for name in ("defineTable", "v"):
            binding = find_binding(sf, name, sf.root)
            if binding is not None and binding.type == "identifier":
                schema.imported[name] = import_source(sf, binding) or ""
        call = self._schema_call()
        args = kids(call.child_by_field_name("arguments"))
        if not args:
            raise SchemaReadError(sf.location(call), "defineSchema() has no tables object")
        try:
            tables = self._resolve(args[0])
        except _NotStatic as exc:
            raise SchemaReadError(sf.location(exc.node), exc.why) from None
        if tables.type != "object":
            raise SchemaReadError(sf.location(args[0]), "defineSchema's argument is not an object literal "
                                  "(or a const in this file holding one)")
        if len(args) > 1:
            schema.options = sf.text(args[1])
        entries = kids(tables)
        schema.insert_at = tables.start_byte + 1
        if entries:
            last = entries[-1]
            after = last.next_sibling
            schema.needs_comma = after is None or after.type != ","
            schema.insert_at = last.end_byte if schema.needs_comma else after.end_byte
            schema.indent = entries[0].start_point[1]
        for entry in entries:
            if entry.type == "pair":
                key = entry.child_by_field_name("key")
                if key.type not in ("property_identifier", "string"):
                    schema.unread.append(UnreadEntry(sf.location(entry), sf.text(entry)))
                    continue
                name = sf.text(key) if key.type == "property_identifier" else string_value(sf, key)
                table = self._table(name, entry, entry.child_by_field_name("value"))
            elif entry.type == "shorthand_property_identifier":
                table = self._table(sf.text(entry), entry, entry)
            else:
                schema.unread.append(UnreadEntry(sf.location(entry), sf.text(entry)))
                continue
            schema.tables[table.name] = table
        return schema

    def _schema_call(self) -> Node:
        for statement in kids(self.sf.root):
            if statement.type == "export_statement" and any(c.type == "default" for c in statement.children):
                value = statement.child_by_field_name("value") or statement.child_by_field_name("declaration")
                try:
                    call = self._resolve(value) if value is not None else statement
                except _NotStatic as exc:
                    raise SchemaReadError(self.sf.location(exc.node), exc.why) from None
                function = call.child_by_field_name("function") if call.type == "call_expression" else None
                if function is None or self.sf.text(function) != "defineSchema":
                    raise SchemaReadError(self.sf.location(value or statement),
                                          "the default export is not a defineSchema(...) call")
                return call
        raise SchemaReadError(f"{self.sf.path}:1:1", "no `export default defineSchema(...)` in the file")

    def _resolve(self, node: Node) -> Node:
        """Unwrap `as`/parentheses and follow const identifiers defined in this file."""
        seen: set[int] = set()
        node = unwrap(node)
        while node.type in ("identifier", "shorthand_property_identifier"):
            if node.id in seen:
                raise _NotStatic(node, "the constant refers to itself")
            seen.add(node.id)
            try:
                node = unwrap(self.ev.const_value_node(node))
            except DeclarationError as exc:
                raise _NotStatic(node, exc.message.split(": ", 1)[-1]) from None
        return node

    # -- tables ----------------------------------------------------------------------------
    def _table(self, name: str, entry: Node, value: Node) -> SchemaTable:
        block_start = entry.start_byte
        before = entry.prev_named_sibling
        while before is not None and before.type == "comment":
            block_start = before.start_byte
            before = before.prev_named_sibling
        table = SchemaTable(name=name, location=self.sf.location(entry), start=entry.start_byte,
                            end=entry.end_byte, block_start=block_start)
        try:
            self._read_table(table, value)
        except _NotStatic as exc:
            table.problem = f"{self.sf.location(exc.node)}: {exc.why}"
        except (DeclarationError, ValidatorSyntaxError) as exc:
            where = exc.location if isinstance(exc, DeclarationError) else table.location
            why = exc.message.split(": ", 1)[-1] if isinstance(exc, DeclarationError) else str(exc)
            table.problem = f"{where}: {why}"
        return table

    def _read_table(self, table: SchemaTable, value: Node) -> None:
        node = self._resolve(value)
        calls: list[tuple[str, Node, Node, int]] = []
        while node.type == "call_expression" and node.child_by_field_name("function").type == "member_expression":
            member = node.child_by_field_name("function")
            receiver = member.child_by_field_name("object")
            calls.append((self.sf.text(member.child_by_field_name("property")), node,
                          node.child_by_field_name("arguments"), receiver.end_byte))
            node = unwrap(receiver)
        function = node.child_by_field_name("function") if node.type == "call_expression" else None
        if function is None or self.sf.text(function) != "defineTable":
            raise _NotStatic(node, "the table is not a defineTable(...) call")
        args = kids(node.child_by_field_name("arguments"))
        if len(args) != 1:
            raise _NotStatic(node, "defineTable takes one argument (the fields object or a validator)")
        document = self._resolve(args[0])
        text = f"v.object({self._fields_text(document)})" if document.type == "object" else \
            self._validator_text(document)
        table.document = parse_validator(text)
        for method, call, arguments, receiver_end in reversed(calls):
            margs = kids(arguments)
            if method == "index":
                if len(margs) != 2:
                    raise _NotStatic(call, ".index() takes a name and the fields")
                table.indexes[self._string(margs[0])] = self._index_fields(margs[1])
            elif method in VERBATIM_INDEX_METHODS:
                name = self._string(margs[0]) if margs else ""
                table.verbatim_indexes.append(VerbatimIndex(
                    method, name, self.sf.source[receiver_end:call.end_byte].decode("utf-8")))
            else:
                raise _NotStatic(call, f"unknown table method .{method}()")

    def _index_fields(self, node: Node) -> list[str]:
        value = self.ev.value(node)
        if isinstance(value, dict):                       # {fields: [...], staged: true}
            value = value.get("fields")
        if not isinstance(value, list) or not all(isinstance(f, str) for f in value):
            raise _NotStatic(node, "index fields must be an array of strings")
        return value

    def _string(self, node: Node) -> str:
        value = self.ev.value(node)
        if not isinstance(value, str):
            raise _NotStatic(node, "expected a string")
        return value

    # -- validators as text for parse_validator ---------------------------------------------
    def _fields_text(self, obj: Node) -> str:
        entries = self.ev.object_entries(obj)
        return "{" + ", ".join(f"{json.dumps(key)}: {self._validator_text(value)}" for key, value in entries) + "}"

    def _validator_text(self, node: Node) -> str:
        node = self._resolve(node)
        function = node.child_by_field_name("function") if node.type == "call_expression" else None
        if function is None or function.type != "member_expression" or \
                self.sf.text(function.child_by_field_name("object")) != "v":
            raise _NotStatic(node, "expected a `v.*(...)` validator (or a const in this file holding one)")
        parts = []
        for arg in kids(node.child_by_field_name("arguments")):
            target = self._resolve(arg)
            if target.type == "object":
                parts.append(self._fields_text(target))
            elif target.type == "call_expression":
                parts.append(self._validator_text(target))
            else:
                parts.append(self._literal_text(target))
        return f"v.{self.sf.text(function.child_by_field_name('property'))}({', '.join(parts)})"

    def _literal_text(self, node: Node) -> str:
        value = self.ev.value(node)
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str):
            return json.dumps(value)
        if isinstance(value, float):
            return repr(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)
        raise _NotStatic(node, "expected a string, number or boolean literal")
