"""TypeScript types of table rows, turned into the JS type vocabulary (`migrator.jstypes`).

The planner needs to know what the app believes it stores (Date vs string, optional
fields, enums) to write Convex validators before it has seen any data. Anything this
cannot follow becomes `any` with a note saying why, never a guess.
"""

from __future__ import annotations

from dataclasses import dataclass

from tree_sitter import Node

from migrator.errors import DeclarationError
from migrator.jstypes import ANY, ArrayOf, Field, JsType, Literal, MapOf, ObjectOf, Prim, RecordOf, SetOf, UnionOf, union

from .evaluate import js_number, js_string, string_value
from .linker import Linker
from .modules import Modules
from .source import SourceFile, kids

TABLE_TYPES = {"Table", "EntityTable", "DexieCloudTable"}
_BINARY = {"ArrayBuffer", "SharedArrayBuffer", "DataView", "Int8Array", "Uint8Array", "Uint8ClampedArray",
           "Int16Array", "Uint16Array", "Int32Array", "Uint32Array", "Float16Array", "Float32Array",
           "Float64Array", "BigInt64Array", "BigUint64Array"}
_NAMED_PRIMS = {"Date": "date", "Blob": "blob", "File": "file", "RegExp": "regexp", "String": "string",
                "Number": "number", "Boolean": "boolean", "BigInt": "bigint", "bigint": "bigint",
                **{n: "binary" for n in _BINARY}}
_PREDEFINED = {"string": "string", "number": "number", "boolean": "boolean", "bigint": "bigint",
               "null": "null", "undefined": "undefined", "void": "undefined", "any": "any", "unknown": "any"}
_FUNCTION_TYPES = ("function_type", "constructor_type")
Env = dict[str, JsType]


def any_because(why: str) -> Prim:
    return Prim("any", note=why)


@dataclass
class RowType:
    """The type argument `T` of a table member, converted."""
    type: JsType
    name: str | None
    location: str | None
    notes: list[str]


class TypeConverter:
    """Converts type nodes of any file; results of declarations are cached per run."""

    def __init__(self, modules: Modules, linker: Linker):
        self.modules = modules
        self.linker = linker                 # computed member names and enum values may use imported constants
        self._cache: dict[tuple, JsType] = {}
        self._active: set[tuple] = set()
        self.notes: list[str] = []

    # -- entry points ------------------------------------------------------------
    def row_type(self, sf: SourceFile, type_node: Node) -> RowType:
        self.notes = []
        converted = self.convert(sf, type_node, {})
        name, location = None, None
        if type_node.type in ("type_identifier", "generic_type", "nested_type_identifier"):
            name = sf.text(type_node)
            head = type_node.child_by_field_name("name") if type_node.type == "generic_type" else type_node
            found = self._find(sf, head)
            if found is not None and found.nodes:
                location = found.sf.location(found.nodes[0])
        return RowType(converted, name, location, list(dict.fromkeys(self.notes)))

    def convert(self, sf: SourceFile, node: Node, env: Env) -> JsType:
        kind = node.type
        if kind in ("type_annotation", "parenthesized_type", "readonly_type", "type_arguments", "default_type"):
            inner = [k for k in kids(node)]
            return self.convert(sf, inner[-1], env) if inner else ANY
        if kind == "predefined_type":
            text = sf.text(node)
            if text in _PREDEFINED:
                return Prim(_PREDEFINED[text])
            return any_because(f"`{text}` has no stored form")
        if kind == "literal_type":
            return self._literal(sf, kids(node)[0])
        if kind == "template_literal_type":
            return Prim("string")
        if kind == "union_type":
            return union(*(self.convert(sf, k, env) for k in kids(node)))
        if kind == "intersection_type":
            return self._intersection(sf, node, env)
        if kind == "array_type":
            return ArrayOf(self.convert(sf, kids(node)[0], env))
        if kind == "tuple_type":
            return ArrayOf(union(*(self._tuple_member(sf, k, env) for k in kids(node))))
        if kind == "object_type":
            return self._object(sf, node.named_children, env)
        if kind == "type_identifier":
            return self._named(sf, node, [], env)
        if kind == "nested_type_identifier":
            return self._nested(sf, node, env)
        if kind == "generic_type":
            args = kids(node.child_by_field_name("type_arguments"))
            return self._named(sf, node.child_by_field_name("name"), args, env)
        if kind in _FUNCTION_TYPES:
            return any_because("a function type (functions cannot be stored)")
        return any_because(f"{kind.replace('_', ' ')} `{' '.join(sf.text(node).split())[:60]}` is not evaluated")

    # -- small forms ---------------------------------------------------------------
    def _literal(self, sf: SourceFile, node: Node) -> JsType:
        if node.type in ("null", "undefined"):
            return Prim(node.type)
        if node.type in ("true", "false"):
            return Literal(node.type == "true")
        if node.type == "string":
            return Literal(string_value(sf, node))
        try:
            if node.type == "number":
                return Literal(js_number(sf.text(node)))
            if node.type == "unary_expression" and sf.text(node.child_by_field_name("operator")) == "-":
                return Literal(-js_number(sf.text(node.child_by_field_name("argument"))))
        except ValueError:
            return Prim("bigint")
        return any_because(f"literal type `{sf.text(node)}`")

    def _tuple_member(self, sf: SourceFile, node: Node, env: Env) -> JsType:
        if node.type in ("required_parameter", "optional_parameter"):
            annotation = node.child_by_field_name("type")
            member = self.convert(sf, annotation, env) if annotation is not None else ANY
            is_rest = any(k.type == "rest_pattern" for k in kids(node))
            return member.item if is_rest and isinstance(member, ArrayOf) else member
        if node.type == "optional_type":
            return self.convert(sf, kids(node)[0], env)
        if node.type == "rest_type":
            member = self.convert(sf, kids(node)[0], env)
            return member.item if isinstance(member, ArrayOf) else member
        return self.convert(sf, node, env)

    def _intersection(self, sf: SourceFile, node: Node, env: Env) -> JsType:
        parts = [self.convert(sf, k, env) for k in kids(node)]
        combinations: list[list[JsType]] = [[]]          # (A | B) & C  ->  (A & C) | (B & C)
        for part in parts:
            options = part.members if isinstance(part, UnionOf) else (part,)
            combinations = [combination + [option] for combination in combinations for option in options]
        if all(isinstance(p, ObjectOf) for combination in combinations for p in combination):
            return union(*(_merge_objects(combination) for combination in combinations))
        return any_because(f"intersection `{' '.join(sf.text(node).split())[:60]}` of non-object types")

    # -- object members --------------------------------------------------------------
    def _member_name(self, sf: SourceFile, name: Node) -> str | None:
        if name.type == "property_identifier":
            return sf.text(name)
        if name.type == "string":
            return string_value(sf, name)
        if name.type == "number":
            return js_string(js_number(sf.text(name)))
        if name.type == "computed_property_name":
            try:
                value = self.linker.evaluator(sf).value(kids(name)[0])
            except DeclarationError:
                self.notes.append(f"computed property name {sf.text(name)} at {sf.location(name)} is left out")
                return None
            return js_string(value)
        return None                                       # #private: not stored

    def _object(self, sf: SourceFile, members: list[Node], env: Env) -> JsType:
        fields: list[Field] = []
        index_types: list[JsType] = []
        for member in members:
            if member.type == "property_signature":
                name = self._member_name(sf, member.child_by_field_name("name"))
                annotation = member.child_by_field_name("type")
                if name is None or (annotation is not None and kids(annotation)[0].type in _FUNCTION_TYPES):
                    continue
                optional = any(c.type == "?" for c in member.children)
                type_ = self.convert(sf, annotation, env) if annotation is not None else \
                    any_because(f"`{name}` has no type annotation")
                fields.append(Field(name, type_, optional))
            elif member.type == "index_signature":
                if any(k.type == "mapped_type_clause" for k in kids(member)):
                    return any_because(f"mapped type `{' '.join(sf.text(member).split())[:60]}` is not evaluated")
                annotation = member.child_by_field_name("type")
                index_types.append(self.convert(sf, annotation, env) if annotation is not None else ANY)
        if index_types and not fields:
            return RecordOf(union(*index_types))
        if index_types:
            self.notes.append(f"an index signature at {sf.location(members[0].parent)} is not represented: "
                              "keys other than the named fields are not typed")
        return ObjectOf(tuple(_dedupe(fields)))

    # -- names ---------------------------------------------------------------------
    def _find(self, sf: SourceFile, name_node: Node):
        if name_node.type == "type_identifier":
            return self.modules.lookup(sf, sf.text(name_node))
        if name_node.type == "nested_type_identifier":
            module = name_node.child_by_field_name("module")
            target = self.modules.namespace_module(sf, sf.text(module)) if module.type == "identifier" else None
            if target is not None and not isinstance(target, str):
                return self.modules.lookup_export(target, sf.text(name_node.child_by_field_name("name")))
        return None

    def _nested(self, sf: SourceFile, node: Node, env: Env) -> JsType:
        module, member = node.child_by_field_name("module"), node.child_by_field_name("name")
        found = self._find(sf, node)
        if found is not None and found.nodes:
            return self._declaration(found.sf, found.nodes, [], env)
        if module.type == "identifier":                  # Status.Active: one member of an enum
            enum = self.modules.lookup(sf, sf.text(module))
            if enum.nodes and enum.nodes[0].type == "enum_declaration":
                members = dict(self._enum_members(enum.sf, enum.nodes[0]))
                if sf.text(member) in members:
                    return members[sf.text(member)]
        return any_because(f"`{sf.text(node)}` is not declared in a file of the app")

    def _named(self, sf: SourceFile, name_node: Node, args: list[Node], env: Env) -> JsType:
        if name_node.type == "nested_type_identifier" and not args:
            return self._nested(sf, name_node, env)
        name = sf.text(name_node)
        if name in env and not args:
            return env[name]
        found = self._find(sf, name_node)
        if found is not None and found.nodes:
            return self._declaration(found.sf, found.nodes, [self.convert(sf, a, env) for a in args], env)
        builtin = self._builtin(sf, name.rsplit(".", 1)[-1], args, env)
        if builtin is not None and (found is None or found.package is None or found.package == "dexie"):
            return builtin
        why = found.reason if found is not None and found.reason else f"`{name}` is not declared in a file of the app"
        return any_because(why)

    def _builtin(self, sf: SourceFile, name: str, args: list[Node], env: Env) -> JsType | None:
        converted = [self.convert(sf, a, env) for a in args]
        if name in _NAMED_PRIMS:
            return Prim(_NAMED_PRIMS[name])
        if name in ("Array", "ReadonlyArray"):
            return ArrayOf(converted[0] if converted else ANY)
        if name in ("Set", "ReadonlySet"):
            return SetOf(converted[0] if converted else ANY)
        if name in ("Map", "ReadonlyMap"):
            return MapOf(*(converted + [ANY, ANY])[:2])
        if name == "Record" and len(converted) == 2:
            keys = converted[0].members if isinstance(converted[0], UnionOf) else (converted[0],)
            if all(isinstance(k, Literal) for k in keys):
                return ObjectOf(tuple(Field(js_string(k.value), converted[1]) for k in keys))
            return RecordOf(converted[1])
        if name in ("Partial", "Required", "Readonly") and len(converted) == 1 and isinstance(converted[0], ObjectOf):
            optional = {"Partial": True, "Required": False}
            return ObjectOf(tuple(Field(f.name, f.type, optional.get(name, f.optional)) for f in converted[0].fields))
        if name in ("Pick", "Omit") and len(converted) == 2 and isinstance(converted[0], ObjectOf):
            keys = converted[1].members if isinstance(converted[1], UnionOf) else (converted[1],)
            if all(isinstance(k, Literal) for k in keys):
                chosen = {js_string(k.value) for k in keys}
                return ObjectOf(tuple(f for f in converted[0].fields if (f.name in chosen) == (name == "Pick")))
        if name == "NonNullable" and len(converted) == 1:
            members = converted[0].members if isinstance(converted[0], UnionOf) else (converted[0],)
            return union(*(m for m in members if m not in (Prim("null"), Prim("undefined"))))
        if name in ("Object", "object"):
            return any_because(f"`{name}` says nothing about the fields")
        if name in ("symbol", "never", "Function", "Promise", "WeakMap", "WeakSet"):
            return any_because(f"`{name}` has no stored form")
        return None

    # -- declarations ----------------------------------------------------------------
    def _declaration(self, sf: SourceFile, nodes: list[Node], args: list[JsType], env: Env) -> JsType:
        key = (sf.path, nodes[0].start_byte, tuple(args))
        if key in self._cache:
            return self._cache[key]
        name = sf.text(nodes[0].child_by_field_name("name"))
        if key in self._active:
            return any_because(f"`{name}` refers to itself (recursive type)")
        self._active.add(key)
        try:
            result = _merge_objects([self._one_declaration(sf, node, args) for node in nodes]) \
                if len(nodes) > 1 else self._one_declaration(sf, nodes[0], args)
        finally:
            self._active.discard(key)
        self._cache[key] = result
        return result

    def _bind(self, sf: SourceFile, node: Node, args: list[JsType]) -> Env:
        params = node.child_by_field_name("type_parameters")
        env: Env = {}
        for i, param in enumerate(kids(params) if params is not None else []):
            pname = sf.text(param.child_by_field_name("name"))
            default = param.child_by_field_name("value")
            if i < len(args):
                env[pname] = args[i]
            elif default is not None:
                env[pname] = self.convert(sf, default, env)
            else:
                env[pname] = any_because(f"type parameter `{pname}` has no argument")
        return env

    def _one_declaration(self, sf: SourceFile, node: Node, args: list[JsType]) -> JsType:
        env = self._bind(sf, node, args)
        if node.type == "type_alias_declaration":
            return self.convert(sf, node.child_by_field_name("value"), env)
        if node.type == "enum_declaration":
            return union(*(value for _, value in self._enum_members(sf, node)))
        if node.type == "interface_declaration":
            parts = [self.convert(sf, base, env) for clause in kids(node) if clause.type == "extends_type_clause"
                     for base in kids(clause)]
            parts = [p if isinstance(p, ObjectOf) else ObjectOf(()) for p in parts]
            own = self._object(sf, kids(node.child_by_field_name("body")), env)
            if isinstance(own, RecordOf) and not parts:
                return own
            return _merge_objects(parts + [own if isinstance(own, ObjectOf) else ObjectOf(())])
        return self._class(sf, node, env)

    def _enum_members(self, sf: SourceFile, node: Node) -> list[tuple[str, JsType]]:
        members: list[tuple[str, JsType]] = []
        next_value: float | None = 0.0
        for member in kids(node.child_by_field_name("body")):
            if member.type == "enum_assignment":
                name = self._member_name(sf, member.child_by_field_name("name")) or ""
                try:
                    value = self.linker.evaluator(sf).value(member.child_by_field_name("value"))
                except DeclarationError:
                    value = None
                if isinstance(value, (str, float)) and not isinstance(value, bool):
                    members.append((name, Literal(value)))
                    next_value = value + 1 if isinstance(value, float) else None
                else:
                    members.append((name, any_because(f"enum member `{name}` has a computed value")))
                    next_value = None
            else:
                name = self._member_name(sf, member) or ""
                members.append((name, Literal(next_value) if next_value is not None else
                                any_because(f"enum member `{name}` follows a non-numeric member")))
                next_value = next_value + 1 if next_value is not None else None
        return members

    def _class(self, sf: SourceFile, node: Node, env: Env) -> JsType:
        parts: list[JsType] = []
        heritage = next((k for k in kids(node) if k.type == "class_heritage"), None)
        extends = next((k for k in kids(heritage) if k.type == "extends_clause"), None) if heritage else None
        if extends is not None:
            base = extends.child_by_field_name("value")
            base_args = extends.child_by_field_name("type_arguments")
            found = self.modules.lookup(sf, sf.text(base)) if base.type == "identifier" else None
            if found is not None and found.nodes:
                parts.append(self._declaration(found.sf, found.nodes,
                                               [self.convert(sf, a, env) for a in kids(base_args)] if base_args else [], env))
            elif not (found is not None and found.package == "dexie"):   # Entity<Db> adds no stored fields
                self.notes.append(f"the fields of base class `{sf.text(base)}` of "
                                  f"`{sf.text(node.child_by_field_name('name'))}` are not known")
        fields: list[Field] = []
        for member in kids(node.child_by_field_name("body")):
            if member.type == "public_field_definition" and not any(c.type in ("static", "abstract") for c in member.children):
                field = self._class_field(sf, member, env)
                if field is not None:
                    fields.append(field)
            elif member.type == "method_definition" and sf.text(member.child_by_field_name("name")) == "constructor":
                for param in kids(member.child_by_field_name("parameters")):
                    if any(k.type in ("accessibility_modifier", "readonly") for k in param.children):
                        annotation = param.child_by_field_name("type")
                        fields.append(Field(sf.text(param.child_by_field_name("pattern")),
                                            self.convert(sf, annotation, env) if annotation is not None else ANY,
                                            param.type == "optional_parameter"))
        parts.append(ObjectOf(tuple(fields)))
        return _merge_objects([p if isinstance(p, ObjectOf) else ObjectOf(()) for p in parts])

    def _class_field(self, sf: SourceFile, member: Node, env: Env) -> Field | None:
        name = self._member_name(sf, member.child_by_field_name("name"))
        value = member.child_by_field_name("value")
        if name is None or (value is not None and value.type in ("arrow_function", "function_expression")):
            return None
        annotation = member.child_by_field_name("type")
        optional = any(c.type == "?" for c in member.children)
        if annotation is not None:
            return Field(name, self.convert(sf, annotation, env), optional)
        inferred = {"string": Prim("string"), "template_string": Prim("string"), "number": Prim("number"),
                    "true": Prim("boolean"), "false": Prim("boolean")}.get(value.type if value else "")
        return Field(name, inferred or any_because(f"class field `{name}` has no type annotation"), optional)

    # -- tables ------------------------------------------------------------------
    def table_members(self, sf: SourceFile, type_node: Node, _depth: int = 0) -> dict[str, tuple[SourceFile, Node]]:
        """Table name -> (file, T) from a type such as `Dexie & { friends: Table<Friend, number> }`."""
        found: dict[str, tuple[SourceFile, Node]] = {}
        if _depth > 20:
            return found
        kind = type_node.type
        if kind in ("type_annotation", "parenthesized_type"):
            for k in kids(type_node):
                found.update(self.table_members(sf, k, _depth + 1))
        elif kind == "intersection_type":
            for k in kids(type_node):
                found.update(self.table_members(sf, k, _depth + 1))
        elif kind in ("object_type", "interface_body"):
            for member in kids(type_node):
                if member.type == "property_signature":
                    self._table_member(sf, member, found)
        elif kind == "type_identifier" and sf.text(type_node) != "Dexie":
            decl = self.modules.lookup(sf, sf.text(type_node))
            for node in decl.nodes:
                if node.type == "type_alias_declaration":
                    found.update(self.table_members(decl.sf, node.child_by_field_name("value"), _depth + 1))
                elif node.type == "interface_declaration":
                    for clause in (k for k in kids(node) if k.type == "extends_type_clause"):
                        for base in kids(clause):
                            found.update(self.table_members(decl.sf, base, _depth + 1))
                    found.update(self.table_members(decl.sf, node.child_by_field_name("body"), _depth + 1))
                elif node.type in ("class_declaration", "abstract_class_declaration"):
                    found.update(self.class_table_members(decl.sf, node))
        return found

    def class_table_members(self, sf: SourceFile, class_node: Node) -> dict[str, tuple[SourceFile, Node]]:
        found: dict[str, tuple[SourceFile, Node]] = {}
        for member in kids(class_node.child_by_field_name("body")):
            if member.type == "public_field_definition":
                self._table_member(sf, member, found)
        return found

    def _table_member(self, sf: SourceFile, member: Node, found: dict) -> None:
        name_node, annotation = member.child_by_field_name("name"), member.child_by_field_name("type")
        if name_node is None or annotation is None:
            return
        type_node = kids(annotation)[0]
        if type_node.type != "generic_type":
            return
        head = type_node.child_by_field_name("name")
        head_name = sf.text(head.child_by_field_name("name") if head.type == "nested_type_identifier" else head)
        args = kids(type_node.child_by_field_name("type_arguments"))
        name = self._member_name(sf, name_node)
        if head_name in TABLE_TYPES and args and name is not None:
            found[name] = (sf, args[0])


def _dedupe(fields: list[Field]) -> list[Field]:
    """Later declarations of a field replace earlier ones, keeping the first position."""
    by_name: dict[str, Field] = {}
    for f in fields:
        by_name[f.name] = f
    return list(by_name.values())


def _merge_objects(parts: list[JsType]) -> ObjectOf:
    fields: list[Field] = []
    for part in parts:
        if isinstance(part, ObjectOf):
            fields.extend(part.fields)
    return ObjectOf(tuple(_dedupe(fields)))
