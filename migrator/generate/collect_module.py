"""Render `convex/dexieCollect.ts`: the functions that collect users' Dexie exports.

Users upload their own export (public mutations that trust only the caller's identity);
the operator's `import --from-uploads` lists, claims and settles uploads through internal
functions. Settings and database names are embedded as JSON, so nothing from a mapping
reaches the file as code. The settings are also written on the second line, so `generate`
without `--collect` keeps writing the module it wrote before.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import MigratorError
from ..plan.model import DatabasePlan
from ..plan.validators import Validator
from .schema_ts import FILES_TABLE, GENERATED_MARKER, uses_file_storage

COLLECT_MODULE = "dexieCollect"
UPLOADS_TABLE = "dexieUploads"
DEFAULT_MAX_BYTES = 256 * 1024 * 1024
_SETTINGS_PREFIX = "// dexie-convex collect settings: "
_STRING, _NUMBER = Validator.simple("string"), Validator.simple("number")
SUMMARY_KEYS = ("read", "inserted", "updated", "unchanged", "rejected")
UPLOAD_STATUSES = ("pending", "importing", "imported", "failed")
UPLOADS_FIELDS = {
    "owner": _STRING,                 # from the uploader's identity, never from arguments
    "database": _STRING,
    "storageId": Validator.id("_storage"),
    "sha256": _STRING,                # of the file, hex (as Convex documents `_storage.sha256`)
    "size": _NUMBER,
    "status": Validator.union(*(Validator.literal(s) for s in UPLOAD_STATUSES)),
    "attempts": _NUMBER,
    "claimant": Validator.optional(_STRING),
    "claimedAt": Validator.optional(_NUMBER),
    "finishedAt": Validator.optional(_NUMBER),
    "summary": Validator.optional(Validator.object({k: _NUMBER for k in SUMMARY_KEYS})),
    "reason": Validator.optional(_STRING),
}
UPLOADS_INDEXES = [("by_storageId", ["storageId"]), ("by_owner_database_sha256", ["owner", "database", "sha256"]),
                   ("by_database_status", ["database", "status"])]


@dataclass
class CollectSettings:
    max_bytes: int = DEFAULT_MAX_BYTES      # larger uploads are refused by recordUpload
    identity_field: str = "tokenIdentifier"  # the UserIdentity field that names the owner

    def check(self) -> None:
        if not isinstance(self.max_bytes, int) or self.max_bytes < 1:
            raise MigratorError(f"collect size limit {self.max_bytes!r} is not a positive number of bytes",
                                "pass --collect-max-bytes N")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,63}", self.identity_field or ""):
            raise MigratorError(f"collect identity field {self.identity_field!r} is not a claim name",
                                "pass --collect-identity-field tokenIdentifier (default), subject, email, ...")


def uploads_table_block() -> tuple[str, str, dict[str, Validator], list[tuple[str, list[str]]]]:
    """The schema's `dexieUploads` table: (comment, name, fields, indexes) for render_schema."""
    return ("Users' Dexie exports collected for import (dexie-convex generate --collect)",
            UPLOADS_TABLE, UPLOADS_FIELDS, UPLOADS_INDEXES)


def settings_of(path: Path) -> CollectSettings | None:
    """The settings of a dexieCollect.ts this tool wrote, or None (no file, or not ours)."""
    try:
        with path.open(encoding="utf-8") as f:
            first, second = f.readline(), f.readline()
    except FileNotFoundError:
        return None
    if not first.startswith(GENERATED_MARKER) or not second.startswith(_SETTINGS_PREFIX):
        return None
    raw = json.loads(second[len(_SETTINGS_PREFIX):])
    return CollectSettings(max_bytes=raw["maxBytes"], identity_field=raw["identityField"])


def render_collect_module(plans: list[DatabasePlan], settings: CollectSettings) -> str:
    settings.check()
    raw = {"maxBytes": settings.max_bytes, "identityField": settings.identity_field}
    databases = sorted({p.database for p in plans})
    owner_fields = {p.database: p.options.owner_field for p in plans}
    unscoped = [d for d, f in owner_fields.items() if not f]
    if unscoped:
        raise MigratorError(f"collecting uploads needs options.ownerField in the mapping of {', '.join(unscoped)}: "
                            "without it every user's rows would share one key space",
                            "set options.ownerField (e.g. 'owner') in the mapping file, re-run `dexie-convex plan` "
                            "(it scopes the key indexes by the owner), then generate again")
    text = _TEMPLATE
    for name, value in {"@@SETTINGS_LINE@@": _SETTINGS_PREFIX + json.dumps(raw, sort_keys=True),
                        "@@MARKER@@": GENERATED_MARKER,
                        "@@DATABASES@@": json.dumps(databases, ensure_ascii=True),
                        "@@MAX_BYTES@@": str(settings.max_bytes),
                        "@@IDENTITY_FIELD@@": json.dumps(settings.identity_field),
                        "@@UPLOADS@@": json.dumps(UPLOADS_TABLE),
                        "@@FILES@@": json.dumps(FILES_TABLE) if uses_file_storage(plans) else "null",
                        "@@SUMMARY@@": ", ".join(f"{k}: v.number()" for k in SUMMARY_KEYS)}.items():
        text = text.replace(name, value)
    return text


_TEMPLATE = r'''@@MARKER@@: collect users' Dexie exports (dexie-convex generate --collect).
@@SETTINGS_LINE@@
//
// Public (the app calls them, see uploadToConvex.ts): generateUploadUrl, recordUpload, myUploads.
// They trust only the caller's identity: the owner of an upload is the identity's
// @@IDENTITY_FIELD@@, never an argument. Internal (the operator's `dexie-convex import
// --from-uploads` calls them with the deploy key): listUploads, claimUpload, markImported,
// markFailed, uploadFileUrl, orphanCandidates, deleteOrphans.
import { ConvexError, v } from "convex/values";
import { paginationOptsValidator, type Auth } from "convex/server";
import { internalMutation, internalQuery, mutation, query } from "./_generated/server";

const DATABASES: string[] = @@DATABASES@@;
const MAX_UPLOAD_BYTES = @@MAX_BYTES@@;
const IDENTITY_FIELD = @@IDENTITY_FIELD@@;
const UPLOADS = @@UPLOADS@@;
const IMPORT_FILES: string | null = @@FILES@@;   // the import's Blob registry, when the schema has one
const summaryValidator = v.object({ @@SUMMARY@@ });
const statusValidator = v.union(v.literal("pending"), v.literal("importing"), v.literal("imported"), v.literal("failed"));

async function callerOwner(ctx: { auth: Auth }): Promise<string> {
  const identity = await ctx.auth.getUserIdentity();
  if (identity === null) {
    throw new ConvexError({ code: "Unauthenticated", message: "sign in before uploading your data" });
  }
  const owner = identity[IDENTITY_FIELD];
  if (typeof owner !== "string" || owner === "") {
    throw new ConvexError({ code: "NoOwner", message: `the identity has no ${IDENTITY_FIELD}` });
  }
  return owner;
}

// Convex documents `_storage.sha256` as hex (base16); convex-test stores base64. Keep hex.
function hexSha256(sha256: string): string {
  if (/^[0-9a-fA-F]{64}$/.test(sha256)) return sha256.toLowerCase();
  const bytes = atob(sha256);
  let hex = "";
  for (let i = 0; i < bytes.length; i++) hex += bytes.charCodeAt(i).toString(16).padStart(2, "0");
  return hex;
}

function publicView(upload: any) {
  return {
    uploadId: upload._id as string,
    database: upload.database as string,
    status: upload.status as string,
    sha256: upload.sha256 as string,
    size: upload.size as number,
    uploadedAt: upload._creationTime as number,
    summary: upload.summary,
    reason: upload.reason,
  };
}

/** An upload URL for the signed-in user; POST the export file to it, then call recordUpload. */
export const generateUploadUrl = mutation({
  args: {},
  handler: async (ctx) => {
    await callerOwner(ctx);
    return await ctx.storage.generateUploadUrl();
  },
});

/** Record an uploaded export as pending import. Same owner, database and content: one upload. */
export const recordUpload = mutation({
  args: { storageId: v.id("_storage"), database: v.string() },
  handler: async (ctx, { storageId, database }) => {
    const owner = await callerOwner(ctx);
    if (!DATABASES.includes(database)) {
      throw new ConvexError({ code: "UnknownDatabase", message: `no database ${JSON.stringify(database)} is collected` });
    }
    const file = await ctx.db.system.get("_storage", storageId);
    if (file === null) throw new ConvexError({ code: "NoSuchFile", message: "no file with this storage id" });
    const taken = await ctx.db.query(UPLOADS).withIndex("by_storageId", (q: any) => q.eq("storageId", storageId)).first();
    if (taken !== null) {
      if (taken.owner !== owner) throw new ConvexError({ code: "StorageIdTaken", message: "this file was recorded by someone else" });
      return { ...publicView(taken), duplicate: true };
    }
    if (file.size > MAX_UPLOAD_BYTES) {
      // Not deleted here: the caller may not own the file. Orphan clean-up removes it.
      throw new ConvexError({ code: "TooLarge", message: `the file has ${file.size} bytes, over the limit of ${MAX_UPLOAD_BYTES}`,
                              size: file.size, limit: MAX_UPLOAD_BYTES });
    }
    const sha256 = hexSha256(file.sha256);
    const same = await ctx.db.query(UPLOADS).withIndex("by_owner_database_sha256",
      (q: any) => q.eq("owner", owner).eq("database", database).eq("sha256", sha256)).first();
    if (same !== null) return { ...publicView(same), duplicate: true };
    const uploadId = await ctx.db.insert(UPLOADS, {
      owner, database, storageId, sha256, size: file.size, status: "pending", attempts: 0,
    });
    return { ...publicView((await ctx.db.get(uploadId))!), duplicate: false };
  },
});

/** The caller's own uploads and their status. */
export const myUploads = query({
  args: {},
  handler: async (ctx) => {
    const owner = await callerOwner(ctx);
    const mine = await ctx.db.query(UPLOADS).withIndex("by_owner_database_sha256", (q: any) => q.eq("owner", owner)).collect();
    return mine.map(publicView);
  },
});

/** Uploads of one database in one status, a page at a time (the operator's work list). */
export const listUploads = internalQuery({
  args: { database: v.string(), status: statusValidator, paginationOpts: paginationOptsValidator },
  handler: async (ctx, { database, status, paginationOpts }) => {
    const page = await ctx.db.query(UPLOADS)
      .withIndex("by_database_status", (q: any) => q.eq("database", database).eq("status", status))
      .paginate(paginationOpts);
    return { ...page, page: page.page.map((u: any) => ({ ...publicView(u), owner: u.owner as string,
                                                           attempts: u.attempts as number, claimant: u.claimant ?? null })) };
  },
});

/** Take an upload for import. A claim held by another claimant is honoured for leaseMs;
 *  the same claimant (a re-run from the same state folder) takes its own claim back.
 *  A failed upload is taken again only with retryFailed. */
export const claimUpload = internalMutation({
  args: { uploadId: v.id(UPLOADS), claimant: v.string(), leaseMs: v.number(), retryFailed: v.boolean() },
  handler: async (ctx, { uploadId, claimant, leaseMs, retryFailed }) => {
    const upload: any = await ctx.db.get(uploadId);
    if (upload === null) return { claimed: false, reason: "no such upload" };
    if (upload.status === "imported" || (upload.status === "failed" && !retryFailed)) {
      return { claimed: false, reason: `already ${upload.status}` };
    }
    const now = Date.now();
    if (upload.status === "importing" && upload.claimant !== claimant && now - (upload.claimedAt ?? 0) < leaseMs) {
      return { claimed: false, reason: "claimed by another import" };
    }
    await ctx.db.patch(uploadId, { status: "importing", claimant, claimedAt: now, attempts: upload.attempts + 1 });
    return { claimed: true, owner: upload.owner as string, database: upload.database as string,
             sha256: upload.sha256 as string, size: upload.size as number };
  },
});

async function settle(ctx: any, uploadId: any, claimant: string, fields: Record<string, unknown>) {
  const upload: any = await ctx.db.get(uploadId);
  if (upload === null) throw new ConvexError({ code: "NoSuchUpload" });
  if (upload.status !== "importing" || upload.claimant !== claimant) {
    throw new ConvexError({ code: "NotClaimed", message: `the upload is ${upload.status}, not claimed by this import` });
  }
  await ctx.db.patch(uploadId, { ...fields, finishedAt: Date.now() });
}

/** The upload was imported: its summary counts. */
export const markImported = internalMutation({
  args: { uploadId: v.id(UPLOADS), claimant: v.string(), summary: summaryValidator },
  handler: async (ctx, { uploadId, claimant, summary }) => {
    await settle(ctx, uploadId, claimant, { status: "imported", summary, reason: undefined });
  },
});

/** The upload cannot be imported as it is: why. */
export const markFailed = internalMutation({
  args: { uploadId: v.id(UPLOADS), claimant: v.string(), reason: v.string() },
  handler: async (ctx, { uploadId, claimant, reason }) => {
    await settle(ctx, uploadId, claimant, { status: "failed", reason: reason.slice(0, 4000) });
  },
});

/** Where to download an upload's file. */
export const uploadFileUrl = internalQuery({
  args: { uploadId: v.id(UPLOADS) },
  handler: async (ctx, { uploadId }) => {
    const upload: any = await ctx.db.get(uploadId);
    return upload === null ? null : await ctx.storage.getUrl(upload.storageId);
  },
});

async function isReferenced(ctx: any, file: any): Promise<boolean> {
  const upload = await ctx.db.query(UPLOADS).withIndex("by_storageId", (q: any) => q.eq("storageId", file._id)).first();
  if (upload !== null || IMPORT_FILES === null) return upload !== null;
  const stored = await ctx.db.query(IMPORT_FILES)
    .withIndex("by_sha256", (q: any) => q.eq("sha256", hexSha256(file.sha256))).collect();
  return stored.some((f: any) => f.storageId === file._id);
}

/** Files in storage that no upload records, older than minAgeMs, a page of storage at a time.
 *  Storage also holds your app's own files: this lists those too, so review before deleting. */
export const orphanCandidates = internalQuery({
  args: { minAgeMs: v.number(), paginationOpts: paginationOptsValidator },
  handler: async (ctx, { minAgeMs, paginationOpts }) => {
    const page = await ctx.db.system.query("_storage").paginate(paginationOpts);
    const cutoff = Date.now() - minAgeMs;
    const orphans = [];
    for (const file of page.page) {
      if (file._creationTime <= cutoff && !(await isReferenced(ctx, file))) {
        orphans.push({ storageId: file._id as string, size: file.size, sha256: file.sha256, createdAt: file._creationTime });
      }
    }
    return { orphans, isDone: page.isDone, continueCursor: page.continueCursor };
  },
});

/** Delete the given files, each only if still no upload records it. */
export const deleteOrphans = internalMutation({
  args: { storageIds: v.array(v.id("_storage")) },
  handler: async (ctx, { storageIds }) => {
    let deleted = 0;
    for (const storageId of storageIds) {
      const file = await ctx.db.system.get("_storage", storageId);
      if (file !== null && !(await isReferenced(ctx, file))) {
        await ctx.storage.delete(storageId);
        deleted += 1;
      }
    }
    return deleted;
  },
});
'''
