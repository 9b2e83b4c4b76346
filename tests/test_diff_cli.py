"""`dexie-convex diff` exit codes and output, and `generate` over an existing schema.ts:
refusal with the diff shown, `--force`, and `--merge` checked with the real `convex`
package (tsc + `schema.export()`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from migrator import commands
from migrator.cli import cli
from migrator.generate.schema_ts import GENERATED_MARKER
from migrator.plan.model import DatabasePlan

APPS = Path(__file__).resolve().parent.parent / "fixtures" / "apps"


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def _plan(app: str, out: Path) -> tuple[list[Path], list[DatabasePlan]]:
    planned = commands.plan_mappings([APPS / app / "src"], sorted((APPS / app).glob("dump*.json")), out / "mappings")
    return sorted(w.path for w in planned.writes), planned.plans


def _tables(plans: list[DatabasePlan]) -> dict[str, dict[str, list[str]]]:
    """Convex table -> {index: fields}, from the plan (side tables and file registry aside)."""
    return {t.table: {i.name: i.fields for i in t.indexes} for p in plans for t in p.mapped_tables()}


@pytest.fixture(scope="module")
def crm(tmp_path_factory):
    out = tmp_path_factory.mktemp("crm")
    mappings, plans = _plan("crm-class-ts", out)
    generated = commands.generate_convex(mappings, out / "convex").schema_path
    return out, mappings, plans, generated


# -- diff: exit codes ------------------------------------------------------------------------
def test_exit_code_0_without_differences_2_with_differences(crm):
    out, [mapping], plans, generated = crm
    same = run("diff", mapping, "--against", generated, "--exit-code")
    assert same.exit_code == 0 and "No differences." in same.output
    empty = run("diff", mapping, "--exit-code")
    assert empty.exit_code == 2
    for table in _tables(plans):
        assert f"+ table {table}: added" in empty.output
    assert run("diff", mapping).exit_code == 0              # without --exit-code, differences are not an error


def test_breaking_changes_are_marked_in_the_text(crm, tmp_path):
    out, [mapping], plans, generated = crm
    edited = tmp_path / "schema.ts"
    edited.write_text(generated.read_text().replace('    .index("by_email", ["email"])\n', "")
                      .replace("    firstName: v.string(),\n", "    firstName: v.optional(v.string()),\n"))
    result = run("diff", mapping, "--against", edited, "--exit-code")
    assert result.exit_code == 2
    assert "~ field firstName: v.optional(v.string()) -> v.string()  BREAKING: turned required" in result.output
    assert "+ index by_email: [\"email\"]" in result.output
    assert "2 differences, 1 breaking" in result.output


@pytest.mark.parametrize("args, message", [
    (["--against", "{missing}"], "cannot read the file"),
    (["--against", "{broken}"], "syntax error"),
    (["--bogus"], "No such option"),
])
def test_errors_exit_1_even_with_exit_code(crm, tmp_path, args, message):
    out, [mapping], plans, generated = crm
    broken = tmp_path / "broken.ts"
    broken.write_text("export default defineSchema({ a: defineTable({ x: v.string() ")
    args = [a.format(missing=tmp_path / "none.ts", broken=broken) for a in args]
    result = run("diff", mapping, *args, "--exit-code")
    assert result.exit_code == 1 and message in result.output


def test_missing_mapping_exits_1(tmp_path):
    assert run("diff", tmp_path / "nope.json5", "--exit-code").exit_code == 1


def test_a_crash_is_never_no_differences(crm, monkeypatch):
    """A stand-in for an internal bug (monkeypatched, not a real failure mode): exit 1."""
    out, [mapping], plans, generated = crm

    def crash(*args, **kwargs):
        raise RuntimeError("bug")
    monkeypatch.setattr(commands, "diff_schema", crash)
    assert run("diff", mapping, "--against", generated, "--exit-code").exit_code == 1


def test_json_is_the_same_diff_as_data(crm):
    out, [mapping], plans, generated = crm
    result = run("diff", mapping, "--json")
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert data["against"] is None and data["differences"] == len(data["changes"]) == len(_tables(plans))
    assert [(c["kind"], c["table"], c["breaking"]) for c in data["changes"]] == \
        [("table-added", t, False) for t in _tables(plans)]
    assert {n["feature"] for n in data["notCarriedOver"]} == {"primary key", "unique index", ".upgrade()"}
    assert {n["dexieTable"] for n in data["notCarriedOver"] if n["feature"] == "primary key"} == \
        {t.source for p in plans for t in p.mapped_tables()}


# -- generate over an existing schema.ts ----------------------------------------------------------
def test_generate_refuses_a_hand_written_schema_and_shows_the_diff(crm, tmp_path):
    out, [mapping], plans, generated = crm
    target = tmp_path / "convex"
    target.mkdir()
    mine = 'import { defineSchema } from "convex/server";\nexport default defineSchema({});\n'
    (target / "schema.ts").write_text(mine)
    refused = run("generate", mapping, "-o", target)
    assert refused.exit_code == 1
    assert "+ table contacts: added" in refused.output and "--merge" in refused.output
    assert (target / "schema.ts").read_text() == mine
    assert run("generate", mapping, "-o", target, "--merge", "--force").exit_code == 1
    forced = run("generate", mapping, "-o", target, "--force")
    assert forced.exit_code == 0 and "+ table contacts: added" in forced.output
    assert (target / "schema.ts").read_text().startswith(GENERATED_MARKER)


def test_force_over_an_unreadable_schema_warns_that_there_is_no_diff(crm, tmp_path):
    out, [mapping], plans, generated = crm
    target = tmp_path / "convex"
    target.mkdir()
    (target / "schema.ts").write_text("export default defineSchema({ a: ")
    refused = run("generate", mapping, "-o", target)
    assert refused.exit_code == 1 and "schema.ts:1:" in refused.output and "syntax error" in refused.output
    forced = run("generate", mapping, "-o", target, "--force")
    assert forced.exit_code == 0 and "warning: no diff" in forced.output
    assert (target / "schema.ts").read_text().startswith(GENERATED_MARKER)


USER_SCHEMA = '''// My app's schema, written by hand.
import {{ defineSchema, defineTable }} from "convex/server";
import {{ v }} from "convex/values";

const noteBody = v.object({{ text: v.string(), pinned: v.optional(v.boolean()) }});

export default defineSchema(
  {{
    userNotes: defineTable({{ body: noteBody, owner: v.string() }})
      .index("by_owner", ["owner"])
      .searchIndex("search_owner", {{ searchField: "owner" }}),
    {stale}: defineTable({{ legacy: v.string(), {search}: v.string() }})
      .index("by_legacy", ["legacy"])
      .searchIndex("search_mine", {{ searchField: "{search}" }})
  }},
  {{ schemaValidation: false }},
);
'''
USER_TABLE = '''userNotes: defineTable({ body: noteBody, owner: v.string() })
      .index("by_owner", ["owner"])
      .searchIndex("search_owner", { searchField: "owner" })'''


@pytest.mark.parametrize("app", ["crm-class-ts", "friends-entity-class", "media-blobs"])
def test_merge_keeps_the_users_tables_and_type_checks(app, tmp_path, node_available):
    from migrator.node_tools import check_convex_dir
    mappings, plans = _plan(app, tmp_path)
    planned = _tables(plans)
    stale = next(iter(planned))                     # a mapped table the file holds in an old form
    search = next(f.name for f in next(t for p in plans for t in p.mapped_tables() if t.table == stale).fields
                  if f.validator.kind == "string")
    convex = tmp_path / "convex"
    convex.mkdir()
    user = USER_SCHEMA.format(stale=stale, search=search)
    (convex / "schema.ts").write_text(user)

    result = commands.generate_convex(mappings, convex, merge=True)
    changes = {(c.kind, c.table, c.name) for c in result.schema_diff.changes}
    assert ("table-removed", "userNotes", None) in changes and ("field-removed", stale, "legacy") in changes
    merged = (convex / "schema.ts").read_text()
    assert merged.startswith("// My app's schema") and USER_TABLE in merged
    assert "const noteBody = v.object(" in merged and "{ schemaValidation: false }" in merged
    assert '.searchIndex("search_mine", { searchField: "%s" })' % search in merged

    report = check_convex_dir(convex)
    assert report["diagnostics"] == []
    exported = {t["tableName"]: t for t in report["schema"]["tables"]}
    assert report["schema"]["schemaValidation"] is False
    assert set(planned) | {"userNotes"} <= set(exported)
    for table, indexes in planned.items():
        assert {i["indexDescriptor"]: i["fields"] for i in exported[table]["indexes"]} == indexes, table
    assert [s["indexDescriptor"] for s in exported[stale]["searchIndexes"]] == ["search_mine"]
    assert [s["indexDescriptor"] for s in exported["userNotes"]["searchIndexes"]] == ["search_owner"]

    # the merged file differs from the plan only by what the merge keeps on purpose
    after = commands.diff_schema(mappings, convex / "schema.ts")
    assert {(c.kind, c.table) for c in after.changes} == {
        ("schema-options-removed", "(defineSchema options)"), ("table-removed", "userNotes"),
        ("search-index-removed", stale)}
    again = commands.generate_convex(mappings, convex, merge=True)
    assert convex / "schema.ts" not in again.written and (convex / "schema.ts").read_text() == merged


def test_merge_into_an_empty_schema_adds_the_imports_it_needs(tmp_path, node_available):
    from migrator.node_tools import check_convex_dir
    mappings, plans = _plan("todo-js", tmp_path)
    convex = tmp_path / "convex"
    convex.mkdir()
    (convex / "schema.ts").write_text('import { defineSchema } from "convex/server";\n\n'
                                      "export default defineSchema({});\n")
    commands.generate_convex(mappings, convex, merge=True)
    report = check_convex_dir(convex)
    assert report["diagnostics"] == []
    assert {t["tableName"] for t in report["schema"]["tables"]} == set(_tables(plans))
    assert commands.diff_schema(mappings, convex / "schema.ts").changes == []


def test_merge_refuses_a_mapped_table_it_cannot_read(tmp_path):
    mappings, plans = _plan("todo-js", tmp_path)
    convex = tmp_path / "convex"
    convex.mkdir()
    table = next(iter(_tables(plans)))
    original = ('import { defineSchema, defineTable } from "convex/server";\nimport { shape } from "./shape";\n'
                f"export default defineSchema({{ {table}: defineTable(shape) }});\n")
    (convex / "schema.ts").write_text(original)
    result = run("generate", *mappings, "-o", convex, "--merge")
    assert result.exit_code == 1 and f"table {table!r} is not understood" in result.output
    assert (convex / "schema.ts").read_text() == original
