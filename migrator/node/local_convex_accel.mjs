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
//     write; it holds counters under a 30-bit hash of the value, in typed arrays.
//   - Results of finished transactions' queries are dropped (convex-test keeps them all).
//
// The DatabaseFake instance is private to convex-test; we find it by watching
// AsyncLocalStorage.run for convex-test's per-instance global (an object with
// `components` and `transactionManager`). If anything looks different from what we
// expect, we leave convex-test untouched (correct, only slower and all in memory).
import { AsyncLocalStorage } from "node:async_hooks";
import { jsonToConvex } from "convex/values";
import { Column, DocumentStore } from "./local_convex_store.mjs";

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

const WILD = 0x40000000; // outside the 30-bit hashes of values
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

/** Counters by bucket, in typed arrays (no object per entry for the GC to keep): a table of
 *  distinct buckets (open addressing, at most half full), each heading a chain of entries,
 *  newest first. Adding the counter that heads its chain again is a no-op. */
class BucketChains {
  constructor() {
    this.slotBucket = new Int32Array(1024).fill(-1); // -1: empty
    this.slotHead = new Int32Array(1024);
    this.used = 0;
    this.counter = new Column(Int32Array, 0);
    this.next = new Column(Int32Array, -1);
    this.entries = 0;
  }
  // The slot holding `bucket`, or the empty one where it would go.
  slot(bucket) {
    const mask = this.slotBucket.length - 1;
    let i = bucket & mask;
    while (this.slotBucket[i] !== -1 && this.slotBucket[i] !== bucket) i = (i + 1) & mask;
    return i;
  }
  add(bucket, counter) {
    let i = this.slot(bucket);
    let head = -1;
    if (this.slotBucket[i] === bucket) {
      head = this.slotHead[i];
      if (this.counter.get(head) === counter) return;
    } else {
      if ((this.used + 1) * 2 > this.slotBucket.length) {
        this.grow();
        i = this.slot(bucket);
      }
      this.slotBucket[i] = bucket;
      this.used += 1;
    }
    this.counter.set(this.entries, counter);
    this.next.set(this.entries, head);
    this.slotHead[i] = this.entries++;
  }
  grow() {
    const buckets = this.slotBucket, heads = this.slotHead;
    this.slotBucket = new Int32Array(buckets.length * 2).fill(-1);
    this.slotHead = new Int32Array(buckets.length * 2);
    for (let j = 0; j < buckets.length; j++) {
      if (buckets[j] === -1) continue;
      const i = this.slot(buckets[j]);
      this.slotBucket[i] = buckets[j];
      this.slotHead[i] = heads[j];
    }
  }
  /** Adds the counters of `bucket` to `out`. */
  collect(bucket, out) {
    const i = this.slot(bucket);
    if (this.slotBucket[i] !== bucket) return;
    for (let e = this.slotHead[i]; e !== -1; e = this.next.get(e)) out.add(this.counter.get(e));
  }
}

/** One table index's first field: the counters of the documents written with each value. */
class ValueIndex {
  constructor(field) {
    this.field = field;
    this.chains = new BucketChains();
  }
  add(doc, counter) { this.chains.add(bucketOf(fieldValue(doc, this.field)), counter); }
  /** Counters that may hold `value`, or null when every document may. */
  lookup(value) {
    const bucket = bucketOf(value);
    if (bucket === WILD) return null;
    const out = new Set();
    this.chains.collect(bucket, out);
    this.chains.collect(WILD, out);
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
    return built(table, indexName).lookup(value);
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
