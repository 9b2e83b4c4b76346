"""Every decision the mapping file holds takes effect when edited, and every invalid entry is refused.

Each test plans a real fixture (its Dexie source and its dexie-export-import dump), edits one
entry of the mapping file as a user would, runs `generate` (and the dry run where the import
is concerned) and checks the output followed the edit. The expected outputs are written out
here from the edit itself, not produced by the code under test.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import pyjson5
import pytest
from click.testing import CliRunner

from migrator import commands
from migrator.cli import cli
from migrator.errors import MappingError
from migrator.importer.run import ImportOptions

ROOT = Path(__file__).resolve().parent.parent
APPS = ROOT / "fixtures" / "apps"


def plan_app(app: str, tmp_path: Path) -> Path:
    """`plan --dexie src dump` of a fixture app into tmp; the mapping file's path."""
    dumps = sorted((APPS / app).glob("dump*.json"))
    result = commands.plan_mappings([APPS / app / "src"], dumps, tmp_path / "mappings")
    return result.writes[0].path


def edit(mapping: Path, change: Callable[[dict], None]) -> None:
    """Edit the file's data (written back as JSON, which is JSON5) as a user's edit would."""
    data = pyjson5.decode(mapping.read_text())
    change(data)
    mapping.write_text(json.dumps(data, indent=2))


def schema_of(mapping: Path, out: Path) -> str:
    result = commands.generate_convex([mapping], out, force=True)
    return result.schema_path.read_text()


def table_block(schema: str, table: str) -> str:
    """The `defineTable(...)` of one table in schema.ts, with its indexes."""
    start = schema.index(f"\n  {table}: defineTable(")
    end = schema.find("\n  //", start)
    return schema[start:end if end > 0 else schema.index("\n});", start)]


def dump_rows(app: str, table: str) -> list[dict]:
    data = json.loads((APPS / app / "dump.json").read_text())["data"]["data"]
    return next(t["rows"] for t in data if t["tableName"] == table)


def dry_run(mapping: Path, app: str, tmp_path: Path):
    options = ImportOptions(state_dir=tmp_path / "state", progress=False)
    return commands.import_dumps(mapping, [APPS / app / "dump.json"], options, dry_run=True).summary


@pytest.fixture
def crm(tmp_path: Path) -> Path:
    return plan_app("crm-class-ts", tmp_path)


# -- each kind of decision takes effect ----------------------------------------------------------------
def test_uncommented_suggested_reference_takes_effect_in_generate(crm: Path, tmp_path: Path):
    """The issue's case: uncomment the suggestion under `references`, run generate: v.id(...) at once."""
    before = schema_of(crm, tmp_path / "a")
    assert "    companyId: v.number()," in table_block(before, "contacts")
    text = crm.read_text()
    suggestion = '// suggested: "contacts.companyId": "companies",'
    assert suggestion in text
    crm.write_text(text.replace(suggestion, '"contacts.companyId": "companies",'))
    after = schema_of(crm, tmp_path / "b")
    assert '    companyId: v.id("companies"),' in table_block(after, "contacts")
    assert "    companyId: v.number()," in table_block(after, "deals")       # only that field
    module = (tmp_path / "b" / "dexieImport.ts").read_text()
    assert '"companyId": {' in module and '"table": "companies"' in module
    summary = dry_run(crm, "crm-class-ts", tmp_path)
    assert summary.tables["contacts"]["inserted"] == len(dump_rows("crm-class-ts", "contacts"))
    crm.write_text(text)                                        # commented out again: back to the key's type
    assert schema_of(crm, tmp_path / "c") == before.replace(str(tmp_path / "a"), str(tmp_path / "c"))


def test_reference_edit_survives_replanning(crm: Path, tmp_path: Path):
    edit(crm, lambda d: d["references"].update({"deals.contactId": "contacts"}))
    edit(crm, lambda d: d["tables"]["contacts"]["fields"]["firstName"].update(name="givenName"))
    again = commands.plan_mappings([APPS / "crm-class-ts" / "src"], [APPS / "crm-class-ts" / "dump.json"],
                                   tmp_path / "mappings")
    assert again.writes[0].path == crm and "tables.contacts.fields.firstName.name" in again.writes[0].kept_edits
    schema = schema_of(crm, tmp_path / "out")
    assert '    contactId: v.id("contacts"),' in table_block(schema, "deals")
    assert "    givenName: v.string()," in table_block(schema, "contacts")
    data = pyjson5.decode(crm.read_text())
    assert data["tables"]["deals"]["fields"]["contactId"] == {"name": "contactId", "validator": "v.number()"}


def test_table_name_and_skip(crm: Path, tmp_path: Path):
    edit(crm, lambda d: d["tables"]["contacts"].update(table="people"))
    edit(crm, lambda d: d["tables"]["activities"].update(skip=True))
    schema = schema_of(crm, tmp_path / "out")
    assert "\n  people: defineTable(" in schema and "\n  contacts: defineTable(" not in schema
    assert "activities" not in schema.split("export default")[1]
    summary = dry_run(crm, "crm-class-ts", tmp_path)
    assert summary.tables["people"]["inserted"] == len(dump_rows("crm-class-ts", "contacts"))
    assert "activities" not in summary.tables


def test_field_name_validator_and_optional(crm: Path, tmp_path: Path):
    def change(d):
        fields = d["tables"]["companies"]["fields"]
        fields["address"]["name"] = "location"
        fields["employees"]["validator"] = "v.number()"              # optional -> required
        fields["tags"]["validator"] = "v.array(v.any())"
    edit(crm, change)
    block = table_block(schema_of(crm, tmp_path / "out"), "companies")
    assert "    location: v.object({" in block and "address: " not in block
    assert "    employees: v.number()," in block and "    tags: v.array(v.any())," in block
    without = [r for r in dump_rows("crm-class-ts", "companies") if "employees" not in r]
    assert without, "the fixture has companies without employees"
    summary = dry_run(crm, "crm-class-ts", tmp_path)
    assert summary.tables["companies"]["rejected"] == len(without)


def test_key_encoding_index_and_field(tmp_path: Path, crm: Path):
    def change(d):
        d["tables"]["contacts"]["key"].update(encoding="json", index="by_contact_key")
    edit(crm, change)
    block = table_block(schema_of(crm, tmp_path / "out"), "contacts")
    assert "    id: v.string()," in block and '.index("by_contact_key", ["id"])' in block
    assert "by_id_key" not in block
    keys = plan_app("keys-outbound", tmp_path / "keys")
    edit(keys, lambda d: d["tables"]["settings"]["key"].update(field="settingName"))
    block = table_block(schema_of(keys, tmp_path / "keys-out"), "settings")
    assert "    settingName: v.string()," in block and '.index("by_dexieKey", ["settingName"])' in block
    assert "dexieKey:" not in block


def test_indexes_and_unique(crm: Path, tmp_path: Path):
    def change(d):
        indexes = d["tables"]["contacts"]["indexes"]
        indexes["email"].update(name="by_mail", unique=True)
        del indexes["status"]
        indexes["mine"] = {"name": "by_status_priority", "fields": ["status", "priority"]}
        d["tables"]["companies"]["indexes"]["&domain"].pop("unique")
    edit(crm, change)
    out = tmp_path / "out"
    block = table_block(schema_of(crm, out), "contacts")
    assert '.index("by_mail", ["email"])' in block and "by_status\"" not in block
    assert '.index("by_status_priority", ["status", "priority"])' in block
    spec = (out / "dexieImport.ts").read_text()
    assert '"index": "by_mail"' in spec and '"index": "by_domain"' not in spec


def test_multi_entry_strategy_and_side_table(tmp_path: Path):
    friends = plan_app("friends-entity-class", tmp_path)
    before = schema_of(friends, tmp_path / "a")
    assert "\n  friends_tags: defineTable(" in before
    edit(friends, lambda d: d["tables"]["friends"]["multiEntry"]["*tags"].update(table="friendTags"))
    assert "\n  friendTags: defineTable(" in schema_of(friends, tmp_path / "b")
    edit(friends, lambda d: d["tables"]["friends"]["multiEntry"]["*tags"].update(strategy="array-index"))
    schema = schema_of(friends, tmp_path / "c")
    assert "friendTags" not in schema and '.index("by_tags", ["tags"])' in table_block(schema, "friends")
    edit(friends, lambda d: d["tables"]["friends"]["multiEntry"]["*tags"].update(strategy="drop"))
    schema = schema_of(friends, tmp_path / "d")
    assert "by_tags" not in schema and "friendTags" not in schema
    edit(friends, lambda d: d["tables"]["friends"]["multiEntry"]["*tags"].update(strategy="side-table"))
    edit(friends, lambda d: d["tables"]["friends"]["fields"]["tags"].update(validator="v.array(v.any())"))
    side = table_block(schema_of(friends, tmp_path / "e"), "friendTags")
    assert "    value: v.any()," in side        # the element type follows the field's validator


def test_wrap_value_follows_the_field_name(tmp_path: Path):
    keys = plan_app("keys-outbound", tmp_path)
    edit(keys, lambda d: d["tables"]["settings"]["fields"]["value"].update(name="payload"))
    block = table_block(schema_of(keys, tmp_path / "out"), "settings")
    assert "    payload: v.union(" in block and "    value:" not in block
    summary = dry_run(keys, "keys-outbound", tmp_path)
    assert summary.tables["settings"]["inserted"] == len(dump_rows("keys-outbound", "settings"))


def test_owner_field_scopes_every_key_and_unique_index(crm: Path, tmp_path: Path):
    edit(crm, lambda d: d["options"].update(ownerField="userId"))
    schema = schema_of(crm, tmp_path / "out")
    for table in ("contacts", "companies", "deals", "activities"):
        block = table_block(schema, table)
        assert block.split("\n")[2] == "    userId: v.string(),", block
        assert '.index("by_id_key", ["userId", "id"])' in block
    assert '.index("by_domain", ["userId", "domain"])' in table_block(schema, "companies")
    assert '.index("by_email", ["email"])' in table_block(schema, "contacts")      # not unique: not scoped


@pytest.mark.parametrize("option, value, app, changed", [
    ("dates", "iso", "crm-class-ts", ("contacts", "    createdAt: v.string(),")),
    ("blobInlineMaxBytes", 1 << 30, "media-blobs", ("media", "    data: v.bytes(),")),
    ("multiEntry", "drop", "friends-entity-class", None),
])
def test_planning_options_refuse_until_replanned_then_apply(option, value, app, changed, tmp_path: Path):
    """dates, blobInlineMaxBytes and multiEntry are applied by plan: generate says so, re-planning applies them."""
    mapping = plan_app(app, tmp_path)
    before = schema_of(mapping, tmp_path / "a")
    edit(mapping, lambda d: d["options"].update({option: value}))
    with pytest.raises(MappingError) as err:
        schema_of(mapping, tmp_path / "b")
    assert f"options.{option}: changed from" in str(err.value) and "re-run `dexie-convex plan`" in str(err.value)
    assert not (tmp_path / "b").exists()
    plan_app(app, tmp_path)
    after = schema_of(mapping, tmp_path / "c")
    assert after.split("\n", 1)[1] != before.split("\n", 1)[1]
    if changed:
        assert changed[1] in table_block(after, changed[0])


# -- each kind of invalid entry is refused, naming it and what exists ------------------------------
INVALID = {
    "reference to a missing table": (
        lambda d: d["references"].update({"contacts.companyId": "nosuchtable"}),
        ["references.contacts.companyId: the target 'nosuchtable' is not a mapped Dexie table",
         "'contacts', 'companies', 'deals', 'activities'"]),
    "reference from a missing field": (
        lambda d: d["references"].update({"contacts.companyKey": "companies"}),
        ["references.contacts.companyKey: table 'contacts' has no field 'companyKey'", "'companyId'"]),
    "reference from a missing table": (
        lambda d: d["references"].update({"people.companyId": "companies"}),
        ["references.people.companyId: 'people' is not a mapped Dexie table"]),
    "v.id of a missing table": (
        lambda d: d["tables"]["contacts"]["fields"]["companyId"].update(validator='v.id("nosuchtable")'),
        ["tables.contacts.fields.companyId.validator: v.id('nosuchtable'): no such table",
         "'contacts', 'companies', 'deals', 'activities'"]),
    "v.id of a mapped table without a reference": (
        lambda d: d["tables"]["contacts"]["fields"]["companyId"].update(validator='v.id("companies")'),
        ["tables.contacts.fields.companyId.validator: v.id('companies') without a reference",
         "\"contacts.companyId\": 'companies' under `references`"]),
    "index on a missing field": (
        lambda d: d["tables"]["contacts"]["indexes"]["email"].update(fields=["mail"]),
        ["tables.contacts.indexes.email.fields: 'mail' is not a field of the table", "'firstName'"]),
    "multiEntry on a missing field": (
        lambda d: d["tables"]["contacts"].update(multiEntry={"*tags": {"field": "tags", "strategy": "drop"}}),
        ["tables.contacts.multiEntry.*tags.field: 'tags' is not a field of the table", "'labels'"]),
    "wrapValue naming a missing field": (
        lambda d: d["tables"]["contacts"].update(wrapValue="payload"),
        ["tables.contacts.wrapValue: 'payload' is not a field of the table", "'email'"]),
    "key path naming a missing field": (
        lambda d: d["tables"]["contacts"]["key"].update(paths=["contactId"]),
        ["tables.contacts.key.paths: ['contactId']", "'firstName'"]),
    "two fields with one name": (
        lambda d: d["tables"]["contacts"]["fields"]["lastName"].update(name="firstName"),
        ["tables.contacts.fields.lastName.name: 'firstName' is also the name of tables.contacts.fields.firstName"]),
    "two tables with one name": (
        lambda d: d["tables"]["deals"].update(table="contacts"),
        ["tables.deals.table: 'contacts' is also the Convex table of tables.contacts"]),
    "key encoding against the key field's validator": (
        lambda d: (d["tables"]["contacts"]["key"].update(encoding="string"),
                   d["tables"]["contacts"]["fields"]["id"].update(validator="v.number()")),
        ["tables.contacts.fields.id.validator: v.number() conflicts with tables.contacts.key.encoding 'string'"]),
    "a stale key index entry": (
        lambda d: d["tables"]["contacts"]["indexes"].update({"(key)": {"name": "by_old", "fields": ["id"],
                                                                       "unique": True}}),
        ["tables.contacts.indexes.(key): conflicts with the key index derived from tables.contacts.key "
         "('by_id_key' on ['id'])"]),
    "a field-level reference that `references` does not hold": (
        lambda d: d["tables"]["deals"]["fields"]["contactId"].update(references="contacts"),
        ["tables.deals.fields.contactId.references: 'contacts' but `references` has no entry"]),
    "ownerField naming a field of the rows": (
        lambda d: d["options"].update(ownerField="email"),
        ["tables.contacts.fields.email.name: 'email' is options.ownerField"]),
    "a side table named like a table": (
        lambda d: d["tables"]["contacts"].update(multiEntry={"*labels": {"field": "labels", "strategy": "side-table",
                                                                         "table": "deals"}}),
        ["tables.contacts.multiEntry.*labels.table: 'deals' is also the Convex table of tables.deals"]),
    "two indexes on the same fields": (
        lambda d: d["tables"]["contacts"]["indexes"].update({"again": {"name": "by_mail", "fields": ["email"]}}),
        ["tables.contacts.indexes.again.fields: index 'by_email' has the same fields ['email']"]),
    "a misspelt entry": (
        lambda d: d["tables"]["contacts"]["fields"]["email"].update(validtor="v.any()"),
        ["tables.contacts.fields.email.validtor: unknown entry (known here: name, validator"]),
    "a date field planned for the other date option": (
        lambda d: d["tables"]["contacts"]["fields"]["createdAt"].update(convert="date-iso"),
        ["tables.contacts.fields.createdAt.convert: 'date-iso': its Dates were planned as iso but options.dates "
         "is 'ms'"]),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_invalid_entry_is_refused_by_generate_and_import_writing_nothing(case: str, crm: Path, tmp_path: Path):
    change, expected = INVALID[case]
    out = tmp_path / "convex"
    schema_of(crm, out)
    written = {p.name: p.read_bytes() for p in out.iterdir()}
    edit(crm, change)
    result = CliRunner().invoke(cli, ["generate", str(crm), "-o", str(out)])
    assert result.exit_code == 1, result.output
    for text in expected:
        assert text in result.output, result.output
    assert {p.name: p.read_bytes() for p in out.iterdir()} == written
    state = tmp_path / "state"
    for extra in (["--dry-run"], []):
        result = CliRunner().invoke(cli, ["import", str(crm), str(APPS / "crm-class-ts" / "dump.json"),
                                          "--state-dir", str(state), *extra])
        assert result.exit_code == 1 and expected[0] in result.output, result.output
        assert not state.exists()


def test_older_files_that_repeat_derived_entries_still_load(tmp_path: Path):
    """A file written before each decision had one home: the repeated entries agree, so it loads as before."""
    crm = plan_app("crm-class-ts", tmp_path)
    edit(crm, lambda d: d["references"].update({"deals.contactId": "contacts"}))
    fresh = schema_of(crm, tmp_path / "a")

    def older(d):
        t = d["tables"]["deals"]
        t["key"].update(field="id", dedicated=False)
        t["fields"]["id"]["validator"] = "v.number()"
        t["fields"]["contactId"].update(validator='v.id("contacts")', references="contacts")
        t["indexes"] = {"(key)": {"name": "by_id_key", "fields": ["id"], "unique": True}, **t["indexes"]}
    edit(crm, older)
    assert schema_of(crm, tmp_path / "b") == fresh.replace(str(tmp_path / "a"), str(tmp_path / "b"))
    data = pyjson5.decode(crm.read_text())
    data["formatVersion"] = 1
    crm.write_text(json.dumps(data))
    again = commands.plan_mappings([APPS / "crm-class-ts" / "src"], [APPS / "crm-class-ts" / "dump.json"],
                                   tmp_path / "mappings")
    deals = pyjson5.decode(crm.read_text())["tables"]["deals"]
    assert pyjson5.decode(crm.read_text())["formatVersion"] == 2 and again.writes[0].status == "updated"
    assert "(key)" not in deals["indexes"] and set(deals["key"]) == {"paths", "outbound", "auto", "index", "encoding"}
    assert deals["fields"]["id"] == {"name": "id"}
    assert deals["fields"]["contactId"] == {"name": "contactId", "validator": "v.number()"}
    assert pyjson5.decode(crm.read_text())["references"] == {"deals.contactId": "contacts"}     # the edit is kept
    assert schema_of(crm, tmp_path / "c") == fresh.replace(str(tmp_path / "a"), str(tmp_path / "c"))


def test_a_newer_format_is_refused(crm: Path, tmp_path: Path):
    edit(crm, lambda d: d.update(formatVersion=3))
    with pytest.raises(MappingError, match=r"formatVersion: 3: this dexie-convex reads formatVersion 1 to 2"):
        schema_of(crm, tmp_path / "out")
