"""Values across the app's own modules: constants imported from relative files.

Apps keep their schema next to the database (`import { schemaV1 } from "./db_schema"`),
behind barrels (`export * from`, `export { x as y } from`), in CommonJS
(`module.exports = {...}`, `const { schema } = require("./schema")`). This resolves a name
to the file and expression that define it, so the evaluator reads it as if it were local.
Package imports are not followed: their source is not part of the app.
"""

from __future__ import annotations

import json

from typing import Any

from tree_sitter import Node

from migrator.errors import DeclarationError

from .evaluate import Constant, Evaluator, Module, Origin, string_value
from .modules import resolve_module
from .source import SourceCache, SourceFile, kids, unwrap

_CJS_EXPORTS = ("module.exports", "exports")


class Linker:
    def __init__(self, cache: SourceCache):
        self.cache = cache
        self._evaluators: dict[str, Evaluator] = {}
        self._active: set[tuple[str, str]] = set()

    def evaluator(self, sf: SourceFile) -> Evaluator:
        if sf.path not in self._evaluators:
            self._evaluators[sf.path] = Evaluator(sf, self)
        return self._evaluators[sf.path]

    # -- entry points used by the evaluator ------------------------------------------------
    def imported(self, sf: SourceFile, binding: Node, ident: Node) -> Origin | Module | Constant:
        """What an import binding (`import x`, `import { a as x }`, `import * as x`) stands for."""
        statement = binding
        while statement.type != "import_statement":
            statement = statement.parent
        specifier = string_value(sf, statement.child_by_field_name("source"))
        if specifier.endswith(".json"):
            return Constant(self._json(sf, specifier, ident))
        target = self._module(sf, specifier, ident)
        if binding.parent.type == "namespace_import":
            return Module(self, target)
        if binding.parent.type == "import_clause":
            name = "default"
        else:
            name = sf.text(next(n for n in kids(binding.parent) if n.type in ("identifier", "string")))
            name = name.strip("\"'")
        found = self.export(target, name)
        if found is None:
            raise DeclarationError(sf.location(ident), f"cannot evaluate `{sf.text(ident)}` statically: "
                                   f"{target.path} does not export `{name}`")
        return found

    def required(self, sf: SourceFile, specifier: str, at: Node) -> Any:
        """`require(specifier)`: a Module, or the data of a `.json` file."""
        if specifier.endswith(".json"):
            return self._json(sf, specifier, at)
        return Module(self, self._module(sf, specifier, at))

    def _json(self, sf: SourceFile, specifier: str, at: Node) -> Any:
        path = resolve_module(sf.path, specifier)
        if path is None:
            raise DeclarationError(sf.location(at), f"cannot evaluate `{sf.text(at)}` statically: "
                                   f"{specifier!r} imported by {sf.path} was not found")
        try:
            return json.loads(path.read_text(encoding="utf-8"), parse_int=float)
        except (ValueError, UnicodeDecodeError) as exc:
            raise DeclarationError(sf.location(at), f"{path} is not valid JSON: {exc}") from None

    def export(self, sf: SourceFile, name: str) -> Origin | Module | None:
        """Where `sf` defines its export `name` ("default" for the default export or
        `module.exports`); None when it has no such export."""
        key = (sf.path, name)
        if key in self._active:
            raise DeclarationError(f"{sf.path}:1:1", f"the export `{name}` of {sf.path} is re-exported in a cycle")
        self._active.add(key)
        try:
            return self._export(sf, name)
        finally:
            self._active.discard(key)

    def exports_object(self, sf: SourceFile) -> Origin | None:
        """The expression a module exports as a whole (`module.exports = X`, `export default X`)."""
        found = self.export(sf, "default")
        return found if isinstance(found, tuple) else None

    # -- the search ----------------------------------------------------------------------
    def _module(self, sf: SourceFile, specifier: str, at: Node) -> SourceFile:
        if not specifier.startswith("."):
            raise DeclarationError(sf.location(at), f"cannot evaluate `{sf.text(at)}` statically: it comes from "
                                   f"package {specifier!r}, whose source is not part of the app")
        path = resolve_module(sf.path, specifier)
        if path is None:
            raise DeclarationError(sf.location(at), f"cannot evaluate `{sf.text(at)}` statically: module "
                                   f"{specifier!r} imported by {sf.path} was not found")
        return self.cache.get(path)

    def _export(self, sf: SourceFile, name: str) -> Origin | Module | None:
        ev = self.evaluator(sf)
        stars: list[Node] = []
        for statement in kids(sf.root):
            if statement.type == "export_statement":
                found = self._from_export_statement(sf, ev, statement, name, stars)
            elif statement.type == "expression_statement":
                found = self._from_commonjs(sf, ev, kids(statement)[0] if kids(statement) else statement, name)
            else:
                found = None
            if found is not None:
                return found
        for source in stars:
            found = self.export(self._module(sf, string_value(sf, source), source), name)
            if found is not None:
                return found
        return None

    def _from_export_statement(self, sf: SourceFile, ev: Evaluator, statement: Node, name: str,
                               stars: list[Node]) -> Origin | Module | None:
        source = statement.child_by_field_name("source")
        declaration = statement.child_by_field_name("declaration")
        if any(c.type == "default" for c in statement.children):
            value = statement.child_by_field_name("value")
            return (ev, value if value is not None else declaration) if name == "default" else None
        if declaration is not None:
            if declaration.type in ("lexical_declaration", "variable_declaration"):
                for declarator in kids(declaration):
                    target = declarator.child_by_field_name("name")
                    if target is not None and target.type == "identifier" and sf.text(target) == name:
                        return ev, target
            target = declaration.child_by_field_name("name")
            return (ev, declaration) if target is not None and sf.text(target) == name else None
        clause = next((c for c in kids(statement) if c.type == "export_clause"), None)
        if clause is not None:
            for spec in kids(clause):
                names = [n for n in kids(spec) if n.type in ("identifier", "string")]
                if names and sf.text(names[-1]).strip("\"'") == name:
                    local = names[0]
                    if source is None:
                        return ev, local
                    return self.export(self._module(sf, string_value(sf, source), source), sf.text(local).strip("\"'"))
            return None
        namespace = next((c for c in kids(statement) if c.type == "namespace_export"), None)
        if namespace is not None:                              # export * as ns from "./x"
            alias = kids(namespace)
            if alias and sf.text(alias[0]) == name:
                return Module(self, self._module(sf, string_value(sf, source), source))
            return None
        if source is not None:                                 # export * from "./x"
            stars.append(source)
        return None

    def _from_commonjs(self, sf: SourceFile, ev: Evaluator, expression: Node, name: str) -> Origin | None:
        """`module.exports = X`, `module.exports.name = X`, `exports.name = X`."""
        if expression.type != "assignment_expression":
            return None
        left = "".join(sf.text(expression.child_by_field_name("left")).split())
        right = expression.child_by_field_name("right")
        if left == "module.exports":
            if name == "default":
                return ev, right
            target = unwrap(right)
            if target.type == "object":
                for prop in kids(target):
                    if prop.type == "shorthand_property_identifier" and sf.text(prop) == name:
                        return ev, prop
                    if prop.type == "pair" and ev.property_key(prop.child_by_field_name("key")) == name:
                        return ev, prop.child_by_field_name("value")
            return None
        head, _, member = left.rpartition(".")
        if head in _CJS_EXPORTS and member == name:
            return ev, right
        return None
