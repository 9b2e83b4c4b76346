// Makes convex-test's database hold imports of millions of documents. convex-test (0.0.60)
// keeps every document as a live object (DatabaseFake._documents) and answers every query
// by walking *all* documents of *all* tables (_iterateDocs), so an upsert-by-key import is
// quadratic in time and holds many times the dump in memory.
//
// We do not change what a query returns: convex-test still filters, sorts and limits.
//   - Committed documents live in a DocumentStore (local_convex_store.mjs, on disk):
//     `_documents` becomes a view of it. Pending writes stay convex-test's own (_writes).
//   - A walk covers one table: the store's counters of that table plus the pending writes
//     (kept per table while a transaction runs).
//   - For an index range whose first condition is `eq` on the index's first field with a
//     primitive value, the walk covers the documents ever written with a matching value in
//     that field (a superset: stale entries are filtered by convex-test's own check). Such a
//     value index is built on the first query that needs it, and kept up to date on every
//     write; its buckets hold counters under a 30-bit hash of the value.
//   - Results of finished transactions' queries are dropped (convex-test keeps them all).
//
// The DatabaseFake instance is private to convex-test; we find it by watching
// AsyncLocalStorage.run for convex-test's per-instance global (an object with
// `components` and `transactionManager`). If anything looks different from what we
// expect, we leave convex-test untouched (correct, only slower and all in memory).
import { AsyncLocalStorage } from "node:async_hooks";
import { jsonToConvex } from "convex/values";
import { DocumentStore } from "./local_convex_store.mjs";

/** Calls `fn()` (which must use the convex-test instance) and returns the convex-test
 *  global it ran with, or null. */
export async function captureConvexGlobal(fn) {
  const original = AsyncLocalStorage.prototype.run;
  let captured = null;
  AsyncLocalStorage.prototype.run = function run(store, ...rest) {
    if (captured === null && store !== null && typeof store === "object"
      && store.components && store.transactionManager) {
      captured = store;
    }
    return original.call(this, store, ...rest);
  };
  try {
    await fn();
  } finally {
    AsyncLocalStorage.prototype.run = original;
  }
  return captured;
}

function isPlain(v) {
  return v !== null && typeof v === "object" && !Array.isArray(v) && !(v instanceof ArrayBuffer);
}

function fieldValue(doc, path) {
  let cur = doc;
  for (const part of path.split(".")) {
    cur = isPlain(cur) ? cur[part] : undefined;
  }
  return cur;
}

const WILD = -1;
// Bucket of a value: numbers and int64 share buckets (0 and -0 too) so a bucket is never
// narrower than convex-test's equality. Non-primitive values go to WILD, which every
// lookup includes. Distinct values may share a bucket (a hash): convex-test filters.
function bucketOf(v) {
  let text;
  switch (typeof v) {
    case "undefined": text = "u"; break;
    case "string": text = "s:" + v; break;
    case "boolean": text = "b:" + v; break;
    case "number": text = "n:" + (v === 0 ? "0" : String(v)); break;
    case "bigint": text = "n:" + String(v); break;
    default:
      if (v !== null) return WILD;
      text = "null";
  }
  let h = 0x811c9dc5; // FNV-1a
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return (h >>> 2) & 0x3fffffff;
}

/** One table index's first field: bucket -> counter, or an array of counters. */
class ValueIndex {
  constructor(field) {
    this.field = field;
    this.buckets = new Map();
  }
  add(doc, counter) {
    const b = bucketOf(fieldValue(doc, this.field));
    const cur = this.buckets.get(b);
    if (cur === undefined) this.buckets.set(b, counter);
    else if (typeof cur === "number") { if (cur !== counter) this.buckets.set(b, [cur, counter]); }
    else if (cur[cur.length - 1] !== counter) cur.push(counter);
  }
  /** Counters that may hold `value` (duplicates possible), or null when every document may. */
  lookup(value) {
    const b = bucketOf(value);
    if (b === WILD) return null;
    const out = [];
    for (const key of [b, WILD]) {
      const cur = this.buckets.get(key);
      if (typeof cur === "number") out.push(cur);
      else if (cur) out.push(...cur);
    }
    return out;
  }
}

/** Patch the root DatabaseFake of a captured convex-test global to keep its documents in a
 *  DocumentStore under `storeDir` (a temporary folder when null). Returns the store, or
 *  null when convex-test does not look as expected (then nothing was changed). */
export function accelerate(convexGlobal, { storeDir = null } = {}) {
  const db = convexGlobal?.components?.[""]?.db;
  if (!db || typeof db._iterateDocs !== "function" || typeof db._resolveQuerySource !== "function"
    || typeof db._addWrite !== "function"
    || typeof db.get !== "function" || typeof db.commit !== "function" || typeof db.rollbackWrites !== "function"
    || !db._documents || !Array.isArray(db._writes) || !Number.isInteger(db._nextDocId)
    || typeof db._queryResults !== "object") {
    return null;
  }
  if (Object.keys(db._documents).length > 0) return null; // must start from empty
  const store = new DocumentStore({ dir: storeDir, firstCounter: db._nextDocId });

  // table -> Map(index name -> ValueIndex | null (not built yet))
  const indexes = new Map();
  for (const [table, t] of db._schema?.tables ?? []) {
    const named = new Map();
    for (const ix of t.indexes ?? []) {
      if (ix.indexDescriptor && Array.isArray(ix.fields) && ix.fields.length > 0) named.set(ix.indexDescriptor, { field: ix.fields[0], built: null });
    }
    indexes.set(table, named);
  }
  // Written in the running transaction: table -> Map(counter -> id); reads go through db.get.
  const pending = new Map();
  const pendingOf = (table) => pending.get(table) ?? new Map();

  const originalAddWrite = db._addWrite.bind(db);
  db._addWrite = (id, value) => {
    originalAddWrite(id, value);
    const table = store.tableOf(id);
    const counter = store.counterOf(id);
    if (table === null || counter < 0) return;
    let mine = pending.get(table);
    if (!mine) pending.set(table, (mine = new Map()));
    mine.set(counter, id);
    if (value !== null) {
      for (const ix of indexes.get(table)?.values() ?? []) ix.built?.add(value, counter);
    }
  };

  function built(table, name) {
    const ix = indexes.get(table)?.get(name);
    if (!ix) return null;
    if (!ix.built) {
      ix.built = new ValueIndex(ix.field);
      for (const c of store.counters(table)) {
        const doc = store.readCounter(c);
        if (doc !== null) ix.built.add(doc, c);
      }
      for (const [c, id] of pendingOf(table)) {
        const doc = db.get(table, id);
        if (doc !== null) ix.built.add(doc, c);
      }
    }
    return ix.built;
  }

  db._documents = new Proxy(Object.create(null), {
    get: (_, id) => (typeof id === "string" ? store.get(id) : undefined),
    set: (_, id, doc) => { store.put(id, doc); return true; },
    deleteProperty: (_, id) => { store.delete(id); return true; },
    has: (_, id) => typeof id === "string" && store.has(id),
    ownKeys: () => [...store.tables.keys()].flatMap((t) => [...store.scan(t)].map((d) => d._id)),
    getOwnPropertyDescriptor: (_, id) => {
      const doc = typeof id === "string" ? store.get(id) : undefined;
      return doc === undefined ? undefined : { value: doc, writable: true, enumerable: true, configurable: true };
    },
  });

  // Results of queries are only read inside their transaction.
  for (const name of ["commit", "rollbackWrites"]) {
    const original = db[name].bind(db);
    db[name] = (...args) => {
      const out = original(...args);
      if (db._writes.length === 0) {
        db._queryResults = {};
        pending.clear();
      }
      return out;
    };
  }

  let hint = null; // counters to walk for the query being resolved
  const originalResolve = db._resolveQuerySource.bind(db);
  db._resolveQuerySource = (query) => {
    hint = candidates(query?.source);
    try {
      return originalResolve(query);
    } finally {
      hint = null;
    }
  };
  function candidates(source) {
    if (!source || source.type !== "IndexRange" || typeof source.indexName !== "string") return null;
    const [table, indexName] = source.indexName.split(".");
    const field = indexes.get(table)?.get(indexName)?.field;
    if (field === undefined) return null;
    const eq = (source.range ?? []).find((f) => f && f.type === "Eq" && f.fieldPath === field);
    if (!eq) return null;
    let value;
    if (eq.value !== null && typeof eq.value === "object" && "$undefined" in eq.value) value = undefined;
    else {
      try { value = jsonToConvex(eq.value); } catch { return null; }
    }
    const found = built(table, indexName).lookup(value);
    return found === null ? null : new Set(found);
  }

  // A document as the running transaction sees it.
  db._iterateDocs = (tableName, callback) => {
    const written = pendingOf(tableName);
    const visit = (c) => {
      const id = written.get(c);
      const doc = id === undefined ? store.readCounter(c) : db.get(tableName, id);
      if (doc !== null) callback(doc);
    };
    if (hint) {
      hint.forEach(visit);
      return;
    }
    for (const c of store.counters(tableName)) if (!written.has(c)) visit(c);
    written.forEach((_, c) => visit(c));
  };
  return store;
}
