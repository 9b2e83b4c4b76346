"""Static evaluation of the few JS expressions real apps use to write Dexie specs.

Spec strings are plain data in almost every app, but they are spelled in many ways:
quoted or computed keys, template literals, `+` concatenation, `[...].join(",")`, and
constants defined elsewhere in the file. This evaluates exactly those forms and refuses
everything else with the place it stopped at, so nothing is guessed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

from tree_sitter import Node

from migrator.errors import DeclarationError

from .bindings import (FUNCTION_NODES, NOT_BOUND, PARAMETER_NODES, describe_owner, parameter_site,
                       pattern_binds, pattern_value, reassignment)
from .source import SourceFile, kids, unwrap

SCOPE_NODES = ("program", "statement_block", "class_static_block")


class _Undefined:
    def __repr__(self) -> str:
        return "undefined"


UNDEFINED = _Undefined()


def js_string(value: Any) -> str:
    """String(value) as JS computes it, for the value kinds this module produces."""
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if value is UNDEFINED:
        return "undefined"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        if value == int(value) and abs(value) < 1e21:
            return str(int(value))
        return repr(value)
    if isinstance(value, list):
        return ",".join("" if v is None or v is UNDEFINED else js_string(v) for v in value)
    return "[object Object]"


def js_number(text: str) -> float:
    """A JS numeric literal (hex/octal/binary, `_` separators, legacy octal)."""
    text = text.replace("_", "").lower()
    if text.endswith("n"):
        raise ValueError("BigInt literal")
    for prefix, base in (("0x", 16), ("0o", 8), ("0b", 2)):
        if text.startswith(prefix):
            return float(int(text[2:], base))
    if len(text) > 1 and text[0] == "0" and text.isdigit():
        return float(int(text, 8) if all(c in "01234567" for c in text) else int(text))
    return float(text)


_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v", "0": "\0"}


def unescape(sequence: str) -> str:
    """One JS escape sequence (as tree-sitter delimits it) to the text it stands for."""
    body = sequence[1:]
    if body[:1] in ("\n", "\r", "\u2028", "\u2029"):
        return ""                                  # line continuation
    if body.startswith("u{"):
        return chr(int(body[2:-1], 16))
    if body.startswith("u") and len(body) == 5:
        return chr(int(body[1:], 16))
    if body.startswith("x") and len(body) == 3:
        return chr(int(body[1:], 16))
    return _SIMPLE_ESCAPES.get(body, body)


def _join_utf16(parts: list[str]) -> str:
    """Join pieces; `\\uD83D\\uDE00` escapes arrive as two surrogates and must pair up."""
    text = "".join(parts)
    if any("\ud800" <= c <= "\udfff" for c in text):
        text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text


def string_value(sf: SourceFile, node: Node) -> str:
    """The value of a `string` node, or of a `template_string` without substitutions."""
    parts: list[str] = []
    for child in node.named_children:
        if child.type == "escape_sequence":
            parts.append(unescape(sf.text(child)))
        elif child.type == "string_fragment":
            parts.append(sf.text(child).replace("\r\n", "\n") if node.type == "template_string" else sf.text(child))
        elif child.type == "template_substitution":
            raise DeclarationError(sf.location(node), f"cannot evaluate the template literal {_snippet(sf, node)} "
                                   f"statically: it has a substitution {_snippet(sf, child)}")
        elif child.type != "comment":
            parts.append(sf.text(child))
    return _join_utf16(parts)


def _snippet(sf: SourceFile, node: Node, limit: int = 60) -> str:
    text = " ".join(sf.text(node).split())
    return "`" + (text if len(text) <= limit else text[: limit - 3] + "...") + "`"


def find_binding(sf: SourceFile, name: str, at: Node) -> Node | None:
    """The nearest declaration of `name` visible from `at`: a variable_declarator (also one
    that destructures), an import_specifier / import_clause identifier, a formal parameter
    (also a destructured one), an arrow function's single parameter, or a `for...of` variable."""
    node: Node | None = at
    while node is not None:
        if node.type in SCOPE_NODES:
            for statement in kids(node):
                found = _declared_in(sf, statement, name)
                if found is not None:
                    return found
        if node.type in FUNCTION_NODES:
            params = node.child_by_field_name("parameters")
            for param in kids(params) if params is not None else []:
                if pattern_binds(sf, param.child_by_field_name("pattern"), name):
                    return param
            single = node.child_by_field_name("parameter")      # x => ...
            if single is not None and sf.text(single) == name:
                return single
        if node.type == "for_in_statement" and pattern_binds(sf, node.child_by_field_name("left"), name):
            return node.child_by_field_name("left")
        node = node.parent
    return None


def _declared_in(sf: SourceFile, statement: Node, name: str) -> Node | None:
    if statement.type == "export_statement":
        inner = statement.child_by_field_name("declaration")
        return _declared_in(sf, inner, name) if inner is not None else None
    if statement.type in ("lexical_declaration", "variable_declaration"):
        for declarator in kids(statement):
            if declarator.type == "variable_declarator" and pattern_binds(sf, declarator.child_by_field_name("name"), name):
                return declarator
    if statement.type == "import_statement":
        for node in _import_bindings(statement):
            if sf.text(node) == name:
                return node
    if statement.type in ("class_declaration", "function_declaration", "enum_declaration"):
        target = statement.child_by_field_name("name")
        if target is not None and sf.text(target) == name:
            return statement
    return None


def _import_bindings(statement: Node) -> list[Node]:
    """The local identifiers an import statement binds."""
    found = []
    for clause in kids(statement):
        if clause.type != "import_clause":
            continue
        for part in kids(clause):
            if part.type == "identifier":
                found.append(part)
            elif part.type == "namespace_import":
                found.extend(n for n in kids(part) if n.type == "identifier")
            elif part.type == "named_imports":
                for spec in kids(part):
                    names = [n for n in kids(spec) if n.type == "identifier"]
                    if names:
                        found.append(names[-1])
    return found


def import_source(sf: SourceFile, binding: Node) -> str | None:
    """For an identifier bound by an import, the module specifier it comes from."""
    node: Node | None = binding
    while node is not None and node.type != "import_statement":
        node = node.parent
    if node is None:
        return None
    source = node.child_by_field_name("source")
    return string_value(sf, source) if source is not None else None


def is_const(declarator: Node) -> bool:
    parent = declarator.parent
    return parent is not None and parent.type == "lexical_declaration" and \
        parent.child_by_field_name("kind") is not None and parent.child_by_field_name("kind").type == "const"


@dataclass
class Entry:
    """One property of an object being read (a `stores()` argument): its key, where its
    value is written, and the value on demand, so one bad property is reported alone."""
    key: str
    location: str
    get: Callable[[], Any]


class Module:
    """A relative module as a value (`import * as schema`, `require("./schema")`): its
    exports are read on demand through the linker, one at a time."""

    def __init__(self, linker: Any, sf: SourceFile):
        self.linker, self.sf = linker, sf

    def get(self, key: str, default: Any = None) -> Any:
        origin = self.linker.export(self.sf, key)
        if origin is None:
            return default
        return origin if isinstance(origin, Module) else origin[0].value(origin[1])


@dataclass
class Constant:
    """A value that comes from outside the syntax trees (an imported `.json` file)."""
    value: Any


Origin = tuple["Evaluator", Node]


class Evaluator:
    """Evaluates expressions of one file; values are str, float, bool, None, list, dict.

    With a `linker`, names imported from relative modules are followed into those files;
    `env` gives parameters and loop variables their values for one run (see contexts.py):
    per function or loop node id, one thunk per argument, evaluated only when used.
    """

    def __init__(self, sf: SourceFile, linker: Any = None, env: dict[int, list[Callable[[], Any]]] | None = None):
        self.sf = sf
        self.linker = linker
        self.env = env or {}
        self._resolving: set[int] = set()

    def with_env(self, env: dict[int, list]) -> "Evaluator":
        return Evaluator(self.sf, self.linker, env)

    def fail(self, node: Node, why: str) -> DeclarationError:
        return DeclarationError(self.sf.location(node), f"cannot evaluate {_snippet(self.sf, node)} statically: {why}")

    # -- identifiers -------------------------------------------------------------
    def const_value_node(self, ident: Node) -> Node:
        """The initializer of the `const` an identifier refers to, or an error saying why not."""
        name = self.sf.text(ident)
        binding = find_binding(self.sf, name, ident)
        if binding is None:
            raise self.fail(ident, f"`{name}` is not defined in this file")
        if binding.type in ("identifier", ) and binding.parent is not None and binding.parent.type != "variable_declarator":
            source = import_source(self.sf, binding)
            if source is not None:
                raise self.fail(ident, f"`{name}` is imported from {source!r}; only constants defined in this file are read")
        if binding.type != "variable_declarator":
            what = "a function parameter" if binding.type in ("required_parameter", "optional_parameter", "identifier") \
                else f"declared by a {binding.type.replace('_', ' ')}"
            raise self.fail(ident, f"`{name}` is {what}, not a constant")
        if binding.child_by_field_name("name").type != "identifier":
            raise self.fail(ident, f"`{name}` is destructured from another value, which is not followed here")
        if not is_const(binding):
            raise self.fail(ident, f"`{name}` is not declared with `const`, so its value may change")
        value = binding.child_by_field_name("value")
        if value is None:
            raise self.fail(ident, f"`{name}` has no initial value")
        return value

    def _resolve(self, node: Node) -> Node:
        """Follow wrappers and const identifiers to the expression that holds the value."""
        seen: set[int] = set()
        node = unwrap(node)
        while node.type == "identifier" and self.sf.text(node) != "undefined":
            if node.id in seen:
                raise self.fail(node, "the constant refers to itself")
            seen.add(node.id)
            node = unwrap(self.const_value_node(node))
        return node

    def _initializer(self, ident: Node, name: str, declarator: Node) -> Node:
        """The initial value of a variable that never changes: `const`, or `let`/`var` never assigned again."""
        value = declarator.child_by_field_name("value")
        if value is None:
            raise self.fail(ident, f"`{name}` has no initial value")
        if not is_const(declarator):
            again = reassignment(self.sf, declarator, name, lambda at: find_binding(self.sf, name, at))
            if again is not None:
                raise self.fail(ident, f"`{name}` is assigned again at {self.sf.location(again)}, so its value may change")
        return value

    def origin(self, ident: Node) -> "Origin | Module | Constant | None":
        """Where an identifier's value is written: (evaluator, expression) through constants
        of this file and imports of relative modules; a Module for `import * as`; None for
        names bound by destructuring, parameters or loops (their value is computed)."""
        name = self.sf.text(ident)
        binding = find_binding(self.sf, name, ident)
        if binding is None:
            raise self.fail(ident, f"`{name}` is not defined in this file (nor imported)")
        if binding.type == "variable_declarator" and binding.child_by_field_name("name").type == "identifier":
            return self, self._initializer(ident, name, binding)
        if binding.type == "enum_declaration":
            return self, binding
        source = import_source(self.sf, binding) if binding.type == "identifier" else None
        if source is not None:
            if self.linker is None:
                raise self.fail(ident, f"`{name}` is imported from {source!r}; only constants defined in this file are read")
            return self.linker.imported(self.sf, binding, ident)
        return None

    def _identifier(self, ident: Node) -> Any:
        found = self.origin(ident)
        if isinstance(found, Module):
            return found
        if isinstance(found, Constant):
            return found.value
        if found is not None:
            evaluator, node = found
            return evaluator.value(node)
        return self._bound(ident)

    def _bound(self, ident: Node) -> Any:
        """The value of a name bound by destructuring, a parameter or a loop variable."""
        name = self.sf.text(ident)
        binding = find_binding(self.sf, name, ident)
        if binding.type == "variable_declarator":
            init = self._initializer(ident, name, binding)
            value = pattern_value(self.sf, binding.child_by_field_name("name"), self.value(init), name,
                                  self.value, UNDEFINED)
            if value is NOT_BOUND:
                raise self.fail(ident, f"`{name}` is destructured from {_snippet(self.sf, init)}, "
                                       "which has no such property")
            return value
        site = parameter_site(binding)
        if site is None:
            raise self.fail(ident, f"`{name}` is declared by a {binding.type.replace('_', ' ')}, not a constant")
        args = self.env.get(site.owner.id)
        what = "a variable of" if site.owner.type == "for_in_statement" else "a parameter of"
        shape = "" if site.pattern.type == "identifier" else " (destructured)"
        if args is None:
            raise self.fail(ident, f"`{name}` is {what} {describe_owner(self.sf, site.owner)}{shape}; "
                                   "no call of it with constant arguments was found")
        value = args[site.position]() if site.position < len(args) else UNDEFINED
        default = binding.child_by_field_name("value") if binding.type in PARAMETER_NODES else None
        if value is UNDEFINED and default is not None:
            value = self.value(default)
        value = pattern_value(self.sf, site.pattern, value, name, self.value, UNDEFINED)
        if value is NOT_BOUND:
            raise self.fail(ident, f"`{name}` is {what} {describe_owner(self.sf, site.owner)}{shape}, "
                                   "and the value given has no such property")
        return value

    # -- values --------------------------------------------------------------------
    def value(self, node: Node) -> Any:
        if node.id in self._resolving:
            raise self.fail(node, "the constant refers to itself")
        self._resolving.add(node.id)
        try:
            return self._value(node)
        finally:
            self._resolving.discard(node.id)

    def _value(self, node: Node) -> Any:
        original = node
        node = unwrap(node)
        kind = node.type
        if kind == "string":
            return string_value(self.sf, node)
        if kind == "template_string":
            return self._template(node)
        if kind == "number":
            try:
                return js_number(self.sf.text(node))
            except ValueError as exc:
                raise self.fail(node, str(exc)) from None
        if kind == "null":
            return None
        if kind in ("true", "false"):
            return kind == "true"
        if kind == "undefined" or (kind == "identifier" and self.sf.text(node) == "undefined"):
            return UNDEFINED
        if kind in ("identifier", "shorthand_property_identifier"):
            return self._identifier(node)
        if kind == "unary_expression":
            return self._unary(node)
        if kind == "binary_expression":
            return self._binary(node)
        if kind == "array":
            return self._array(node)
        if kind == "object":
            return {entry.key: entry.get() for entry in self.entries(node)}
        if kind == "call_expression":
            return self._call(node)
        if kind == "enum_declaration":
            return self._enum(node)
        if kind in ("member_expression", "subscript_expression"):
            return self._member(node)
        raise self.fail(original, f"a {kind.replace('_', ' ')} is not a constant expression")

    def _enum(self, node: Node) -> dict:
        """A TypeScript enum as the object it compiles to (names to values; numbers count up)."""
        members: dict[str, Any] = {}
        next_number: Any = 0.0
        for member in kids(node.child_by_field_name("body")):
            if member.type == "enum_assignment":
                value = self.value(member.child_by_field_name("value"))
                key = member.child_by_field_name("name")
            else:
                value, key = next_number, member
                if value is None:
                    raise self.fail(member, "an enum member without a value after a string member")
            members[self.property_key(key)] = value
            next_number = value + 1 if isinstance(value, float) else None
        return members

    def _unary(self, node: Node) -> Any:
        operator = node.child_by_field_name("operator")
        operand = self.value(node.child_by_field_name("argument"))
        op = self.sf.text(operator) if operator is not None else ""
        if op in ("-", "+") and isinstance(operand, float) and not isinstance(operand, bool):
            return -operand if op == "-" else operand
        raise self.fail(node, f"unary `{op}` is only evaluated on numbers")

    def _binary(self, node: Node) -> Any:
        op = self.sf.text(node.child_by_field_name("operator"))
        if op != "+":
            raise self.fail(node, f"only `+` is evaluated, not `{op}`")
        left = self.value(node.child_by_field_name("left"))
        right = self.value(node.child_by_field_name("right"))
        if isinstance(left, float) and isinstance(right, float):
            return left + right
        if isinstance(left, (dict, list)) or isinstance(right, (dict, list)) or \
                isinstance(left, str) or isinstance(right, str):
            return js_string(left) + js_string(right)
        raise self.fail(node, "`+` is only evaluated on strings and numbers")

    def _array(self, node: Node) -> list:
        items: list = []
        for element in kids(node):
            if element.type == "spread_element":
                spread = self.value(kids(element)[0])
                if not isinstance(spread, (list, str)):
                    raise self.fail(element, "only arrays can be spread into an array")
                items.extend(spread)
            else:
                items.append(self.value(element))
        return items

    def object_entries(self, node: Node) -> list[tuple[str, Node]]:
        """(key, value node) pairs of an object literal, or of a const holding one;
        spreads of such objects are expanded in place, later keys win (kept in first-seen order)."""
        target = self._resolve(node)
        if target.type != "object":
            raise self.fail(node, "expected an object literal (or a const defined in this file holding one)")
        entries: dict[str, Node] = {}
        for prop in kids(target):
            if prop.type == "pair":
                entries[self.property_key(prop.child_by_field_name("key"))] = prop.child_by_field_name("value")
            elif prop.type == "shorthand_property_identifier":
                entries[self.sf.text(prop)] = prop
            elif prop.type == "spread_element":
                for key, value in self.object_entries(kids(prop)[0]):
                    entries[key] = value
            else:
                raise self.fail(prop, f"a {prop.type.replace('_', ' ')} is not a plain property")
        return list(entries.items())

    def _template(self, node: Node) -> str:
        """A template literal; `${...}` substitutions are evaluated like any expression."""
        parts: list[str] = []
        for child in node.named_children:
            if child.type == "template_substitution":
                parts.append(js_string(self.value(kids(child)[0])))
            elif child.type == "escape_sequence":
                parts.append(unescape(self.sf.text(child)))
            elif child.type == "string_fragment":
                parts.append(self.sf.text(child).replace("\r\n", "\n"))
        return _join_utf16(parts)

    def entries(self, node: Node) -> list[Entry]:
        """The properties of an object expression: a literal, a constant (here or imported),
        spreads of those (spreads of spreads too), `Object.assign(...)`, or any expression
        that evaluates to an object. Later keys win, kept in first-seen order."""
        target = unwrap(node)
        if target.type == "identifier":
            found = self.origin(target)
            if isinstance(found, tuple):
                evaluator, expression = found
                return evaluator.entries(expression)
        if target.type == "object":
            entries: dict[str, Entry] = {}
            for prop in kids(target):
                if prop.type == "pair":
                    value = prop.child_by_field_name("value")
                    key = self.property_key(prop.child_by_field_name("key"))
                    entries[key] = Entry(key, self.sf.location(value), lambda value=value: self.value(value))
                elif prop.type == "shorthand_property_identifier":
                    key = self.sf.text(prop)
                    entries[key] = Entry(key, self.sf.location(prop), lambda prop=prop: self.value(prop))
                elif prop.type == "spread_element":
                    for entry in self.entries(kids(prop)[0]):
                        entries[entry.key] = entry
                else:
                    raise self.fail(prop, f"a {prop.type.replace('_', ' ')} is not a plain property")
            return list(entries.values())
        if target.type == "call_expression" and self._callee(target) == "Object.assign":
            merged: dict[str, Entry] = {}
            for arg in kids(target.child_by_field_name("arguments")):
                for entry in self.entries(arg):
                    merged[entry.key] = entry
            return list(merged.values())
        value = self.value(node)
        if isinstance(value, Module):
            exported = self.linker.exports_object(value.sf)
            if exported is not None:
                return exported[0].entries(exported[1])
        if not isinstance(value, dict):
            raise self.fail(node, "expected an object (a literal, or a constant holding one)")
        return [Entry(key, self.sf.location(node), lambda item=item: item) for key, item in value.items()]

    def _callee(self, call: Node) -> str:
        return "".join(self.sf.text(unwrap(call.child_by_field_name("function"))).split())

    def property_key(self, key: Node) -> str:
        if key.type in ("property_identifier", "private_property_identifier"):
            return self.sf.text(key)
        if key.type == "string":
            return string_value(self.sf, key)
        if key.type == "number":
            return js_string(js_number(self.sf.text(key)))
        if key.type == "computed_property_name":
            return js_string(self.value(kids(key)[0]))
        raise self.fail(key, "unsupported property key")

    def _call(self, node: Node) -> Any:
        function = node.child_by_field_name("function")
        args = kids(node.child_by_field_name("arguments"))
        callee = self._callee(node)
        if function.type == "member_expression" and self.sf.text(function.child_by_field_name("property")) == "join":
            receiver = self.value(function.child_by_field_name("object"))
            if isinstance(receiver, list) and len(args) <= 1:
                separator = "," if not args else self.value(args[0])
                if separator is UNDEFINED:
                    separator = ","
                if isinstance(separator, str):
                    return separator.join("" if v is None or v is UNDEFINED else js_string(v) for v in receiver)
            raise self.fail(node, "`.join()` is only evaluated on an array with a string separator")
        if callee == "Object.assign":
            return {entry.key: entry.get() for entry in self.entries(node)}
        if callee == "Object.freeze" and len(args) == 1:
            return self.value(args[0])
        if callee in ("Number", "String") and len(args) == 1:
            return self._convert(callee, self.value(args[0]), node)
        if callee == "require" and len(args) == 1 and args[0].type == "string":
            specifier = string_value(self.sf, args[0])
            if self.linker is None or not specifier.startswith("."):
                raise self.fail(node, f"`require({specifier!r})` is not a relative module of the app")
            return self.linker.required(self.sf, specifier, node)
        raise self.fail(node, "function calls are not evaluated (only `[...].join()`, `Object.assign`, "
                              "`Object.freeze`, `Number`, `String` and `require` of a relative module)")

    def _convert(self, to: str, value: Any, node: Node) -> Any:
        if to == "String":
            return js_string(value)
        if isinstance(value, float) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return js_number(value.strip() or "0")
            except ValueError:
                return math.nan
        raise self.fail(node, "`Number()` is only evaluated on numbers and strings")

    def _member(self, node: Node) -> Any:
        obj = self.value(node.child_by_field_name("object"))
        if node.type == "member_expression":
            key: Any = self.sf.text(node.child_by_field_name("property"))
        else:
            key = self.value(node.child_by_field_name("index"))
        if isinstance(obj, Module):
            found = obj.get(js_string(key), NOT_BOUND)
            if found is NOT_BOUND:
                raise self.fail(node, f"{obj.sf.path} does not export {js_string(key)!r}")
            return found
        if isinstance(obj, dict):
            key = js_string(key)
            if key in obj:
                return obj[key]
            raise self.fail(node, f"the object has no property {key!r}")
        if isinstance(obj, list) and isinstance(key, float) and key.is_integer() and 0 <= key < len(obj):
            return obj[int(key)]
        raise self.fail(node, "only properties of constant objects and arrays are evaluated")
