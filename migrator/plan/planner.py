"""Decide, table by table, how a Dexie database lands in Convex.

Inputs are what the declarations say (`DeclaredDatabase`) and what the dumps hold
(`ObservedTable`, built from a dump profile); either may be missing. Every decision the
user may want to change ends up in the mapping file with a comment saying why.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field

from ..convex_names import field_name_problem
from ..dexie_schema import IndexSpec, TableSchema
from ..jstypes import ANY, Field, JsType, ObjectOf, UnionOf, describe
from .model import (OWNER_VALIDATOR, DatabasePlan, FieldPlan, IndexPlan, KeyPlan, MultiEntryPlan,
                    PlanOptions, TablePlan, default_side_table, fits_key_encoding, key_index, multi_entry_item)
from .names import assign_field_names, index_name, sanitize_table_name
from .references import resolve_references
from .types import Conversion, field_validator, merge_object_union, reconcile
from .validators import Validator

MAX_INDEX_FIELDS = 15
MAX_INDEXES = 32
KEY_FIELD = "dexieKey"
VALUE_FIELD = "value"

# Tables that Dexie addons keep for themselves (dexie-facts.md: Addons).
ADDON_TABLES = ("_changes", "_syncNodes", "_intercomm", "_uncommittedChanges", "$*_mutations",
                "$jobs", "$syncState", "$baseRevs", "$logins", "$meta", "$*_updates")
CLOUD_TABLES = ("members", "roles", "realms")


@dataclass
class ObservedTable:
    """What the dumps show of one table."""

    name: str
    schema: TableSchema | None
    rows: int
    row_type: JsType | None              # the union of all row values (ObjectOf for most tables)
    key_kinds: set[str] = field(default_factory=set)   # number, string, date, binary, array
    max_binary_bytes: dict[str, int] = field(default_factory=dict)  # top-level field -> largest Blob


@dataclass
class DeclaredTableInput:
    """The part of a declared table the planner needs."""

    name: str
    schema: TableSchema | None           # None: the source could not be evaluated, the dump's is used
    row_type: JsType | None              # an object type for most tables; unions and plain values too
    type_name: str | None = None
    schema_unknown: str | None = None    # why `schema` is None (file:line:col: what was seen)


def addon_table_reason(name: str, all_names: set[str]) -> str | None:
    for pattern in ADDON_TABLES:
        if fnmatch.fnmatchcase(name, pattern):
            return f"skipped: {name!r} is a Dexie addon's internal table"
    if name in CLOUD_TABLES and {"realms", "members", "roles"} <= all_names | {name}:
        return f"skipped: {name!r} is a Dexie Cloud internal table (realms, members and roles all present)"
    return None


def plan_database(database: str, declared: dict[str, DeclaredTableInput], observed: dict[str, ObservedTable],
                  options: PlanOptions, references: dict[str, str] | None = None) -> DatabasePlan:
    """The plan for one database from its declared and/or observed tables."""
    references = dict(references or {})
    plan = DatabasePlan(database=database, options=options, tables=[], references=references)
    names = list(declared) + [n for n in observed if n not in declared]
    taken: set[str] = set()
    for name in names:
        skip = addon_table_reason(name, set(names))
        convex_name = sanitize_table_name(name, taken)
        taken.add(convex_name)
        if skip:
            plan.tables.append(TablePlan(source=name, table=convex_name, key=None, fields=[], indexes=[],
                                         skip=True, notes=[skip]))
            continue
        table = plan_table(name, convex_name, declared.get(name), observed.get(name), options)
        plan.tables.append(table)
    for t in plan.tables:
        for m in t.multi_entry:
            if m.table:
                m.table = sanitize_table_name(m.table, taken)
                taken.add(m.table)
    apply_references(plan)
    plan.suggested_references = suggest_references(plan, observed)
    return plan


def _schemas_differ(a: TableSchema, b: TableSchema) -> bool:
    return a.to_dexie_json() != b.to_dexie_json()


def plan_table(source: str, convex_name: str, declared: DeclaredTableInput | None,
               observed: ObservedTable | None, options: PlanOptions) -> TablePlan:
    notes: list[str] = []
    warnings: list[str] = []
    schema = declared.schema if declared and declared.schema else observed.schema if observed else None
    if declared and declared.schema is None and observed and observed.schema:
        notes.append(f"schema from the dump ({observed.schema.spec!r}): the declaration could not be "
                     f"evaluated statically ({declared.schema_unknown})")
    if declared and declared.schema and observed and observed.schema and _schemas_differ(declared.schema, observed.schema):
        warnings.append(f"the dump's schema {observed.schema.spec!r} differs from the declared "
                        f"{declared.schema.spec!r}; the declaration is used")
    if convex_name != source:
        notes.append(f"renamed from {source!r}: not a valid Convex table name")

    conflicts: list[str] = []
    outbound = schema is None or schema.outbound
    declared_type = declared_row_type(declared, outbound, notes)
    observed_type = observed.row_type if observed else None
    declared_value = declared_type if declared_type is not None and not isinstance(declared_type, ObjectOf) else None
    wrap = outbound and (declared_value is not None or (observed_type is not None and _has_non_object(observed_type)))
    if wrap:
        value_type = reconcile(declared_value, observed_type, VALUE_FIELD, conflicts) if declared_value is not None \
            else observed_type
        row_type: JsType = ObjectOf((Field(VALUE_FIELD, value_type),))
        notes.append(f"outbound values are not all objects: each is stored as {{{KEY_FIELD}, {VALUE_FIELD}}}")
    else:
        obs_obj = _object_part(observed_type)
        row_type = reconcile(declared_type, obs_obj, "", conflicts) if (declared_type or obs_obj) else ObjectOf(())
    warnings.extend(conflicts)
    if not isinstance(row_type, ObjectOf):
        row_type = ObjectOf(())
    open_document = declared_type is None and observed is None
    if open_document:
        notes.append("no TypeScript type and no dump: only key and index fields are known; other "
                     "fields must be added here (or give the dump) before importing")

    index_specs = list(schema.indexes) if schema else []
    top_fields = {f.name: f for f in row_type.fields}
    for spec in ([schema.primary_key] if schema else []) + index_specs:
        for path in spec.paths:
            head = path.split(".")[0]
            if head and head not in top_fields:
                top_fields[head] = Field(head, ANY, optional=True)
                if not open_document:
                    notes.append(f"field {head!r} is only known from an index: typed v.any()")
    rename = assign_field_names(list(top_fields), lambda n: field_name_problem(n, top_level=True))
    fields: list[FieldPlan] = []
    for src, f in top_fields.items():
        conv = Conversion()
        max_bytes = observed.max_binary_bytes.get(src) if observed else None
        val = field_validator(f.type, f.optional, options, conv, top_level=True, max_bytes=max_bytes)
        fp = FieldPlan(source=src, name=rename[src], validator=val,
                       convert=",".join(sorted(conv.tags)) or None, notes=conv.notes)
        if fp.name != src:
            fp.notes.insert(0, f"renamed from {src!r}: {field_name_problem(src, top_level=True)}")
        fields.append(fp)

    key = plan_key(schema, fields, rename, observed, options, notes) if schema or observed else None
    owner = options.owner_field
    if owner:
        if owner in {f.name for f in fields}:
            warnings.append(f"ownerField {owner!r} is also a field of the rows; the import overwrites it")
            fields = [f for f in fields if f.name != owner]
        fields.insert(0, FieldPlan(source=None, name=owner, validator=OWNER_VALIDATOR,
                                   notes=["the owner of the row (which dump it came from); keys are scoped by it"]))
    scope = [owner] if owner else []
    indexes: list[IndexPlan] = []
    taken_indexes: set[str] = set()
    if key:
        indexes.append(key_index(key, owner))
        taken_indexes.add(key.index)
    multi: list[MultiEntryPlan] = []
    for spec in index_specs:
        if spec.multi:
            multi.append(plan_multi_entry(spec, convex_name, fields, rename, options, indexes, taken_indexes))
            continue
        plan_index(spec, rename, indexes, taken_indexes, warnings, scope if spec.unique else [])
    if len(indexes) > MAX_INDEXES:
        warnings.append(f"{len(indexes)} indexes: Convex allows {MAX_INDEXES} per table; remove some here")
    return TablePlan(source=source, table=convex_name, key=key, fields=fields, indexes=indexes,
                     multi_entry=multi, wrap_value=VALUE_FIELD if wrap else None,
                     notes=notes, warnings=warnings)


def declared_row_type(declared: DeclaredTableInput | None, outbound: bool, notes: list[str]) -> JsType | None:
    """The declared row type as the planner uses it: a union of object types merged into one
    object (said in a note); a plain value type kept for outbound tables (they are wrapped)."""
    declared_type = declared.row_type if declared else None
    if declared_type is None or isinstance(declared_type, ObjectOf):
        return declared_type
    merged = merge_object_union(declared_type)
    if merged is not None:
        notes.append(merged.note)
        return merged.type
    if not outbound:
        notes.append(f"rows are declared as `{describe(declared_type)}`, not an object type, but the table "
                     "has an inbound key (rows must be objects): the TypeScript type is not used")
        return None
    return declared_type


def _has_non_object(t: JsType) -> bool:
    members = t.members if isinstance(t, UnionOf) else (t,)
    return any(not isinstance(m, ObjectOf) for m in members)


def _object_part(t: JsType | None) -> ObjectOf | None:
    if t is None:
        return None
    objects = [m for m in (t.members if isinstance(t, UnionOf) else (t,)) if isinstance(m, ObjectOf)]
    return objects[0] if len(objects) == 1 else None


def convex_path(path: str, rename: dict[str, str]) -> str:
    head, _, rest = path.partition(".")
    return rename.get(head, head) + ("." + rest if rest else "")


KEY_ENCODINGS = {
    "number": ("number", Validator("number")),
    "string": ("string", Validator("string")),
    "binary": ("bytes", Validator("bytes")),
}


def plan_key(schema: TableSchema | None, fields: list[FieldPlan], rename: dict[str, str],
             observed: ObservedTable | None, options: PlanOptions, notes: list[str]) -> KeyPlan:
    """Keep the original key in an ordinary, indexed field; encode what Convex cannot index as is."""
    pk = schema.primary_key if schema else None
    paths = list(pk.paths) if pk else []
    outbound = not paths
    auto = bool(pk and pk.auto)
    kinds = set(observed.key_kinds) if observed else set()
    if auto and not kinds:
        kinds = {"number"}
    if pk and pk.compound:
        kinds = {"array"}
    if len(kinds) == 1 and next(iter(kinds)) in KEY_ENCODINGS:
        encoding, validator = KEY_ENCODINGS[next(iter(kinds))]
    elif kinds == {"date"}:
        encoding = f"date-{options.dates}"
        validator = Validator("number") if options.dates == "ms" else Validator("string")
        notes.append(f"Date keys are stored as {'epoch milliseconds' if options.dates == 'ms' else 'ISO strings'}")
    else:
        encoding, validator = "json", Validator("string")
        if kinds:
            notes.append("keys are " + (" and ".join(sorted(kinds))) + ": stored as canonical JSON text "
                         "(dates as {\"$date\": ms}, binary as {\"$bytes\": base64})")
    single_top = len(paths) == 1 and "." not in paths[0] and not (pk and pk.compound)
    if single_top:
        name = rename[paths[0]]
        fp = next(f for f in fields if f.name == name)
        if not fits_key_encoding(fp.validator, encoding):
            fp.validator = validator
        else:
            fp.validator = fp.validator.required
        dedicated = False
        if name != paths[0]:
            notes.append(f"the primary key {paths[0]!r} is kept in field {name!r}")
    else:
        taken = {f.name for f in fields}
        name = KEY_FIELD
        n = 2
        while name in taken:
            name, n = f"{KEY_FIELD}{n}", n + 1
        fields.insert(0, FieldPlan(source=None, name=name, validator=validator,
                                   notes=[_dedicated_key_note(pk, paths)]))
        dedicated = True
    if pk is None:
        notes.append("this dump format has no keys: rows are keyed by their position in the dump "
                     "(re-importing a different export of the same data will not match them up)")
    taken_indexes: set[str] = set()
    return KeyPlan(paths=paths, outbound=outbound, auto=auto, field=name,
                   index=index_name([name], taken_indexes), encoding=encoding, dedicated=dedicated)


def _dedicated_key_note(pk: IndexSpec | None, paths: list[str]) -> str:
    if pk is None:
        return "the row's position in the dump (the format has no keys)"
    if not paths:
        return "the original outbound key (Dexie keeps it outside the value)"
    if pk.compound:
        return f"the original compound key [{'+'.join(paths)}] as canonical JSON text"
    return f"the original primary key {paths[0]!r}"


def plan_index(spec: IndexSpec, rename: dict[str, str], indexes: list[IndexPlan],
               taken: set[str], warnings: list[str], scope: list[str] = ()) -> None:
    """A Dexie index as a Convex index; unique ones are scoped per owner (one dump per user)."""
    fields = list(scope) + [convex_path(p, rename) for p in spec.paths]
    bad = [f for f in fields if any(field_name_problem(seg, top_level=False) for seg in f.split(".")[1:])]
    if bad:
        warnings.append(f"index {spec.src!r} not created: nested path {bad[0]!r} is not a valid Convex "
                        f"field path; add one in `indexes` by hand if the app needs it")
        return
    if len(fields) > MAX_INDEX_FIELDS:
        warnings.append(f"index {spec.src!r} not created: {len(fields)} fields, Convex allows {MAX_INDEX_FIELDS}")
        return
    twin = next((i for i in indexes if i.fields == fields), None)
    if twin is not None:
        twin.notes.append(f"also serves Dexie index {spec.src!r} (same fields)")
        twin.unique = twin.unique or spec.unique
        return
    notes = []
    if spec.unique:
        notes.append("unique in Dexie: Convex indexes are not unique; the import checks it, "
                     "the app must enforce it on writes")
    name = index_name(fields, taken)
    taken.add(name)
    indexes.append(IndexPlan(source=spec.src, name=name, fields=fields, unique=spec.unique, notes=notes))


def plan_multi_entry(spec: IndexSpec, table: str, fields: list[FieldPlan], rename: dict[str, str],
                     options: PlanOptions, indexes: list[IndexPlan], taken: set[str]) -> MultiEntryPlan:
    path = convex_path(spec.paths[0], rename)
    fp = next((f for f in fields if f.name == path), None)
    item = multi_entry_item(fp)
    notes = []
    strategy = options.multi_entry
    if strategy == "side-table":
        notes.append(f"Convex has no multiEntry index: one row per element of {path!r} goes to the "
                     f"side table, indexed by value and by owner, kept in sync by the import")
    elif strategy == "array-index":
        notes.append("indexed as one whole array value: queries by a single element will not work")
        plan_index(IndexSpec(spec.name, spec.key_path, spec.unique, False, False, False, spec.name), rename,
                   indexes, taken, notes)
    else:
        notes.append("dropped by request (multiEntry: 'drop'): queries by element must scan")
    side = default_side_table(table, path) if strategy == "side-table" else None
    return MultiEntryPlan(source=spec.src, field=path, strategy=strategy, table=side, item=item, notes=notes)


def apply_references(plan: DatabasePlan) -> None:
    """Declared references: the field becomes v.id(<table>), optional/null kept."""
    for problem in resolve_references(plan):
        plan.warnings.append(f"{problem.entry}: {problem.message}; ignored")


def suggest_references(plan: DatabasePlan, observed: dict[str, ObservedTable]) -> dict[str, str]:
    """Fields named like another table (`companyId` -> `companies`): suggestions, not applied."""
    tables = {t.source: t for t in plan.mapped_tables() if t.key}
    out: dict[str, str] = {}
    for t in plan.mapped_tables():
        for f in t.fields:
            if f.source is None or f.references or (t.key and f.name == t.key.field):
                continue
            stem = _reference_stem(f.source)
            if not stem:
                continue
            for candidate in (stem, stem + "s", stem + "es", stem[:-1] + "ies" if stem.endswith("y") else None):
                if candidate in tables and candidate != t.source:
                    out[f"{t.source}.{f.source}"] = candidate
                    break
    return out


def _reference_stem(name: str) -> str | None:
    for suffix in ("Id", "_id", "Key", "_key", "Ids", "_ids"):
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)].lower()
    return None

