"""read_declarations: row types from TypeScript, mapped to migrator.jstypes."""

from pathlib import Path
from textwrap import dedent

from migrator.declarations import read_declarations
from migrator.jstypes import (ArrayOf, Field, Literal, MapOf, ObjectOf, Prim, RecordOf, SetOf, UnionOf)

S, N, B = Prim("string"), Prim("number"), Prim("boolean")


def write(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def tables(root: Path, entry: str = "db.ts"):
    (db,) = read_declarations([root / entry])
    return db, db.tables


def field(row: ObjectOf, name: str) -> Field:
    found = row.get(name)
    assert found is not None, f"no field {name!r} in {row}"
    return found


def test_every_mapped_type_form(tmp_path):
    path = write(tmp_path, "db.ts", """
        import Dexie, { type Table } from "dexie";
        import type { Vendor } from "some-package";
        enum Color { Red = "red", Green = "green" }
        enum Level { Low, Mid = 5, High }
        interface Inner { deep: boolean }
        export interface Row {
          id?: number;
          s: string; n: number; b: boolean; big: bigint; nul: null; und: undefined;
          d: Date; blob: Blob; file: File; ab: ArrayBuffer; dv: DataView; u8: Uint8Array;
          f64: Float64Array; re: RegExp;
          arr: string[]; gen: Array<number>; ro: ReadonlyArray<Date>; roa: readonly boolean[];
          maybe: string | null; opt?: number | undefined;
          kind: "a" | "b"; num: 1 | 2; flag: true;
          nested: { x: number; inner: Inner };
          rec: Record<string, number>;
          idx: { [k: string]: Date };
          map: Map<string, number>;
          set: Set<string>;
          color: Color; level: Level;
          any1: any; any2: unknown;
          vendor: Vendor;
          cond: string extends number ? 1 : 2;
          mapped: { [K in "a" | "b"]: number };
          tuple: [string, number];
          method(): void;
          fn: () => void;
        }
        export const db = new Dexie("T") as Dexie & { rows: Table<Row, number> };
        db.version(1).stores({ rows: "++id" });
        """)
    db, t = tables(tmp_path)
    row = t["rows"].row_type
    assert t["rows"].type_name == "Row" and t["rows"].type_location == f"{path}:6:8"
    expect = {
        "id": (N, True), "s": (S, False), "n": (N, False), "b": (B, False), "big": (Prim("bigint"), False),
        "nul": (Prim("null"), False), "und": (Prim("undefined"), False),
        "d": (Prim("date"), False), "blob": (Prim("blob"), False), "file": (Prim("file"), False),
        "ab": (Prim("binary"), False), "dv": (Prim("binary"), False), "u8": (Prim("binary"), False),
        "f64": (Prim("binary"), False), "re": (Prim("regexp"), False),
        "arr": (ArrayOf(S), False), "gen": (ArrayOf(N), False), "ro": (ArrayOf(Prim("date")), False),
        "roa": (ArrayOf(B), False),
        "maybe": (UnionOf((S, Prim("null"))), False), "opt": (UnionOf((N, Prim("undefined"))), True),
        "kind": (UnionOf((Literal("a"), Literal("b"))), False),
        "num": (UnionOf((Literal(1.0), Literal(2.0))), False), "flag": (Literal(True), False),
        "nested": (ObjectOf((Field("x", N), Field("inner", ObjectOf((Field("deep", B),))))), False),
        "rec": (RecordOf(N), False), "idx": (RecordOf(Prim("date")), False),
        "map": (MapOf(S, N), False), "set": (SetOf(S), False),
        "color": (UnionOf((Literal("red"), Literal("green"))), False),
        "level": (UnionOf((Literal(0.0), Literal(5.0), Literal(6.0))), False),
        "any1": (Prim("any"), False), "any2": (Prim("any"), False),
        "tuple": (ArrayOf(UnionOf((S, N))), False),
    }
    for name, (type_, optional) in expect.items():
        assert field(row, name) == Field(name, type_, optional), name
    for name in ("vendor", "cond", "mapped"):
        got = field(row, name).type
        assert got.kind == "any" and got.note, name
    assert "package 'some-package'" in field(row, "vendor").type.note
    assert "conditional type" in field(row, "cond").type.note
    assert row.get("method") is None and row.get("fn") is None       # functions are not stored
    assert any("field vendor: any" in n for n in db.notes)
    assert [f.name for f in row.fields][:3] == ["id", "s", "n"]      # declaration order


def test_class_members_extends_aliases_and_entity(tmp_path):
    path = write(tmp_path, "db.ts", """
        import Dexie, { Entity, type EntityTable, type Table } from "dexie";
        import type { DexieCloudTable } from "dexie-cloud-addon";
        interface Base { id: string; createdAt: Date }
        interface Post extends Base { title: string; createdAt: Date | null }
        type Tag = { label: string; weight?: number };
        class Friend extends Entity<AppDB> {
          id!: number;
          name!: string;
          nick?: string;
          count = 0;
          static version = 1;
          #secret = "x";
          greet() { return this.name; }
        }
        class Shared { constructor(public owner: string, readonly realmId?: string) {} }
        export class AppDB extends Dexie {
          posts!: Table<Post, string>;
          tags!: Table<Tag>;
          friends!: EntityTable<Friend, "id">;
          shared!: DexieCloudTable<Shared, "id">;
          constructor() {
            super("AppDB");
            this.version(1).stores({ posts: "id", tags: "++", friends: "++id", shared: "@id", plain: "id" });
          }
        }
        """)
    db, t = tables(tmp_path)
    assert t["posts"].row_type == ObjectOf((Field("id", S), Field("createdAt", UnionOf((Prim("date"), Prim("null")))),
                                            Field("title", S)))
    assert t["tags"].row_type == ObjectOf((Field("label", S), Field("weight", N, True)))
    assert t["friends"].row_type == ObjectOf((Field("id", N), Field("name", S), Field("nick", S, True),
                                              Field("count", N)))
    assert t["friends"].type_name == "Friend" and t["friends"].type_location == f"{path}:6:1"
    assert t["shared"].row_type == ObjectOf((Field("owner", S), Field("realmId", S, True)))
    assert t["shared"].schema.primary_key.key_path == "id"          # dexie-cloud-addon strips `@`
    assert any("'shared': `@` primary key" in n for n in db.notes)
    assert t["plain"].row_type is None and t["plain"].type_name is None
    assert any("'plain' has no TypeScript row type" in n for n in db.notes)


def test_types_from_relative_imports(tmp_path):
    write(tmp_path, "models/index.ts", """
        export * from "./contact";
        export { Company as Org } from "./company";
        """)
    write(tmp_path, "models/contact.ts", """
        import { Status } from "../status.js";
        export interface Contact { id?: number; status: Status; address: Address }
        interface Address { city: string }
        """)
    company = write(tmp_path, "models/company.ts", "export type Company = { name: string };\n")
    write(tmp_path, "status.ts", "export enum Status { A = 'a', B = 'b' }\n")
    write(tmp_path, "note.ts", "export default interface Note { text: string }\n")
    write(tmp_path, "item.ts", "class Item { sku!: string }\nexport default Item;\n")
    write(tmp_path, "db.ts", """
        import Dexie, { type Table } from "dexie";
        import type { Contact, Org } from "./models";
        import Note from "./note";
        import Item from "./item.ts";
        import * as M from "./models/company";
        export const db = new Dexie("Imp") as Dexie & {
          contacts: Table<Contact, number>; orgs: Table<Org, string>; notes: Table<Note>;
          items: Table<Item>; nsOrgs: Table<M.Company>;
        };
        db.version(1).stores({ contacts: "++id", orgs: "name", notes: "++", items: "sku", nsOrgs: "name" });
        """)
    db, t = tables(tmp_path)
    assert t["contacts"].row_type == ObjectOf((
        Field("id", N, True), Field("status", UnionOf((Literal("a"), Literal("b")))),
        Field("address", ObjectOf((Field("city", S),)))))
    assert t["orgs"].row_type == ObjectOf((Field("name", S),))
    assert t["orgs"].type_location == f"{company}:1:8"
    assert t["notes"].row_type == ObjectOf((Field("text", S),))
    assert t["items"].row_type == ObjectOf((Field("sku", S),))
    assert t["nsOrgs"].row_type == ObjectOf((Field("name", S),))
    assert not [n for n in db.notes if "any" in n]


def test_cycles_recursive_types_and_generics(tmp_path):
    write(tmp_path, "a.ts", """
        import type { B } from "./b";
        export interface A { b?: B; name: string }
        """)
    write(tmp_path, "b.ts", """
        import type { A } from "./a";
        export interface B { a?: A; count: number }
        """)
    write(tmp_path, "db.ts", """
        import Dexie, { type Table } from "dexie";
        import type { A } from "./a";
        interface Tree { label: string; children: Tree[] }
        interface Box<T, U = boolean> { value: T; flag: U }
        interface Loose<T> { value: T }
        export const db = new Dexie("Cyc") as Dexie & {
          as: Table<A>; trees: Table<Tree>; boxes: Table<Box<Date>>; loose: Table<Loose>;
        };
        db.version(1).stores({ as: "++", trees: "label", boxes: "++", loose: "++" });
        """)
    db, t = tables(tmp_path)
    a = t["as"].row_type
    b = field(a, "b").type
    assert field(b, "count").type == N
    inner_a = field(b, "a").type
    assert inner_a.kind == "any" and "recursive" in inner_a.note
    children = field(t["trees"].row_type, "children").type
    assert isinstance(children, ArrayOf) and children.item.kind == "any" and "recursive" in children.item.note
    assert t["boxes"].row_type == ObjectOf((Field("value", Prim("date")), Field("flag", B)))
    loose = field(t["loose"].row_type, "value").type
    assert loose.kind == "any" and "type parameter `T` has no argument" in loose.note


def test_non_object_row_types_and_unresolvable_names(tmp_path):
    write(tmp_path, "db.ts", """
        import Dexie, { type Table } from "dexie";
        import type { Remote } from "@app/models";
        export const db = new Dexie("K") as Dexie & {
          log: Table<string | { msg: string }, number>;
          kv: Table<unknown, string>;
          remote: Table<Remote, string>;
          ghost: Table<Ghost, string>;
          extra: Table<{ a: string }>;
        };
        db.version(1).stores({ log: "++", kv: "", remote: "id", ghost: "id" });
        """)
    db, t = tables(tmp_path)
    assert t["log"].row_type == UnionOf((Prim("string"), ObjectOf((Field("msg", Prim("string")),))))
    assert t["kv"].row_type is None and any("'kv': rows are declared as `any`" in n for n in db.notes)
    assert t["remote"].row_type is None and t["remote"].type_name == "Remote"
    assert any("'remote'" in n and "package '@app/models'" in n for n in db.notes)
    assert any("'ghost'" in n and "`Ghost` is not declared" in n for n in db.notes)
    assert any("'extra' is in the TypeScript type but not in the final schema" in n for n in db.notes)


def test_type_alias_of_the_database_type_and_annotation(tmp_path):
    write(tmp_path, "db.ts", """
        import Dexie, { type Table } from "dexie";
        interface Todo { id: number; done: boolean }
        type TodoDB = Dexie & { todos: Table<Todo, number> };
        interface MoreTables { more: Table<Todo, number> }
        export const a = new Dexie("A") as TodoDB;
        a.version(1).stores({ todos: "id" });
        export const b: Dexie & MoreTables = new Dexie("B");
        b.version(1).stores({ more: "id" });
        """)
    first, second = read_declarations([tmp_path / "db.ts"])
    todo = ObjectOf((Field("id", N), Field("done", B)))
    assert first.tables["todos"].row_type == todo and second.tables["more"].row_type == todo


def test_partial_pick_omit_record_with_literal_keys_and_merged_interfaces(tmp_path):
    write(tmp_path, "db.ts", """
        import Dexie, { type Table } from "dexie";
        interface P { a: string; b: number; c: Date }
        interface P { d: boolean }
        interface Row {
          part: Partial<Pick<P, "a" | "b">>;
          rest: Omit<P, "a" | "b" | "c">;
          fixed: Record<"x" | "y", number>;
          status: `${string}-done`;
        }
        export const db = new Dexie("U") as Dexie & { rows: Table<Row> };
        db.version(1).stores({ rows: "++" });
        """)
    _, t = tables(tmp_path)
    row = t["rows"].row_type
    assert field(row, "part").type == ObjectOf((Field("a", S, True), Field("b", N, True)))
    assert field(row, "rest").type == ObjectOf((Field("d", B),))
    assert field(row, "fixed").type == ObjectOf((Field("x", N), Field("y", N)))
    assert field(row, "status").type == S


def test_untyped_js_database_notes_every_table(tmp_path):
    write(tmp_path, "db.js", 'const db = new Dexie("J");\ndb.version(1).stores({ a: "id", b: "id" });\n')
    (db,) = read_declarations([tmp_path])
    assert all(t.row_type is None for t in db.tables.values())
    assert sum("has no TypeScript row type" in n for n in db.notes) == 2
