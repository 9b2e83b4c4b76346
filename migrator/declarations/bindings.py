"""What a name is bound to: destructuring patterns, function parameters, loop variables.

Real apps destructure (`const { schemaV1 } = require("./schema")`, `({ version, stores }) =>
db.version(version).stores(stores)`, `for (const { version, stores } of VERSIONS)`), so the
evaluator must know which part of which value a name stands for, and which function or
loop gives it that value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from tree_sitter import Node

from .source import SourceFile, kids, walk

FUNCTION_NODES = ("function_declaration", "function_expression", "arrow_function", "method_definition",
                  "generator_function_declaration", "generator_function")
PARAMETER_NODES = ("required_parameter", "optional_parameter")
_PATTERN_LEAVES = ("identifier", "shorthand_property_identifier_pattern")


class _NotBound:
    def __repr__(self) -> str:
        return "not bound"


NOT_BOUND = _NotBound()


def pattern_binds(sf: SourceFile, pattern: Node | None, name: str) -> bool:
    """Whether a binding pattern (identifier, `{a, b: c}`, `[x, y]`, defaults, rest) binds `name`."""
    if pattern is None:
        return False
    return any(n.type in _PATTERN_LEAVES and sf.text(n) == name and _is_bound_position(n, pattern)
               for n in walk(pattern))


def _is_bound_position(node: Node, pattern: Node) -> bool:
    """Leaves that are bound, not keys (`{a: b}` binds b) nor default values (`{a = X}`)."""
    while node.id != pattern.id:
        parent = node.parent
        if parent.type == "pair_pattern" and parent.child_by_field_name("key") is not None and \
                parent.child_by_field_name("key").id == node.id:
            return False
        if parent.type in ("assignment_pattern", "object_assignment_pattern") and \
                parent.child_by_field_name("right") is not None and parent.child_by_field_name("right").id == node.id:
            return False
        node = parent
    return True


def pattern_value(sf: SourceFile, pattern: Node, value: Any, name: str,
                  evaluate: Callable[[Node], Any], undefined: Any) -> Any:
    """The part of `value` that `name` receives when `value` is destructured by `pattern`
    (`evaluate` computes default values); NOT_BOUND when the pattern does not bind it."""
    kind = pattern.type
    if kind in _PATTERN_LEAVES:
        return value if sf.text(pattern) == name else NOT_BOUND
    if kind in ("assignment_pattern", "object_assignment_pattern"):
        left, right = pattern.child_by_field_name("left"), pattern.child_by_field_name("right")
        if not pattern_binds(sf, left, name):
            return NOT_BOUND
        return pattern_value(sf, left, evaluate(right) if value is undefined else value, name, evaluate, undefined)
    if kind == "object_pattern":
        for part in kids(pattern):
            if part.type == "pair_pattern":
                key_node = part.child_by_field_name("key")
                key = sf.text(key_node).strip("\"'") if key_node.type != "computed_property_name" else None
                target = part.child_by_field_name("value")
            elif part.type == "object_assignment_pattern":
                key, target = sf.text(part.child_by_field_name("left")), part
            else:
                key, target = sf.text(part), part
            if not pattern_binds(sf, target, name):
                continue
            if key is None or not hasattr(value, "get"):
                return NOT_BOUND
            inner = value.get(key, undefined)
            return pattern_value(sf, target, inner, name, evaluate, undefined) if target is not part or \
                part.type == "object_assignment_pattern" else inner
    if kind == "array_pattern":
        for i, element in enumerate(kids(pattern)):
            if pattern_binds(sf, element, name):
                if not isinstance(value, list):
                    return NOT_BOUND
                return pattern_value(sf, element, value[i] if i < len(value) else undefined, name,
                                     evaluate, undefined)
    return NOT_BOUND


@dataclass
class ParameterSite:
    """Where a parameter or loop variable gets its value: argument `position` of `owner`
    (a function), or each element of a `for...of` loop (`owner` is the loop)."""

    owner: Node
    position: int
    pattern: Node


def parameter_site(binding: Node) -> ParameterSite | None:
    if binding.type in PARAMETER_NODES:
        params = binding.parent
        position = [k.id for k in kids(params)].index(binding.id)
        return ParameterSite(params.parent, position, binding.child_by_field_name("pattern"))
    parent = binding.parent
    if parent is not None and parent.type == "arrow_function":
        return ParameterSite(parent, 0, binding)
    node = binding
    while parent is not None and parent.type != "for_in_statement":
        node, parent = parent, parent.parent
    if parent is not None and parent.child_by_field_name("left") is not None and \
            parent.child_by_field_name("left").id == node.id:
        return ParameterSite(parent, 0, node)
    return None


def describe_owner(sf: SourceFile, owner: Node) -> str:
    if owner.type == "for_in_statement":
        return f"the loop at {sf.location(owner)}"
    name = owner.child_by_field_name("name")
    if owner.type == "method_definition":
        text = sf.text(name)
        return f"the constructor ({sf.location(owner)})" if text == "constructor" else \
            f"method `{text}` ({sf.location(owner)})"
    if name is not None:
        return f"function `{sf.text(name)}` ({sf.location(owner)})"
    return f"the callback at {sf.location(owner)}"


def reassignment(sf: SourceFile, declarator: Node, name: str, binding_of: Callable[[Node], Node | None]) -> Node | None:
    """The first place a `let`/`var` variable is assigned again (or incremented), if any."""
    root = declarator
    while root.parent is not None:
        root = root.parent
    for node in walk(root):
        if node.type in ("assignment_expression", "augmented_assignment_expression"):
            target = node.child_by_field_name("left")
        elif node.type == "update_expression":
            target = node.child_by_field_name("argument")
        else:
            continue
        if target is not None and target.type == "identifier" and sf.text(target) == name:
            found = binding_of(target)
            if found is not None and found.id == declarator.id:
                return node
    return None
