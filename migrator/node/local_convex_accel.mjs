// Makes convex-test's in-memory database usable for imports of tens of thousands of
// documents. convex-test (0.0.60) answers every query by walking *all* documents of
// *all* tables (DatabaseFake._iterateDocs), so an upsert-by-key import is quadratic.
//
// We do not change what a query returns: convex-test still filters, sorts and limits.
// We only narrow the set of documents it walks:
//   - per table: the ids ever written to that table (deleted or rolled-back ids stay
//     in the set; `get` returns null for them and they are skipped, as before);
//   - for an index range whose first condition is `eq` on the index's first field
//     and whose value is a primitive: the ids ever written with a matching value in
//     that field (a superset: stale entries are filtered by convex-test's own check).
//
// The DatabaseFake instance is private to convex-test; we find it by watching
// AsyncLocalStorage.run for convex-test's per-instance global (an object with
// `components` and `transactionManager`). If anything looks different from what we
// expect, we leave convex-test untouched (correct, only slower).
import { AsyncLocalStorage } from "node:async_hooks";
import { jsonToConvex } from "convex/values";

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

const WILD = Symbol("wild");
// Bucket key for a value; numbers and int64 share keys (0 and -0 too) so a bucket is
// never narrower than convex-test's equality. Non-primitive values go to WILD, which
// every lookup includes.
function bucketKey(v) {
  switch (typeof v) {
    case "undefined": return "u";
    case "string": return "s:" + v;
    case "boolean": return "b:" + v;
    case "number": return "n:" + (v === 0 ? "0" : String(v));
    case "bigint": return "n:" + String(v);
    default: return v === null ? "null" : WILD;
  }
}

/** Patch the root DatabaseFake of a captured convex-test global. Returns true when
 *  the acceleration is active. */
export function accelerate(convexGlobal) {
  const db = convexGlobal?.components?.[""]?.db;
  if (!db || typeof db._iterateDocs !== "function" || typeof db._resolveQuerySource !== "function"
    || typeof db._addWrite !== "function" || typeof db.get !== "function" || !db._documents || !Array.isArray(db._writes)) {
    return false;
  }
  if (Object.keys(db._documents).length > 0) return false; // must start from empty
  const tableIds = new Map(); // table -> Set(id)
  const indexes = new Map(); // table -> [{name, field, buckets: Map(key -> Set(id))}]
  for (const [table, t] of db._schema?.tables ?? []) {
    const list = [];
    for (const ix of t.indexes ?? []) {
      if (ix.indexDescriptor && Array.isArray(ix.fields) && ix.fields.length > 0) {
        list.push({ name: ix.indexDescriptor, field: ix.fields[0], buckets: new Map() });
      }
    }
    indexes.set(table, list);
  }
  const tableOf = (id) => {
    const m = /^[0-9]+/.exec(id);
    return m && m[0].length < id.length ? id.slice(m[0].length) : null;
  };
  const add = (map, key, id) => {
    let s = map.get(key);
    if (!s) map.set(key, (s = new Set()));
    s.add(id);
  };

  const originalAddWrite = db._addWrite.bind(db);
  db._addWrite = (id, value) => {
    originalAddWrite(id, value);
    const table = tableOf(id);
    if (table === null) return;
    add(tableIds, table, id);
    if (value !== null) {
      for (const ix of indexes.get(table) ?? []) add(ix.buckets, bucketKey(fieldValue(value, ix.field)), id);
    }
  };

  let hint = null; // ids to walk for the query being resolved
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
    const ix = (indexes.get(table) ?? []).find((i) => i.name === indexName);
    if (!ix) return null;
    const eq = (source.range ?? []).find((f) => f && f.type === "Eq" && f.fieldPath === ix.field);
    if (!eq) return null;
    let value;
    if (eq.value !== null && typeof eq.value === "object" && "$undefined" in eq.value) value = undefined;
    else {
      try { value = jsonToConvex(eq.value); } catch { return null; }
    }
    const key = bucketKey(value);
    if (key === WILD) return null;
    const exact = ix.buckets.get(key);
    const wild = ix.buckets.get(WILD);
    if (!wild) return exact ?? new Set();
    return new Set([...(exact ?? []), ...wild]);
  }

  db._iterateDocs = (tableName, callback) => {
    const ids = hint ?? tableIds.get(tableName);
    if (!ids) return;
    // Snapshot: a callback must not see ids added while walking.
    for (const id of [...ids]) {
      if (tableOf(id) !== tableName) continue;
      const doc = db.get(tableName, id);
      if (doc !== null) callback(doc);
    }
  };
  return true;
}
