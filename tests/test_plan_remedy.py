"""Every refusal of a declaration names file:line:col and a remedy; following the remedy
literally (the command it spells, with SRC and DUMP filled in) gives a plan.

The dump is the real dexie-export-import file of fixtures/apps/dynamic-schema (DynamicDB:
notes, tags, settings), so the schema the plan falls back to is what Dexie really had.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from migrator import commands
from migrator.cli import cli
from migrator.errors import DeclarationError

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "fixtures" / "apps" / "dynamic-schema"
DUMP = APP / "dump.json"
DEXIE_PARSE = {t["name"]: t for t in json.loads((APP / "dexie-parse.json").read_text())["databases"][0]["tables"]}

HEAD = 'import Dexie from "dexie";\nexport const db = new Dexie("DynamicDB");\n'
STATIC = '{ notes: "++id, title, *labels", tags: "&name, color", settings: "key, updatedAt" }'

# (what the source does, the source after HEAD, the place the error names (line, the text
#  found there), words the message must hold, tables the source still says statically)
REFUSALS = [
    ("stores from a function call", "db.version(2).stores(makeStores());\n",
     (3, "makeStores()"), "function calls are not evaluated", set()),
    ("one spec from a function call",
     'db.version(2).stores({ notes: "++id, title, *labels", tags: "&name, color", settings: specFor("key") });\n',
     (3, 'specFor("key")'), "function calls are not evaluated", {"notes", "tags"}),
    ("version number from a function", f"db.version(currentVersion()).stores({STATIC});\n",
     (3, "currentVersion()"), "function calls are not evaluated", set()),
    ("spread of a package's object",
     'import { shared } from "@acme/schema";\ndb.version(2).stores({ ...shared, notes: "++id, title, *labels" });\n',
     (4, "shared"), "package '@acme/schema'", set()),
    ("spread of a missing module", 'import { shared } from "./nowhere";\ndb.version(2).stores({ ...shared });\n',
     (4, "shared"), "module './nowhere' imported by", set()),
    ("a spec Dexie rejects",
     'db.version(2).stores({ notes: "++id, title, *labels", tags: "&name,,color", settings: "key, updatedAt" });\n',
     (3, '"&name,,color"'), "Index must have a name", {"notes", "settings"}),
    ("a ternary", f'db.version(2).stores({{ ...{STATIC}, tags: dark ? "&name" : "&name, color" }});\n',
     (3, "dark ?"), "a ternary expression is not a constant expression", {"notes", "settings"}),
    ("a let assigned again",
     f'let SPEC = "&name, color";\nif (legacy) SPEC = "&name";\ndb.version(2).stores({{ ...{STATIC}, tags: SPEC }});\n',
     (5, "SPEC }"), "`SPEC` is assigned again at", {"notes", "settings"}),
    ("a loop over a runtime list",
     "loadVersions().forEach(({ version, stores }) => db.version(version).stores(stores));\n",
     (3, "loadVersions()"), "function calls are not evaluated", set()),
    ("a loop over a parameter",
     "export function init(list) {\n  list.forEach(({ version, stores }) => db.version(version).stores(stores));\n}\n",
     (4, "list"), "`list` is a parameter of function `init` (", set()),
    ("a destructured callback parameter",
     "register(({ version, stores }) => db.version(version).stores(stores));\n",
     (3, "version)"), "`version` is a parameter of the callback at", set()),
    ("a helper called with runtime values",
     "function addVersion(n, stores) { db.version(n).stores(stores); }\naddVersion(2, JSON.parse(text));\n",
     (4, "JSON.parse(text)"), "function calls are not evaluated", set()),
]


def _place(src: Path, body: str, line: int, text: str) -> str:
    column = (HEAD + body).split("\n")[line - 1].index(text) + 1
    return f"{src / 'db.js'}:{line}:{column}"


def _source(tmp_path: Path, body: str) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    (src / "db.js").write_text(HEAD + body, encoding="utf-8")
    return src


def run(*args: str | Path):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.mark.parametrize("what, body, place, words, static", REFUSALS, ids=[r[0] for r in REFUSALS])
def test_refusal_names_the_place_and_its_remedy_gives_a_plan(tmp_path: Path, what, body, place, words, static):
    src = _source(tmp_path, body)
    with pytest.raises(DeclarationError) as info:
        commands.plan_mappings([src], [], tmp_path / "m", write=False)
    error = info.value
    assert error.location == _place(src, body, *place), error.message
    assert words in error.message

    refused = run("plan", "--dexie", src, "-o", tmp_path / "m")
    assert refused.exit_code == 1 and error.location in refused.output and "remedy:" in refused.output
    command = re.search(r"`(dexie-convex plan [^`]*)`", error.remedy).group(1)
    args = [{"SRC": str(src), "DUMP": str(DUMP)}.get(word, word) for word in shlex.split(command)[1:]]
    planned = run(*args, "-o", tmp_path / "m", "--json")
    assert planned.exit_code == 0, planned.output

    [db] = json.loads(planned.output)["databases"]
    tables = {t["source"]: t for t in db["tables"] if "sideTableOf" not in t}
    assert set(tables) == set(DEXIE_PARSE)
    for name, table in tables.items():
        expected = DEXIE_PARSE[name]
        assert table["key"]["paths"] == [expected["primKey"]["keyPath"]], name
        assert {i["source"] for i in table["indexes"]} - {"(key)"} == \
            {i["src"] for i in expected["indexes"] if not i["multi"]}, name
        from_dump = any(n.startswith("schema from the dump") for n in table["notes"])
        assert from_dump == (name not in static), (name, table["notes"])
    said = " ".join(db["notes"])
    assert f"comes from the dump ({DUMP})" in said
    assert error.location in said                # the note says what could not be evaluated, and where


def test_typescript_types_are_still_used_for_tables_from_the_dump(tmp_path: Path):
    plans = commands.plan_mappings([APP / "src"], [DUMP], tmp_path / "m", write=False).plans
    [plan] = plans
    settings = next(t for t in plan.tables if t.source == "settings")
    assert any(n.startswith("schema from the dump ('key,updatedAt')") for n in settings.notes)
    fields = {f.name: f.validator.to_ts() for f in settings.fields}
    assert fields["value"] == "v.union(v.string(), v.number(), v.boolean())"      # from `Setting`, not the data
    assert not any("in the dump but not in the TypeScript type" in w for t in plan.tables for w in t.warnings)


def test_a_dump_without_the_table_is_refused_with_what_is_missing(tmp_path: Path):
    body = 'db.version(1).stores({ notes: "++id", extra: specFor("x") });\n'
    src = _source(tmp_path, body)
    with pytest.raises(DeclarationError) as info:
        commands.plan_mappings([src], [DUMP], tmp_path / "m", write=False)
    assert info.value.location == _place(src, body, 3, "specFor")
    assert f"the dump ({DUMP}) has no schema for table 'extra' either" in info.value.message
    assert "give a dexie-export-import dump that holds the table" in info.value.remedy


def test_a_later_static_version_settles_a_table_an_earlier_one_left_unknown(tmp_path: Path):
    from migrator.declarations import read_declarations
    src = _source(tmp_path, 'db.version(1).stores(makeStores());\n'
                            'db.version(2).stores({ notes: "++id, title" });\n'
                            'db.version(3).stores({ tags: specFor("name") });\n'
                            'db.version(4).stores({ tags: "&name" });\n')
    [db] = read_declarations([src])
    assert db.unknown_reason("notes") is None and db.tables["notes"].schema.spec == "++id, title"
    assert db.unknown_reason("tags") is None and db.tables["tags"].schema.spec == "&name"
    assert db.unknown_reason("settings").error.location == f"{src / 'db.js'}:3:22"
    assert not db.complete()
