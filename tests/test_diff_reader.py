"""Reading schema.ts as users write it, and the breaking rules of the diff.

Each schema below is written by hand here; what it must read as is stated next to it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from migrator.diff.compare import compare_schemas
from migrator.diff.schema_reader import SchemaReadError, read_schema
from migrator.diff.widening import accepts
from migrator.plan.validators import Validator, parse_validator

HEADER = 'import { defineSchema, defineTable } from "convex/server";\nimport { v } from "convex/values";\n'


def _read(tmp_path: Path, body: str, name: str = "schema.ts"):
    path = tmp_path / name
    path.write_text(HEADER + body)
    return read_schema(path)


def test_forms_users_write(tmp_path):
    schema = _read(tmp_path, '''
const status = v.union(v.literal("open"), v.literal("done"));
const common = { createdAt: v.number(), tags: v.array(v.string()) };
const people = defineTable({ name: v.string() }).index("by_name", ["name"]);
export default defineSchema({
  // plain fields object, a const validator, spread fields, quoted key, staged index
  "tasks": defineTable({ title: v.string(), "status": status, ...common, "due": v.optional(v.float64()) })
    .index("by_status", { fields: ["status", "createdAt"], staged: true })
    .searchIndex("search_title", { searchField: "title", filterFields: ["status"] })
    .vectorIndex("by_embedding", { vectorField: "embedding", dimensions: 3 }),
  objects: defineTable(v.object({ n: v.int64(), id: v.id("tasks"), r: v.record(v.string(), v.nullable(v.bytes())) })),
  events: defineTable(v.union(v.object({ kind: v.literal("a"), x: v.number() }),
                              v.object({ kind: v.literal("b") }))),
  people,
  shorthandless: people,
  literals: defineTable({ neg: v.literal(-1), yes: v.literal(true), s: v.literal('it\\'s') }),
}, { schemaValidation: false });
''')
    assert list(schema.tables) == ["tasks", "objects", "events", "people", "shorthandless", "literals"]
    assert all(t.problem is None for t in schema.tables.values())
    tasks = schema.tables["tasks"]
    assert tasks.fields == {
        "title": Validator("string"),
        "status": Validator("union", (Validator.literal("open"), Validator.literal("done"))),
        "createdAt": Validator("number"), "tags": Validator.array(Validator("string")),
        "due": Validator.optional(Validator("number"))}
    assert tasks.indexes == {"by_status": ["status", "createdAt"]}
    assert [(i.method, i.name) for i in tasks.verbatim_indexes] == \
        [("searchIndex", "search_title"), ("vectorIndex", "by_embedding")]
    assert tasks.verbatim_indexes[0].text.strip().startswith('.searchIndex("search_title", {')
    assert schema.tables["objects"].fields["n"] == Validator("int64")
    assert schema.tables["objects"].fields["r"] == \
        Validator("record", (Validator("string"), Validator.union(Validator("bytes"), Validator("null"))))
    events = schema.tables["events"]
    assert events.fields is None and events.document.kind == "union" and len(events.document.args) == 2
    assert schema.tables["people"].indexes == {"by_name": ["name"]} == schema.tables["shorthandless"].indexes
    assert schema.tables["literals"].fields == {"neg": Validator.literal(-1), "yes": Validator.literal(True),
                                                "s": Validator.literal("it's")}
    assert schema.options == "{ schemaValidation: false }"


def test_a_table_that_cannot_be_read_is_marked_with_its_place(tmp_path):
    schema = _read(tmp_path, '''import { authTables } from "@convex-dev/auth/server";
import { shared } from "./shared";
export default defineSchema({
  ...authTables,
  ok: defineTable({ a: v.string() }),
  fromImport: defineTable({ a: shared }),
  computed: defineTable({ a: v.string() }).index(name(), ["a"]),
  odd: defineTable({ a: v.string() }).withSomething(),
});
''')
    assert [u.text for u in schema.unread] == ["...authTables"]
    assert schema.unread[0].location.endswith("schema.ts:6:3")
    assert schema.tables["ok"].problem is None
    assert "schema.ts:8:32" in schema.tables["fromImport"].problem and "imported" in schema.tables["fromImport"].problem
    assert "schema.ts:9:" in schema.tables["computed"].problem
    assert ".withSomething()" in schema.tables["odd"].problem


@pytest.mark.parametrize("body, where, what", [
    ("export default defineSchema({ a: defineTable({ x: v.string() }) ", ":3:", "syntax error"),
    ("export const schema = defineSchema({});\n", ":1:1", "no `export default defineSchema"),
    ("export default makeSchema({});\n", ":3:16", "not a defineSchema"),
    ("export default defineSchema(tables);\n", ":3:29", "not defined in this file"),
])
def test_unreadable_files_are_errors_with_a_place(tmp_path, body, where, what):
    with pytest.raises(SchemaReadError) as err:
        _read(tmp_path, body)
    assert where in err.value.location and what in err.value.message and err.value.remedy


def test_default_export_through_a_const(tmp_path):
    schema = _read(tmp_path, "const schema = defineSchema({ a: defineTable({ x: v.string() }) });\n"
                             "export default schema;\n")
    assert schema.tables["a"].fields == {"x": Validator("string")}


def _diff(tmp_path, old: str, new: str):
    return compare_schemas(_read(tmp_path, old, "old.ts"), _read(tmp_path, new, "new.ts"))


def _table(fields: str, indexes: str = "") -> str:
    return f"export default defineSchema({{ t: defineTable({{ {fields} }}){indexes} }});\n"


def test_rewritten_but_equal_schemas_have_no_differences(tmp_path):
    """Field order, union member order, v.float64 for v.number, v.nullable, quoting: all the same."""
    old = _table('b: v.union(v.null(), v.string()), "a": v.float64(), c: v.object({ y: v.string(), x: v.number() })',
                 '.index("by_a", ["a"])')
    new = _table('a: v.number(), b: v.nullable(v.string()), c: v.object({ x: v.number(), y: v.string() })',
                 '.index("by_a", ["a"])')
    assert _diff(tmp_path, old, new) == []


# The breaking rules, each with the field as it is (old) and as the plan would make it (new).
@pytest.mark.parametrize("old, new, breaking", [
    ("v.union(v.string(), v.number())", "v.string()", True),        # a union lost a member
    ("v.any()", "v.string()", True),                                 # any -> specific
    ("v.float64()", "v.int64()", True),                              # float64 -> int64
    ("v.int64()", "v.number()", True),                               # different types
    ("v.string()", "v.id(\"users\")", True),                         # string -> id narrows
    ("v.array(v.union(v.string(), v.null()))", "v.array(v.string())", True),
    ("v.object({ a: v.string() })", "v.object({ a: v.string(), b: v.number() })", True),  # required sub-field
    ("v.object({ a: v.string(), b: v.number() })", "v.object({ a: v.string() })", True),  # sub-field dropped
    ("v.string()", "v.union(v.string(), v.null())", False),          # widening
    ("v.literal(\"a\")", "v.string()", False),
    ("v.id(\"users\")", "v.string()", False),
    ("v.string()", "v.any()", False),
    ("v.object({ a: v.string() })", "v.object({ a: v.string(), b: v.optional(v.number()) })", False),
    ("v.object({ a: v.string() })", "v.record(v.string(), v.string())", False),
])
def test_breaking_rules_for_a_changed_field(tmp_path, old, new, breaking):
    [change] = _diff(tmp_path, _table(f"f: {old}"), _table(f"f: {new}"))
    assert (change.kind, change.table, change.name, change.breaking) == ("field-changed", "t", "f", breaking)
    assert parse_validator(change.old) == parse_validator(old) and parse_validator(change.new) == parse_validator(new)
    assert accepts(parse_validator(new), parse_validator(old)) is not breaking


def test_union_narrowing_names_the_lost_member(tmp_path):
    [change] = _diff(tmp_path, _table('f: v.union(v.literal("a"), v.literal("b"))'), _table('f: v.literal("a")'))
    assert change.breaking and 'v.literal("b")' in change.why


@pytest.mark.parametrize("old, new, kind, breaking", [
    ("a: v.string(), f: v.optional(v.string())", "a: v.string(), f: v.string()", "field-optionality", True),
    ("a: v.string(), f: v.string()", "a: v.string(), f: v.optional(v.string())", "field-optionality", False),
    ("a: v.string()", "a: v.string(), f: v.string()", "field-added", True),
    ("a: v.string()", "a: v.string(), f: v.optional(v.string())", "field-added", False),
    ("a: v.string(), f: v.string()", "a: v.string()", "field-removed", True),
])
def test_breaking_rules_for_fields_added_removed_and_optional(tmp_path, old, new, kind, breaking):
    [change] = _diff(tmp_path, _table(old), _table(new))
    assert (change.kind, change.name, change.breaking) == (kind, "f", breaking)


def test_breaking_rules_for_indexes_and_tables(tmp_path):
    old = ('export default defineSchema({ t: defineTable({ a: v.string(), b: v.string() })'
           '.index("by_a", ["a"]).index("by_b", ["b"]), gone: defineTable({ x: v.string() }) });\n')
    new = ('export default defineSchema({ t: defineTable({ a: v.string(), b: v.string() })'
           '.index("by_a", ["a", "b"]).index("by_ab", ["a", "b"]), fresh: defineTable({ y: v.string() }) });\n')
    changes = {(c.kind, c.table, c.name): c for c in _diff(tmp_path, old, new)}
    assert {k: c.breaking for k, c in changes.items()} == {
        ("index-changed", "t", "by_a"): True, ("index-removed", "t", "by_b"): True,
        ("index-added", "t", "by_ab"): False, ("table-removed", "gone", None): True,
        ("table-added", "fresh", None): False}
    assert (changes[("index-changed", "t", "by_a")].old, changes[("index-changed", "t", "by_a")].new) == \
        ('["a"]', '["a", "b"]')


def test_union_document_and_not_understood_tables_are_differences(tmp_path):
    old = ('const x = somewhere();\nexport default defineSchema({ '
           'e: defineTable(v.union(v.object({ k: v.literal("a") }), v.object({ k: v.literal("b") }))), '
           'q: defineTable(x) });\n')
    new = ('export default defineSchema({ e: defineTable(v.object({ k: v.literal("a") })), '
           'q: defineTable({ y: v.string() }) });\n')
    changes = {c.kind: c for c in _diff(tmp_path, old, new)}
    assert changes["document-changed"].breaking and 'v.literal("b")' in changes["document-changed"].why
    assert changes["table-not-understood"].table == "q" and changes["table-not-understood"].breaking
    assert "old.ts:3:" in changes["table-not-understood"].why


def test_a_destructured_constant_is_not_read_as_the_whole_object(tmp_path):
    schema = _read(tmp_path, '''const fields = { a: v.string() };
const { a } = fields;
export default defineSchema({ t: defineTable({ a }) });
''')
    assert "destructured" in schema.tables["t"].problem and "schema.ts:5:48" in schema.tables["t"].problem
