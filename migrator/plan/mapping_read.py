"""A mapping file's data -> a checked `DatabasePlan`, every problem named by its entry.

The file holds each decision once (see mapping_file); what follows from it is derived here:
the key field's validator from `key.encoding`, the field and index the tool adds for a key,
the owner field and owner-scoped indexes from `options.ownerField`, `v.id(...)` from
`references`, a multiEntry element type from its field, an `array-index` multiEntry's index.
Entries an older file still repeats are accepted when they agree and are errors when they
do not, so no edit is silently outweighed by a stale copy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..convex_names import field_name_problem, index_name_problem, table_name_problem
from .mapping_checks import Problems, check_field_reference, check_ids, check_table_names, names
from .model import (DATE_MODES, KEY_INDEX_SOURCE, KEY_VALIDATORS, MULTI_ENTRY_STRATEGIES, OWNER_VALIDATOR,
                    DatabasePlan, FieldPlan, IndexPlan, KeyPlan, MultiEntryPlan, PlanOptions, TablePlan,
                    default_side_table, fits_key_encoding, key_index, multi_entry_item)
from .names import index_name
from .references import resolve_references
from .validators import Validator, ValidatorSyntaxError, parse_validator

FORMAT_VERSION = 2     # 2: each decision written once (1 repeated references, key fields and indexes)
MAX_INDEX_FIELDS = 15
TOP_KEYS = ("formatVersion", "database", "sources", "options", "references", "tables")
OPTION_KEYS = ("dates", "blobInlineMaxBytes", "multiEntry", "ownerField")
PLANNED_OPTIONS = ("dates", "blobInlineMaxBytes", "multiEntry")   # applied by `plan`, not by `generate`
TABLE_KEYS = ("table", "skip", "key", "fields", "indexes", "multiEntry", "wrapValue")
KEY_KEYS = ("paths", "outbound", "auto", "index", "encoding", "field", "dedicated")
FIELD_KEYS = ("name", "validator", "convert", "references")
INDEX_KEYS = ("name", "fields", "unique")
MULTI_KEYS = ("field", "strategy", "table", "item")


def read_options(raw: dict, r: Problems) -> PlanOptions:
    r.unknown_keys("options", raw, OPTION_KEYS)
    opts = PlanOptions()
    dates = raw.get("dates", opts.dates)
    if dates not in DATE_MODES:
        r.fail("options.dates", f"{dates!r} is not one of {', '.join(DATE_MODES)}")
    else:
        opts.dates = dates
    limit = raw.get("blobInlineMaxBytes", opts.blob_inline_max_bytes)
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
        r.fail("options.blobInlineMaxBytes", "must be a whole number of bytes")
    else:
        opts.blob_inline_max_bytes = limit
    strategy = raw.get("multiEntry", opts.multi_entry)
    if strategy not in MULTI_ENTRY_STRATEGIES:
        r.fail("options.multiEntry", f"{strategy!r} is not one of {', '.join(MULTI_ENTRY_STRATEGIES)}")
    else:
        opts.multi_entry = strategy
    owner = raw.get("ownerField")
    problem = owner is not None and field_name_problem(str(owner), top_level=True)
    if problem:
        r.fail("options.ownerField", f"{owner!r}: {problem}")
    else:
        opts.owner_field = owner
    return opts


def check_planned_options(raw: dict, base: dict | None, r: Problems) -> None:
    """Options `plan` applies to every field: changed since plan wrote the file, they are not in effect yet."""
    if not isinstance(base, dict):
        return
    written = base.get("options") or {}
    for name in PLANNED_OPTIONS:
        if name in raw and name in written and raw[name] != written[name]:
            r.fail(f"options.{name}", f"changed from {written[name]!r} to {raw[name]!r} since `plan` wrote this "
                                      "file; plan applies it to every field: re-run `dexie-convex plan` (it keeps "
                                      "your other edits), or set it back")


def _validator(text: Any, where: str, r: Problems) -> Validator | None:
    if not isinstance(text, str):
        r.fail(where, "must be a validator as text, like \"v.string()\"")
        return None
    try:
        return parse_validator(text)
    except ValidatorSyntaxError as exc:
        r.fail(where, f"invalid validator: {exc}")
        return None


# -- one table -------------------------------------------------------------------------------------
@dataclass
class _TableReader:
    source: str
    raw: dict
    options: PlanOptions
    r: Problems
    added: dict[str, tuple[str, dict]] = field(default_factory=dict)   # "(name)" entries of older files
    explicit: set[str] = field(default_factory=set)   # fields whose entry gives a validator

    @property
    def where(self) -> str:
        return f"tables.{self.source}"

    def read(self) -> TablePlan | None:
        r, raw, where = self.r, self.raw, self.where
        r.unknown_keys(where, raw, TABLE_KEYS)
        name = str(raw.get("table", self.source))
        if raw.get("skip"):
            return TablePlan(source=self.source, table=name, key=None, fields=[], indexes=[], skip=True)
        problem = table_name_problem(name)
        if problem:
            r.fail(f"{where}.table", f"{name!r}: {problem}")
        fields = self.fields()
        table = TablePlan(source=self.source, table=name, key=None, fields=fields, indexes=[])
        table.key = self.key(fields)
        self.owner(fields)
        self.stale_added(table)
        table.wrap_value = self.wrap_value(fields)
        table.multi_entry = self.multi_entry(table)
        table.indexes = self.indexes(table)
        return table

    def entries(self, section: str, known: tuple[str, ...]):
        """(key, its path in the file, its data) for each entry of a section; what is not an object,
        and entries no one knows, are reported."""
        for key, raw in self.r.mapping(f"{self.where}.{section}", self.raw.get(section)).items():
            at = f"{self.where}.{section}.{key}"
            if not isinstance(raw, dict):
                self.r.fail(at, "must be an object")
                continue
            self.r.unknown_keys(at, raw, known)
            yield key, at, raw

    def fields(self) -> list[FieldPlan]:
        fields: list[FieldPlan] = []
        for key, at, f in self.entries("fields", FIELD_KEYS):
            if key.startswith("("):
                self.added[key] = (at, f)       # added by the tool: derived, checked in stale_added
                continue
            fname = str(f.get("name", key))
            problem = field_name_problem(fname, top_level=True)
            if problem:
                self.r.fail(f"{at}.name", f"{fname!r}: {problem}")
            clash = next((x for x in fields if x.name == fname), None)
            if clash is not None:
                self.r.fail(f"{at}.name", f"{fname!r} is also the name of tables.{self.source}.fields.{clash.source}")
            val = _validator(f["validator"], f"{at}.validator", self.r) if "validator" in f else None
            if "validator" in f:
                self.explicit.add(key)
            fields.append(FieldPlan(source=key, name=fname, validator=val or Validator("any"), convert=f.get("convert")))
        self.check_dates(fields)
        return fields

    def check_dates(self, fields: list[FieldPlan]) -> None:
        """`convert` says which fields hold Dates, planned as options.dates was then."""
        for f in fields:
            modes = {tag.removeprefix("date-") for tag in str(f.convert or "").split(",") if tag.startswith("date-")}
            if modes and modes != {self.options.dates}:
                self.r.fail(f"{self.where}.fields.{f.source}.convert",
                            f"{f.convert!r}: its Dates were planned as {', '.join(sorted(modes))} but options.dates is "
                            f"{self.options.dates!r}; re-run `dexie-convex plan` to re-plan them, or set options.dates "
                            "back")

    def key(self, fields: list[FieldPlan]) -> KeyPlan | None:
        raw = self.raw.get("key")
        if not raw:
            return None
        at = f"{self.where}.key"
        if not isinstance(raw, dict):
            self.r.fail(at, "must be an object")
            return None
        self.r.unknown_keys(at, raw, KEY_KEYS)
        paths = [str(p) for p in raw.get("paths") or []]
        encoding = str(raw.get("encoding"))
        if encoding not in KEY_VALIDATORS:
            self.r.fail(f"{at}.encoding", f"{encoding!r} is not one of {', '.join(KEY_VALIDATORS)}")
            encoding = "json"
        dedicated = bool(raw.get("dedicated", "field" in raw))
        index = str(raw.get("index"))
        problem = index_name_problem(index)
        if problem:
            self.r.fail(f"{at}.index", f"{index!r}: {problem}")
        key = KeyPlan(paths=paths, outbound=bool(raw.get("outbound")), auto=bool(raw.get("auto")), field="",
                      index=index, encoding=encoding, dedicated=dedicated)
        derived = KEY_VALIDATORS[encoding]
        if dedicated:
            key.field = str(raw.get("field"))
            problem = field_name_problem(key.field, top_level=True)
            if problem:
                self.r.fail(f"{at}.field", f"{key.field!r}: {problem}")
            holder = next((f for f in fields if f.name == key.field), None)
            if holder is not None:
                self.r.fail(f"{at}.field", f"{key.field!r} is also the name of tables.{self.source}.fields."
                                           f"{holder.source}; name the key field differently")
            fields.insert(0, FieldPlan(source=None, name=key.field, validator=derived,
                                       notes=["holds the original key"]))
            return key
        holder = next((f for f in fields if f.source == paths[0]), None) if len(paths) == 1 else None
        if holder is None:
            self.r.fail(f"{at}.paths", f"{paths!r}: a key held in a field of the row names one of the fields "
                                       f"(fields: {names(f.source for f in fields)}); a key held apart needs "
                                       f"`field` (the field the tool adds for it)")
            return key
        key.field = holder.name
        if "field" in raw and raw["field"] != holder.name:
            self.r.fail(f"{at}.field", f"{raw['field']!r} conflicts with tables.{self.source}.fields.{holder.source}"
                                       f".name {holder.name!r}, which holds the key; remove `field` (the field's name "
                                       "is the one place to rename it)")
        if holder.source not in self.explicit:
            holder.validator = derived
        elif not fits_key_encoding(holder.validator, encoding):
            self.r.fail(f"{self.where}.fields.{holder.source}.validator",
                        f"{holder.validator.to_ts()} conflicts with {at}.encoding {encoding!r}, which stores keys as "
                        f"{derived.to_ts()}; remove the validator (it follows the encoding) or change the encoding")
        return key

    def owner(self, fields: list[FieldPlan]) -> None:
        owner = self.options.owner_field
        if not owner:
            return
        clash = next((f for f in fields if f.name == owner), None)
        if clash is not None:
            self.r.fail(f"{self.where}.fields.{clash.source}.name",
                        f"{owner!r} is options.ownerField, which the import stamps on every document; "
                        "rename this field")
            return
        fields.insert(0, FieldPlan(source=None, name=owner, validator=OWNER_VALIDATOR,
                                   notes=["the owner of the row (which dump it came from); keys are scoped by it"]))

    def stale_added(self, table: TablePlan) -> None:
        """`(name)` field entries of an older file: fine when they repeat what is derived, else an error."""
        for key, (at, raw) in self.added.items():
            derived = next((f for f in table.fields if f.source is None and f"({f.name})" == key), None)
            if derived is None:
                self.r.fail(at, f"no such field is added by the tool here (it adds: "
                                f"{names(f'({f.name})' for f in table.fields if f.source is None)}); "
                                "remove this entry, or give the field a Dexie property as its key")
                continue
            val = _validator(raw.get("validator", derived.validator.to_ts()), f"{at}.validator", self.r)
            if raw.get("name", derived.name) != derived.name or (val is not None and val != derived.validator):
                self.r.fail(at, f"conflicts with what the tool adds ({derived.name!r}: {derived.validator.to_ts()}, "
                                "from `key` and options.ownerField); remove this entry and edit those instead")

    def wrap_value(self, fields: list[FieldPlan]) -> str | None:
        entry = self.raw.get("wrapValue")
        if entry is None:
            return None
        holder = next((f for f in fields if f.source == entry), None) \
            or next((f for f in fields if f.name == entry and f.source is not None), None)
        if holder is None:
            self.r.fail(f"{self.where}.wrapValue", f"{entry!r} is not a field of the table "
                                                   f"(fields: {names(f.source for f in fields if f.source)})")
            return None
        return holder.name

    def multi_entry(self, table: TablePlan) -> list[MultiEntryPlan]:
        multi: list[MultiEntryPlan] = []
        for src, at, m in self.entries("multiEntry", MULTI_KEYS):
            strategy, path = m.get("strategy"), str(m.get("field"))
            if strategy not in MULTI_ENTRY_STRATEGIES:
                self.r.fail(f"{at}.strategy", f"{strategy!r} is not one of {', '.join(MULTI_ENTRY_STRATEGIES)}")
                continue
            if table.field_named(path.split(".")[0]) is None:
                self.r.fail(f"{at}.field", f"{path!r} is not a field of the table "
                                           f"(fields: {names(f.name for f in table.fields)})")
                continue
            item = multi_entry_item(table.field_named(path))
            if "item" in m:
                written = _validator(m["item"], f"{at}.item", self.r)
                if written is not None and written != item:
                    self.r.fail(f"{at}.item", f"{written.to_ts()} conflicts with the element type of field {path!r} "
                                              f"({item.to_ts()}); remove `item` (it follows the field's validator)")
            side = None
            if strategy == "side-table":
                side = str(m.get("table") or default_side_table(table.table, path))
                problem = table_name_problem(side)
                if problem:
                    self.r.fail(f"{at}.table", f"{side!r}: {problem}")
            multi.append(MultiEntryPlan(source=src, field=path, strategy=strategy, table=side, item=item))
        return multi

    def indexes(self, table: TablePlan) -> list[IndexPlan]:
        owner = self.options.owner_field
        indexes: list[IndexPlan] = []
        if table.key is not None and table.key.field:
            indexes.append(key_index(table.key, owner))
        for src, at, i in self.entries("indexes", INDEX_KEYS):
            iname, ifields = str(i.get("name")), [str(x) for x in i.get("fields") or []]
            unique = bool(i.get("unique"))
            if src == KEY_INDEX_SOURCE:
                self.stale_key_index(at, indexes, iname, ifields)
                continue
            if unique and owner and ifields[:1] != [owner]:
                ifields = [owner] + ifields
            self.check_index(at, table, indexes, iname, ifields)
            indexes.append(IndexPlan(source=src, name=iname, fields=ifields, unique=unique))
        for m in table.multi_entry:
            if m.strategy == "array-index" and not any(i.fields == [m.field] for i in indexes):
                indexes.append(IndexPlan(source=m.source.lstrip("*"), name=index_name([m.field], {i.name for i in indexes}),
                                         fields=[m.field], notes=["multiEntry `array-index`: the whole array as one value"]))
        return indexes

    def stale_key_index(self, at: str, indexes: list[IndexPlan], name: str, fields: list[str]) -> None:
        derived = indexes[0] if indexes and indexes[0].source == KEY_INDEX_SOURCE else None
        if derived is None or name != derived.name or fields != derived.fields:
            what = f"{derived.name!r} on {derived.fields}" if derived else "no key index (the table has no key)"
            self.r.fail(at, f"conflicts with the key index derived from tables.{self.source}.key ({what}); remove "
                            "this entry: the key index follows `key.index`, `key.field` and options.ownerField")

    def check_index(self, at: str, table: TablePlan, indexes: list[IndexPlan], name: str, fields: list[str]) -> None:
        problem = index_name_problem(name)
        if problem:
            self.r.fail(f"{at}.name", f"{name!r}: {problem}")
        twin = next((x for x in indexes if x.name == name), None)
        if twin is not None:
            self.r.fail(f"{at}.name", f"{name!r} is also the name of the index {twin.source}")
        if not fields or len(fields) > MAX_INDEX_FIELDS:
            self.r.fail(f"{at}.fields", f"an index needs 1 to {MAX_INDEX_FIELDS} fields")
        for fp in fields:
            if table.field_named(fp.split(".")[0]) is None:
                self.r.fail(f"{at}.fields", f"{fp!r} is not a field of the table "
                                            f"(fields: {names(f.name for f in table.fields)})")
            elif any(field_name_problem(seg, top_level=False) for seg in fp.split(".")[1:]):
                self.r.fail(f"{at}.fields", f"{fp!r} is not a valid field path")
        same = next((x for x in indexes if x.fields == fields), None)
        if same is not None:
            self.r.fail(f"{at}.fields", f"index {same.name!r} has the same fields {fields} (Convex rejects that)")


# -- the whole file ------------------------------------------------------------------------------
def read_plan(data: dict, default_name: str, base: dict | None) -> tuple[DatabasePlan, list[str]]:
    """The plan the file describes, and every problem found (empty when it is sound)."""
    r = Problems()
    r.unknown_keys("(top level)", data, TOP_KEYS)
    version = data.get("formatVersion", 1)
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= FORMAT_VERSION:
        r.fail("formatVersion", f"{version!r}: this dexie-convex reads formatVersion 1 to {FORMAT_VERSION} "
                                "(a newer version wrote this file?)")
    raw_options = r.mapping("options", data.get("options"))
    plan = DatabasePlan(database=str(data.get("database") or default_name), options=read_options(raw_options, r),
                        tables=[], references={str(k): v for k, v in r.mapping("references", data.get("references")).items()},
                        sources=dict(r.mapping("sources", data.get("sources"))))
    check_planned_options(raw_options, base, r)
    readers = []
    for source, raw in r.mapping("tables", data.get("tables")).items():
        if not isinstance(raw, dict):
            r.fail(f"tables.{source}", "must be an object")
            continue
        reader = _TableReader(source, raw, plan.options, r)
        table = reader.read()
        if table is not None:
            plan.tables.append(table)
            readers.append(reader)
    check_table_names(plan, r)
    for reader in readers:      # field-level `references` of older files: the same as `references`, or an error
        for key, f in r.mapping("", reader.raw.get("fields")).items():
            if isinstance(f, dict) and "references" in f:
                check_field_reference(plan, reader.source, key, f["references"], r)
    for problem in resolve_references(plan):
        r.fail(problem.entry, problem.message)
    check_ids(plan, r)
    return plan, r.errors
