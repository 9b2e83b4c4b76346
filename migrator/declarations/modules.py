"""Find where a TypeScript type name is declared: in the file, or through relative imports.

Row types usually live next to the database (`models.ts`, `types.ts`) and are imported
with `import type`, default imports, barrels (`./models/index.ts`) and re-exports. Only
relative imports are followed; package imports are reported, since their source is not
part of the app.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tree_sitter import Node

from .evaluate import string_value
from .source import SourceCache, SourceFile, kids

TYPE_DECLARATIONS = ("interface_declaration", "type_alias_declaration", "class_declaration",
                     "abstract_class_declaration", "enum_declaration")
_RESOLVE_EXTENSIONS = (".ts", ".tsx", ".d.ts", ".mts", ".cts", ".js", ".jsx", ".mjs", ".cjs")
_JS_TO_TS = {".js": (".ts", ".tsx"), ".jsx": (".tsx",), ".mjs": (".mts",), ".cjs": (".cts",)}


@dataclass
class Found:
    """Declarations of one name (several for merged interfaces), or why there are none."""
    sf: SourceFile | None
    nodes: list[Node]
    package: str | None = None      # set when the name is imported from a package
    reason: str | None = None


def resolve_module(from_file: str, specifier: str) -> Path | None:
    """The file a relative import specifier points at, trying what TypeScript would try."""
    base = Path(from_file).parent / specifier
    candidates = [base.with_suffix(ts) for ts in _JS_TO_TS.get(base.suffix, ())]
    candidates.append(base)
    candidates += [Path(str(base) + ext) for ext in _RESOLVE_EXTENSIONS]
    candidates += [base / ("index" + ext) for ext in _RESOLVE_EXTENSIONS]
    return next((c for c in candidates if c.is_file()), None)


def _statements(sf: SourceFile) -> list[Node]:
    return kids(sf.root)


def _declaration_of(statement: Node) -> Node | None:
    if statement.type == "export_statement":
        statement = statement.child_by_field_name("declaration") or statement
    if statement.type == "ambient_declaration":          # declare interface X {...}
        inner = kids(statement)
        statement = inner[0] if inner else statement
    return statement if statement.type in TYPE_DECLARATIONS else None


def _name(sf: SourceFile, declaration: Node) -> str | None:
    name = declaration.child_by_field_name("name")
    return sf.text(name) if name is not None else None


class Modules:
    def __init__(self, cache: SourceCache):
        self.cache = cache

    def lookup(self, sf: SourceFile, name: str, _seen: frozenset = frozenset()) -> Found:
        """Declarations of `name` visible at the top level of `sf`."""
        key = (sf.path, name)
        if key in _seen:
            return Found(None, [], reason=f"`{name}` is imported in a cycle")
        seen = _seen | {key}
        local = [d for d in map(_declaration_of, _statements(sf)) if d is not None and _name(sf, d) == name]
        if local:
            return Found(sf, local)
        for statement in _statements(sf):
            if statement.type == "import_statement":
                imported = self._imported_name(sf, statement, name)
                if imported is not None:
                    return self._from_module(sf, statement.child_by_field_name("source"), imported, seen)
        return Found(None, [], reason=f"`{name}` is not declared in {sf.path} or a file it imports")

    def lookup_export(self, sf: SourceFile, exported: str, _seen: frozenset = frozenset()) -> Found:
        """What `sf` exports as `exported` ("default" for the default export)."""
        key = (sf.path, "export:" + exported)
        if key in _seen:
            return Found(None, [], reason=f"`{exported}` is re-exported in a cycle")
        seen = _seen | {key}
        star_sources: list[Node] = []
        for statement in _statements(sf):
            if statement.type != "export_statement":
                continue
            source = statement.child_by_field_name("source")
            is_default = any(c.type == "default" for c in statement.children)
            if exported == "default" and is_default:
                declaration = _declaration_of(statement)
                if declaration is not None:
                    return Found(sf, [declaration])
                value = statement.child_by_field_name("value")
                if value is not None and value.type == "identifier":
                    return self.lookup(sf, sf.text(value), seen)
                return Found(None, [], reason=f"the default export of {sf.path} is not a type declaration")
            clause = next((c for c in kids(statement) if c.type == "export_clause"), None)
            if clause is not None:
                for spec in kids(clause):
                    names = [sf.text(n) for n in kids(spec) if n.type in ("identifier", "string")]
                    if names and names[-1] == exported:
                        if source is not None:
                            return self._from_module(sf, source, names[0], seen)
                        return self.lookup(sf, names[0], seen)
            elif source is not None and statement.child_by_field_name("declaration") is None:
                star_sources.append(source)                     # export * from "./x"
        if exported != "default":
            found = self.lookup(sf, exported, seen)
            if found.nodes or found.package:
                return found
            for source in star_sources:
                found = self._from_module(sf, source, exported, seen)
                if found.nodes:
                    return found
        return Found(None, [], reason=f"{sf.path} does not export `{exported}`")

    def namespace_module(self, sf: SourceFile, alias: str) -> SourceFile | str:
        """For `import * as alias from "./x"`, the parsed file; otherwise why not."""
        for statement in _statements(sf):
            if statement.type != "import_statement":
                continue
            for clause in kids(statement):
                for part in kids(clause) if clause.type == "import_clause" else []:
                    if part.type == "namespace_import" and any(sf.text(n) == alias for n in kids(part)):
                        specifier = string_value(sf, statement.child_by_field_name("source"))
                        if not specifier.startswith("."):
                            return f"imported from package {specifier!r}"
                        path = resolve_module(sf.path, specifier)
                        return self.cache.get(path) if path else f"module {specifier!r} not found"
        return f"`{alias}` is not a namespace import"

    def _imported_name(self, sf: SourceFile, statement: Node, local: str) -> str | None:
        """The exported name an import binds to `local` ("default" for default imports)."""
        for clause in kids(statement):
            if clause.type != "import_clause":
                continue
            for part in kids(clause):
                if part.type == "identifier" and sf.text(part) == local:
                    return "default"
                if part.type == "named_imports":
                    for spec in kids(part):
                        names = [sf.text(n) for n in kids(spec) if n.type in ("identifier", "string")]
                        if names and names[-1] == local:
                            return names[0]
        return None

    def _from_module(self, sf: SourceFile, source: Node, exported: str, seen: frozenset) -> Found:
        specifier = string_value(sf, source)
        if not specifier.startswith("."):
            return Found(None, [], package=specifier, reason=f"`{exported}` is imported from package {specifier!r}")
        path = resolve_module(sf.path, specifier)
        if path is None:
            return Found(None, [], reason=f"module {specifier!r} imported by {sf.path} was not found")
        return self.lookup_export(self.cache.get(path), exported, seen)
