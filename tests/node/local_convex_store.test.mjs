// The local endpoint's disk store against convex-test's own in-memory database: the same
// seeded random mutations (inserts, patches, replaces, deletes, rolled-back batches, side
// rows, stored files) go to two servers, one with the store (default) and one with
// LOCAL_CONVEX_NO_ACCEL=1 (convex-test untouched). Every reply, every query answer and the
// final --state-out contents must be the same, byte for byte (less _creationTime, a clock).
// Run: node --test tests/node/
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startServer, stopServer } from "./server.mjs";

const SCHEMA = `
import { defineSchema, defineTable } from "convex/server";
import { v } from "convex/values";
export default defineSchema({
  docs: defineTable({ k: v.string(), tag: v.optional(v.string()), n: v.optional(v.any()), body: v.optional(v.any()) })
    .index("by_k", ["k"]).index("by_tag_n", ["tag", "n"]).index("by_n", ["n"]),
  side: defineTable({ owner: v.id("docs"), value: v.string() }).index("by_owner", ["owner"]),
  files: defineTable({ storageId: v.id("_storage"), k: v.string() }),
});
`;

const FUNCTIONS = `
import { internalAction, internalMutation, internalQuery } from "./_generated/server";
import { internal } from "./_generated/api";
import { v } from "convex/values";

const byK = (ctx: any, k: string) => ctx.db.query("docs").withIndex("by_k", (q: any) => q.eq("k", k)).unique();
const strip = (d: any) => (d === null ? null : { ...d, _creationTime: 0 });

// One batch of operations in one transaction; "fail" as the last one rolls all back.
export const apply = internalMutation({
  args: { ops: v.array(v.any()) },
  handler: async (ctx, { ops }) => {
    const out: any[] = [];
    for (const op of ops) {
      const existing = await byK(ctx, op.k);
      if (op.op === "upsert") {
        if (existing) await ctx.db.replace(existing._id, op.doc);
        else {
          const id = await ctx.db.insert("docs", op.doc);
          for (const value of op.sides ?? []) await ctx.db.insert("side", { owner: id, value });
        }
      } else if (op.op === "patch" && existing) {
        await ctx.db.patch(existing._id, op.fields);
      } else if (op.op === "delete" && existing) {
        for (const s of await ctx.db.query("side").withIndex("by_owner", (q: any) => q.eq("owner", existing._id)).collect()) {
          await ctx.db.delete(s._id);
        }
        await ctx.db.delete(existing._id);
      } else if (op.op === "fail") {
        throw new Error("roll back the batch");
      }
      // Own writes must be visible to the same transaction's queries.
      out.push(strip(await byK(ctx, op.k)));
    }
    return out;
  },
});

export const look = internalQuery({
  args: { keys: v.array(v.string()), tags: v.array(v.string()), ns: v.array(v.any()) },
  handler: async (ctx, { keys, tags, ns }) => {
    const docs = await Promise.all(keys.map(async (k) => {
      const d = await byK(ctx, k);
      const sides = d === null ? [] : await ctx.db.query("side").withIndex("by_owner", (q: any) => q.eq("owner", d._id)).collect();
      return [strip(d), sides.map(strip)];
    }));
    const tagged = [];
    for (const tag of tags) {
      tagged.push((await ctx.db.query("docs").withIndex("by_tag_n", (q: any) => q.eq("tag", tag)).collect()).map(strip));
      tagged.push((await ctx.db.query("docs").withIndex("by_tag_n", (q: any) => q.eq("tag", tag).gt("n", 3)).order("desc").take(3)).map(strip));
    }
    const numbered = [];
    for (const n of ns) numbered.push((await ctx.db.query("docs").withIndex("by_n", (q: any) => q.eq("n", n)).collect()).map(strip));
    const all = await ctx.db.query("docs").collect();
    const newest = await ctx.db.query("docs").order("desc").take(5);
    const page = await ctx.db.query("docs").paginate({ numItems: 7, cursor: null });
    const firstTen = await ctx.db.query("docs").withIndex("by_creation_time").take(10);
    return { docs, tagged, numbered, count: all.length, newest: newest.map(strip), page: page.page.map(strip),
             firstTen: firstTen.map(strip), filtered: (await ctx.db.query("docs").filter((q: any) => q.eq(q.field("tag"), "t1")).collect()).length };
  },
});

export const storeFile = internalAction({
  args: { k: v.string(), text: v.string() },
  handler: async (ctx, { k, text }) => {
    const storageId = await ctx.storage.store(new Blob([text], { type: "text/plain" }));
    await ctx.runMutation(internal.store.recordFile, { storageId, k });
    const blob = await ctx.storage.get(storageId);
    return await blob!.text();
  },
});
export const recordFile = internalMutation({
  args: { storageId: v.id("_storage"), k: v.string() },
  handler: async (ctx, args) => { await ctx.db.insert("files", args); },
});
`;

// The same sequence on every run: numbers in [0, 1) from sha256 of the seed and a count.
function seeded(seed) {
  let count = 0;
  return () => createHash("sha256").update(`${seed}/${count++}`).digest().readUInt32LE(0) / 2 ** 32;
}

const float = (x) => {
  const b = Buffer.alloc(8);
  b.writeDoubleLE(x);
  return { $float: b.toString("base64") };
};
const int64 = (n) => {
  const b = Buffer.alloc(8);
  b.writeBigInt64LE(BigInt(n));
  return { $integer: b.toString("base64") };
};
// Convex values of every kind, as Convex-encoded JSON: the store must give each back exactly.
const VALUES = [0, 1, 5, 7.5, -3, float(-0), float(NaN), float(Infinity), int64(5), int64(-(2n ** 63n)), "5", "",
  "ünï ✓", true, false, null, { $bytes: Buffer.from([0, 1, 254, 255]).toString("base64") }, [1, [2, "x"]],
  { nested: { deep: [int64(1), { $bytes: "" }] }, "%24w": 1 }];

function operations(random, step, keys) {
  const pick = (list) => list[Math.floor(random() * list.length)];
  const ops = [];
  for (let i = 0; i < 60; i++) {
    const r = random();
    const k = r < 0.55 ? `k${step}-${i}` : pick(keys.length ? keys : ["k-none"]);
    const doc = { k, n: pick(VALUES), tag: random() < 0.8 ? `t${Math.floor(random() * 4)}` : undefined, body: pick(VALUES) };
    if (doc.tag === undefined) delete doc.tag;
    if (r < 0.75) ops.push({ op: "upsert", k, doc, sides: [pick(["a", "b"]), pick(["c", "d"])] });
    else if (r < 0.9) ops.push({ op: "patch", k, fields: { n: pick(VALUES), tag: "t9" } });
    else ops.push({ op: "delete", k });
    keys.push(k);
  }
  if (step % 7 === 3) ops.push({ op: "fail", k: "x" });
  return ops;
}

test("the disk store answers and dumps exactly as convex-test's own database", { timeout: 600_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "local-convex-store-test-"));
  const convex = join(dir, "convex");
  mkdirSync(convex, { recursive: true });
  writeFileSync(join(convex, "schema.ts"), SCHEMA);
  writeFileSync(join(convex, "store.ts"), FUNCTIONS);
  const KEY = "store-test-key";
  const servers = [];
  try {
    for (const [name, env] of [["disk", {}], ["memory", { LOCAL_CONVEX_NO_ACCEL: "1" }]]) {
      const out = join(dir, `state-${name}`);
      const s = await startServer(["--convex-dir", convex, "--admin-key", KEY, "--state-out", out, "--store-dir", join(dir, "store")], env);
      servers.push({ name, s, out });
    }
    const call = async (srv, kind, path, args) => {
      const res = await fetch(`${srv.s.ready.url}/api/${kind}`, {
        method: "POST", headers: { "Content-Type": "application/json", Authorization: `Convex ${KEY}` },
        body: JSON.stringify({ path, args, format: "convex_encoded_json" }),
      });
      assert.equal(res.status, 200);
      return await res.json();
    };
    const info = async (srv) => (await fetch(`${srv.s.ready.url}/_local/info`, { headers: { Authorization: `Convex ${KEY}` } })).json();
    assert.equal((await info(servers[0])).accelerated, true);
    assert.equal((await info(servers[1])).accelerated, false);

    const random = seeded(7);
    const keys = [];
    let failures = 0;
    for (let step = 0; step < 30; step++) {
      const ops = operations(random, step, keys);
      const [a, b] = await Promise.all(servers.map((srv) => call(srv, "mutation", "store:apply", { ops })));
      assert.deepEqual(a, b, `step ${step}: apply differs`);
      if (a.status === "error") failures += 1;
      if (step % 5 === 4) {
        const args = { keys: keys.filter((_, i) => i % 9 === 0).slice(-40), tags: ["t0", "t1", "t9", "none"], ns: VALUES };
        const [qa, qb] = await Promise.all(servers.map((srv) => call(srv, "query", "store:look", args)));
        assert.equal(qa.status, "success", JSON.stringify(qa));
        assert.deepEqual(qa, qb, `step ${step}: queries differ`);
        const text = `file ${step} ✓`;
        const [fa, fb] = await Promise.all(servers.map((srv) => call(srv, "action", "store:storeFile", { k: `f${step}`, text })));
        assert.deepEqual(fa, fb);
        assert.equal(fa.value, text);
      }
    }
    assert.ok(failures >= 3, "some batches rolled back");

    const dumps = [];
    for (const srv of servers) {
      const res = await fetch(`${srv.s.ready.url}/_local/dump`, { method: "POST", headers: { Authorization: `Convex ${KEY}` }, body: "{}" });
      assert.equal(res.status, 200);
      const files = readdirSync(srv.out).filter((f) => f.endsWith(".jsonl")).sort();
      const noClock = (line) => JSON.stringify({ ...JSON.parse(line), _creationTime: 0 });
      dumps.push(Object.fromEntries(files.map((f) => [f, readFileSync(join(srv.out, f), "utf8").split("\n").filter(Boolean).map(noClock)])));
    }
    assert.deepEqual(Object.keys(dumps[0]), ["_storage.jsonl", "docs.jsonl", "files.jsonl", "side.jsonl"]);
    assert.ok(dumps[0]["docs.jsonl"].length + dumps[0]["side.jsonl"].length > 1024, "more documents than the store's first allocation");
    assert.ok(dumps[0]["_storage.jsonl"].length === 6);
    assert.deepEqual(dumps[0], dumps[1]);
    assert.equal(readdirSync(join(dir, "store")).length, 1, "one store folder, of the disk server");
    for (const { s } of servers) assert.equal(await stopServer(s.child), 0);
    assert.deepEqual(readdirSync(join(dir, "store")), [], "the store folder is removed when the endpoint stops");
  } finally {
    for (const { s } of servers) await stopServer(s.child);
    rmSync(dir, { recursive: true, force: true });
  }
});
