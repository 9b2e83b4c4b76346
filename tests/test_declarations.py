"""read_declarations: finding databases, evaluating spec expressions, merging versions, errors."""

from pathlib import Path
from textwrap import dedent

import pytest

from migrator.declarations import read_declarations
from migrator.errors import DeclarationError


def write(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def only(root: Path):
    dbs = read_declarations([root])
    assert len(dbs) == 1, [d.name for d in dbs]
    return dbs[0]


def specs(db) -> dict[str, str]:
    return {name: t.schema.spec for name, t in db.tables.items()}


def error(root: Path) -> DeclarationError:
    """The first part of the declarations that cannot be evaluated (plan refuses it without a dump)."""
    problems = [p.error for db in read_declarations([root]) for p in db.unevaluated]
    assert problems, "everything was evaluated"
    return problems[0]


# -- finding databases -------------------------------------------------------------------
def test_plain_js_database_with_versions_and_upgrade(tmp_path):
    path = write(tmp_path, "db.js", """
        import Dexie from "dexie";
        export const db = new Dexie("Shop", { autoOpen: false });
        db.version(1).stores({ items: "++id, name" });
        db.version(2).stores({ items: "++id, name, price", orders: "++id, itemId" })
          .upgrade(tx => tx.table("items").toCollection().modify(i => { i.price = 0; }));
        """)
    db = only(tmp_path)
    assert (db.name, db.variable, db.location) == ("Shop", "db", f"{path}:2:19")
    assert specs(db) == {"items": "++id, name, price", "orders": "++id, itemId"}
    assert [(v.number, v.has_upgrade, v.location) for v in db.versions] == \
        [(1.0, False, f"{path}:3:1"), (2.0, True, f"{path}:4:1")]
    assert db.upgrades == [f"{path}:4:1"]
    assert any("upgrade" in n and f"{path}:4:1" in n for n in db.notes)
    assert db.merged.version == 2.0


def test_let_and_plain_const_and_name_constant(tmp_path):
    write(tmp_path, "a.js", """
        const DB_NAME = "Named" + "DB";
        let db = new Dexie(DB_NAME);
        db.version(1).stores({ t: "id" });
        """)
    db = only(tmp_path)
    assert db.name == "NamedDB" and db.variable == "db" and specs(db) == {"t": "id"}


def test_unresolvable_name_is_reported_not_guessed(tmp_path):
    path = write(tmp_path, "db.ts", """
        import Dexie from "dexie";
        import { DB_NAME } from "./config";
        export function open(user: string) {
          const db = new Dexie(`app-${user}`);
          db.version(1).stores({ t: "id" });
          return db;
        }
        export const other = new Dexie(DB_NAME);
        other.version(1).stores({ u: "id" });
        """)
    first, second = read_declarations([tmp_path])
    assert first.name == "" and specs(first) == {"t": "id"}
    assert any("database name unresolved" in n and f"{path}:4:31" in n and
               f"`user` is a parameter of function `open` ({path}:3:8)" in n for n in first.notes)
    assert second.name == "" and specs(second) == {"u": "id"}
    assert any(f"module './config' imported by {path} was not found" in n for n in second.notes)


def test_class_extending_dexie_with_out_of_order_versions_and_null(tmp_path):
    path = write(tmp_path, "db.ts", """
        import Dexie, { type Table } from "dexie";
        export class AppDB extends Dexie {
          constructor() {
            super("AppDB");
            this.version(2).stores({ a: "++id, x", b: "id" }).upgrade(() => {});
            this.version(1).stores({ a: "++id, x, y", c: "k" });
            this.version(3).stores({ c: null });
          }
        }
        """)
    db = only(tmp_path)
    assert (db.name, db.variable, db.location) == ("AppDB", "AppDB", f"{path}:2:8")
    assert [v.number for v in db.versions] == [2.0, 1.0, 3.0]
    assert specs(db) == {"a": "++id, x", "b": "id"}
    assert db.merged.deleted == {"c": 3.0}
    assert any("'c' is deleted in version 3" in n for n in db.notes)
    assert db.upgrades == [f"{path}:5:5"]


def test_class_name_from_constructor_parameter_default_is_noted(tmp_path):
    write(tmp_path, "db.ts", """
        class PeopleDB extends Dexie {
          constructor(name = "PeopleDB") { super(name); this.version(1).stores({ p: "++id" }); }
        }
        """)
    db = only(tmp_path)
    assert db.name == "PeopleDB"
    assert any("default of constructor parameter `name`" in n for n in db.notes)


def test_class_without_static_name(tmp_path):
    write(tmp_path, "db.ts", """
        class AnyDB extends Dexie {
          constructor(name: string) { super(name); this.version(1).stores({ p: "++id" }); }
        }
        """)
    db = only(tmp_path)
    assert db.name == "" and specs(db) == {"p": "++id"}
    assert any("database name unresolved" in n and "`name` is a parameter of the constructor" in n for n in db.notes)


def test_version_calls_on_a_class_instance_count(tmp_path):
    write(tmp_path, "db.js", """
        class AppDB extends Dexie { constructor() { super("A"); this.version(1).stores({ a: "id" }); } }
        export const db = new AppDB();
        db.version(2).stores({ b: "id" });
        """)
    assert specs(only(tmp_path)) == {"a": "id", "b": "id"}


def test_several_databases_per_file_stay_apart_even_with_the_same_variable_name(tmp_path):
    write(tmp_path, "dbs.js", """
        import Dexie from "dexie";
        function one() { const db = new Dexie("One"); db.version(1).stores({ a: "id" }); return db; }
        function two() { const db = new Dexie("Two"); db.version(1).stores({ b: "id" }); return db; }
        export const three = new Dexie("Three"); three.version(1).stores({ c: "id" });
        """)
    dbs = read_declarations([tmp_path])
    assert [(d.name, specs(d)) for d in dbs] == \
        [("One", {"a": "id"}), ("Two", {"b": "id"}), ("Three", {"c": "id"})]


def test_aliased_import_this_member_and_direct_chain(tmp_path):
    write(tmp_path, "db.js", """
        import { Dexie as D } from "dexie";
        class Store { constructor() { this.db = new D("Member"); this.db.version(1).stores({ m: "id" }); } }
        export default new D("Chain").version(1).stores({ c: "++" });
        """)
    dbs = read_declarations([tmp_path])
    assert [(d.name, d.variable, specs(d)) for d in dbs] == \
        [("Member", "this.db", {"m": "id"}), ("Chain", None, {"c": "++"})]


def test_same_database_name_in_two_files_is_reported_twice(tmp_path):
    a = write(tmp_path, "a.js", 'const db = new Dexie("Same"); db.version(1).stores({ a: "id" });')
    b = write(tmp_path, "b.js", 'const db = new Dexie("Same"); db.version(2).stores({ b: "id" });')
    first, second = read_declarations([tmp_path])
    assert specs(first) == {"a": "id"} and specs(second) == {"b": "id"}
    assert any(f"also declared at {b}:1:12" in n for n in first.notes)
    assert any(f"also declared at {a}:1:12" in n for n in second.notes)


def test_directory_walk_extensions_and_skipped_dirs(tmp_path):
    for name in ("a.js", "b.jsx", "c.ts", "d.tsx", "e.mjs", "f.cjs", "g.mts", "h.cts",
                 "node_modules/x.js", "dist/x.js", "build/x.js", "types.d.ts", "notes.txt"):
        stem = name.replace("/", "_").replace(".", "_")
        write(tmp_path / "src" / "deep", name, f'const db = new Dexie("{stem}"); db.version(1).stores({{ t: "id" }});')
    write(tmp_path / "src", "view.jsx", """
        const db = new Dexie("Jsx"); db.version(1).stores({ t: "id" });
        export const View = () => <div className="x">{db.name}</div>;
        """)
    names = sorted(d.name for d in read_declarations([tmp_path / "src"]))
    assert names == ["Jsx", "a_js", "b_jsx", "c_ts", "d_tsx", "e_mjs", "f_cjs", "g_mts", "h_cts"]


def test_explicit_file_argument(tmp_path):
    path = write(tmp_path, "x.ts", 'const db = new Dexie("X"); db.version(1).stores({ t: "id" });')
    write(tmp_path, "y.ts", 'const db = new Dexie("Y"); db.version(1).stores({ t: "id" });')
    assert [d.name for d in read_declarations([str(path)])] == ["X"]


def test_same_version_twice_and_decimal_versions(tmp_path):
    write(tmp_path, "db.js", """
        const db = new Dexie("D");
        db.version(1).stores({ a: "id" });
        db.version(1).stores({ b: "id" });
        db.version(1.5).stores({ a: "id, x" });
        db.version(2.05).stores({ c: "id" });
        """)
    db = only(tmp_path)
    assert specs(db) == {"a": "id, x", "b": "id", "c": "id"}
    assert db.merged.version == 2.1            # Dexie: Math.round(20.5) / 10
    assert [v.number for v in db.versions] == [1.0, 1.0, 1.5, 2.05]


# -- evaluating the spec ---------------------------------------------------------------
def test_every_supported_expression_form(tmp_path):
    write(tmp_path, "db.ts", """
        import Dexie from "dexie";
        const BASE = "++id";                      // a string constant
        const PARTS = ["a", "b"] as const;        // an array constant
        const VERSION = 3;
        const SHARED = { shared: "id" } satisfies Record<string, string>;
        export const db = new Dexie("Forms");
        function setup() {
          const LOCAL = "local";
          db.version(VERSION).stores({
            /* block comment */ ident: "++id, name", // trailing comment
            "quoted-key": 'id',
            42: "k",
            ["comp" + "uted"]: "id",
            tpl: `++id, when`,
            concat: BASE + ", " + "x" + 1,
            joined: ["++id", "noteId", "mime"].join(", "),
            joinedDefault: ["id", "x"].join(),
            joinedConst: PARTS.join(","),
            paren: ("id" /* inside */),
            asConst: ("id, q" as const),
            localConst: LOCAL,
            escapes: "id, caf\\u00e9, \\x41\\u{42}",
            gone: null,
            ...SHARED,
          });
        }
        """)
    db = only(tmp_path)
    assert db.versions[0].number == 3.0
    assert db.versions[0].stores == {
        "ident": "++id, name", "quoted-key": "id", "42": "k", "computed": "id", "tpl": "++id, when",
        "concat": "++id, x1", "joined": "++id, noteId, mime", "joinedDefault": "id,x",
        "joinedConst": "a,b", "paren": "id", "asConst": "id, q", "localConst": "local",
        "escapes": "id, café, AB", "gone": None, "shared": "id",
    }
    assert "gone" not in db.tables and db.merged.deleted == {"gone": 3.0}


def test_stores_argument_as_const_object(tmp_path):
    write(tmp_path, "db.js", """
        const SCHEMA = { friends: "++id, name", pets: "id" };
        const db = new Dexie("C");
        db.version(1).stores(SCHEMA);
        """)
    assert specs(only(tmp_path)) == {"friends": "++id, name", "pets": "id"}


@pytest.mark.parametrize("expr, col, why", [
    ('makeSpec("id")', 27, "function calls are not evaluated"),
    ("`++id, ${extra}`", 36, "`extra` is not defined in this file (nor imported)"),
    ("EXTRA", 27, "module './extra' imported by"),
    ("mutable", 27, "`mutable` is assigned again at"),
    ("nowhere", 27, "`nowhere` is not defined in this file"),
    ('"id" + count()', 34, "function calls are not evaluated"),
    ('cond ? "a" : "b"', 27, "a ternary expression is not a constant expression"),
])
def test_unevaluable_spec_values_raise_with_location(tmp_path, expr, col, why):
    path = write(tmp_path, "db.js", f"""
        import {{ EXTRA }} from "./extra";
        let mutable = "id"; mutable = "other";
        const db = new Dexie("E");
        db.version(1).stores({{ t: {expr} }});
        """)
    err = error(tmp_path)
    assert err.location == f"{path}:4:{col}"
    assert why in err.message and err.message.startswith(f"{path}:4:{col}: cannot evaluate")
    assert "give the database's dump to `plan` as well (`dexie-convex plan --dexie SRC DUMP`)" in err.remedy


def test_spread_of_unknown_object(tmp_path):
    path = write(tmp_path, "db.js", """
        import { base } from "./base";
        const db = new Dexie("S");
        db.version(1).stores({
          ...base,
          t: "id",
        });
        """)
    err = error(tmp_path)
    assert err.location == f"{path}:4:6"
    assert "module './base' imported by" in err.message
    assert err.message.endswith(f"(in the version call at {path}:3:1)")


def test_version_argument_must_be_static(tmp_path):
    path = write(tmp_path, "db.js", """
        const db = new Dexie("V");
        db.version(getVersion()).stores({ t: "id" });
        """)
    err = error(tmp_path)
    assert err.location == f"{path}:2:12" and "function calls are not evaluated" in err.message


def test_non_string_spec_value(tmp_path):
    path = write(tmp_path, "db.js", 'const db = new Dexie("N");\ndb.version(1).stores({ t: 5 });\n')
    err = error(tmp_path)
    assert err.location == f"{path}:2:27" and "must be a string or null" in err.message


def test_self_referencing_constant(tmp_path):
    write(tmp_path, "db.js", """
        const A = B + "x";
        const B = A + "y";
        const db = new Dexie("R");
        db.version(1).stores({ t: A });
        """)
    assert "refers to itself" in error(tmp_path).message


@pytest.mark.parametrize("spec, reason", [
    ("++id, *id2, ++x", "Only primary key can be marked as autoIncrement"),
    ("*id, name", "Primary key cannot be multiEntry"),
    ("id,,name", "Index must have a name"),
])
def test_specs_dexie_rejects_raise_with_dexie_reason(tmp_path, spec, reason):
    path = write(tmp_path, "db.ts", f"""
        const db = new Dexie("Bad");
        db.version(1).stores({{
          ok: "id",
          bad: "{spec}",
        }});
        """)
    err = error(tmp_path)
    assert err.location == f"{path}:4:8"
    assert reason in err.message and "'bad'" in err.message


def test_location_column_counts_characters(tmp_path):
    path = write(tmp_path, "db.js", 'const ü = "é"; const db = new Dexie("U"); db.version(1).stores({ t: f() });\n')
    assert error(tmp_path).location == f"{path}:1:69"


def test_at_primary_key_without_dexie_cloud_is_rejected_like_indexeddb(tmp_path):
    path = write(tmp_path, "db.js", 'const db = new Dexie("C");\ndb.version(1).stores({ t: "@id" });\n')
    err = error(tmp_path)
    assert err.location == f"{path}:2:27" and "not a valid key path" in err.message


def test_comments_inside_call_chains_and_arguments(tmp_path):
    write(tmp_path, "db.js", """
        const db = new Dexie(/* the name */ "Commented");
        db // the database
          .version(/* v */ 2) // two
          /* then */ .stores(/* spec */ { t: "id" /* pk */ })
          // and an upgrade
          .upgrade(() => {});
        """)
    db = only(tmp_path)
    assert db.name == "Commented" and specs(db) == {"t": "id"}
    assert db.versions[0].number == 2.0 and db.versions[0].has_upgrade


def test_class_expressions_and_anonymous_default_class(tmp_path):
    write(tmp_path, "db.js", """
        import Dexie from "dexie";
        export const AppDB = class extends Dexie {
          constructor() { super("Expr"); this.version(1).stores({ e: "id" }); }
        };
        export default class extends Dexie {
          constructor() { super("Anon"); this.version(1).stores({ a: "id" }); }
        }
        """)
    dbs = read_declarations([tmp_path])
    assert [(d.name, d.variable, specs(d)) for d in dbs] == [("Expr", "AppDB", {"e": "id"}), ("Anon", None, {"a": "id"})]


def test_missing_path_is_an_error(tmp_path):
    with pytest.raises(DeclarationError) as info:
        read_declarations([tmp_path / "nope.ts"])
    err = info.value
    assert err.location == str(tmp_path / "nope.ts") and "no such file" in err.message


def test_files_without_dexie_are_skipped_and_nothing_is_found(tmp_path):
    write(tmp_path, "util.js", "export const x = new Map(); x.version = 1;\n")
    assert read_declarations([tmp_path]) == []
