"""Render `convex/dexieImport.ts`: the internal functions the import calls.

Only internal functions: a public bulk-write endpoint would be open to anyone. The table
spec the functions follow is embedded as JSON (a valid TypeScript expression, ASCII-only,
so no name from a dump can break out of it), with a hash of the plan that the client
compares before writing anything.
"""

from __future__ import annotations

import hashlib
import json

from ..plan.model import DatabasePlan
from .schema_ts import FILES_TABLE, GENERATED_MARKER, render_schema

MODULE = "dexieImport"


def import_spec(plans: list[DatabasePlan]) -> dict:
    """What the import functions need to know, per Convex table."""
    tables: dict[str, dict] = {}
    for plan in plans:
        by_source = {t.source: t for t in plan.mapped_tables()}
        for t in plan.mapped_tables():
            refs = {}
            for f in t.fields:
                target = by_source.get(f.references) if f.references else None
                if target is not None and target.key:
                    refs[f.name] = {"table": target.table, "keyField": target.key.field, "keyIndex": target.key.index,
                                    "many": f.validator.required.kind == "array",
                                    "optional": f.validator.is_optional}
            tables[t.table] = {
                "database": plan.database,
                "source": t.source,
                "keyField": t.key.field if t.key else None,
                "keyIndex": t.key.index if t.key else None,
                "unique": [{"index": i.name, "fields": i.fields} for i in t.indexes if i.unique and i.source != "(key)"],
                "refs": refs,
                "sides": [{"table": m.table, "field": m.field} for m in t.multi_entry if m.strategy == "side-table"],
                "storageFields": [f.name for f in t.fields if f.validator.required.kind == "id"
                                  and f.validator.required.args[0] == "_storage"],
            }
    return {"tables": tables}


def plan_hash(plans: list[DatabasePlan]) -> str:
    """Changes whenever the schema or the import spec would change."""
    text = json.dumps(import_spec(plans), sort_keys=True) + render_schema(plans, [])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def render_import_module(plans: list[DatabasePlan]) -> str:
    """One module for every mapped database; each keeps its own plan hash, so each imports on its own."""
    spec = json.dumps(import_spec(plans), indent=2, sort_keys=True, ensure_ascii=True)
    hashes = json.dumps({p.database: plan_hash([p]) for p in plans}, sort_keys=True, ensure_ascii=True)
    return _TEMPLATE.replace("@@MARKER@@", GENERATED_MARKER).replace("@@HASHES@@", hashes) \
        .replace("@@SPEC@@", spec).replace("@@FILES@@", json.dumps(FILES_TABLE)).replace("@@MODULE@@", MODULE)


_TEMPLATE = r'''@@MARKER@@: the internal functions `dexie-convex import` calls.
// Deploy it with your app (`npx convex deploy`); it must match the mapping it came from.
import { ConvexError, convexToJson, v } from "convex/values";
import { internalAction, internalMutation, internalQuery } from "./_generated/server";
import { internal } from "./_generated/api";

export const PLAN_HASHES: Record<string, string> = @@HASHES@@;
const FILES_TABLE = @@FILES@@;

type TableSpec = {
  database: string;
  source: string;
  keyField: string | null;
  keyIndex: string | null;
  unique: { index: string; fields: string[] }[];
  refs: Record<string, { table: string; keyField: string; keyIndex: string; many: boolean; optional: boolean }>;
  sides: { table: string; field: string }[];
  storageFields: string[];
};
const SPEC: { tables: Record<string, TableSpec> } = @@SPEC@@;

function tableSpec(table: string): TableSpec {
  const spec = SPEC.tables[table];
  if (spec === undefined) throw new ConvexError({ code: "UnknownTable", table });
  return spec;
}

function checkHash(planHash: string, table: string) {
  const deployed = PLAN_HASHES[tableSpec(table).database];
  if (planHash !== deployed) {
    throw new ConvexError({ code: "PlanMismatch", deployed, expected: planHash });
  }
}

function sameValue(a: any, b: any): boolean {
  if (a === b) return typeof a !== "number" || a !== 0 || 1 / a === 1 / b;
  if (typeof a === "number" && typeof b === "number") return Number.isNaN(a) && Number.isNaN(b);
  if (a instanceof ArrayBuffer && b instanceof ArrayBuffer) {
    if (a.byteLength !== b.byteLength) return false;
    const x = new Uint8Array(a), y = new Uint8Array(b);
    return x.every((byte, i) => byte === y[i]);
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((item, i) => sameValue(item, b[i]));
  }
  if (a && b && typeof a === "object" && typeof b === "object" && !Array.isArray(a) && !Array.isArray(b)
      && !(a instanceof ArrayBuffer) && !(b instanceof ArrayBuffer)) {
    const ka = Object.keys(a).filter((k) => a[k] !== undefined);
    const kb = Object.keys(b).filter((k) => b[k] !== undefined);
    return ka.length === kb.length && ka.every((k) => sameValue(a[k], b[k]));
  }
  return false;
}

function withoutSystemFields(doc: any) {
  const { _id, _creationTime, ...rest } = doc;
  return rest;
}

type Outcome =
  | { status: "inserted" | "updated" | "unchanged"; id: string; deferred?: string[]; missing?: Record<string, any[]> }
  | { status: "deferred"; deferred: string[] }   // a required reference is not there yet: nothing written
  | { status: "failed"; reason: string };

async function findByKey(ctx: any, table: string, index: string, field: string, key: any, owner?: OwnerScope) {
  return await ctx.db
    .query(table)
    .withIndex(index, (q: any) => (owner ? q.eq(owner.field, owner.value).eq(field, key) : q.eq(field, key)))
    .unique();
}

type OwnerScope = { field: string; value: string };

/** Original keys -> ids. Deferred fields are left out of `doc`; `missing` names their absent keys. */
async function resolveRefs(ctx: any, spec: TableSpec, doc: any, defer: boolean, owner?: OwnerScope) {
  const deferred: string[] = [];
  const missing: Record<string, any[]> = {};
  for (const [field, ref] of Object.entries(spec.refs)) {
    const original = doc[field];
    if (original === undefined || original === null) continue;
    const keys = ref.many ? original : [original];
    const ids = [];
    const absent = [];
    for (const key of keys) {
      const target = await findByKey(ctx, ref.table, ref.keyIndex, ref.keyField, key, owner);
      if (target === null) {
        if (!defer) throw new Error(`reference ${field}: no ${ref.table} row has key ${JSON.stringify(key)}`);
        absent.push(key);
      } else {
        ids.push(target._id);
      }
    }
    if (absent.length > 0) {
      delete doc[field];
      deferred.push(field);
      missing[field] = absent;
    } else {
      doc[field] = ref.many ? ids : ids[0];
    }
  }
  return { deferred, missing };
}

async function checkUnique(ctx: any, table: string, spec: TableSpec, doc: any, selfId: string | null) {
  for (const unique of spec.unique) {
    if (unique.fields.some((f) => f.split(".").reduce((o: any, p) => (o == null ? undefined : o[p]), doc) === undefined)) continue;
    const clash = await ctx.db
      .query(table)
      .withIndex(unique.index, (q: any) =>
        unique.fields.reduce((r: any, f) => r.eq(f, f.split(".").reduce((o: any, p) => o[p], doc)), q))
      .first();
    if (clash !== null && clash._id !== selfId) {
      throw new Error(`unique index ${unique.index} (${unique.fields.join(", ")}): value already used by ` +
        `the row with key ${JSON.stringify(spec.keyField ? clash[spec.keyField] : clash._id)}`);
    }
  }
}

/** Make the side rows of one document match `sides`; true when anything changed. */
async function syncSides(ctx: any, spec: TableSpec, ownerId: string, sides: Record<string, any[]> | undefined) {
  let changed = false;
  for (const side of spec.sides) {
    const wanted: any[] = (sides && sides[side.table]) || [];
    const existing = await ctx.db.query(side.table).withIndex("by_owner", (q: any) => q.eq("owner", ownerId)).collect();
    const same = existing.length === wanted.length && existing.every((row: any, i: number) => sameValue(row.value, wanted[i]));
    if (same) continue;
    changed = true;
    for (const row of existing) await ctx.db.delete(row._id);
    for (const value of wanted) await ctx.db.insert(side.table, { owner: ownerId, value });
  }
  return changed;
}

/** Thrown after a row's document was written: the whole mutation must fail so Convex rolls the row back. */
class RowWriteAborted extends Error {}

/**
 * Upsert one row. Every check (references, key lookup, unique indexes) runs before the first
 * write, and a failure there leaves nothing behind. The document write itself either happens
 * or not. A failure after it (its side rows) cannot be undone row by row, so it fails the whole
 * mutation: Convex rolls every write of the batch back and the client re-sends the batch in
 * halves, down to this row alone, whose failure then leaves no trace either.
 */
async function upsertRow(ctx: any, table: string, spec: TableSpec, row: { doc: any; sides?: any },
                         defer: boolean, owner?: OwnerScope): Promise<Outcome> {
  const doc = { ...row.doc };
  if (owner) doc[owner.field] = owner.value;
  const { deferred, missing } = await resolveRefs(ctx, spec, doc, defer, owner);
  if (deferred.some((field) => !spec.refs[field].optional)) return { status: "deferred", deferred };
  const existing = await findByKey(ctx, table, spec.keyIndex!, spec.keyField!, doc[spec.keyField!], owner);
  if (existing !== null && deferred.length > 0) {
    for (const field of deferred) if (existing[field] !== undefined) doc[field] = existing[field];
  }
  await checkUnique(ctx, table, spec, doc, existing ? existing._id : null);
  let outcome: { status: "inserted" | "updated" | "unchanged"; id: string; deferred?: string[]; missing?: Record<string, any[]> };
  if (existing === null) {
    outcome = { status: "inserted", id: await ctx.db.insert(table as any, doc) };
  } else if (sameValue(withoutSystemFields(existing), doc)) {
    outcome = { status: "unchanged", id: existing._id };
  } else {
    await ctx.db.replace(existing._id, doc);
    outcome = { status: "updated", id: existing._id };
  }
  try {
    if ((await syncSides(ctx, spec, outcome.id, row.sides)) && outcome.status === "unchanged") outcome.status = "updated";
  } catch (error: any) {
    throw new RowWriteAborted(`side rows: ${String(error?.message ?? error)}`);
  }
  if (deferred.length > 0) Object.assign(outcome, { deferred, missing });
  return outcome;
}

/** Upsert a batch of documents by their original Dexie key; one outcome per document. */
export const upsertBatch = internalMutation({
  args: {
    planHash: v.string(),
    table: v.string(),
    rows: v.array(v.object({ doc: v.any(), sides: v.optional(v.any()) })),
    deferRefs: v.optional(v.boolean()),
    owner: v.optional(v.object({ field: v.string(), value: v.string() })),
  },
  handler: async (ctx, args) => {
    checkHash(args.planHash, args.table);
    const spec = tableSpec(args.table);
    if (spec.keyField === null || spec.keyIndex === null) throw new ConvexError({ code: "NoKey", table: args.table });
    const outcomes: Outcome[] = [];
    for (const row of args.rows) {
      try {
        outcomes.push(await upsertRow(ctx, args.table, spec, row, args.deferRefs ?? false, args.owner));
      } catch (error: any) {
        if (error instanceof RowWriteAborted) throw error;
        outcomes.push({ status: "failed", reason: String(error?.message ?? error) });
      }
    }
    return outcomes;
  },
});

/** Deployed plan hash per database and the tables it knows, so the client can check before writing. */
export const planInfo = internalQuery({
  args: {},
  handler: async () => ({ planHashes: PLAN_HASHES, tables: Object.keys(SPEC.tables) }),
});

/** One page of a table's documents as Convex-encoded JSON text, for `dexie-convex verify --url`. */
export const documentsPage = internalQuery({
  args: { table: v.string(), cursor: v.union(v.string(), v.null()), numItems: v.number() },
  handler: async (ctx, args) => {
    const page = await ctx.db.query(args.table as any).paginate({ cursor: args.cursor, numItems: args.numItems });
    return { docs: page.page.map((doc: any) => JSON.stringify(convexToJson(doc))), continueCursor: page.continueCursor, isDone: page.isDone };
  },
});

/** Delete up to `limit` documents of a table (and their files); `--replace` calls it until 0. */
export const clearTable = internalMutation({
  args: { planHash: v.string(), table: v.string(), limit: v.number() },
  handler: async (ctx, args) => {
    checkHash(args.planHash, args.table);
    const spec = tableSpec(args.table);
    const docs = await ctx.db.query(args.table as any).take(args.limit);
    for (const doc of docs) {
      for (const side of spec.sides) {
        const rows = await ctx.db.query(side.table as any).withIndex("by_owner", (q: any) => q.eq("owner", doc._id)).collect();
        for (const row of rows) await ctx.db.delete(row._id);
      }
      await ctx.db.delete(doc._id);
    }
    return docs.length;
  },
});

export const fileBySha256 = internalQuery({
  args: { sha256: v.string() },
  handler: async (ctx, args) => {
    const row = await ctx.db.query(FILES_TABLE as any).withIndex("by_sha256", (q: any) => q.eq("sha256", args.sha256)).first();
    return row === null ? null : row.storageId;
  },
});

export const recordFile = internalMutation({
  args: { sha256: v.string(), storageId: v.id("_storage"), size: v.number(), contentType: v.string() },
  handler: async (ctx, args) => {
    const row = await ctx.db.query(FILES_TABLE as any).withIndex("by_sha256", (q: any) => q.eq("sha256", args.sha256)).first();
    if (row !== null) {
      await ctx.storage.delete(args.storageId);
      return row.storageId;
    }
    await ctx.db.insert(FILES_TABLE as any, args);
    return args.storageId;
  },
});

/** Store one Blob in file storage, once per content (sha256): re-running stores nothing new. */
export const storeFile = internalAction({
  args: { sha256: v.string(), contentType: v.string(), data: v.bytes() },
  handler: async (ctx, args): Promise<string> => {
    const known: string | null = await ctx.runQuery((internal as any).@@MODULE@@.fileBySha256, { sha256: args.sha256 });
    if (known !== null) return known;
    const storageId = await ctx.storage.store(new Blob([args.data], { type: args.contentType }));
    return await ctx.runMutation((internal as any).@@MODULE@@.recordFile, {
      sha256: args.sha256, storageId, size: args.data.byteLength, contentType: args.contentType,
    });
  },
});
'''
