from migrator.dexie_schema import parse_table_spec
from migrator.jstypes import ArrayOf, Field, Literal, ObjectOf, Prim, UnionOf
from migrator.plan.model import PlanOptions
from migrator.plan.planner import DeclaredTableInput, ObservedTable, plan_database


def declared(name, spec, row_type=None):
    return DeclaredTableInput(name, parse_table_spec(name, spec), row_type)


def test_inbound_key_stays_and_gets_an_index():
    plan = plan_database("db", {"friends": declared("friends", "++id,name",
                                                    ObjectOf((Field("id", Prim("number")), Field("name", Prim("string")))))},
                         {}, PlanOptions())
    t = plan.tables[0]
    assert (t.key.field, t.key.dedicated, t.key.encoding) == ("id", False, "number")
    assert [(i.name, i.fields) for i in t.indexes] == [("by_id_key", ["id"]), ("by_name", ["name"])]


def test_compound_outbound_and_underscore_keys_get_a_field():
    plan = plan_database("db", {
        "members": declared("members", "[userId+roomId]"),
        "kv": declared("kv", ""),
        "docs": declared("docs", "_id", ObjectOf((Field("_id", Prim("string")),))),
    }, {}, PlanOptions())
    by = {t.source: t for t in plan.tables}
    assert by["members"].key.dedicated and by["members"].key.encoding == "json"
    assert by["kv"].key.dedicated and by["kv"].key.outbound
    assert by["docs"].key.field == "id" and not by["docs"].key.dedicated


def test_outbound_non_object_values_are_wrapped():
    obs = ObservedTable("kv", parse_table_spec("kv", ""), 3, UnionOf((Prim("string"), Prim("null"))), {"string"})
    t = plan_database("db", {}, {"kv": obs}, PlanOptions()).tables[0]
    assert t.wrap_value == "value"
    assert {f.name: f.validator.to_ts() for f in t.fields} == {
        "dexieKey": "v.string()", "value": "v.union(v.string(), v.null())"}


def test_types_dates_blobs_bigints_and_optional():
    row = ObjectOf((Field("id", Prim("number")), Field("at", Prim("date"), True), Field("n", Prim("bigint")),
                    Field("pic", Prim("blob")), Field("thumb", Prim("blob")), Field("raw", Prim("binary")),
                    Field("kind", UnionOf((Literal("a"), Literal("b"), Prim("null")))),
                    Field("re", Prim("regexp"))))
    obs = ObservedTable("t", parse_table_spec("t", "++id"), 2, row, {"number"},
                        max_binary_bytes={"pic": 5_000_000, "thumb": 100})
    fields = {f.name: f for f in plan_database("db", {}, {"t": obs}, PlanOptions()).tables[0].fields}
    assert fields["at"].validator.to_ts() == "v.optional(v.number())" and fields["at"].convert == "date-ms"
    assert fields["n"].validator.to_ts() == "v.int64()"
    assert fields["pic"].validator.to_ts() == 'v.id("_storage")'
    assert fields["thumb"].validator.to_ts() == "v.bytes()"
    assert fields["raw"].validator.to_ts() == "v.bytes()"
    assert fields["kind"].validator.to_ts() == 'v.union(v.literal("a"), v.literal("b"), v.null())'
    iso = plan_database("db", {}, {"t": obs}, PlanOptions(dates="iso")).tables[0]
    assert iso.field_named("at").validator.to_ts() == "v.optional(v.string())"


def test_declared_vs_observed_conflicts_are_reported_and_widened():
    dec = declared("t", "++id", ObjectOf((Field("id", Prim("number")), Field("age", Prim("number")))))
    obs = ObservedTable("t", None, 5, ObjectOf((Field("id", Prim("number")),
                                                Field("age", UnionOf((Prim("number"), Prim("string"))), True),
                                                Field("extra", Prim("boolean")))), {"number"})
    t = plan_database("db", {"t": dec}, {"t": obs}, PlanOptions()).tables[0]
    assert t.field_named("age").validator.to_ts() == "v.optional(v.union(v.number(), v.string()))"
    assert t.field_named("extra").validator.to_ts() == "v.boolean()"
    text = " ".join(t.warnings)
    assert "age: declared number but the dump also holds string" in text
    assert "age: declared required but missing in some rows" in text
    assert "extra: in the dump but not in the TypeScript type" in text


def test_multi_entry_side_table_unique_note_and_addon_tables():
    row = ObjectOf((Field("id", Prim("number")), Field("tags", ArrayOf(Prim("string"))), Field("email", Prim("string"))))
    plan = plan_database("db", {"notes": declared("notes", "++id,*tags,&email", row),
                                "_changes": declared("_changes", "++rev")}, {}, PlanOptions())
    notes, changes = plan.tables
    assert changes.skip and "addon" in changes.notes[0]
    (m,) = notes.multi_entry
    assert (m.strategy, m.table, m.item.to_ts()) == ("side-table", "notes_tags", "v.string()")
    assert not any(i.fields == ["tags"] for i in notes.indexes)
    email = next(i for i in notes.indexes if i.source == "&email")
    assert email.unique and "not unique" in email.notes[0]


def test_references_applied_and_suggested():
    contact = ObjectOf((Field("id", Prim("number")), Field("companyId", UnionOf((Prim("number"), Prim("null")))),
                        Field("ownerId", Prim("number"))))
    tables = {"contacts": declared("contacts", "++id,companyId", contact), "companies": declared("companies", "++id"),
              "owners": declared("owners", "++id")}
    plan = plan_database("db", tables, {}, PlanOptions(), {"contacts.companyId": "companies"})
    field = plan.tables[0].field_named("companyId")
    assert field.validator.to_ts() == 'v.union(v.id("companies"), v.null())' and field.references == "companies"
    assert plan.suggested_references == {"contacts.ownerId": "owners"}


def test_a_reference_to_array_keys_is_one_id_per_array():
    """`[userId+roomId]`-keyed members: `member: ["alice", 2]` is one key, `tags: [1, 2]` to ++id are two."""
    message = ObjectOf((Field("id", Prim("number")), Field("member", ArrayOf(UnionOf((Prim("string"), Prim("number"))))),
                        Field("tagIds", ArrayOf(Prim("number")))))
    tables = {"messages": declared("messages", "++id", message), "members": declared("members", "[userId+roomId]"),
              "tags": declared("tags", "++id")}
    plan = plan_database("db", tables, {}, PlanOptions(), {"messages.member": "members", "messages.tagIds": "tags"})
    messages = next(t for t in plan.tables if t.source == "messages")
    assert messages.field_named("member").validator.to_ts() == 'v.id("members")'
    assert messages.field_named("tagIds").validator.to_ts() == 'v.array(v.id("tags"))'


def test_index_limit_checked():
    spec = "++id," + ",".join(f"f{i}" for i in range(40))
    t = plan_database("db", {"t": declared("t", spec)}, {}, PlanOptions()).tables[0]
    assert any("Convex allows 32" in w for w in t.warnings)


def test_owner_field_scopes_key_and_unique_indexes():
    row = ObjectOf((Field("id", Prim("number")), Field("email", Prim("string")), Field("name", Prim("string"))))
    t = plan_database("db", {"u": declared("u", "++id,&email,name", row)}, {}, PlanOptions(owner_field="userId")).tables[0]
    assert t.fields[0].name == "userId" and t.fields[0].validator.to_ts() == "v.string()"
    assert [(i.name, i.fields) for i in t.indexes] == [
        ("by_id_key", ["userId", "id"]), ("by_userId_email", ["userId", "email"]), ("by_name", ["name"])]
