"""Versions declared through code: the calls under which a `version(n).stores(...)` runs.

Some apps do not write `db.version(3).stores({...})` directly but call a helper
(`this.addVersion(3, {...})`) or loop over a constant list (`VERSIONS.forEach(...)`,
`for (const { version, stores } of VERSIONS)`). For a version call, this finds every
combination of argument and loop values it runs with: one environment per run, keyed by
the function or loop that binds the names (see `Evaluator.env`). Arguments are evaluated
only when used, so a helper called with runtime values elsewhere does no harm.
"""

from __future__ import annotations

from typing import Any, Callable

from tree_sitter import Node

from .bindings import FUNCTION_NODES
from .evaluate import Evaluator, find_binding
from .source import SourceFile, kids, unwrap, walk

Env = dict[int, list]
_ITERATING_METHODS = ("forEach", "map")
_MAX_DEPTH = 8


class Contexts:
    def __init__(self, sf: SourceFile, evaluator: Evaluator,
                 accept: Callable[[Node, Node], bool] = lambda function, call: True,
                 given: dict[int, list[Callable[[], Any]]] | None = None):
        """`accept(function, call)`: whether a call of a helper counts (e.g. only the calls
        that pass this database to a helper shared by several). `given`: the arguments of a
        helper called from another file, per function node id (its only run)."""
        self.sf, self.evaluator, self.accept, self.given = sf, evaluator, accept, given or {}

    def of(self, node: Node, depth: int = 0) -> list[Env]:
        """Every environment `node` runs in ([{}] for plain top-level or constructor code)."""
        owner = _owner(node)
        if owner is None or depth > _MAX_DEPTH:
            return [{}]
        if owner.type == "for_in_statement":
            return self._loop(owner, depth)
        if owner.id in self.given:
            return [{owner.id: self.given[owner.id]}]
        if owner.type == "method_definition" and self.sf.text(owner.child_by_field_name("name")) == "constructor":
            return self.of(owner, depth + 1)
        iteration = _iteration(self.sf, owner)
        if iteration is not None:
            call, receiver = iteration
            return [{**env, owner.id: [_const(item), _const(float(i))]}
                    for env in self.of(call, depth + 1)
                    for i, item in enumerate(self._items(receiver, env, call))]
        sites = [site for site in self.call_sites(owner) if self.accept(owner, site)]
        if not sites:
            return self.of(owner, depth + 1)
        envs = []
        for site in sites:
            for env in self.of(site, depth + 1):
                scoped = self.evaluator.with_env(env)
                args = kids(site.child_by_field_name("arguments"))
                envs.append({**env, owner.id: [lazy(scoped, a) for a in args]})
        return envs

    def _loop(self, loop: Node, depth: int) -> list[Env]:
        right = loop.child_by_field_name("right")
        is_of = any(c.type == "of" for c in loop.children)
        envs = []
        for env in self.of(loop, depth + 1):
            if is_of:
                items = self._items(right, env, loop)
            else:                                      # for (const key in OBJECT)
                value = self.evaluator.with_env(env).value(right)
                if not isinstance(value, dict):
                    raise self.evaluator.fail(right, "a `for...in` loop over something other than a constant object")
                items = list(value)
            envs.extend({**env, loop.id: [_const(item)]} for item in items)
        return envs

    def _items(self, receiver: Node, env: Env, at: Node) -> list:
        items = self.evaluator.with_env(env).value(receiver)
        if not isinstance(items, list):
            raise self.evaluator.fail(receiver, f"the loop at {self.sf.location(at)} runs over something "
                                                "other than a constant array")
        return items

    def call_sites(self, function: Node) -> list[Node]:
        """Calls of a helper: `this.m(...)` for a method or class field of the same class,
        `f(...)` for a function declared (or assigned to a variable) in this file."""
        holder = function.parent
        if function.type == "method_definition" or (holder is not None and holder.type == "public_field_definition"):
            name_node = (function if function.type == "method_definition" else holder).child_by_field_name("name")
            name = self.sf.text(name_node)
            body = function.parent if function.type == "method_definition" else holder.parent
            return [c for c in walk(body) if c.type == "call_expression" and not _inside(c, function)
                    and _is_this_call(self.sf, c, name)]
        if function.type == "function_declaration":
            declaration, name = function, self.sf.text(function.child_by_field_name("name"))
        elif holder is not None and holder.type == "variable_declarator" and \
                holder.child_by_field_name("name").type == "identifier":
            declaration, name = holder, self.sf.text(holder.child_by_field_name("name"))
        else:
            return []
        sites = []
        for call in walk(self.sf.root):
            callee = call.child_by_field_name("function") if call.type == "call_expression" else None
            if callee is not None and callee.type == "identifier" and self.sf.text(callee) == name \
                    and not _inside(call, function):
                binding = find_binding(self.sf, name, callee)
                if binding is not None and binding.id == declaration.id:
                    sites.append(call)
        return sites


def _owner(node: Node) -> Node | None:
    """The nearest function or loop whose body holds `node`."""
    child, parent = node, node.parent
    while parent is not None:
        if parent.type in FUNCTION_NODES:
            return parent
        if parent.type == "for_in_statement" and parent.child_by_field_name("body") is not None and \
                parent.child_by_field_name("body").id == child.id:
            return parent
        child, parent = parent, parent.parent
    return None


def _iteration(sf: SourceFile, function: Node) -> tuple[Node, Node] | None:
    """For a callback in `LIST.forEach(cb)` / `LIST.map(cb)`: (the call, LIST)."""
    args = function.parent
    call = args.parent if args is not None else None
    if args is None or args.type != "arguments" or call is None or call.type != "call_expression":
        return None
    if not kids(args) or kids(args)[0].id != function.id:
        return None
    callee = unwrap(call.child_by_field_name("function"))
    if callee.type != "member_expression" or sf.text(callee.child_by_field_name("property")) not in _ITERATING_METHODS:
        return None
    return call, callee.child_by_field_name("object")


def _is_this_call(sf: SourceFile, call: Node, name: str) -> bool:
    callee = unwrap(call.child_by_field_name("function"))
    return callee.type == "member_expression" and unwrap(callee.child_by_field_name("object")).type == "this" \
        and sf.text(callee.child_by_field_name("property")) == name


def _inside(node: Node, ancestor: Node) -> bool:
    while node is not None:
        if node.id == ancestor.id:
            return True
        node = node.parent
    return False


def _const(value: Any):
    return lambda: value


def lazy(evaluator: Evaluator, node: Node) -> Callable[[], Any]:
    """An argument, evaluated when (and each time) it is used."""
    return lambda: evaluator.value(node)
