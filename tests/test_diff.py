"""`diff` for every fixture app: against (a) an empty schema, (b) its own generated schema.ts,
(c) that schema.ts hand-edited with one change of every kind.

Expectations come from elsewhere than the diff code: table names from the plan, Dexie
features from real Dexie's parse
(`dexie-parse.json`), and in (c) from the edits this test makes and the breaking rules
written out here (turned required, narrowed, removed, index dropped/changed: breaking;
widening and additions of optional things: not).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from migrator import commands
from migrator.cli import cli
from migrator.diff.compare import Change
from migrator.plan.model import DatabasePlan
from migrator.plan.validators import parse_validator

APPS = sorted(p for p in (Path(__file__).resolve().parent.parent / "fixtures" / "apps").iterdir()
              if (p / "dexie-parse.json").is_file())


@dataclass
class Generated:
    app: Path
    mappings: list[Path]
    plans: dict[str, DatabasePlan]
    schema: Path
    text: str


@pytest.fixture(scope="module", params=APPS, ids=lambda p: p.name)
def generated(request, tmp_path_factory) -> Generated:
    app = request.param
    out = tmp_path_factory.mktemp(app.name)
    planned = commands.plan_mappings([app / "src"], sorted(app.glob("dump*.json")), out / "mappings")
    mappings = sorted(w.path for w in planned.writes)
    result = commands.generate_convex(mappings, out / "convex")
    return Generated(app, mappings, {p.database: p for p in result.plans}, result.schema_path,
                     result.schema_path.read_text())


def _exit_code(g: Generated, against: Path | None = None) -> int:
    """`dexie-convex diff MAPPING... [--against FILE] --exit-code`"""
    args = ["diff", *map(str, g.mappings), "--exit-code"] + (["--against", str(against)] if against else [])
    return CliRunner().invoke(cli, args).exit_code


def _planned_tables(g: Generated) -> list[str]:
    """The Convex tables the plan makes: mapped tables, multiEntry side tables, the file registry."""
    names = [t.table for p in g.plans.values() for t in p.mapped_tables()]
    names += [m.table for p in g.plans.values() for _, m in p.side_tables()]
    if "v.id(\"_storage\")" in g.text:
        names.append("dexieImportFiles")
    return names


# -- (a) against an empty schema ------------------------------------------------------------
def test_against_empty_schema(generated: Generated):
    diff = commands.diff_schema(generated.mappings)
    assert diff.against is None
    assert [(c.kind, c.table, c.breaking) for c in diff.changes] == \
        [("table-added", t, False) for t in _planned_tables(generated)]
    assert all(parse_validator(c.new).kind == "object" for c in diff.changes)
    assert _exit_code(generated) == 2


def test_features_that_do_not_carry_over_match_dexie_parse(generated: Generated):
    """Every primary key, unique index and multiEntry index real Dexie parsed, and each .upgrade()."""
    diff = commands.diff_schema(generated.mappings)
    found = {(n.feature, n.database, n.dexie_table, n.spec if n.feature != "primary key" else None)
             for n in diff.not_carried_over if n.feature != ".upgrade()"}
    expected = set()
    for db in json.loads((generated.app / "dexie-parse.json").read_text())["databases"]:
        for t in db["tables"]:
            expected.add(("primary key", db["name"], t["name"], None))
            for index in t["indexes"]:
                if index["multi"]:
                    expected.add(("multiEntry index", db["name"], t["name"], index["src"]))
                elif index["unique"]:
                    expected.add(("unique index", db["name"], t["name"], index["src"]))
    assert found == expected
    upgrades = sum(len(re.findall(r"\.upgrade\(", f.read_text())) for f in (generated.app / "src").rglob("*.*"))
    assert len([n for n in diff.not_carried_over if n.feature == ".upgrade()"]) == upgrades
    assert all(n.handling for n in diff.not_carried_over)


# -- (b) against its own generated schema -------------------------------------------------------
def test_against_own_generated_schema_has_no_differences(generated: Generated):
    diff = commands.diff_schema(generated.mappings, generated.schema)
    assert diff.changes == [] and not diff.differs
    assert _exit_code(generated, generated.schema) == 0


# -- (c) against a hand-edited schema -------------------------------------------------------------
@dataclass
class Block:
    table: str
    start: int                 # line numbers in the generated text (comment line included)
    end: int


def _blocks(lines: list[str]) -> list[Block]:
    blocks, start = [], None
    for i, line in enumerate(lines):
        m = re.match(r"  (\w+): defineTable\(\{$", line)
        if m:
            start = i - 1 if lines[i - 1].startswith("  //") else i
            name = m.group(1)
        elif start is not None and line.startswith("    .index(") and line.endswith("),"):
            blocks.append(Block(name, start, i))
            start = None
    return blocks


FIELD_LINE = re.compile(r"    (\w+): (v\..*),$")
INDEX_LINE = re.compile(r'    \.index\("(\w+)", (\[.*\])\)(,?)$')


def _single_line_fields(lines: list[str], block: Block) -> list[tuple[int, str, str]]:
    """(line, field, validator text) of fields whose validator is on one line."""
    found = []
    for i in range(block.start, block.end):
        m = FIELD_LINE.match(lines[i])
        if m and m.group(2).count("(") == m.group(2).count(")"):
            found.append((i, m.group(1), m.group(2)))
    return found


def _hand_edit(g: Generated) -> tuple[str, list[Change], list[tuple[str, str]]]:
    """The generated schema.ts with one change of every kind; the changes the diff must report
    (old = the edited file, new = the generated text); fields rewritten without changing them."""
    lines = g.text.split("\n")
    blocks = _blocks(lines)
    assert [b.table for b in blocks] == _planned_tables(g)
    removed = min(blocks, key=lambda b: b.end - b.start)            # the table the file lacks
    kept = [b for b in blocks if b is not removed]
    fields = [(b, *f) for b in kept for f in _single_line_fields(lines, b)]
    expected: list[Change] = [Change("table-added", removed.table)]
    unchanged: list[tuple[str, str]] = []
    replace: dict[int, str | None] = {i: None for i in range(removed.start, removed.end + 1)}
    used: set[int] = set()

    def pick(condition):
        for b, i, name, text in fields:
            if i not in used and condition(parse_validator(text)):
                used.add(i)
                return b, i, name, text
        return None

    # the most constrained picks first: small fixtures have few single-line fields
    # a field the file holds as a literal the plan's string/number accepts: widening
    b, i, name, text = pick(lambda val: val.kind in ("string", "number"))
    literal = 'v.literal("x")' if parse_validator(text).kind == "string" else "v.literal(1)"
    replace[i] = f"    {name}: {literal},"
    expected.append(Change("field-changed", b.table, name, old=literal, new=text, breaking=False))
    # optional in the file, required in the plan: turned required
    b, i, name, text = pick(lambda val: not val.is_optional)
    replace[i] = f"    {name}: v.optional({text}),"
    expected.append(Change("field-optionality", b.table, name, old=f"v.optional({text})", new=text, breaking=True))
    # required in the file, optional in the plan: made optional (only where the plan has one)
    made_optional = pick(lambda val: val.is_optional)
    if made_optional:
        b, i, name, text = made_optional
        inner = text[len("v.optional("):-1]
        replace[i] = f"    {name}: {inner},"
        expected.append(Change("field-optionality", b.table, name, old=inner, new=text, breaking=False))
    # a field the plan has, missing from the file: added (breaking when required)
    b, i, name, text = pick(lambda val: True)
    replace[i] = None
    expected.append(Change("field-added", b.table, name, new=text, breaking=not parse_validator(text).is_optional))
    # a field held as v.any() in the file: the plan narrows it
    b, i, name, text = pick(lambda val: val.kind != "any")
    replace[i] = f"    {name}: v.any(),"
    expected.append(Change("field-changed", b.table, name, old="v.any()", new=text, breaking=True))
    # v.float64() is v.number(): a rewrite, not a change
    alias = pick(lambda val: val.kind == "number")
    if alias:
        b, i, name, text = alias
        replace[i] = f"    {name}: v.float64(),"
        unchanged.append((b.table, name))
    # a field only in the file (removed by the plan), with an index and a search index on it
    target = kept[0]
    replace[target.start + (1 if lines[target.start].startswith("  //") else 0)] = \
        f"  {target.table}: defineTable({{\n    extraField: v.string(),"
    expected.append(Change("field-removed", target.table, "extraField", old="v.string()", breaking=True))
    indexes = [(b, i, *INDEX_LINE.match(lines[i]).groups()) for b in kept for i in range(b.start, b.end + 1)
               if INDEX_LINE.match(lines[i])]
    # an index the plan has, missing from the file (one followed by another, so the syntax holds)
    b, dropped, name, paths, _ = next(x for x in indexes if not x[4])
    replace[dropped] = None
    expected.append(Change("index-added", b.table, name, new=paths))
    # an index on other fields in the file
    b, i, name, paths, comma = next(x for x in indexes if x[1] not in (dropped, target.end))
    replace[i] = f'    .index("{name}", ["extraField"]){comma}'
    expected.append(Change("index-changed", b.table, name, old='["extraField"]', new=paths, breaking=True))
    # an index and a search index only in the file
    replace[target.end] = lines[target.end][:-1] + '\n    .index("by_extraField", ["extraField"])' \
        '\n    .searchIndex("search_extra", { searchField: "extraField" }),'
    expected.append(Change("index-removed", target.table, "by_extraField", old='["extraField"]', breaking=True))
    expected.append(Change("search-index-removed", target.table, "search_extra",
                           old='.searchIndex("search_extra", { searchField: "extraField" })', breaking=True))
    # a table only in the file
    closing = lines.index("});")
    replace[closing] = '  legacyExtra: defineTable({ x: v.string() }).index("by_x", ["x"]),\n});'
    expected.append(Change("table-removed", "legacyExtra", breaking=True))
    out = [replace[i] if i in replace else line for i, line in enumerate(lines)]
    return "\n".join(line for line in out if line is not None), expected, unchanged


def _compact(text: str | None) -> str | None:
    return None if text is None else " ".join(text.split())


def test_against_hand_edited_schema(generated: Generated, tmp_path: Path):
    text, expected, unchanged = _hand_edit(generated)
    edited = tmp_path / "schema.ts"
    edited.write_text(text)
    diff = commands.diff_schema(generated.mappings, edited)
    got = {(c.kind, c.table, c.name): c for c in diff.changes}
    assert sorted(got) == sorted((c.kind, c.table, c.name) for c in expected)
    for want in expected:
        change = got[(want.kind, want.table, want.name)]
        where = f"{want.kind} {want.table}.{want.name}"
        assert change.breaking == want.breaking, where
        explained = change.breaking or want.kind in ("field-changed", "field-optionality")
        assert (change.why is not None) == explained, where
        for attr in ("old", "new"):
            if getattr(want, attr) is not None:
                assert _compact(getattr(change, attr)) == _compact(getattr(want, attr)), f"{where} {attr}"
    assert not any((c.table, c.name) in unchanged for c in diff.changes)
    assert _exit_code(generated, edited) == 2
