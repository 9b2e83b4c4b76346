#!/usr/bin/env node
// A local Convex-compatible HTTP endpoint built on the official mock `convex-test` and
// the real `convex` package. See README.md beside this file for the contract.
//
//   node local_convex.mjs --convex-dir DIR [--port 0] [--host 127.0.0.1]
//        [--admin-key KEY] [--state-out DIR] [--store-dir DIR] [--faults JSON]
//
// Prints one JSON line on stdout when ready: {"url": ..., "pid": ...} (plus "adminKey"
// when none was given and one was generated).
import http from "node:http";
import { AsyncLocalStorage } from "node:async_hooks";
import { createHash, randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import { closeSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import { inspect } from "node:util";
import { convexTest } from "convex-test";
import { makeFunctionReference } from "convex/server";
import { convexToJson, jsonToConvex, getConvexSize, getDocumentSize } from "convex/values";
import { transpileConvexDir, convexTestModules, importModule } from "./local_convex_loader.mjs";
import { checkDocument, allStringsWellFormed } from "./local_convex_limits.mjs";
import { captureConvexGlobal, accelerate } from "./local_convex_accel.mjs";
import { Faults } from "./local_convex_faults.mjs";
import { WriteBudget } from "./local_convex_budget.mjs";
import { identityFromBearer } from "./local_convex_identity.mjs";

const MiB = 1 << 20;
const BODY_LIMIT = 16 * MiB + 2000;
const ARGS_LIMIT = 16 * MiB;
const UPLOAD_LIMIT = 256 * MiB;
const KEEP_ALIVE_MS = 30_000;
const realConsole = globalThis.console;
const stderr = (msg) => process.stderr.write(`local_convex: ${msg}\n`);

// ---------------------------------------------------------------- arguments
function parseArgv(argv) {
  const opts = { port: 0, host: "127.0.0.1", faults: {} };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const eq = a.indexOf("=");
    const [name, inline] = a.startsWith("--") && eq > 0 ? [a.slice(0, eq), a.slice(eq + 1)] : [a, undefined];
    const value = () => (inline !== undefined ? inline : argv[++i]);
    switch (name) {
      case "--convex-dir": opts.convexDir = value(); break;
      case "--port": opts.port = Number(value()); break;
      case "--host": opts.host = value(); break;
      case "--admin-key": opts.adminKey = value(); break;
      case "--state-out": opts.stateOut = value(); break;
      case "--store-dir": opts.storeDir = value(); break;
      case "--faults": opts.faults = JSON.parse(value()); break;
      case "-h": case "--help":
        process.stdout.write("usage: node local_convex.mjs --convex-dir DIR [--port 0] [--admin-key KEY] [--state-out DIR] [--store-dir DIR] [--faults JSON]\n");
        process.exit(0);
        break;
      default:
        throw new Error(`unknown argument ${a}`);
    }
  }
  if (!opts.convexDir) throw new Error("--convex-dir is required");
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) throw new Error("--port must be 0..65535");
  return opts;
}

// ---------------------------------------------------------------- console capture
// User code's console.* lines go into the reply's logLines (like the real backend);
// outside a request they go to stderr.
const logStore = new AsyncLocalStorage();
function formatLog(args) {
  return args.map((a) => inspect(a, { depth: 4, breakLength: Infinity })).join(" ");
}
const captureConsole = Object.create(realConsole);
for (const [method, level] of Object.entries({ log: "LOG", info: "INFO", warn: "WARN", error: "ERROR", debug: "DEBUG", trace: "DEBUG" })) {
  captureConsole[method] = (...args) => {
    const lines = logStore.getStore();
    if (lines) lines.push(`[${level}] ${formatLog(args)}`);
    else realConsole.error(...args);
  };
}

// ---------------------------------------------------------------- the backend
class LocalConvex {
  constructor(opts) {
    this.opts = opts;
    this.faults = new Faults(opts.faults);
    this.budget = new WriteBudget();
    this.tables = new Set();
    this.uploadTokens = new Set();
    this.baseUrl = null;
    this.mutationChain = Promise.resolve();
    this.txScope = new AsyncLocalStorage(); // per-transaction cache of documents seen
  }

  async load() {
    const t = transpileConvexDir(this.opts.convexDir);
    this.workDir = t.workDir;
    this.files = t.files;
    let schema;
    if (t.schemaPath) {
      schema = (await importModule(t.schemaPath)).default;
      for (const name of Object.keys(schema?.tables ?? {})) this.tables.add(name);
    }
    // Load every module now, so a broken one fails the start, not a request.
    for (const [modPath, file] of Object.entries(t.files)) {
      try {
        await importModule(file);
      } catch (e) {
        throw new Error(`module ${modPath} failed to load: ${e?.message ?? e}`);
      }
    }
    globalThis.console = captureConsole;
    this.t = convexTest({ schema, modules: convexTestModules(t.files, t.outDir), transactionLimits: true });
    this.installSyscallHooks();
    // Documents on disk and index-narrowed walks (see local_convex_accel.mjs): without
    // them every document is a live object and every query walks all of them.
    this.store = null;
    if (process.env.LOCAL_CONVEX_NO_ACCEL !== "1") {
      const g = await captureConvexGlobal(() => this.t.run(async () => null));
      this.store = accelerate(g, { storeDir: this.opts.storeDir ?? null });
      if (!this.store) stderr("warning: could not move convex-test's documents to disk (its internals changed?); they stay in memory and queries walk every document");
    }
  }

  get accelerated() { return this.store !== null; }

  cleanup() {
    if (this.workDir) rmSync(this.workDir, { recursive: true, force: true });
    this.workDir = null;
    this.store?.close();
    this.store = null;
  }

  // convex-test defines `globalThis.Convex` with getters that hand user code the
  // syscalls of the current test. We wrap them to check every written document
  // against the backend's rules before convex-test stores it, and to hand out upload
  // and file URLs that point at this server.
  installSyscallHooks() {
    const original = globalThis.Convex;
    const self = this;
    const desc = (k) => Object.getOwnPropertyDescriptor(original, k).get;
    const getSyscall = desc("syscall"), getAsync = desc("asyncSyscall"), getJs = desc("jsSyscall");
    globalThis.Convex = {
      get syscall() { return getSyscall.call(original); },
      get jsSyscall() {
        const inner = getJs.call(original);
        return (op, args) => self.jsSyscall(inner, op, args);
      },
      get asyncSyscall() {
        const inner = getAsync.call(original);
        return (op, argsJson) => self.asyncSyscall(inner, op, argsJson);
      },
    };
  }

  cache() { return this.txScope.getStore()?.docs ?? null; }
  remember(doc) {
    const docs = this.cache();
    if (docs && doc && typeof doc === "object" && typeof doc._id === "string") docs.set(doc._id, doc);
  }

  async currentDoc(inner, table, id) {
    const cached = this.cache()?.get(id);
    if (cached) return cached;
    const doc = jsonToConvex(JSON.parse(await inner("1.0/get", JSON.stringify({ table, id }))));
    return doc;
  }

  // convex-test counts a write against the transaction limits after storing it, so
  // code that catches the limit error (per-row try/catch) would keep the over-limit
  // write. Check the budget first, so a refused write never happens.
  async ensureWriteBudget(inner, size) {
    let m;
    try {
      m = jsonToConvex(JSON.parse(await inner("1.0/getTransactionMetrics", "{}")));
    } catch {
      return; // not in a transaction: convex-test decides
    }
    const docs = m.documentsWritten, bytes = m.bytesWritten;
    if (docs.remaining < 1) {
      throw new Error(`Wrote too many documents in a single function execution (limit: ${docs.used + docs.remaining}). This is a Convex limit: https://docs.convex.dev/production/state/limits`);
    }
    if (bytes.remaining < size) {
      throw new Error(`Wrote too much data in a single function execution (limit: ${bytes.used + bytes.remaining} bytes). This is a Convex limit: https://docs.convex.dev/production/state/limits`);
    }
  }

  // A stored file's bytes go to the document store's folder: convex-test keeps the Blob.
  async jsSyscall(inner, op, args) {
    if (op === "storage/storeBlob" && this.store && args?.blob instanceof Blob) {
      const blob = await this.store.fileBlob(Buffer.from(await args.blob.arrayBuffer()), args.blob.type);
      return await inner(op, { ...args, blob });
    }
    return await inner(op, args);
  }

  async asyncSyscall(inner, op, argsJson) {
    try {
      return await this.hookedSyscall(inner, op, argsJson);
    } catch (e) {
      // A failed call may leave writes rolled back: forget what we cached.
      this.cache()?.clear();
      throw e;
    }
  }

  async hookedSyscall(inner, op, argsJson) {
    switch (op) {
      case "1.0/insert": {
        const args = JSON.parse(argsJson);
        const value = jsonToConvex(args.value);
        await this.ensureWriteBudget(inner, checkDocument(args.table, value));
        this.tables.add(args.table);
        const out = await inner(op, argsJson);
        this.remember({ ...value, _id: JSON.parse(out)._id });
        return out;
      }
      case "1.0/replace": {
        const args = JSON.parse(argsJson);
        const id = jsonToConvex(args.id);
        const value = jsonToConvex(args.value);
        if (typeof id === "string" && !id.startsWith("_") && !(args.table ?? "").startsWith("_")) {
          const size = checkDocument(args.table ?? "?", { ...value, _id: value._id ?? id }, { allowSystem: true, idLength: id.length });
          await this.ensureWriteBudget(inner, size);
        }
        const out = await inner(op, argsJson);
        this.remember({ ...value, _id: id });
        return out;
      }
      case "1.0/shallowMerge": {
        const args = JSON.parse(argsJson);
        const id = jsonToConvex(args.id);
        const current = typeof id === "string" ? await this.currentDoc(inner, args.table, id) : null;
        let merged = null;
        if (current) {
          merged = { ...current };
          for (const [k, v] of Object.entries(args.value ?? {})) {
            if (v !== null && typeof v === "object" && "$undefined" in v) delete merged[k];
            else merged[k] = jsonToConvex(v);
          }
          await this.ensureWriteBudget(inner, checkDocument(args.table ?? "?", merged, { allowSystem: true, idLength: id.length }));
        }
        const out = await inner(op, argsJson);
        if (merged) this.remember(merged);
        return out;
      }
      case "1.0/remove": {
        const out = await inner(op, argsJson);
        const id = jsonToConvex(JSON.parse(argsJson).id);
        this.cache()?.delete(id);
        return out;
      }
      case "1.0/get": {
        const out = await inner(op, argsJson);
        this.remember(jsonToConvex(JSON.parse(out)));
        return out;
      }
      case "1.0/queryStreamNext": {
        const out = await inner(op, argsJson);
        const { value, done } = JSON.parse(out);
        if (!done && value) this.remember(jsonToConvex(value));
        return out;
      }
      case "1.0/queryPage": {
        const out = await inner(op, argsJson);
        for (const d of JSON.parse(out).page ?? []) this.remember(jsonToConvex(d));
        return out;
      }
      case "1.0/runUdf": {
        // A nested query/mutation inside a mutation: its writes join ours on success
        // and are undone on failure.
        const scope = this.txScope.getStore();
        if (!scope) return await inner(op, argsJson);
        const saved = scope.docs;
        scope.docs = new Map(saved);
        try {
          return await inner(op, argsJson);
        } catch (e) {
          scope.docs = saved;
          throw e;
        }
      }
      case "1.0/actions/mutation":
      case "1.0/actions/query":
        // Each call from an action is its own transaction.
        return await this.txScope.run({ docs: new Map() }, () => inner(op, argsJson));
      case "1.0/storageGenerateUploadUrl": {
        const token = randomUUID();
        this.uploadTokens.add(token);
        return JSON.stringify(`${this.baseUrl}/api/storage/upload?token=${token}`);
      }
      case "1.0/storageGetUrl": {
        const out = JSON.parse(await inner(op, argsJson));
        if (out === null) return JSON.stringify(null);
        return JSON.stringify(`${this.baseUrl}/api/storage/${encodeURIComponent(JSON.parse(argsJson).storageId)}`);
      }
      default:
        return await inner(op, argsJson);
    }
  }

  // ---- function resolution
  async resolve(path) {
    const [modRaw, fnRaw] = path.split(":");
    const modPath = modRaw.replace(/\.(m?js|ts)$/, "");
    const exportName = fnRaw === undefined || fnRaw === "" ? "default" : fnRaw;
    if (modPath.startsWith("_") || modPath.includes("/_generated") || modPath === "schema" || !this.files[modPath]) return null;
    let mod;
    try {
      mod = await importModule(this.files[modPath]);
    } catch (e) {
      throw new Error(`Failed to load module ${modPath}: ${e.message}`);
    }
    const fn = mod[exportName];
    if (!fn || !(fn.isQuery || fn.isMutation || fn.isAction)) return null;
    const kind = fn.isQuery ? "query" : fn.isMutation ? "mutation" : "action";
    return { udfPath: `${modPath}:${exportName}`, kind, internal: fn.isInternal === true };
  }

  accessor(identity) {
    return identity ? this.t.withIdentity(identity) : this.t;
  }

  async call(kind, udfPath, args, identity) {
    const ref = makeFunctionReference(udfPath);
    const t = this.accessor(identity);
    if (kind === "mutation") {
      return await this.txScope.run({ docs: new Map() }, () => t.mutation(ref, args));
    }
    if (kind === "query") return await this.txScope.run({ docs: new Map() }, () => t.query(ref, args));
    return await t.action(ref, args);
  }

  // Run mutations (and actions) one at a time: each is a transaction.
  serialize(fn) {
    const run = this.mutationChain.then(fn, fn);
    this.mutationChain = run.then(() => undefined, () => undefined);
    return run;
  }

  // ---- reading everything back (dump, table counts): committed documents only
  async scanTable(table, onDoc) {
    if (this.store) {
      for (const doc of this.store.scan(table)) onDoc(doc);
      return;
    }
    // in bounded transactions (convex-test's own store)
    let after = null;
    for (;;) {
      const page = await this.t.run(async (ctx) => {
        const q = ctx.db.query(table).withIndex("by_creation_time", (r) => (after === null ? r : r.gt("_creationTime", after)));
        const docs = [];
        let bytes = 0;
        for await (const doc of q) {
          docs.push(doc);
          bytes += getDocumentSize(doc);
          if (bytes >= 12 * MiB || docs.length >= 20000) return { docs, more: true };
        }
        return { docs, more: false };
      });
      for (const d of page.docs) onDoc(d);
      if (!page.more || page.docs.length === 0) return;
      after = page.docs[page.docs.length - 1]._creationTime;
    }
  }

  async storageEntries() {
    const entries = [];
    await this.scanSystem("_storage", (d) => entries.push(d));
    const out = [];
    for (const meta of entries) {
      const blob = await this.getFile(meta._id);
      const bytes = blob ? Buffer.from(await blob.arrayBuffer()) : Buffer.alloc(0);
      out.push({
        storageId: meta._id,
        sha256: createHash("sha256").update(bytes).digest("hex"),
        size: bytes.length,
        contentType: blob?.type ? blob.type : null,
        _creationTime: meta._creationTime,
      });
    }
    return out;
  }

  async scanSystem(table, onDoc) {
    const docs = await this.t.run(async (ctx) => await ctx.db.system.query(table).collect());
    docs.sort((a, b) => a._creationTime - b._creationTime).forEach(onDoc);
  }

  async tableCounts() {
    const counts = {};
    for (const table of [...this.tables].sort()) {
      if (this.store) {
        counts[table] = this.store.count(table);
        continue;
      }
      let n = 0;
      await this.scanTable(table, () => { n += 1; });
      counts[table] = n;
    }
    return counts;
  }

  async dump(dir) {
    mkdirSync(dir, { recursive: true });
    const written = {};
    // Streamed to a temporary name (a table may not fit in memory as text), then renamed.
    // `scan(emit)` emits lines ending in "\n" (strings or Buffers).
    const writeJsonl = async (name, scan) => {
      const tmp = join(dir, `.${name}.jsonl.tmp`);
      const fd = openSync(tmp, "w");
      let lines = 0, chunk = [], size = 0;
      const flush = () => { writeSync(fd, Buffer.concat(chunk)); chunk = []; size = 0; };
      try {
        await scan((line) => {
          chunk.push(typeof line === "string" ? Buffer.from(line, "utf8") : line);
          size += line.length;
          lines += 1;
          if (size >= MiB) flush();
        });
        flush();
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, join(dir, `${name}.jsonl`));
      written[name] = lines;
    };
    const asLine = (value) => JSON.stringify(value) + "\n";
    for (const table of [...this.tables].sort()) {
      // The store holds each document as this very line: copied, not parsed and re-encoded.
      await writeJsonl(table, async (emit) => {
        if (this.store) for (const line of this.store.scanLines(table)) emit(line);
        else await this.scanTable(table, (doc) => emit(asLine(convexToJson(doc))));
      });
    }
    const storage = await this.storageEntries();
    await writeJsonl("_storage", (emit) => storage.forEach((entry) => emit(asLine(entry))));
    return written;
  }

  async storeUpload(bytes, contentType) {
    const blob = new Blob([bytes], contentType ? { type: contentType } : {});
    return await this.t.action(async (ctx) => await ctx.storage.store(blob));
  }

  async getFile(storageId) {
    try {
      // A Blob is not a Convex value: take it out of the transaction by closure.
      let blob = null;
      await this.t.run(async (ctx) => { blob = await ctx.storage.get(storageId); return null; });
      return blob;
    } catch {
      return null;
    }
  }
}

// ---------------------------------------------------------------- HTTP
class HttpError extends Error {
  constructor(status, code, message, headers = {}, html = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.headers = headers;
    this.html = html;   // a proxy's page instead of Convex's JSON error
  }

  static from({ status, code, message, headers, html }) {
    return new HttpError(status, code ?? "", message ?? "", headers ?? {}, html ?? null);
  }
}

function send(res, status, body, headers = {}) {
  if (res.headersSent || res.destroyed) return;
  const text = typeof body === "string" ? body : JSON.stringify(body);
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text), ...headers });
  res.end(text);
}

function readBody(req, limit) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    let failed = false;
    req.on("data", (c) => {
      if (failed) return;
      size += c.length;
      if (size > limit) {
        failed = true;
        reject(new HttpError(413, "PayloadTooLarge", `Request body is too large (over ${limit} bytes).`, { Connection: "close" }));
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => { if (!failed) resolve(Buffer.concat(chunks)); });
    req.on("error", (e) => { if (!failed) reject(e); });
  });
}

function errorReply(e, logLines) {
  const out = { status: "error", errorMessage: "", logLines };
  const isConvexError = e !== null && typeof e === "object" && Symbol.for("ConvexError") in e;
  if (isConvexError) {
    out.errorMessage = `Uncaught ConvexError: ${e.message}`;
    out.errorData = convexToJson(e.data ?? null);
  } else {
    const name = e?.name && e.name !== "Error" ? e.name : "Error";
    out.errorMessage = `Uncaught ${name}: ${e?.message ?? String(e)}`;
  }
  return out;
}

function main() {
  let opts;
  try {
    opts = parseArgv(process.argv.slice(2));
  } catch (e) {
    stderr(e.message);
    process.exit(2);
  }
  let generatedKey = null;
  let adminKey = opts.adminKey ?? process.env.CONVEX_LOCAL_ADMIN_KEY;
  if (!adminKey) {
    adminKey = generatedKey = `local|${randomBytes(24).toString("hex")}`;
  }
  const adminKeyBuf = Buffer.from(adminKey, "utf8");
  const backend = new LocalConvex(opts);
  const servedSockets = new WeakSet();   // connections that carried a function call before (kept alive)

  // -> {admin: bool, identity: object|null}; throws 401/403
  function authenticate(req) {
    const h = req.headers["authorization"];
    if (h === undefined || h === "") return { admin: false, identity: null };
    const m = /^(\S+)\s+(.+)$/.exec(h.trim());
    if (!m) throw new HttpError(401, "Unauthenticated", "Malformed Authorization header.");
    const [, scheme, token] = m;
    if (scheme === "Convex") {
      const got = Buffer.from(token, "utf8");
      if (got.length !== adminKeyBuf.length || !timingSafeEqual(got, adminKeyBuf)) {
        throw new HttpError(403, "BadDeployKey", "The provided deploy key or admin key is invalid for this deployment.");
      }
      return { admin: true, identity: null };
    }
    if (scheme === "Bearer") {
      const identity = identityFromBearer(token);
      if (!identity) throw new HttpError(401, "Unauthenticated", "Could not decode the Bearer token (a JWT with a `sub` claim).");
      return { admin: false, identity };
    }
    throw new HttpError(401, "Unauthenticated", `Unsupported Authorization scheme ${scheme}.`);
  }

  function requireJson(req) {
    const ct = String(req.headers["content-type"] ?? "").split(";")[0].trim().toLowerCase();
    if (ct !== "application/json") {
      throw new HttpError(400, "BadJsonBody", "Expected Content-Type: application/json.");
    }
  }

  function parseJson(buf) {
    try {
      return JSON.parse(buf.toString("utf8"));
    } catch (e) {
      throw new HttpError(400, "BadJsonBody", `Failed to parse the JSON body: ${e.message}`);
    }
  }

  async function functionCall(req, res, urlKind, runPath) {
    const reused = servedSockets.has(req.socket);
    servedSockets.add(req.socket);
    requireJson(req);
    const auth = authenticate(req);
    const clientHeader = req.headers["convex-client"];
    if (clientHeader !== undefined && !String(clientHeader).includes("-")) {
      throw new HttpError(400, "InvalidClientVersion", "Convex-Client header must look like name-semver.");
    }
    const body = parseJson(await readBody(req, BODY_LIMIT));
    if (body === null || typeof body !== "object" || Array.isArray(body)) {
      throw new HttpError(400, "BadJsonBody", "The JSON body must be an object.");
    }
    const path = runPath ?? body.path;
    if (typeof path !== "string" || path === "") throw new HttpError(400, "BadJsonBody", "Missing function path.");
    if (body.format !== undefined && !["convex_encoded_json", "json"].includes(body.format)) {
      throw new HttpError(400, "BadJsonBody", `Unsupported format ${JSON.stringify(body.format)}.`);
    }
    let args;
    try {
      // ConvexHttpClient sends `args: [args]`; the backend takes one object either way.
      const raw = Array.isArray(body.args) && body.args.length === 1 ? body.args[0] : body.args;
      args = raw === undefined ? {} : jsonToConvex(raw);
    } catch (e) {
      throw new HttpError(400, "BadJsonBody", `Invalid Convex value in args: ${e.message}`);
    }
    if (args === null || typeof args !== "object" || Array.isArray(args) || args instanceof ArrayBuffer) {
      throw new HttpError(400, "BadJsonBody", "args must be an object.");
    }
    if (!allStringsWellFormed(args)) throw new HttpError(400, "BadJsonBody", "args contain a string that is not valid Unicode.");
    const fn = await backend.resolve(path);
    if (!fn) {
      throw new HttpError(400, "FunctionNotFound", `Could not find public function for '${path.replace(/\.(m?js|ts)(?=:|$)/, "")}'. Did you forget to run \`npx convex dev\` or \`npx convex deploy\`?`);
    }
    if (fn.internal && !auth.admin) {
      throw new HttpError(401, "Unauthenticated", `'${fn.udfPath}' is an internal function: it needs an admin key (Authorization: Convex <key>).`);
    }
    const kind = urlKind ?? fn.kind;
    const draw = backend.faults.draw();
    const delay = () => (draw.delayMs > 0 ? new Promise((r) => setTimeout(r, draw.delayMs)) : null);
    if (draw.dropConnection || (draw.dropReused && reused)) {
      backend.faults.count(draw.dropConnection ? "dropConnection" : "dropReused");
      await delay(); req.socket.destroy(); return;
    }
    const injected = backend.faults.before(draw, fn.kind === "mutation");
    if (injected) { await delay(); throw HttpError.from(injected); }
    const refused = fn.kind === "mutation" ? backend.budget.admit() : null;
    if (refused) throw HttpError.from(refused);
    const logLines = [];
    let reply;
    if (kind !== fn.kind) {
      reply = { status: "error", errorMessage: `Trying to execute ${fn.udfPath} as ${kind}, but it is defined as ${fn.kind}.`, logLines };
    } else if (getConvexSize(args) > ARGS_LIMIT) {
      reply = { status: "error", errorMessage: `Arguments for ${fn.udfPath} are too large (over ${ARGS_LIMIT} bytes).`, logLines };
    } else {
      const run = () => logStore.run(logLines, () => backend.call(fn.kind, fn.udfPath, args, auth.identity));
      try {
        // convex-test keeps one transaction at a time: an action writing to storage while a
        // mutation runs fails ("Write outside of transaction"), so actions queue with mutations.
        const value = fn.kind === "query" ? await run() : await backend.serialize(run);
        reply = { status: "success", value: convexToJson(value === undefined ? null : value), logLines };
      } catch (e) {
        reply = errorReply(e, logLines);
      }
    }
    await delay();
    if (fn.kind === "mutation" && reply.status === "success") {
      backend.budget.charge(getConvexSize(args));
      const lost = backend.faults.afterCommit(draw);
      if (lost === "drop") { req.socket.destroy(); return; }
      if (lost) throw HttpError.from(lost);
    }
    send(res, 200, reply);
  }

  function requireAdmin(req) {
    const auth = authenticate(req);
    if (!auth.admin) throw new HttpError(401, "Unauthenticated", "This route needs the admin key.");
  }

  async function route(req, res) {
    const url = new URL(req.url, "http://local");
    const p = url.pathname;
    if (req.method === "POST" && (p === "/api/query" || p === "/api/mutation" || p === "/api/action")) {
      return await functionCall(req, res, p.slice(5), null);
    }
    if (req.method === "POST" && p.startsWith("/api/run/")) {
      const parts = p.slice("/api/run/".length).split("/").filter(Boolean).map(decodeURIComponent);
      if (parts.length < 2) throw new HttpError(404, "NotFound", `No function in ${p}.`);
      return await functionCall(req, res, null, `${parts.slice(0, -1).join("/")}:${parts[parts.length - 1]}`);
    }
    if (req.method === "POST" && p === "/api/storage/upload") {
      const token = url.searchParams.get("token");
      if (!token || !backend.uploadTokens.has(token)) throw new HttpError(401, "InvalidUploadToken", "The upload URL is invalid or was already used.");
      backend.uploadTokens.delete(token);
      const bytes = await readBody(req, UPLOAD_LIMIT);
      const storageId = await backend.serialize(() => backend.storeUpload(bytes, req.headers["content-type"]));
      return send(res, 200, { storageId });
    }
    if (req.method === "GET" && p.startsWith("/api/storage/")) {
      const blob = await backend.getFile(decodeURIComponent(p.slice("/api/storage/".length)));
      if (!blob) throw new HttpError(404, "NotFound", "No such file.");
      const buf = Buffer.from(await blob.arrayBuffer());
      // As Convex: a standard Digest header with the file's sha256.
      const digest = `sha-256=${createHash("sha256").update(buf).digest("base64")}`;
      res.writeHead(200, { "Content-Type": blob.type || "application/octet-stream", "Content-Length": buf.length, Digest: digest });
      return res.end(buf);
    }
    if (p === "/version" || p === "/instance_version") return send(res, 200, JSON.stringify("local-convex-test"));
    if (p.startsWith("/_local/")) {
      requireAdmin(req);
      if (req.method === "GET" && p === "/_local/tables") return send(res, 200, await backend.tableCounts());
      if (req.method === "GET" && p === "/_local/info") {
        return send(res, 200, {
          accelerated: backend.accelerated, tables: [...backend.tables].sort(), faults: backend.faults.config,
          workDir: backend.workDir, storeDir: backend.store?.dir ?? null, storeBytes: backend.store?.fileBytes() ?? null,
          memory: process.memoryUsage(),
        });
      }
      if (req.method === "GET" && p === "/_local/faults") return send(res, 200, { ...backend.faults.config, injected: backend.faults.injected });
      if (req.method === "POST" && p === "/_local/faults") {
        const body = parseJson(await readBody(req, MiB));
        try {
          backend.faults.set(body);
        } catch (e) {
          throw new HttpError(400, "BadFaults", e.message);
        }
        server.keepAliveTimeout = backend.faults.config.keepAliveMs ?? KEEP_ALIVE_MS;
        return send(res, 200, backend.faults.config);
      }
      if (req.method === "GET" && p === "/_local/write-budget") return send(res, 200, backend.budget.stats());
      if (req.method === "POST" && p === "/_local/write-budget") {
        try {
          backend.budget.set(parseJson(await readBody(req, MiB)));
        } catch (e) {
          throw e instanceof HttpError ? e : new HttpError(400, "BadWriteBudget", e.message);
        }
        return send(res, 200, backend.budget.stats());
      }
      if (req.method === "POST" && p === "/_local/dump") {
        const raw = await readBody(req, MiB);
        const body = raw.length ? parseJson(raw) : {};
        const dir = body?.dir ?? opts.stateOut;
        if (!dir) throw new HttpError(400, "NoStateOut", "No --state-out directory and no {\"dir\": ...} given.");
        const tables = await backend.serialize(() => backend.dump(dir));
        return send(res, 200, { dir, tables });
      }
    }
    throw new HttpError(404, "NotFound", `No route for ${req.method} ${p}.`);
  }

  const server = http.createServer((req, res) => {
    route(req, res).catch((e) => {
      if (e instanceof HttpError && e.html !== null) {
        send(res, e.status, e.html, { "Content-Type": "text/html", ...e.headers });
      } else if (e instanceof HttpError) {
        send(res, e.status, { code: e.code, message: e.message }, e.headers);
        if (e.status === 413) res.on("finish", () => req.socket.destroy());
      } else {
        stderr(`internal error: ${e?.stack ?? e}`);
        send(res, 500, { code: "InternalServerError", message: String(e?.message ?? e) });
      }
    });
  });
  server.keepAliveTimeout = backend.faults.config.keepAliveMs ?? KEEP_ALIVE_MS;
  server.requestTimeout = 0;

  let stopping = false;
  async function stop(signal) {
    if (stopping) return;
    stopping = true;
    let code = 0;
    try {
      if (opts.stateOut) await backend.serialize(() => backend.dump(opts.stateOut));
    } catch (e) {
      stderr(`state dump failed: ${e?.stack ?? e}`);
      code = 1;
    }
    backend.cleanup();
    server.close();
    process.exit(code || (signal ? 0 : 0));
  }
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("exit", () => backend.cleanup());
  // A server keeps serving: a stray rejection (e.g. from a scheduled function) is logged.
  process.on("unhandledRejection", (e) => stderr(`unhandled rejection: ${e?.stack ?? e}`));

  backend.load().then(() => {
    server.listen(opts.port, opts.host, () => {
      const { port } = server.address();
      backend.baseUrl = `http://${opts.host}:${port}`;
      const ready = { url: backend.baseUrl, pid: process.pid };
      if (generatedKey) ready.adminKey = generatedKey;
      process.stdout.write(JSON.stringify(ready) + "\n");
    });
  }).catch((e) => {
    stderr(`failed to load ${opts.convexDir}: ${e?.stack ?? e}`);
    backend.cleanup();
    process.exit(1);
  });
}

main();
