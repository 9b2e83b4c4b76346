"""Render the app's side of collection (e.g. `src/uploadToConvex.ts`).

`uploadDexieToConvex(db, client)` exports the Dexie database with dexie-export-import,
uploads the file through `dexieCollect:generateUploadUrl`, records it with
`dexieCollect:recordUpload` and remembers its sha256, so the same data is not sent twice.
It refers to the functions by name (`makeFunctionReference`), so it needs nothing from the
app's `convex/_generated/`. Nothing from a mapping goes into it.
"""

from __future__ import annotations

from .collect_module import COLLECT_MODULE
from .schema_ts import GENERATED_MARKER


def render_browser_module() -> str:
    return _TEMPLATE.replace("@@MARKER@@", GENERATED_MARKER).replace("@@MODULE@@", COLLECT_MODULE)


_TEMPLATE = r'''@@MARKER@@: send this browser's Dexie data to Convex (generate --collect).
// Call it once the user is signed in (the Convex client must carry their auth token):
//
//   import { uploadDexieToConvex } from "./uploadToConvex";
//   const result = await uploadDexieToConvex(db, convex, { onProgress: (p) => console.log(p) });
//
// The owner of the upload is whoever the client is signed in as; the deployment records it.
import type Dexie from "dexie";
import { exportDB } from "dexie-export-import";
import { makeFunctionReference, type FunctionReference } from "convex/server";

export type UploadInfo = {
  uploadId: string;
  database: string;
  status: "pending" | "importing" | "imported" | "failed";
  sha256: string;
  size: number;
  uploadedAt: number;
  duplicate?: boolean;
};

export type UploadProgress =
  | { phase: "exporting"; completedRows: number; totalRows: number }
  | { phase: "checking" | "uploading" | "recording"; bytes: number }
  | { phase: "done"; upload: UploadInfo; sent: boolean };

/** Where the last upload sent is remembered (by its sha256); localStorage when there is one. */
export type KeyValueStore = { getItem(key: string): string | null; setItem(key: string, value: string): void };

/** What the Convex client must offer: ConvexReactClient, ConvexClient and ConvexHttpClient do. */
export type ConvexFunctionClient = {
  mutation(ref: FunctionReference<"mutation">, args: any): Promise<any>;
  query(ref: FunctionReference<"query">, args: any): Promise<any>;
};

export type UploadOptions = {
  onProgress?: (progress: UploadProgress) => void;
  store?: KeyValueStore;
};

export type UploadResult = { upload: UploadInfo; sent: boolean };

const generateUploadUrl = makeFunctionReference<"mutation", Record<string, never>, string>("@@MODULE@@:generateUploadUrl");
const recordUpload = makeFunctionReference<"mutation", { storageId: string; database: string }, UploadInfo>("@@MODULE@@:recordUpload");
const myUploads = makeFunctionReference<"query", Record<string, never>, UploadInfo[]>("@@MODULE@@:myUploads");

const memoryStore = new Map<string, string>();
function defaultStore(): KeyValueStore {
  const local = (globalThis as { localStorage?: KeyValueStore }).localStorage;
  return local ?? { getItem: (k) => memoryStore.get(k) ?? null, setItem: (k, v) => void memoryStore.set(k, v) };
}

async function sha256Hex(blob: Blob): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", await blob.arrayBuffer()));
  return Array.from(digest, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/**
 * Export `db` (dexie-export-import), upload it and record it for import into Convex.
 * The same content is sent once: a repeat call finds its sha256 remembered (no request; the
 * upload as it was recorded), or among the user's uploads (`myUploads`), and returns that
 * upload with `sent: false`.
 */
export async function uploadDexieToConvex(db: Dexie, client: ConvexFunctionClient,
                                          options: UploadOptions = {}): Promise<UploadResult> {
  const report = options.onProgress ?? (() => {});
  const store = options.store ?? defaultStore();
  const memoryKey = `dexie-convex:uploaded:${db.name}`;
  const blob = await exportDB(db, {
    progressCallback: ({ completedRows, totalRows }) => {
      report({ phase: "exporting", completedRows, totalRows: totalRows ?? completedRows });
      return true;
    },
  });
  report({ phase: "checking", bytes: blob.size });
  const sha256 = await sha256Hex(blob);
  const remembered = store.getItem(memoryKey);
  let known: UploadInfo | undefined = remembered === null ? undefined : JSON.parse(remembered);
  if (known?.sha256 !== sha256) {
    const mine = (await client.query(myUploads, {})) as UploadInfo[];
    known = mine.find((u) => u.database === db.name && u.sha256 === sha256);
  }
  if (known !== undefined) {
    store.setItem(memoryKey, JSON.stringify(known));
    report({ phase: "done", upload: known, sent: false });
    return { upload: known, sent: false };
  }
  report({ phase: "uploading", bytes: blob.size });
  const url: string = await client.mutation(generateUploadUrl, {});
  const reply = await fetch(url, { method: "POST", headers: { "Content-Type": "application/json" }, body: blob });
  if (!reply.ok) throw new Error(`uploading the export failed: HTTP ${reply.status} ${await reply.text()}`);
  const { storageId } = (await reply.json()) as { storageId: string };
  report({ phase: "recording", bytes: blob.size });
  const upload: UploadInfo = await client.mutation(recordUpload, { storageId, database: db.name });
  store.setItem(memoryKey, JSON.stringify(upload));
  report({ phase: "done", upload, sent: true });
  return { upload, sent: true };
}
'''
