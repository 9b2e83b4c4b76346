// End-to-end tests of migrator/node/local_convex.mjs over real HTTP.
// Needs `npm ci` in migrator/node first (see migrator/node/README.md).
// Run: node --test tests/node/
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { startServer, stopServer } from "./server.mjs";

const repo = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const nodeDir = join(repo, "migrator", "node");

if (!existsSync(join(nodeDir, "node_modules", "convex-test"))) {
  throw new Error(`node_modules missing: run \`npm ci\` in ${nodeDir} first`);
}

const SCHEMA = `
import { defineSchema, defineTable } from "convex/server";
import { v } from "convex/values";
export default defineSchema({
  items: defineTable({ key: v.string(), n: v.optional(v.int64()), data: v.optional(v.any()) })
    .index("by_key", ["key"]),
  counters: defineTable({ name: v.string(), value: v.number() }).index("by_name", ["name"]),
  files: defineTable({ storageId: v.id("_storage"), note: v.string() }),
  bulk: defineTable({ key: v.string(), data: v.optional(v.any()) }),
});
`;

const ITEMS = `
import { internalMutation, internalAction, internalQuery, mutation, query } from "./_generated/server";
import { internal } from "./_generated/api";
import { v, ConvexError } from "convex/values";
import { double } from "./lib/util";

const row = v.object({ key: v.string(), n: v.optional(v.int64()), data: v.optional(v.any()) });

export const upsert = internalMutation({
  args: { rows: v.array(row) },
  handler: async (ctx, { rows }) => {
    const ids = [];
    for (const r of rows) {
      const existing = await ctx.db.query("items").withIndex("by_key", (q) => q.eq("key", r.key)).unique();
      if (existing) { await ctx.db.patch(existing._id, r); ids.push(existing._id); }
      else ids.push(await ctx.db.insert("items", r));
    }
    console.log("upserted", rows.length);
    return ids;
  },
});

// Insert \`before\` good documents, then one with a field called \`name\` inside data
// (nested) or at the top level.
export const writeField = internalMutation({
  args: { before: v.number(), name: v.string(), top: v.boolean() },
  handler: async (ctx, { before, name, top }) => {
    for (let i = 0; i < before; i++) await ctx.db.insert("items", { key: "good" + i });
    const doc = top ? { key: "bad", [name]: 1 } : { key: "bad", data: { [name]: 1 } };
    await ctx.db.insert("items", doc as any);
  },
});

export const writeShape = internalMutation({
  args: { shape: v.string() },
  handler: async (ctx, { shape }) => {
    await ctx.db.insert("items", { key: "first" });
    let data: any;
    if (shape === "deep") { data = 0; for (let i = 0; i < 16; i++) data = { d: data }; }
    else if (shape === "deepOk") { data = 0; for (let i = 0; i < 15; i++) data = { d: data }; }
    else if (shape === "longArray") data = new Array(8193).fill(0);
    else if (shape === "okArray") data = new Array(8192).fill(0);
    else if (shape === "manyFields") { data = {}; for (let i = 0; i < 1025; i++) data["f" + i] = i; }
    else if (shape === "surrogate") data = "a\\ud800b";
    else if (shape === "bulkBytes") {
      // 17 documents of ~1,000,000 bytes: each is fine, together over 16 MiB.
      for (let i = 0; i < 17; i++) await ctx.db.insert("items", { key: "bulk" + i, data: "z".repeat(1_000_000) });
      return;
    }
    await ctx.db.insert("items", { key: shape, data });
  },
});

export const writeMany = internalMutation({
  args: { count: v.number() },
  handler: async (ctx, { count }) => {
    for (let i = 0; i < count; i++) await ctx.db.insert("items", { key: "many" + i });
    return count;
  },
});

// Like the generated upsertBatch: per-row try/catch, so a refused write must not happen.
export const writeManyCatching = internalMutation({
  args: { count: v.number(), size: v.number() },
  handler: async (ctx, { count, size }) => {
    let ok = 0;
    const errors: string[] = [];
    for (let i = 0; i < count; i++) {
      try { await ctx.db.insert("bulk", { key: "caught" + i, data: "q".repeat(size) }); ok++; }
      catch (e: any) { errors.push(String(e.message)); }
    }
    return { ok, errors: errors.slice(0, 2), failed: errors.length };
  },
});

export const increment = mutation({
  args: { name: v.string() },
  handler: async (ctx, { name }) => {
    const c = await ctx.db.query("counters").withIndex("by_name", (q) => q.eq("name", name)).unique();
    // Yield between read and write: without serialization, increments would be lost.
    await Promise.resolve();
    if (c) { await ctx.db.patch(c._id, { value: c.value + 1 }); return c.value + 1; }
    await ctx.db.insert("counters", { name, value: 1 });
    return 1;
  },
});

export const rekey = internalMutation({
  args: { from: v.string(), to: v.string() },
  handler: async (ctx, { from, to }) => {
    const d = await ctx.db.query("items").withIndex("by_key", (q) => q.eq("key", from)).unique();
    if (d) await ctx.db.patch(d._id, { key: to });
    return d !== null;
  },
});
export const removeKey = internalMutation({
  args: { key: v.string() },
  handler: async (ctx, { key }) => {
    const d = await ctx.db.query("items").withIndex("by_key", (q) => q.eq("key", key)).unique();
    if (d) await ctx.db.delete(d._id);
  },
});
export const insertThenFail = internalMutation({
  args: { key: v.string() },
  handler: async (ctx, { key }) => {
    await ctx.db.insert("items", { key });
    const seen = await ctx.db.query("items").withIndex("by_key", (q) => q.eq("key", key)).unique();
    if (!seen) throw new Error("own write not visible");
    throw new Error("rollback please");
  },
});
export const byKey = query({
  args: { key: v.string() },
  handler: async (ctx, { key }) => (await ctx.db.query("items").withIndex("by_key", (q) => q.eq("key", key)).collect()).map((d) => d.key),
});
export const list = query({ args: {}, handler: async (ctx) => await ctx.db.query("items").collect() });
export const count = internalQuery({ args: { table: v.string() }, handler: async (ctx, { table }) => (await ctx.db.query(table as any).collect()).length });
export const echo = query({ args: { x: v.any() }, handler: async (_ctx, { x }) => ({ x, d: double(2) }) });
export const boom = mutation({ args: {}, handler: async () => { throw new ConvexError({ code: "nope", n: 7n }); } });
export const plainBoom = mutation({ args: {}, handler: async () => { throw new Error("plain failure"); } });

export const storeText = internalAction({
  args: { text: v.string(), note: v.string() },
  handler: async (ctx, { text, note }) => {
    const storageId = await ctx.storage.store(new Blob([text], { type: "text/plain" }));
    await ctx.runMutation(internal.items.recordFile, { storageId, note });
    return storageId;
  },
});
export const recordFile = internalMutation({
  args: { storageId: v.id("_storage"), note: v.string() },
  handler: async (ctx, args) => await ctx.db.insert("files", args),
});
export const uploadUrl = internalMutation({ args: {}, handler: async (ctx) => await ctx.storage.generateUploadUrl() });
export const fileUrl = query({ args: { id: v.id("_storage") }, handler: async (ctx, { id }) => await ctx.storage.getUrl(id) });
`;

const NESTED = `
import { internalMutation } from "../_generated/server";
import { v } from "convex/values";
export const batch = internalMutation({
  args: { keys: v.array(v.string()) },
  handler: async (ctx, { keys }) => {
    for (const key of keys) await ctx.db.insert("items", { key });
    return keys.length;
  },
});
`;

function makeConvexDir() {
  const dir = mkdtempSync(join(tmpdir(), "local-convex-test-"));
  const convex = join(dir, "convex");
  mkdirSync(join(convex, "lib"), { recursive: true });
  mkdirSync(join(convex, "dexie"), { recursive: true });
  writeFileSync(join(convex, "schema.ts"), SCHEMA);
  writeFileSync(join(convex, "items.ts"), ITEMS);
  writeFileSync(join(convex, "lib", "util.ts"), "export const double = (x: number): number => x * 2;\n");
  writeFileSync(join(convex, "dexie", "import.ts"), NESTED);
  return { dir, convex };
}

const KEY = "test-admin-key-0123456789";
const int64 = (n) => {
  const b = Buffer.alloc(8);
  b.writeBigInt64LE(BigInt(n));
  return { $integer: b.toString("base64") };
};
const float = (x) => {
  const b = Buffer.alloc(8);
  b.writeDoubleLE(x);
  return { $float: b.toString("base64") };
};

describe("local_convex server", () => {
  let srv, url, convexDir, stateDir;

  async function post(path, body, { key = KEY, contentType = "application/json", raw = false, headers = {} } = {}) {
    const h = { ...headers };
    if (contentType) h["Content-Type"] = contentType;
    if (key) h["Authorization"] = `Convex ${key}`;
    const res = await fetch(url + path, { method: "POST", headers: h, body: raw ? body : JSON.stringify(body) });
    const text = await res.text();
    let json = null;
    try { json = JSON.parse(text); } catch { /* not JSON */ }
    return { status: res.status, headers: res.headers, text, json };
  }
  const mutation = (path, args, opts) => post("/api/mutation", { path, args, format: "convex_encoded_json" }, opts);
  const query = (path, args, opts) => post("/api/query", { path, args, format: "convex_encoded_json" }, opts);
  const action = (path, args, opts) => post("/api/action", { path, args, format: "convex_encoded_json" }, opts);
  async function tables() {
    const res = await fetch(url + "/_local/tables", { headers: { Authorization: `Convex ${KEY}` } });
    assert.equal(res.status, 200);
    return await res.json();
  }
  async function setFaults(f) {
    const r = await post("/_local/faults", f);
    assert.equal(r.status, 200, r.text);
  }
  async function itemKeys() {
    const r = await query("items:list", {});
    assert.equal(r.json.status, "success", r.text);
    return r.json.value.map((d) => d.key);
  }

  before(async () => {
    const made = makeConvexDir();
    convexDir = made.dir;
    stateDir = join(convexDir, "state");
    srv = await startServer(["--convex-dir", made.convex, "--admin-key", KEY, "--state-out", stateDir]);
    url = srv.ready.url;
  });
  after(async () => {
    if (srv) await stopServer(srv.child);
    rmSync(convexDir, { recursive: true, force: true });
  });

  test("ready line has url and pid, and no admin key when one was given", () => {
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(srv.ready.pid, srv.child.pid);
    assert.equal(srv.ready.adminKey, undefined);
  });

  test("convex-test query acceleration is active (unless LOCAL_CONVEX_NO_ACCEL=1)", async () => {
    const res = await fetch(url + "/_local/info", { headers: { Authorization: `Convex ${KEY}` } });
    const info = await res.json();
    assert.equal(info.accelerated, process.env.LOCAL_CONVEX_NO_ACCEL !== "1");
    assert.deepEqual(info.tables, ["bulk", "counters", "files", "items"]);
    const anon = await fetch(url + "/_local/info");
    assert.equal(anon.status, 401);
  });

  test("success reply shape, log lines, nested module paths and /api/run", async () => {
    const r = await mutation("items:upsert", { rows: [{ key: "shape1" }, { key: "shape2" }] });
    assert.equal(r.status, 200);
    assert.deepEqual(Object.keys(r.json).sort(), ["logLines", "status", "value"]);
    assert.equal(r.json.status, "success");
    assert.equal(r.json.value.length, 2);
    assert.deepEqual(r.json.logLines, ["[LOG] 'upserted' 2"]);
    const n = await mutation("dexie/import:batch", { keys: ["nested1"] });
    assert.equal(n.json.status, "success", n.text);
    assert.equal(n.json.value, 1);
    const run = await post("/api/run/dexie/import/batch", { args: { keys: ["nested2"] }, format: "convex_encoded_json" });
    assert.equal(run.json.status, "success", run.text);
    const keys = await itemKeys();
    for (const k of ["shape1", "shape2", "nested1", "nested2"]) assert.ok(keys.includes(k), k);
  });

  test("function errors: 200 with status error; errorData only for ConvexError", async () => {
    const c = await mutation("items:boom", {});
    assert.equal(c.status, 200);
    assert.equal(c.json.status, "error");
    assert.deepEqual(c.json.errorData, { code: "nope", n: int64(7) });
    assert.match(c.json.errorMessage, /ConvexError/);
    const p = await mutation("items:plainBoom", {});
    assert.equal(p.status, 200);
    assert.equal(p.json.status, "error");
    assert.match(p.json.errorMessage, /plain failure/);
    assert.ok(!("errorData" in p.json));
    const badArgs = await mutation("items:upsert", { rows: "nope" });
    assert.equal(badArgs.json.status, "error");
  });

  test("internal functions need the admin key: 401 without, 403 with a wrong one (not echoed)", async () => {
    const none = await mutation("items:upsert", { rows: [{ key: "x" }] }, { key: null });
    assert.equal(none.status, 401);
    assert.ok(none.json.code && none.json.message);
    const wrongKey = "wrong-key-SECRET-abcdef";
    const wrong = await mutation("items:upsert", { rows: [{ key: "x" }] }, { key: wrongKey });
    assert.equal(wrong.status, 403);
    assert.equal(wrong.json.code, "BadDeployKey");
    assert.ok(!wrong.text.includes(wrongKey));
    assert.ok(!wrong.text.includes(KEY));
    assert.ok(!srv.stderr().includes(KEY) && !srv.stderr().includes(wrongKey));
    // Public functions work without a key; a wrong key is refused even for them.
    assert.equal((await query("items:list", {}, { key: null })).json.status, "success");
    assert.equal((await query("items:list", {}, { key: wrongKey })).status, 403);
    assert.ok(!(await itemKeys()).includes("x"));
  });

  test("Content-Type and JSON checks: 400 BadJsonBody", async () => {
    const ct = await post("/api/query", { path: "items:list", args: {} }, { contentType: "text/plain" });
    assert.equal(ct.status, 400);
    assert.equal(ct.json.code, "BadJsonBody");
    const bad = await post("/api/query", "{not json", { raw: true });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.code, "BadJsonBody");
    const badValue = await query("items:echo", { x: { $integer: "AQ==" } });
    assert.equal(badValue.status, 400);
  });

  test("unknown function path is 400, unknown route 404", async () => {
    const f = await query("items:missing", {});
    assert.equal(f.status, 400);
    assert.equal(f.json.code, "FunctionNotFound");
    const m = await query("nomodule:list", {});
    assert.equal(m.status, 400);
    const r = await post("/api/nothing", {});
    assert.equal(r.status, 404);
  });

  test("int64, bytes and special floats round-trip through the wire encoding", async () => {
    const x = {
      one: int64(1), minusOne: int64(-1),
      max: int64(9223372036854775807n), min: int64(-9223372036854775808n),
      nan: float(NaN), inf: float(Infinity), ninf: float(-Infinity), nzero: float(-0),
      bytes: { $bytes: Buffer.from([0, 1, 2, 255]).toString("base64") },
      plain: 1.5, s: "héllo ✓", nested: [null, true, { a: int64(42) }],
    };
    assert.deepEqual(x.minusOne, { $integer: "//////////8=" });
    assert.deepEqual(x.nan, { $float: "AAAAAAAA+H8=" });
    const r = await query("items:echo", { x });
    assert.equal(r.json.status, "success", r.text);
    assert.deepEqual(r.json.value, { x, d: 4 });
    // And through storage: write an int64 and read it back.
    const w = await mutation("items:upsert", { rows: [{ key: "int", n: int64(-5), data: { b: x.bytes, f: x.nan } }] });
    assert.equal(w.json.status, "success", w.text);
    const doc = (await query("items:list", {})).json.value.find((d) => d.key === "int");
    assert.deepEqual(doc.n, int64(-5));
    assert.deepEqual(doc.data, { b: x.bytes, f: x.nan });
  });

  test("1 MiB document limit counts system fields; the whole mutation rolls back", async () => {
    // size = 2 + _id(3+1+2+32) + _creationTime(13+1+9) + key(3+1+2+len) + data(4+1+2+N)
    const fixed = 2 + 38 + 23 + 7 + 7; // for key "k"
    const maxOk = (1 << 20) - fixed - 1; // longest data for key "ok": exactly 1 MiB
    const ok = await mutation("items:upsert", { rows: [{ key: "ok", data: "x".repeat(maxOk) }] });
    assert.equal(ok.json.status, "success", ok.text.slice(0, 500));
    const before = await tables();
    const big = await mutation("items:upsert", { rows: [{ key: "first-of-batch" }, { key: "k", data: "x".repeat((1 << 20) - fixed + 1) }] });
    assert.equal(big.status, 200);
    assert.equal(big.json.status, "error");
    assert.match(big.json.errorMessage, /too large/);
    assert.deepEqual(await tables(), before);
    assert.ok(!(await itemKeys()).includes("first-of-batch"));
    // A patch that grows an existing document over the limit is refused too.
    const grow = await mutation("items:upsert", { rows: [{ key: "ok", data: "x".repeat(maxOk + 1) }] });
    assert.equal(grow.json.status, "error", grow.text.slice(0, 300));
    const doc = (await query("items:list", {})).json.value.find((d) => d.key === "ok");
    assert.equal(doc.data.length, maxOk);
  });

  test("field-name rules and value shapes are enforced with rollback", async () => {
    const before = await tables();
    for (const [name, top] of [["_hidden", true], ["$dollar", false], ["caf\u00e9", false], ["tab\there", false], ["", false]]) {
      const r = await mutation("items:writeField", { before: 3, name, top });
      assert.equal(r.json.status, "error", `${JSON.stringify(name)}: ${r.text}`);
    }
    for (const shape of ["deep", "longArray", "manyFields", "surrogate"]) {
      const r = await mutation("items:writeShape", { shape });
      assert.equal(r.json.status, "error", `${shape}: ${r.text.slice(0, 300)}`);
    }
    assert.deepEqual(await tables(), before);
    // At the limits is fine; `_`-prefixed names are fine below the top level.
    for (const shape of ["deepOk", "okArray"]) {
      const r = await mutation("items:writeShape", { shape });
      assert.equal(r.json.status, "success", `${shape}: ${r.text.slice(0, 300)}`);
    }
    const nested = await mutation("items:writeField", { before: 0, name: "_nested_ok", top: false });
    assert.equal(nested.json.status, "success", nested.text);
  });

  test("per-transaction write limits: over 16,000 documents or 16 MiB fails and writes nothing", async () => {
    const before = await tables();
    const r = await mutation("items:writeMany", { count: 16001 });
    assert.equal(r.json.status, "error");
    assert.match(r.json.errorMessage, /too many documents/i);
    assert.deepEqual(await tables(), before);
    const b = await mutation("items:writeShape", { shape: "bulkBytes" });
    assert.equal(b.json.status, "error");
    assert.match(b.json.errorMessage, /too much data/i);
    assert.deepEqual(await tables(), before);
  });

  test("index lookups stay exact after re-keying, deletes and rolled-back inserts", async () => {
    const ins = await mutation("items:upsert", { rows: [{ key: "rk-a" }, { key: "rk-b" }, { key: "rk-gone" }] });
    assert.equal(ins.json.status, "success", ins.text);
    assert.equal((await mutation("items:rekey", { from: "rk-a", to: "rk-c" })).json.value, true);
    assert.deepEqual((await query("items:byKey", { key: "rk-a" })).json.value, []);
    assert.deepEqual((await query("items:byKey", { key: "rk-c" })).json.value, ["rk-c"]);
    assert.equal((await mutation("items:removeKey", { key: "rk-gone" })).json.status, "success");
    assert.deepEqual((await query("items:byKey", { key: "rk-gone" })).json.value, []);
    const fail = await mutation("items:insertThenFail", { key: "rk-rolled" });
    assert.equal(fail.json.status, "error");
    assert.match(fail.json.errorMessage, /rollback please/);
    assert.deepEqual((await query("items:byKey", { key: "rk-rolled" })).json.value, []);
    // Upserting an existing key patches instead of inserting a second document.
    await mutation("items:upsert", { rows: [{ key: "rk-b", data: 1 }] });
    assert.deepEqual((await query("items:byKey", { key: "rk-b" })).json.value, ["rk-b"]);
  });

  test("a caught limit error leaves no write behind", async () => {
    const before = (await tables()).bulk;
    const r = await mutation("items:writeManyCatching", { count: 20, size: 1_000_000 });
    assert.equal(r.json.status, "success", r.text.slice(0, 300));
    assert.equal(r.json.value.ok, 16);
    assert.equal(r.json.value.failed, 4);
    assert.match(r.json.value.errors[0], /too much data/);
    assert.equal((await tables()).bulk, before + 16);
    const n = await mutation("items:writeManyCatching", { count: 16002, size: 0 });
    assert.equal(n.json.value.ok, 16000);
    assert.match(n.json.value.errors[0], /too many documents/);
    assert.equal((await tables()).bulk, before + 16 + 16000);
  });

  test("mutations are serialized: concurrent increments are not lost", async () => {
    const results = await Promise.all(Array.from({ length: 25 }, () => mutation("items:increment", { name: "c" }, { key: null })));
    const values = results.map((r) => r.json.value).sort((a, b) => a - b);
    assert.deepEqual(values, Array.from({ length: 25 }, (_, i) => i + 1));
  });

  test("fault: 429 TooManyWrites with Retry-After", async () => {
    await setFaults({ status429: 1, seed: 3 });
    try {
      const r = await mutation("items:upsert", { rows: [{ key: "throttled" }] });
      assert.equal(r.status, 429);
      assert.equal(r.json.code, "TooManyWrites");
      assert.ok(Number(r.headers.get("retry-after")) >= 0);
    } finally {
      await setFaults({});
    }
    assert.ok(!(await itemKeys()).includes("throttled"));
  });

  test("fault: failure after commit keeps the writes; before commit writes nothing", async () => {
    await setFaults({ failAfterCommit: 1 });
    try {
      const r = await mutation("items:upsert", { rows: [{ key: "after-commit" }] });
      assert.equal(r.status, 503);
    } finally {
      await setFaults({});
    }
    assert.ok((await itemKeys()).includes("after-commit"));
    await setFaults({ failBeforeCommit: 1 });
    try {
      const r = await mutation("items:upsert", { rows: [{ key: "before-commit" }] });
      assert.equal(r.status, 503);
    } finally {
      await setFaults({});
    }
    assert.ok(!(await itemKeys()).includes("before-commit"));
    await setFaults({ dropAfterCommit: 1 });
    try {
      await assert.rejects(mutation("items:upsert", { rows: [{ key: "dropped-after" }] }));
    } finally {
      await setFaults({});
    }
    assert.ok((await itemKeys()).includes("dropped-after"));
  });

  test("fault: 500 after commit keeps the writes; 500, 502 and 504 before it write nothing", async () => {
    await setFaults({ status500AfterCommit: 1 });
    try {
      const r = await mutation("items:upsert", { rows: [{ key: "after-commit-500" }] });
      assert.equal(r.status, 500);
      assert.deepEqual(r.json, { code: "InternalServerError", message: "Your request couldn't be completed. Try again later." });
    } finally {
      await setFaults({});
    }
    assert.ok((await itemKeys()).includes("after-commit-500"));
    for (const [fault, status] of [["status500", 500], ["status502", 502], ["status504", 504]]) {
      await setFaults({ [fault]: 1 });
      try {
        const r = await mutation("items:upsert", { rows: [{ key: `before-${status}` }] });
        assert.equal(r.status, status);
        if (status !== 500) assert.match(r.headers.get("content-type"), /text\/html/); // a proxy's page
      } finally {
        await setFaults({});
      }
      assert.ok(!(await itemKeys()).includes(`before-${status}`));
    }
  });

  test("fault: a call arriving on a kept-alive connection is dropped, a first call is not", async () => {
    await setFaults({ dropReused: 1 });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const call = () => new Promise((resolve, reject) => {
      const body = JSON.stringify({ path: "items:echo", args: { x: 1 }, format: "convex_encoded_json" });
      const req = http.request(url + "/api/query", { method: "POST", agent, headers: { "Content-Type": "application/json" } }, (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode));
      });
      req.on("error", reject);
      req.end(body);
    });
    try {
      assert.equal(await call(), 200);
      await assert.rejects(call());
    } finally {
      agent.destroy();
      await setFaults({});
    }
  });

  test("write budget: refused as Convex refuses (429 TooManyWrites, no Retry-After) until it refills", async () => {
    const budget = async (body) => {
      const r = body === undefined
        ? await fetch(url + "/_local/write-budget", { headers: { Authorization: `Convex ${KEY}` } }).then((x) => x.json())
        : (await post("/_local/write-budget", body)).json;
      return r;
    };
    assert.equal((await post("/_local/write-budget", { bytesPerSecond: -1 })).status, 400);
    await budget({ bytesPerSecond: 2048 });
    try {
      const big = { rows: [{ key: "budget-1", data: "x".repeat(8000) }] };
      assert.equal((await mutation("items:upsert", big)).status, 200);     // a full bucket takes one large write
      const refused = await mutation("items:upsert", { rows: [{ key: "budget-2" }] });
      assert.equal(refused.status, 429);
      assert.deepEqual(refused.json, { code: "TooManyWrites", message: "Too many writes per second. Your deployment is limited to 2 KiB bytes written per 1 second. Reduce your write rate or upgrade to a larger deployment." });
      assert.equal(refused.headers.get("retry-after"), null);
      assert.equal((await query("items:echo", { x: 1 })).status, 200);      // queries are not writes
      assert.ok(!(await itemKeys()).includes("budget-2"));
      await new Promise((r) => setTimeout(r, 3500));                        // ~6 KB of debt refilled at 2 KB/s
      assert.equal((await mutation("items:upsert", { rows: [{ key: "budget-2" }] })).status, 200);
      const counts = await budget();
      assert.equal(counts.refused, 1);
      assert.equal(counts.committed, 2);
      assert.ok(counts.committedBytes > 8000, JSON.stringify(counts));
      await budget({ bytesPerSecond: 2048, retryAfter: 2 });
      await mutation("items:upsert", big);
      assert.equal((await mutation("items:upsert", big)).headers.get("retry-after"), "2");
    } finally {
      await budget({ bytesPerSecond: null });
    }
    assert.equal((await mutation("items:upsert", { rows: [{ key: "budget-3" }] })).status, 200);
  });

  test("fault: dropped connection, and a seed replays the same decisions", async () => {
    await setFaults({ dropConnection: 1 });
    try {
      await assert.rejects(query("items:list", {}));
    } finally {
      await setFaults({});
    }
    const pattern = async () => {
      await setFaults({ status503: 0.5, delayMs: [0, 5], seed: 42 });
      const out = [];
      for (let i = 0; i < 16; i++) out.push((await query("items:echo", { x: i })).status);
      await setFaults({});
      return out;
    };
    const a = await pattern();
    const b = await pattern();
    assert.deepEqual(a, b);
    assert.ok(a.includes(503) && a.includes(200), String(a));
  });

  test("request body over 16 MiB + 2000 bytes is refused", async () => {
    const body = JSON.stringify({ path: "items:echo", args: { x: "y".repeat(16 * 1024 * 1024 + 2000) } });
    let status;
    try {
      status = (await post("/api/query", body, { raw: true })).status;
    } catch {
      status = "reset"; // the server may close before the whole body is sent
    }
    assert.ok(status === 413 || status === "reset", String(status));
  });

  test("storage: action store, upload URL, file URL", async () => {
    const s = await action("items:storeText", { text: "hello file", note: "from action" });
    assert.equal(s.json.status, "success", s.text);
    const id1 = s.json.value;
    const u = await mutation("items:uploadUrl", {});
    assert.equal(u.json.status, "success", u.text);
    assert.ok(u.json.value.startsWith(url + "/"), u.json.value);
    const up = await fetch(u.json.value, { method: "POST", headers: { "Content-Type": "image/png" }, body: Buffer.from([137, 80, 78, 71]) });
    assert.equal(up.status, 200);
    const { storageId } = await up.json();
    assert.ok(storageId);
    // An upload URL works once.
    const again = await fetch(u.json.value, { method: "POST", headers: { "Content-Type": "image/png" }, body: "x" });
    assert.equal(again.status, 401);
    const f = await query("items:fileUrl", { id: storageId });
    assert.equal(f.json.status, "success", f.text);
    const got = await fetch(f.json.value);
    assert.equal(got.status, 200);
    assert.equal(got.headers.get("content-type"), "image/png");
    assert.deepEqual([...new Uint8Array(await got.arrayBuffer())], [137, 80, 78, 71]);
    const t = await tables();
    assert.ok(t.files >= 1);
    assert.ok(id1 !== storageId);
  });

  test("state dump: JSONL per table in _creationTime order, plus _storage.jsonl", async () => {
    const r = await post("/_local/dump", {});
    assert.equal(r.status, 200, r.text);
    const files = readdirSync(stateDir).sort();
    for (const f of ["items.jsonl", "counters.jsonl", "files.jsonl", "_storage.jsonl"]) assert.ok(files.includes(f), f);
    const items = readFileSync(join(stateDir, "items.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
    assert.equal(items.length, (await tables()).items);
    const times = items.map((d) => d._creationTime);
    assert.deepEqual(times, [...times].sort((a, b) => a - b));
    assert.deepEqual(items.find((d) => d.key === "int").n, int64(-5));
    const storage = readFileSync(join(stateDir, "_storage.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
    const hello = storage.find((s) => s.contentType === "text/plain");
    assert.equal(hello.size, "hello file".length);
    assert.equal(hello.sha256, createHash("sha256").update("hello file").digest("hex"));
    assert.ok(storage.some((s) => s.contentType === "image/png" && s.size === 4));
  });
});

describe("local_convex process", () => {
  test("generates and prints an admin key when none is given; SIGTERM writes --state-out", async () => {
    const { dir, convex } = makeConvexDir();
    const out = join(dir, "out");
    const env = { CONVEX_LOCAL_ADMIN_KEY: "" };
    const s = await startServer(["--convex-dir", convex, "--state-out", out], env);
    try {
      assert.ok(typeof s.ready.adminKey === "string" && s.ready.adminKey.length >= 20);
      const res = await fetch(s.ready.url + "/api/mutation", {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: `Convex ${s.ready.adminKey}` },
        body: JSON.stringify({ path: "dexie/import:batch", args: { keys: ["a", "b", "c"] }, format: "convex_encoded_json" }),
      });
      assert.equal((await res.json()).status, "success");
      const info = await (await fetch(s.ready.url + "/_local/info", { headers: { Authorization: `Convex ${s.ready.adminKey}` } })).json();
      assert.ok(info.workDir && existsSync(info.workDir) && info.workDir.startsWith(nodeDir));
      const code = await stopServer(s.child, "SIGTERM");
      assert.equal(code, 0);
      const lines = readFileSync(join(out, "items.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
      assert.deepEqual(lines.map((d) => d.key), ["a", "b", "c"]);
      assert.equal(readFileSync(join(out, "_storage.jsonl"), "utf8"), "");
      // The transpiled work folder is removed on exit.
      assert.ok(!existsSync(info.workDir));
    } finally {
      await stopServer(s.child, "SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("admin key from CONVEX_LOCAL_ADMIN_KEY; a broken module fails the start", async () => {
    const { dir, convex } = makeConvexDir();
    try {
      const s = await startServer(["--convex-dir", convex], { CONVEX_LOCAL_ADMIN_KEY: "env-key-123" });
      assert.equal(s.ready.adminKey, undefined);
      const res = await fetch(s.ready.url + "/_local/tables", { headers: { Authorization: "Convex env-key-123" } });
      assert.equal(res.status, 200);
      await stopServer(s.child);
      writeFileSync(join(convex, "broken.ts"), "import { nothing } from './missing';\nexport const x = nothing;\n");
      await assert.rejects(startServer(["--convex-dir", convex]), /failed to load|exited/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
