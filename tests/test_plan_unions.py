"""Row types that are not one object type: unions of objects (discriminated or not, also
intersected with shared fields) are merged into one object, said in a note; plain values in
outbound tables follow the wrap rule with the value's own validator."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from migrator import commands
from migrator.plan.model import TablePlan

TYPES = """
    interface Image { kind: "image"; id: string; width: number }
    interface Link { kind: "link"; id: string; url: string; title?: string }
    interface Plain { id: string; note: string }
    interface Other { id: string; count: number }
"""


def plan_table(tmp_path: Path, member: str, spec: str) -> TablePlan:
    (tmp_path / "db.ts").write_text(dedent(f"""
        import Dexie, {{ type Table }} from "dexie";
        {dedent(TYPES)}
        export const db = new Dexie("U") as Dexie & {{ t: {member} }};
        db.version(1).stores({{ t: "{spec}" }});
        """), encoding="utf-8")
    [plan] = commands.plan_mappings([tmp_path / "db.ts"], [], tmp_path / "m", write=False).plans
    [table] = [t for t in plan.tables if t.source == "t"]
    return table


def fields(table: TablePlan) -> dict[str, str]:
    return {f.name: f.validator.to_ts() for f in table.fields}


def test_discriminated_union_is_one_object_with_the_discriminant_required(tmp_path):
    table = plan_table(tmp_path, "Table<Image | Link, string>", "id")
    assert fields(table) == {"kind": 'v.union(v.literal("image"), v.literal("link"))', "id": "v.string()",
                             "width": "v.optional(v.number())", "url": "v.optional(v.string())",
                             "title": "v.optional(v.string())"}
    assert any("one of 2 object types, discriminated by 'kind'" in n for n in table.notes)
    assert not any("no TypeScript type" in n for n in table.notes)


def test_union_intersected_with_shared_fields(tmp_path):
    table = plan_table(tmp_path, "Table<(Image | Link) & { extra: number; id: string }, string>", "id, extra")
    assert fields(table)["extra"] == "v.number()" and fields(table)["kind"].startswith("v.union(")
    assert [i.fields for i in table.indexes if i.source == "extra"] == [["extra"]]


def test_union_without_a_discriminant(tmp_path):
    table = plan_table(tmp_path, "Table<Plain | Other, string>", "id")
    assert fields(table) == {"id": "v.string()", "note": "v.optional(v.string())", "count": "v.optional(v.number())"}
    note = next(n for n in table.notes if "object types" in n)
    assert "one of 2 object types:" in note and "discriminated" not in note


@pytest.mark.parametrize("member, spec, value", [
    ("Table<boolean, [string, string]>", "", "v.boolean()"),
    ("Table<string>", "", "v.string()"),
    ("Table<string | { msg: string }, number>", "++", "v.union(v.string(), v.object({\n  msg: v.string(),\n}))"),
    ("Table<number[], string>", "", "v.array(v.number())"),
    ("Table<Date, number>", "++", "v.number()"),
])
def test_outbound_plain_values_are_wrapped_with_their_validator(tmp_path, member, spec, value):
    table = plan_table(tmp_path, member, spec)
    assert table.wrap_value == "value" and table.key.dedicated and table.key.outbound
    assert fields(table)["value"] == value
    assert set(fields(table)) == {table.key.field, "value"}


def test_plain_values_in_an_inbound_table_are_not_used_and_said_so(tmp_path):
    table = plan_table(tmp_path, "Table<string, number>", "++id")
    assert table.wrap_value is None
    assert any("rows are declared as `string`, not an object type, but the table has an inbound key" in n
               for n in table.notes)
