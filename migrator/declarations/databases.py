"""Find Dexie databases in one parsed file and evaluate their `version(n).stores({...})` calls.

Two shapes cover real apps: `const db = new Dexie("name")` followed by `db.version(n)...`,
and `class AppDB extends Dexie` calling `super("name")` and `this.version(n)...` in its
constructor. Version calls are matched to a database through the variable's binding (not
its spelling), so two `db` variables in different scopes stay apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from tree_sitter import Node

from migrator.dexie_schema import DexieSchemaError, VersionSpec, parse_table_spec
from migrator.errors import DUMP_REMEDY, DeclarationError

from .bindings import FUNCTION_NODES, ParameterSite, parameter_site
from .contexts import Contexts, lazy
from .evaluate import UNDEFINED, Entry, Evaluator, find_binding, import_source, string_value
from .linker import Linker
from .source import TRANSPARENT_EXPRESSIONS, SourceFile, kids, unwrap, walk

_CLASS_NODES = ("class_declaration", "class", "abstract_class_declaration")
_PARAMETERS = ("required_parameter", "optional_parameter")


@dataclass
class Unevaluated:
    """A part of a database's declaration that cannot be evaluated statically: the error,
    the version it belongs to (None: unknown, so any version) and the tables it leaves
    unknown (None: any table)."""
    error: DeclarationError
    version: float | None
    tables: tuple[str, ...] | None


@dataclass
class FoundDatabase:
    """One declaration site, before types are attached."""
    sf: SourceFile
    node: Node                       # the `new Dexie(...)` or the class
    name: str | None
    location: str
    variable: str | None
    versions: list[VersionSpec] = field(default_factory=list)
    upgrades: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    type_nodes: list[Node] = field(default_factory=list)     # `Dexie & {...}` types
    class_node: Node | None = None
    unevaluated: list[Unevaluated] = field(default_factory=list)
    bindings: set[int] = field(default_factory=set)   # declarators holding it (`const db = new ...`), for other files
    matches: Callable[[Node], bool] = lambda receiver: False   # whether an expression of `sf` is this database


def dexie_names(sf: SourceFile) -> set[str]:
    """Local names the Dexie class is bound to (`import Dexie`, `import { Dexie as D }`,
    `const Dexie = require("dexie")`, `const { Dexie } = require("dexie")`)."""
    names = {"Dexie"}
    for statement in kids(sf.root):
        if statement.type == "import_statement" and statement.child_by_field_name("source") is not None:
            if string_value(sf, statement.child_by_field_name("source")) != "dexie":
                continue
            for clause in (k for k in kids(statement) if k.type == "import_clause"):
                for part in kids(clause):
                    if part.type == "identifier":
                        names.add(sf.text(part))
                    elif part.type == "named_imports":
                        for spec in kids(part):
                            idents = [sf.text(n) for n in kids(spec) if n.type == "identifier"]
                            if idents and idents[0] == "Dexie":
                                names.add(idents[-1])
        elif statement.type in ("lexical_declaration", "variable_declaration"):
            for declarator in (d for d in kids(statement) if d.type == "variable_declarator"):
                names.update(_required_dexie_names(sf, declarator))
    return names


def _required_dexie_names(sf: SourceFile, declarator: Node) -> set[str]:
    value = declarator.child_by_field_name("value")
    target = declarator.child_by_field_name("name")
    value = unwrap(value) if value is not None else None
    if value is not None and value.type == "member_expression" and \
            sf.text(value.child_by_field_name("property")) in ("default", "Dexie"):
        value = unwrap(value.child_by_field_name("object"))        # require("dexie").default
    if value is None or value.type != "call_expression" or sf.text(value.child_by_field_name("function")) != "require":
        return set()
    args = kids(value.child_by_field_name("arguments"))
    if not args or args[0].type != "string" or string_value(sf, args[0]) != "dexie":
        return set()
    if target.type == "identifier":
        return {sf.text(target)}
    found = set()
    for part in kids(target) if target.type == "object_pattern" else []:
        if part.type == "shorthand_property_identifier_pattern" and sf.text(part) == "Dexie":
            found.add("Dexie")
        elif part.type == "pair_pattern" and sf.text(part.child_by_field_name("key")) in ("Dexie", "default"):
            found.add(sf.text(part.child_by_field_name("value")))
    return found


def find_databases(sf: SourceFile, linker: Linker) -> list[FoundDatabase]:
    names = dexie_names(sf)
    evaluator = linker.evaluator(sf)
    found: list[FoundDatabase] = []
    nodes = list(walk(sf.root))
    version_calls = [n for n in nodes if _is_method_call(sf, n, "version")]
    for node in nodes:
        if node.type == "new_expression" and _identifier_in(sf, node.child_by_field_name("constructor"), names):
            found.append(_from_new(sf, evaluator, node, version_calls))
        elif node.type in _CLASS_NODES and _extends(sf, node, names):
            found.append(_from_class(sf, evaluator, node, version_calls, nodes))
    return found


def _identifier_in(sf: SourceFile, node: Node | None, names: set[str]) -> bool:
    return node is not None and node.type == "identifier" and sf.text(node) in names


def _extends(sf: SourceFile, class_node: Node, names: set[str]) -> bool:
    for heritage in (k for k in kids(class_node) if k.type == "class_heritage"):
        for clause in (k for k in kids(heritage) if k.type == "extends_clause"):
            if _identifier_in(sf, clause.child_by_field_name("value"), names):
                return True
    return False


def _is_method_call(sf: SourceFile, node: Node, method: str) -> bool:
    if node.type != "call_expression":
        return False
    function = node.child_by_field_name("function")
    return function is not None and function.type == "member_expression" and \
        sf.text(function.child_by_field_name("property")) == method


def _receiver(call: Node) -> Node:
    return unwrap(call.child_by_field_name("function").child_by_field_name("object"))


# -- names -----------------------------------------------------------------------------
def _database_name(sf: SourceFile, evaluator: Evaluator, args: Node | None, site: Node,
                   notes: list[str]) -> str | None:
    """The evaluated first argument, or None (with a note saying why) when it is not static."""
    arguments = kids(args) if args is not None else []
    if not arguments:
        notes.append(f"the database at {sf.location(site)} is given no name here, so its name is unknown")
        return None
    first = arguments[0]
    target = unwrap(first)
    if target.type == "identifier":
        binding = find_binding(sf, sf.text(target), target)
        if binding is not None and binding.type in _PARAMETERS and binding.child_by_field_name("value") is not None:
            try:
                value = evaluator.value(binding.child_by_field_name("value"))
            except DeclarationError as exc:
                notes.append(f"database name unresolved: {exc.message}")
                return None
            if isinstance(value, str):
                notes.append(f"the database name {value!r} is the default of constructor parameter "
                             f"`{sf.text(target)}` ({sf.location(binding)}); code that passes another "
                             "name opens another database with the same tables")
                return value
    try:
        value = evaluator.value(first)
    except DeclarationError as exc:
        notes.append(f"database name unresolved: {exc.message}; name it after the dump's databaseName")
        return None
    if not isinstance(value, str):
        notes.append(f"database name unresolved: {sf.location(first)}: the name evaluates to a non-string")
        return None
    return value


# -- the two shapes ----------------------------------------------------------------------
def _from_new(sf: SourceFile, evaluator: Evaluator, node: Node, version_calls: list[Node]) -> FoundDatabase:
    notes: list[str] = []
    name = _database_name(sf, evaluator, node.child_by_field_name("arguments"), node, notes)
    db = FoundDatabase(sf, node, name, sf.location(node), None, notes=notes)
    holder = node
    while holder.parent is not None and holder.parent.type in TRANSPARENT_EXPRESSIONS:
        holder = holder.parent
        if holder.type == "as_expression":
            db.type_nodes.append(kids(holder)[-1])
    parent = holder.parent
    matches = lambda receiver: receiver.id == node.id           # new Dexie("x").version(1)...
    if parent is not None and parent.type == "variable_declarator" and parent.child_by_field_name("name").type == "identifier":
        db.variable = sf.text(parent.child_by_field_name("name"))
        annotation = parent.child_by_field_name("type")
        if annotation is not None:
            db.type_nodes.append(annotation)
        matches = _binding_matcher(sf, db.variable, parent, node)
        db.bindings.add(parent.id)
    elif parent is not None and parent.type == "assignment_expression":
        left = parent.child_by_field_name("left")
        db.variable = sf.text(left)
        if left.type == "identifier":
            matches = _binding_matcher(sf, db.variable, find_binding(sf, db.variable, left), node)
        else:                                                   # this.db = new Dexie(...)
            matches = lambda receiver, text=db.variable: receiver.id == node.id or sf.text(receiver) == text
    db.matches = matches
    db.matches = matches
    _read_versions(sf, evaluator, db, version_calls, matches)
    return db


def _binding_matcher(sf: SourceFile, name: str, binding: Node | None, node: Node):
    def matches(receiver: Node) -> bool:
        if receiver.id == node.id:
            return True
        if receiver.type != "identifier" or sf.text(receiver) != name:
            return False
        found = find_binding(sf, name, receiver)
        return binding is not None and found is not None and found.id == binding.id
    return matches


def _from_class(sf: SourceFile, evaluator: Evaluator, node: Node, version_calls: list[Node],
                nodes: list[Node]) -> FoundDatabase:
    notes: list[str] = []
    class_name = node.child_by_field_name("name")
    variable = sf.text(class_name) if class_name is not None else None
    if variable is None and node.parent is not None and node.parent.type == "variable_declarator":
        variable = sf.text(node.parent.child_by_field_name("name"))
    constructor = next((m for m in kids(node.child_by_field_name("body")) if m.type == "method_definition"
                        and sf.text(m.child_by_field_name("name")) == "constructor"), None)
    super_call = next((n for n in walk(constructor) if n.type == "call_expression"
                       and n.child_by_field_name("function").type == "super"), None) if constructor else None
    if super_call is not None:
        name = _database_name(sf, evaluator, super_call.child_by_field_name("arguments"), super_call, notes)
    else:
        name = None
        notes.append(f"class `{variable}` ({sf.location(node)}) does not call super() with a name, "
                     "so the database name is unknown")
    db = FoundDatabase(sf, node, name, sf.location(node), variable, notes=notes, class_node=node)
    instances = _instance_bindings(sf, variable, nodes) if variable else set()
    db.bindings.update(instances)

    def matches(receiver: Node) -> bool:
        if receiver.type == "this":
            owner = receiver.parent
            while owner is not None and owner.type not in _CLASS_NODES:
                owner = owner.parent
            return owner is not None and owner.id == node.id
        if receiver.type == "identifier":
            binding = find_binding(sf, sf.text(receiver), receiver)
            return binding is not None and binding.id in instances
        return False

    db.matches = matches
    db.matches = matches
    _read_versions(sf, evaluator, db, version_calls, matches)
    return db


def _instance_bindings(sf: SourceFile, class_name: str, nodes: list[Node]) -> set[int]:
    """Declarators of `const x = new ClassName(...)`: version calls on them count too."""
    found = set()
    for node in nodes:
        if node.type == "new_expression" and sf.text(node.child_by_field_name("constructor")) == class_name:
            holder = node
            while holder.parent is not None and holder.parent.type in TRANSPARENT_EXPRESSIONS:
                holder = holder.parent
            if holder.parent is not None and holder.parent.type == "variable_declarator":
                found.add(holder.parent.id)
    return found


def add_imported_versions(sf: SourceFile, linker: Linker, databases: list[FoundDatabase]) -> None:
    """Version calls in `sf` on a database imported from another file of the app
    (`import { db } from "./db"; db.version(2).stores({...})`)."""
    by_binding = {(db.sf.path, binding): db for db in databases for binding in db.bindings}
    if not by_binding:
        return
    evaluator = linker.evaluator(sf)
    for call in (n for n in walk(sf.root) if _is_method_call(sf, n, "version")):
        receiver = _receiver(call)
        binding = find_binding(sf, sf.text(receiver), receiver) if receiver.type == "identifier" else None
        if binding is None or import_source(sf, binding) is None:
            continue
        try:
            origin = linker.imported(sf, binding, receiver)
        except DeclarationError:
            continue                          # not a module of the app: not one of its databases
        if not isinstance(origin, tuple) or origin[1].type != "identifier":
            continue
        home, name = origin[0].sf, origin[1]
        declarator = find_binding(home, home.text(name), name)
        db = by_binding.get((home.path, declarator.id)) if declarator is not None else None
        if db is not None and db.sf.path != sf.path:
            _read_versions(sf, evaluator, db, [call], lambda r: True)


# -- versions --------------------------------------------------------------------------
def _read_versions(sf: SourceFile, evaluator: Evaluator, db: FoundDatabase, version_calls: list[Node],
                   matches: Callable[[Node], bool]) -> None:
    """The version calls on this database: on its variable or `this`, or on a parameter of a
    helper function that is called with it (`function applySchema(db) {...}`, `applySchema(db)`;
    then only those calls of the helper count)."""
    helpers: dict[int, int] = {}          # helper function node id -> position of the database parameter
    probe = Contexts(sf, evaluator)
    calls = []
    for call in version_calls:
        receiver = _receiver(call)
        if matches(receiver):
            calls.append(call)
            continue
        parameter = _helper_parameter(sf, receiver)
        if parameter is not None and any(_passes(site, parameter.position, matches)
                                         for site in probe.call_sites(parameter.owner)):
            helpers[parameter.owner.id] = parameter.position
            calls.append(call)
    contexts = Contexts(sf, evaluator, lambda function, site: function.id not in helpers or
                        _passes(site, helpers[function.id], matches))
    for call in calls:
        _read_in_contexts(sf, evaluator, db, call, contexts)


def _read_in_contexts(sf: SourceFile, evaluator: Evaluator, db: FoundDatabase, call: Node, contexts: Contexts) -> None:
    try:
        envs = contexts.of(call)
    except DeclarationError as exc:
        db.unevaluated.append(Unevaluated(_in_call(sf, exc, call), None, None))
        return
    for env in envs:
        _read_version(sf, evaluator.with_env(env), db, call)


def add_helper_versions(linker: Linker, databases: list[FoundDatabase]) -> None:
    """Version calls inside a helper imported from another file of the app and called with
    the database (`import { applySchema } from "./schema"; applySchema(db)`)."""
    for db in databases:
        sf, evaluator = db.sf, linker.evaluator(db.sf)
        for call in walk(sf.root):
            callee = call.child_by_field_name("function") if call.type == "call_expression" else None
            if callee is None or callee.type != "identifier":
                continue
            binding = find_binding(sf, sf.text(callee), callee)
            if binding is None or binding.type != "identifier" or import_source(sf, binding) is None:
                continue
            try:
                origin = linker.imported(sf, binding, callee)
            except DeclarationError:
                continue                          # a package's function: not the app's
            function = _function_of(origin)
            args = kids(call.child_by_field_name("arguments"))
            positions = {i for i, arg in enumerate(args) if db.matches(unwrap(arg))}
            if function is None or not positions:
                continue
            home = origin[0]
            contexts = Contexts(home.sf, home, given={function.id: [lazy(evaluator, arg) for arg in args]})
            for version_call in (n for n in walk(function) if _is_method_call(home.sf, n, "version")):
                parameter = _helper_parameter(home.sf, _receiver(version_call))
                if parameter is not None and parameter.owner.id == function.id and parameter.position in positions:
                    _read_in_contexts(home.sf, home, db, version_call, contexts)


def _function_of(origin: object) -> Node | None:
    """The function an imported name stands for (`export function f`, `export const f = () => ...`)."""
    if not isinstance(origin, tuple):
        return None
    evaluator, node = origin
    if node.type == "identifier":
        node = find_binding(evaluator.sf, evaluator.sf.text(node), node)
        if node is not None and node.type == "variable_declarator":
            node = unwrap(node.child_by_field_name("value")) if node.child_by_field_name("value") else None
    return node if node is not None and node.type in FUNCTION_NODES else None


def _helper_parameter(sf: SourceFile, receiver: Node) -> ParameterSite | None:
    if receiver.type != "identifier":
        return None
    binding = find_binding(sf, sf.text(receiver), receiver)
    site = parameter_site(binding) if binding is not None else None
    return site if site is not None and site.owner.type in FUNCTION_NODES and site.pattern.type == "identifier" else None


def _passes(call: Node, position: int, matches: Callable[[Node], bool]) -> bool:
    args = kids(call.child_by_field_name("arguments"))
    return position < len(args) and matches(unwrap(args[position]))


def _in_call(sf: SourceFile, exc: DeclarationError, call: Node) -> DeclarationError:
    """The error, saying which version call it belongs to when it is elsewhere."""
    if exc.location == sf.location(call):
        return exc
    detail = exc.message[len(exc.location) + 2:]
    return DeclarationError(exc.location, f"{detail} (in the version call at {sf.location(call)})", exc.remedy)


def _read_version(sf: SourceFile, evaluator: Evaluator, db: FoundDatabase, call: Node) -> None:
    args = kids(call.child_by_field_name("arguments"))
    try:
        if not args:
            raise DeclarationError(sf.location(call), "`version()` needs a version number")
        number = evaluator.value(args[0])
        if not isinstance(number, float) or isinstance(number, bool) or number <= 0:
            raise DeclarationError(sf.location(args[0]), f"the version {sf.text(args[0])} is not a positive number")
    except DeclarationError as exc:
        db.unevaluated.append(Unevaluated(_in_call(sf, exc, call), None, None))
        return
    version = VersionSpec(number=number, stores={}, location=sf.location(call))
    node = call
    while node.parent is not None and node.parent.type == "member_expression" and \
            node.parent.parent is not None and node.parent.parent.type == "call_expression":
        method = sf.text(node.parent.child_by_field_name("property"))
        node = node.parent.parent
        method_args = kids(node.child_by_field_name("arguments"))
        if method == "stores" and method_args:
            try:
                entries = evaluator.entries(method_args[0])
            except DeclarationError as exc:
                db.unevaluated.append(Unevaluated(_in_call(sf, exc, call), number, None))
                continue
            version.stores.update(_stores(sf, entries, db, number, call))
        elif method == "upgrade":
            version.has_upgrade = True
            db.upgrades.append(sf.location(node))
    same = [v for v in db.versions if (v.number, v.location, v.stores) == (number, version.location, version.stores)]
    if not same:                        # a helper called twice with the same arguments
        db.versions.append(version)


def _uses_dexie_cloud(sf: SourceFile) -> bool:
    return any(s.type == "import_statement" and s.child_by_field_name("source") is not None
               and string_value(sf, s.child_by_field_name("source")) == "dexie-cloud-addon" for s in kids(sf.root))


def _stores(sf: SourceFile, entries: list[Entry], db: FoundDatabase, number: float, call: Node) -> dict[str, str | None]:
    """The evaluated specs; a table whose spec cannot be evaluated (or that Dexie rejects) is
    recorded as unevaluated and left out, so the others still count."""
    stores: dict[str, str | None] = {}
    for entry in entries:
        table = entry.key
        try:
            value = entry.get()
            if value is UNDEFINED or not (value is None or isinstance(value, str)):
                raise DeclarationError(entry.location, f"the spec of table {table!r} must be a string "
                                       f"or null, not {_kind(value)}")
            if value is not None and value.lstrip().startswith("@") and _uses_dexie_cloud(sf):
                value = value.replace("@", "", 1)       # what dexie-cloud-addon does before Dexie parses it
                db.notes.append(f"table {table!r}: `@` primary key ({entry.location}): ids are generated by "
                                "Dexie Cloud; read as the plain key, as the addon does")
            if value is not None:
                try:
                    parse_table_spec(table, value)
                except DexieSchemaError as exc:
                    raise DeclarationError(entry.location, f"table {table!r}: spec {value!r}: {exc.reason}",
                                           "Dexie rejects this spec: fix it, or " + DUMP_REMEDY) from None
        except DeclarationError as exc:
            db.unevaluated.append(Unevaluated(_in_call(sf, exc, call), number, (table,)))
            continue
        stores[table] = value
    return stores


def _kind(value: object) -> str:
    if value is UNDEFINED:
        return "undefined"
    return {bool: "a boolean", float: f"the number {value!r}", list: "an array", dict: "an object"}.get(
        type(value), "a module")
