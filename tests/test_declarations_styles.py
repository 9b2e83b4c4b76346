"""Declarations as real apps spell them: constants from other modules (ESM and CommonJS),
spreads and composition, versions declared through helpers and loops, names built from
constants, and what is said when something is still not static.

Each case is a small app in a temporary folder; the expectation is the stores Dexie would
end up with, written by hand here (the fixture apps check the same against real Dexie).
"""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from migrator.declarations import read_declarations


def app(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dedent(text).lstrip("\n"), encoding="utf-8")
    return root


def declared(root: Path, entry: str = "db.ts") -> dict[str, dict[str, str]]:
    """database name -> {table: final spec}, reading only the entry file (imports are followed)."""
    out = {}
    for db in read_declarations([root / entry]):
        assert db.complete(), [p.error.message for p in db.unevaluated]
        out[db.name] = {name: t.schema.spec for name, t in db.tables.items()}
    return out


def problems(root: Path, entry: str = "db.ts") -> list[str]:
    return [p.error.message for db in read_declarations([root / entry]) for p in db.unevaluated]


DB = 'import Dexie from "dexie";\n'

# -- constants from other modules --------------------------------------------------------
IMPORT_STYLES = {
    "named": ({"schema.ts": 'export const S = { t: "++id, a" };'},
              'import { S } from "./schema";\nconst db = new Dexie("X");\ndb.version(1).stores(S);'),
    "aliased": ({"schema.ts": 'export const S = { t: "++id, a" };'},
                'import { S as Schema } from "./schema";\nconst db = new Dexie("X");\ndb.version(1).stores(Schema);'),
    "default object": ({"schema.ts": 'export default { t: "++id, a" };'},
                       'import S from "./schema";\nconst db = new Dexie("X");\ndb.version(1).stores(S);'),
    "default identifier": ({"schema.ts": 'const S = { t: "++id, a" };\nexport default S;'},
                           'import S from "./schema";\nconst db = new Dexie("X");\ndb.version(1).stores(S);'),
    "export clause alias": ({"schema.ts": 'const local = { t: "++id, a" };\nexport { local as S };'},
                            'import { S } from "./schema";\nconst db = new Dexie("X");\ndb.version(1).stores(S);'),
    "namespace": ({"schema.ts": 'export const S = { t: "++id, a" };'},
                  'import * as schema from "./schema";\nconst db = new Dexie("X");\ndb.version(1).stores(schema.S);'),
    "re-export renamed": ({"base.ts": 'export const Base = { t: "++id, a" };',
                           "schema.ts": 'export { Base as S } from "./base";'},
                          'import { S } from "./schema";\nconst db = new Dexie("X");\ndb.version(1).stores(S);'),
    "export star": ({"base.ts": 'export const S = { t: "++id, a" };', "schema.ts": 'export * from "./base";'},
                    'import { S } from "./schema";\nconst db = new Dexie("X");\ndb.version(1).stores(S);'),
    "export star as": ({"base.ts": 'export const S = { t: "++id, a" };', "schema.ts": 'export * as ns from "./base";'},
                       'import { ns } from "./schema";\nconst db = new Dexie("X");\ndb.version(1).stores(ns.S);'),
    "index file": ({"schema/index.ts": 'export const S = { t: "++id, a" };'},
                   'import { S } from "./schema";\nconst db = new Dexie("X");\ndb.version(1).stores(S);'),
    ".js specifier of a .ts file": ({"schema.ts": 'export const S = { t: "++id, a" };'},
                                    'import { S } from "./schema.js";\nconst db = new Dexie("X");\ndb.version(1).stores(S);'),
    "spec string, version and name imported": (
        {"schema.ts": 'export const SPEC = "++id, a";\nexport const V = 1;\nexport const NAME = "X";'},
        'import { SPEC, V, NAME } from "./schema";\nconst db = new Dexie(NAME);\ndb.version(V).stores({ t: SPEC });'),
    "a constant of the imported module itself imported": (
        {"ids.ts": 'export const ID = "++id";', "schema.ts": 'import { ID } from "./ids";\nexport const S = { t: `${ID}, a` };'},
        'import { S } from "./schema";\nconst db = new Dexie("X");\ndb.version(1).stores(S);'),
    "CommonJS module.exports object": (
        {"schema.js": 'module.exports = { S: { t: "++id, a" } };'},
        'const { S } = require("./schema.js");\nconst db = new Dexie("X");\ndb.version(1).stores(S);'),
    "CommonJS exports.name": ({"schema.js": 'exports.S = { t: "++id, a" };'},
                              'const schema = require("./schema");\nconst db = new Dexie("X");\ndb.version(1).stores(schema.S);'),
    "CommonJS module.exports.name and a member of require()": (
        {"schema.js": 'module.exports.S = { t: "++id, a" };'},
        'const db = new Dexie("X");\ndb.version(1).stores(require("./schema").S);'),
    "CommonJS whole module.exports": ({"schema.cjs": 'const S = { t: "++id, a" };\nmodule.exports = S;'},
                                      'const S = require("./schema.cjs");\nconst db = new Dexie("X");\ndb.version(1).stores({ ...S });'),
    "JSON file imported": ({"schema.json": '{"S": {"t": "++id, a"}, "V": 1}'},
                           'import data from "./schema.json";\nconst db = new Dexie("X");\ndb.version(data.V).stores(data.S);'),
    "JSON file required": ({"schema.json": '{"t": "++id, a"}'},
                           'const db = new Dexie("X");\ndb.version(1).stores(require("./schema.json"));'),
    "enum members as table names": (
        {"tables.ts": 'export enum Table { T = "t", Unused = "u" }\nexport enum Version { First = 1 }'},
        'import { Table, Version } from "./tables";\nconst db = new Dexie("X");\n'
        'db.version(Version.First).stores({ [Table.T]: "++id, a" });'),
    "ESM default import of CommonJS": ({"schema.cjs": 'module.exports = { t: "++id, a" };'},
                                       'import S from "./schema.cjs";\nconst db = new Dexie("X");\ndb.version(1).stores(S);'),
}


@pytest.mark.parametrize("files, db", IMPORT_STYLES.values(), ids=list(IMPORT_STYLES))
def test_constants_from_other_modules(tmp_path, files, db):
    app(tmp_path, {**files, "db.ts": DB + db})
    assert declared(tmp_path) == {"X": {"t": "++id, a"}}


@pytest.mark.parametrize("require", ['const Dexie = require("dexie");', 'const { Dexie } = require("dexie");',
                                     'const { default: D } = require("dexie"); const Dexie = D;',
                                     'const Dexie = require("dexie").default;'])
def test_dexie_itself_from_require(tmp_path, require):
    app(tmp_path, {"db.js": require + '\nconst db = new Dexie("R");\ndb.version(1).stores({ t: "id" });'})
    assert declared(tmp_path, "db.js") == {"R": {"t": "id"}}


# -- composition -----------------------------------------------------------------------
def test_spreads_of_spreads_across_modules_object_assign_and_wrappers(tmp_path):
    app(tmp_path, {
        "base.ts": """
            export const base = { users: "++id, email" } as const;
            export const more = { ...base, posts: "++id, userId" } satisfies Record<string, string>;
            """,
        "db.ts": DB + """
            import { more } from "./base";
            const late = Object.freeze({ posts: "++id, userId, at" });
            const db = new Dexie("C");
            db.version(1).stores({ ...more, notes: "++id, title" });
            db.version(2).stores(Object.assign({}, (more as any), late, { gone: null }));
            """,
    })
    assert declared(tmp_path) == {"C": {"users": "++id, email", "posts": "++id, userId, at", "notes": "++id, title"}}


def test_names_built_from_constants(tmp_path):
    app(tmp_path, {
        "config.ts": 'export const PREFIX = "acme";\nexport const TABLES = { cache: `${PREFIX}_cache` } as const;',
        "db.ts": DB + """
            import { PREFIX, TABLES } from "./config";
            const db = new Dexie(`${PREFIX}-db`);
            db.version(1).stores({ [TABLES.cache]: "", [`${PREFIX}_log`]: "++id" });
            """,
    })
    assert declared(tmp_path) == {"acme-db": {"acme_cache": "", "acme_log": "++id"}}


@pytest.mark.parametrize("kind", ["let", "var"])
def test_let_and_var_never_assigned_again_are_constants(tmp_path, kind):
    app(tmp_path, {"db.js": f'{kind} SPEC = "++id";\nconst db = new Dexie("L");\ndb.version(1).stores({{ t: SPEC }});'})
    assert declared(tmp_path, "db.js") == {"L": {"t": "++id"}}


@pytest.mark.parametrize("change", ["SPEC = 'id';", "SPEC += ', x';", "if (a) { SPEC = 'id'; }"])
def test_let_assigned_again_is_named_where(tmp_path, change):
    app(tmp_path, {"db.js": f'let SPEC = "++id";\n{change}\nconst db = new Dexie("L");\ndb.version(1).stores({{ t: SPEC }});'})
    [message] = problems(tmp_path, "db.js")
    assert f"`SPEC` is assigned again at {tmp_path / 'db.js'}:2:" in message


def test_a_shadowing_assignment_does_not_count(tmp_path):
    app(tmp_path, {"db.js": 'let SPEC = "++id";\nfunction f() { let SPEC = 1; SPEC = 2; }\n'
                            'const db = new Dexie("L");\ndb.version(1).stores({ t: SPEC });'})
    assert declared(tmp_path, "db.js") == {"L": {"t": "++id"}}


# -- versions through code ---------------------------------------------------------------
VERSION_STYLES = {
    "helper method": """
        class V extends Dexie {
          constructor() { super("V"); this.addVersion(1, { t: "++id" }); this.addVersion(2, { t: "++id, a" }); }
          addVersion(n: number, stores: Record<string, string>) { this.version(n).stores(stores); }
        }""",
    "helper arrow as a class field": """
        class V extends Dexie {
          add = (n: number, stores: Record<string, string>) => { this.version(n).stores(stores); };
          constructor() { super("V"); this.add(1, { t: "++id" }); this.add(2, { t: "++id, a" }); }
        }""",
    "helper function declared in the file": """
        export const db = new Dexie("V");
        function addVersion(n: number, stores = { t: "++id" }) { db.version(n).stores(stores); }
        addVersion(1);
        addVersion(2, { t: "++id, a" });""",
    "helper arrow in a const": """
        export const db = new Dexie("V");
        const addVersion = (n: number, stores: object) => db.version(n).stores(stores);
        addVersion(1, { t: "++id" });
        addVersion(2, { t: "++id, a" });""",
    "forEach over a constant": """
        const VERSIONS = [{ version: 1, stores: { t: "++id" } }, { version: 2, stores: { t: "++id, a" } }] as const;
        class V extends Dexie {
          constructor() { super("V"); VERSIONS.forEach(({ version, stores }) => this.version(version).stores(stores)); }
        }""",
    "forEach with an index": """
        const STORES = [{ t: "++id" }, { t: "++id, a" }];
        export const db = new Dexie("V");
        STORES.forEach((stores, i) => { db.version(i + 1).stores(stores); });""",
    "for...of with destructuring": """
        const VERSIONS: [number, Record<string, string>][] = [[1, { t: "++id" }], [2, { t: "++id, a" }]];
        export const db = new Dexie("V");
        for (const [n, stores] of VERSIONS) db.version(n).stores(stores);""",
    "for...of over an imported list, in a function called once": """
        import { VERSIONS } from "./versions";
        export const db = new Dexie("V");
        function declare(list: typeof VERSIONS) {
          for (const v of list) { db.version(v.version).stores(v.stores); }
        }
        declare(VERSIONS);""",
    "for...in over a constant object": """
        const BY_VERSION = { 1: { t: "++id" }, 2: { t: "++id, a" } };
        export const db = new Dexie("V");
        for (const n in BY_VERSION) db.version(Number(n)).stores(BY_VERSION[n]);""",
}


@pytest.mark.parametrize("source", VERSION_STYLES.values(), ids=list(VERSION_STYLES))
def test_versions_declared_through_code(tmp_path, source):
    app(tmp_path, {"versions.ts": 'export const VERSIONS = [{ version: 1, stores: { t: "++id" } }, '
                                  '{ version: 2, stores: { t: "++id, a" } }];',
                   "db.ts": DB + source})
    [db] = read_declarations([tmp_path / "db.ts"])
    assert db.complete(), [p.error.message for p in db.unevaluated]
    assert [(v.number, v.stores) for v in db.versions] == [(1.0, {"t": "++id"}), (2.0, {"t": "++id, a"})]
    assert db.tables["t"].schema.spec == "++id, a"


def test_a_helper_given_the_database_counts_only_for_the_databases_passed_to_it(tmp_path):
    app(tmp_path, {"db.ts": DB + """
        function applySchema(target: Dexie, extra: Record<string, string> = {}) {
          target.version(1).stores({ t: "++id", ...extra });
        }
        export const a = new Dexie("A");
        export const b = new Dexie("B");
        export const c = new Dexie("C");
        applySchema(a);
        applySchema(b, { u: "id" });
        class D extends Dexie {
          constructor() { super("D"); applySchema(this, { d: "id" }); }
        }
        """})
    assert declared(tmp_path) == {"A": {"t": "++id"}, "B": {"t": "++id", "u": "id"}, "C": {},
                                  "D": {"t": "++id", "d": "id"}}


@pytest.mark.parametrize("declaration, imported", [
    ('export const db = new Dexie("F");', 'import { db } from "./db";'),
    ('const db = new Dexie("F");\nexport default db;', 'import db from "./db";'),
    ('class F extends Dexie { constructor() { super("F"); } }\nexport const db = new F();', 'import { db } from "./db";'),
])
def test_versions_declared_in_another_file_on_an_imported_database(tmp_path, declaration, imported):
    app(tmp_path, {"db.ts": DB + declaration + '\ndb.version(1).stores({ t: "++id" });',
                   "schema.ts": imported + '\ndb.version(2).stores({ t: "++id, a", u: "id" });'})
    [db] = read_declarations([tmp_path])
    assert {n: t.schema.spec for n, t in db.tables.items()} == {"t": "++id, a", "u": "id"}
    assert db.versions[-1].location == f"{tmp_path / 'schema.ts'}:2:1"


@pytest.mark.parametrize("helper", [
    'export function applySchema(target: Dexie, n = 2) {\n  target.version(n).stores({ t: "++id, a", u: "id" });\n}',
    'export const applySchema = (target: Dexie, n = 2) => {\n  for (const v of [1, n]) target.version(v).stores({ t: "++id, a", u: "id" });\n};',
])
def test_a_helper_in_another_file_given_the_database(tmp_path, helper):
    app(tmp_path, {"schema.ts": helper,
                   "db.ts": DB + 'import { applySchema } from "./schema";\n'
                                 'class F extends Dexie { constructor() { super("F"); applySchema(this); } }\n'
                                 'export const other = new Dexie("O");\napplySchema(other, 3);'})
    found = {db.name: db for db in read_declarations([tmp_path])}
    assert {n: t.schema.spec for n, t in found["F"].tables.items()} == {"t": "++id, a", "u": "id"}
    assert found["F"].merged.version == 2 and found["O"].merged.version == 3
    assert found["F"].versions[-1].location.startswith(f"{tmp_path / 'schema.ts'}:2:")


def test_for_in_over_keys_with_a_constant_lookup(tmp_path):
    app(tmp_path, {"db.ts": DB + """
        const BY_NAME = { first: { version: 1, stores: { t: "++id" } }, second: { version: 2, stores: { t: "++id, a" } } };
        export const db = new Dexie("V");
        for (const key in BY_NAME) db.version(BY_NAME[key].version).stores(BY_NAME[key].stores);"""})
    assert declared(tmp_path) == {"V": {"t": "++id, a"}}


def test_module_level_database_with_chained_upgrade(tmp_path):
    app(tmp_path, {"db.ts": DB + """
        export const db = new Dexie("M");
        db.version(1).stores({ t: "++id" });
        db.version(2).stores({ t: "++id, a" }).upgrade(async (tx) => { await tx.table("t").toCollection().modify({ a: 0 }); });
        """})
    [db] = read_declarations([tmp_path / "db.ts"])
    assert {n: t.schema.spec for n, t in db.tables.items()} == {"t": "++id, a"} and len(db.upgrades) == 1


def test_a_helper_called_with_runtime_values_elsewhere_does_no_harm_when_unused(tmp_path):
    app(tmp_path, {"db.ts": DB + """
        export function open(user: string) {
          const db = new Dexie("U");
          db.version(1).stores({ t: "++id" });
          return db;
        }
        open(currentUser());
        open("someone");
        """})
    [db] = read_declarations([tmp_path / "db.ts"])
    assert db.complete() and [v.number for v in db.versions] == [1.0]


def test_import_cycles_are_reported_not_followed_forever(tmp_path):
    app(tmp_path, {"a.ts": 'export { S } from "./b";', "b.ts": 'export { S } from "./a";',
                   "db.ts": DB + 'import { S } from "./a";\nconst db = new Dexie("X");\ndb.version(1).stores(S);'})
    [message] = problems(tmp_path)
    assert "re-exported in a cycle" in message


# -- messages say what they saw ------------------------------------------------------------
@pytest.mark.parametrize("source, said", [
    ('register(({ version, stores }) => db.version(version).stores(stores));',
     "`version` is a parameter of the callback at {db}:3:10 (destructured); no call of it with constant arguments"),
    ('export function setUp(n: number) { db.version(n).stores({ t: "id" }); }',
     "`n` is a parameter of function `setUp` ({db}:3:8); no call of it with constant arguments"),
    ('for (const { version } of load()) db.version(version).stores({ t: "id" });',
     "function calls are not evaluated"),
    ('const { version } = settings;\ndb.version(version).stores({ t: "id" });',
     "`settings` is not defined in this file (nor imported)"),
    ('import { V } from "./versions";\ndb.version(V.missing).stores({ t: "id" });',
     "does not export `V`"),
    ('import { versions } from "./versions";\ndb.version(versions[9].version).stores({ t: "id" });',
     "only properties of constant objects and arrays are evaluated"),
])
def test_messages_say_what_was_seen(tmp_path, source, said):
    app(tmp_path, {"versions.ts": "export const versions = [{ version: 1 }];",
                   "db.ts": DB + 'export const db = new Dexie("Q");\n' + source})
    [message] = problems(tmp_path)
    assert said.format(db=tmp_path / "db.ts") in message, message
    assert "not defined in this file" not in message or "settings" in said
