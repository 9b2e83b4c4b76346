"""JS types (declared or observed) -> Convex validators, and declared-vs-observed checks."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..convex_names import field_name_problem
from ..jstypes import (ANY, ArrayOf, Field, JsType, Literal, MapOf, ObjectOf, Prim, RecordOf,
                       SetOf, UnionOf, describe, union)
from .model import PlanOptions
from .validators import Validator

REGEXP_VALIDATOR = Validator.object({"source": Validator("string"), "flags": Validator("string")})


@dataclass
class Conversion:
    """What converting one field's values involves: tags for the mapping file, and notes."""

    tags: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)


def _date(options: PlanOptions, conv: Conversion) -> Validator:
    conv.tags.add(f"date-{options.dates}")
    return Validator("number") if options.dates == "ms" else Validator("string")


def _blob(kind: str, top_level: bool, max_bytes: int | None, options: PlanOptions, conv: Conversion) -> Validator:
    if top_level and (max_bytes is None or max_bytes > options.blob_inline_max_bytes):
        conv.tags.add(f"{kind}-storage")
        why = "no data seen" if max_bytes is None else f"largest seen is {max_bytes} bytes"
        conv.note(f"{kind.capitalize()}s go to Convex file storage ({why}; inline limit "
                  f"blobInlineMaxBytes={options.blob_inline_max_bytes}); the MIME type is kept there")
        return Validator.id("_storage")
    conv.tags.add(f"{kind}-bytes")
    conv.note(f"{kind.capitalize()} content stored inline as bytes; its MIME type"
              + (", name and lastModified are" if kind == "file" else " is") + " not kept")
    return Validator("bytes")


def to_validator(t: JsType, options: PlanOptions, conv: Conversion, *, top_level: bool = False,
                 max_bytes: int | None = None) -> Validator:
    """The Convex validator for values of JS type `t` after the import's conversions.

    `undefined` never reaches a validator: callers take it out and make the field optional
    (in arrays, holes become null).
    """
    if isinstance(t, Prim):
        k = t.kind
        if k in ("string", "number", "boolean", "null"):
            return Validator(k)
        if k == "undefined":
            conv.tags.add("undefined-null")
            return Validator("null")
        if k == "bigint":
            conv.tags.add("bigint-int64")
            return Validator("int64")
        if k == "date":
            return _date(options, conv)
        if k in ("blob", "file"):
            return _blob(k, top_level, max_bytes, options, conv)
        if k == "binary":
            conv.tags.add("binary-bytes")
            return Validator("bytes")
        if k == "regexp":
            conv.tags.add("regexp-object")
            return REGEXP_VALIDATOR
        if t.note:
            conv.note(f"v.any(): {t.note}")
        return Validator("any")
    if isinstance(t, Literal):
        return Validator.literal(t.value)
    if isinstance(t, ArrayOf):
        return Validator.array(to_validator(t.item, options, conv))
    if isinstance(t, SetOf):
        conv.tags.add("set-array")
        return Validator.array(to_validator(t.item, options, conv))
    if isinstance(t, RecordOf):
        return Validator.record(to_validator(t.value, options, conv))
    if isinstance(t, MapOf):
        value = to_validator(t.value, options, conv)
        if t.key == Prim("string"):
            conv.tags.add("map-record")
            return Validator.record(value)
        conv.tags.add("map-pairs")
        return Validator.array(Validator.object({"key": to_validator(t.key, options, conv), "value": value}))
    if isinstance(t, ObjectOf):
        if any(field_name_problem(f.name, top_level=False) for f in t.fields):
            conv.tags.add("object-record")
            conv.note("nested keys that are not identifiers: stored as v.record; keys Convex "
                      "refuses ($-prefixed, non-ASCII) are percent-encoded at import")
            return Validator.record(to_validator(union(*(f.type for f in t.fields)), options, conv))
        return Validator.object({f.name: field_validator(f.type, f.optional, options, conv)
                                 for f in t.fields})
    members = [m for m in t.members if m != Prim("undefined")]
    bases = {m.kind for m in members if isinstance(m, Prim)}
    kept = [m for m in members if not (isinstance(m, Literal) and _literal_kind(m) in bases)]
    return Validator.union(*(to_validator(m, options, conv, top_level=top_level, max_bytes=max_bytes)
                             for m in kept)) if kept else Validator("null")


def _literal_kind(t: Literal) -> str:
    return "boolean" if isinstance(t.value, bool) else "string" if isinstance(t.value, str) else "number"


def field_validator(t: JsType, optional: bool, options: PlanOptions, conv: Conversion, *,
                    top_level: bool = False, max_bytes: int | None = None) -> Validator:
    """A field's validator: optional when the field may be missing or undefined."""
    maybe_undefined = t == Prim("undefined") or (isinstance(t, UnionOf) and Prim("undefined") in t.members)
    if t == Prim("undefined"):
        return Validator.optional(Validator("null"))
    val = to_validator(t, options, conv, top_level=top_level, max_bytes=max_bytes)
    return Validator.optional(val) if (optional or maybe_undefined) and val.kind != "any" else val


# -- declared vs observed -----------------------------------------------------------------
def kinds(t: JsType) -> set[str]:
    if isinstance(t, Prim):
        return {t.kind}
    if isinstance(t, Literal):
        return {_literal_kind(t)}
    if isinstance(t, UnionOf):
        return set().union(*(kinds(m) for m in t.members))
    return {{ArrayOf: "array", ObjectOf: "object", RecordOf: "object", MapOf: "map", SetOf: "set"}[type(t)]}


def reconcile(declared: JsType | None, observed: JsType | None, path: str, conflicts: list[str]) -> JsType:
    """Prefer the declared type; widen it (and say so) where the data holds more."""
    if declared is None:
        return observed if observed is not None else ANY
    if observed is None or (isinstance(observed, Prim) and observed.kind == "any"):
        return declared
    if isinstance(declared, Prim) and declared.kind == "any":
        return observed
    if isinstance(declared, ObjectOf) and isinstance(observed, ObjectOf):
        return ObjectOf(reconcile_fields(declared, observed, path, conflicts))
    if isinstance(declared, ArrayOf) and isinstance(observed, ArrayOf):
        return ArrayOf(reconcile(declared.item, observed.item, path + "[]", conflicts))
    extra = kinds(observed) - kinds(declared) - {"undefined"}
    if isinstance(declared, (ObjectOf, RecordOf)) and isinstance(observed, (ObjectOf, RecordOf)):
        extra = set()
    if extra:
        conflicts.append(f"{path}: declared {describe(declared)} but the dump also holds "
                         f"{', '.join(sorted(extra))}; the validator accepts both")
        return union(declared, observed)
    return declared


def reconcile_fields(declared: ObjectOf, observed: ObjectOf, path: str, conflicts: list[str]) -> tuple[Field, ...]:
    prefix = path + "." if path else ""
    out: list[Field] = []
    for d in declared.fields:
        o = observed.get(d.name)
        if o is None:
            out.append(d)
            continue
        optional = d.optional
        if o.optional and not d.optional:
            conflicts.append(f"{prefix}{d.name}: declared required but missing in some rows; made optional")
            optional = True
        out.append(Field(d.name, reconcile(d.type, o.type, prefix + d.name, conflicts), optional))
    for o in observed.fields:
        if declared.get(o.name) is None:
            conflicts.append(f"{prefix}{o.name}: in the dump but not in the TypeScript type; typed from the data")
            out.append(o)
    return tuple(out)


# -- unions of object types ---------------------------------------------------------------
@dataclass
class MergedUnion:
    type: ObjectOf
    note: str


def merge_object_union(t: JsType) -> MergedUnion | None:
    """`A | B` (each an object type) as one object: every member's fields, each typed as the
    union of its types, optional where some member lacks it or has it optional. A field that
    is a distinct literal in every member (`kind: "a"` / `kind: "b"`) is the discriminant: it
    stays required, as the union of its literals. None when some member is not an object."""
    members = t.members if isinstance(t, UnionOf) else ()
    objects = [m for m in members if m != Prim("undefined")]
    if len(objects) < 2 or not all(isinstance(m, ObjectOf) for m in objects):
        return None
    names: list[str] = []
    for member in objects:
        names.extend(f.name for f in member.fields if f.name not in names)
    fields = []
    for name in names:
        present = [m.get(name) for m in objects if m.get(name) is not None]
        optional = len(present) < len(objects) or any(f.optional for f in present)
        fields.append(Field(name, union(*(f.type for f in present)), optional))
    discriminants = [f.name for f in fields if not f.optional and _is_discriminant(f.name, objects)]
    by = f", discriminated by {', '.join(repr(d) for d in discriminants)}" if discriminants else ""
    note = (f"rows are one of {len(objects)} object types{by}: stored as one object with every member's "
            "fields (optional where a member lacks them); Convex does not check which combination a row uses")
    return MergedUnion(ObjectOf(tuple(fields)), note)


def _is_discriminant(name: str, objects: list[ObjectOf]) -> bool:
    values = [o.get(name).type for o in objects]
    return all(isinstance(v, Literal) for v in values) and len(set(values)) == len(values)
