// One user's browser, in Node: real Dexie on fake-indexeddb, the generated uploadToConvex.ts
// (transpiled with the real typescript), the real ConvexHttpClient and fetch.
//   node browser_user.mjs MODULE_TS URL TOKEN TAG ITEMS
// Seeds TodoDB (as fixtures/apps/todo-js declares it) with 2 lists and ITEMS items titled
// with TAG, uploads it three times (fresh, again, from a "new device" with an empty store)
// and prints {first, again, elsewhere, phases} as JSON.
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import ts from "typescript";
import "./browser_globals.mjs";        // fixtures/generate's, copied beside this file

await import("fake-indexeddb/auto");
const { default: Dexie } = await import("dexie");
const { ConvexHttpClient } = await import("convex/browser");

const [moduleTs, url, token, tag, items] = process.argv.slice(2);
const here = dirname(fileURLToPath(import.meta.url));
const js = ts.transpileModule(readFileSync(moduleTs, "utf8"), {
  compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
}).outputText;
const modulePath = join(here, "uploadToConvex.mjs");
writeFileSync(modulePath, js);
const { uploadDexieToConvex } = await import(pathToFileURL(modulePath).href);

const db = new Dexie("TodoDB");
db.version(1).stores({ todoLists: "++id, title", todoItems: "++id, todoListId, [todoListId+done], dueDate" });
const T0 = Date.UTC(2024, 0, 1);
await db.todoLists.bulkAdd([1, 2].map((n) => ({ title: `${tag} list ${n}`, createdAt: new Date(T0 + n) })));
await db.todoItems.bulkAdd(Array.from({ length: Number(items) }, (_, i) => ({
  todoListId: (i % 2) + 1, title: `${tag} item ${i}`, done: i % 3 === 0,
  dueDate: new Date(T0 + (i % 28) * 86400000), createdAt: new Date(T0 + i * 1000),
})));

const client = new ConvexHttpClient(url);
client.setAuth(token);
const phases = [];
const first = await uploadDexieToConvex(db, client, { onProgress: (p) => phases.push(p.phase) });
const again = await uploadDexieToConvex(db, client);
const empty = new Map();
const elsewhere = await uploadDexieToConvex(db, client, {
  store: { getItem: (k) => empty.get(k) ?? null, setItem: (k, v) => void empty.set(k, v) },
});
process.stdout.write(JSON.stringify({ first, again, elsewhere, phases: [...new Set(phases)] }) + "\n");
