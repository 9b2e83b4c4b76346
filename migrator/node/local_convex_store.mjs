// Where the local endpoint keeps committed documents and stored files: on disk, so an
// import costs about a hundred bytes of memory per document instead of the document.
//
// Documents go to one append-only file, each as Convex-encoded JSON (`convexToJson`, the
// wire format: exact for every Convex value, int64, bytes, -0, NaN, key order; unlike
// `v8.serialize`, whose buffers left the resident size growing with every document). What
// stays in memory is, per document, where its latest version is in that file (typed arrays
// indexed by convex-test's id counter) and, per table, the counters of its documents in
// insertion (= _creationTime) order. A rewrite appends a new version; old ones are
// garbage in the file until the endpoint stops, when the folder is removed.
import { closeSync, fstatSync, mkdirSync, mkdtempSync, openAsBlob, openSync, readSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { convexToJson, jsonToConvex } from "convex/values";

/** A growable typed array (doubling), initialised with `fill`. */
export class Column {
  constructor(Type, fill) {
    this.Type = Type;
    this.fill = fill;
    this.data = new Type(1024).fill(fill);
  }
  get(i) { return i < this.data.length ? this.data[i] : this.fill; }
  set(i, v) {
    if (i >= this.data.length) {
      let n = this.data.length;
      while (n <= i) n *= 2;
      const grown = new this.Type(n).fill(this.fill);
      grown.set(this.data);
      this.data = grown;
    }
    this.data[i] = v;
  }
}

/** Counters of one table's documents, ascending (a counter is added once, when first written). */
class CounterList {
  constructor() {
    this.column = new Column(Int32Array, 0);
    this.length = 0;
    this.sorted = true;
  }
  add(counter) {
    if (this.length > 0 && counter < this.column.data[this.length - 1]) this.sorted = false;
    this.column.set(this.length++, counter);
  }
  /** A snapshot view: counters added later are not in it. */
  view() {
    if (!this.sorted) {
      this.column.data.subarray(0, this.length).sort();
      this.sorted = true;
    }
    return this.column.data.subarray(0, this.length);
  }
}

export class DocumentStore {
  /** `dir`: the folder to keep the files in (created; removed by close()), else a new temporary one. */
  constructor({ dir = null, firstCounter }) {
    if (dir) mkdirSync(dir, { recursive: true });
    this.dir = mkdtempSync(join(dir ?? tmpdir(), "local-convex-store-"));
    this.fd = openSync(join(this.dir, "documents.jsonl"), "w+");
    this.end = 0;
    this.firstCounter = firstCounter;
    this.offsets = new Column(Float64Array, -1); // -1: never written
    this.lengths = new Column(Int32Array, 0); // 0: deleted (or never written)
    this.tables = new Map(); // table -> CounterList
    this.live = new Map(); // table -> count of live documents
    this.files = 0;
  }

  /** The counter (array index) of a convex-test id, or -1 when it cannot be one of ours. */
  counterOf(id) {
    const m = /^[0-9]+/.exec(id);
    if (!m) return -1;
    const c = Number(m[0]) - this.firstCounter;
    return c >= 0 && c < 0x7fffffff ? c : -1;
  }

  tableOf(id) {
    const m = /^[0-9]+/.exec(id);
    return m && m[0].length < id.length ? id.slice(m[0].length) : null;
  }

  /** The stored line of a counter's document (Convex-encoded JSON and "\n"), or null. */
  readLine(c) {
    const length = this.lengths.get(c);
    if (length === 0) return null;
    const buf = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) done += readSync(this.fd, buf, done, length - done, this.offsets.get(c) + done);
    return buf;
  }

  readCounter(c) {
    const line = this.readLine(c);
    return line === null ? null : jsonToConvex(JSON.parse(line.toString("utf8")));
  }

  /** The committed document with this id, or undefined. */
  get(id) {
    const c = this.counterOf(id);
    if (c < 0) return undefined;
    const doc = this.readCounter(c);
    return doc !== null && doc._id === id ? doc : undefined;
  }

  has(id) { return this.get(id) !== undefined; }

  put(id, doc) {
    const c = this.counterOf(id);
    const table = this.tableOf(id);
    if (c < 0 || table === null) throw new Error(`local_convex store: unexpected document id ${id}`);
    const buf = Buffer.from(JSON.stringify(convexToJson(doc)) + "\n", "utf8");
    let done = 0;
    while (done < buf.length) done += writeSync(this.fd, buf, done, buf.length - done, this.end + done);
    if (this.offsets.get(c) < 0) {
      let list = this.tables.get(table);
      if (!list) this.tables.set(table, (list = new CounterList()));
      list.add(c);
    }
    if (this.lengths.get(c) === 0) this.live.set(table, (this.live.get(table) ?? 0) + 1);
    this.offsets.set(c, this.end);
    this.lengths.set(c, buf.length);
    this.end += buf.length;
  }

  delete(id) {
    const c = this.counterOf(id);
    if (c < 0 || this.get(id) === undefined) return;
    this.lengths.set(c, 0);
    const table = this.tableOf(id);
    this.live.set(table, this.live.get(table) - 1);
  }

  /** Counters of a table's documents (live or not), ascending; a snapshot. */
  counters(table) {
    return this.tables.get(table)?.view() ?? new Int32Array(0);
  }

  count(table) { return this.live.get(table) ?? 0; }

  /** Every live document of a table in _creationTime order (counters are given out in that order). */
  *scan(table) {
    for (const line of this.scanLines(table)) yield jsonToConvex(JSON.parse(line.toString("utf8")));
  }

  /** The same as stored lines: `JSON.stringify(convexToJson(doc)) + "\n"`, as the state dump writes. */
  *scanLines(table) {
    for (const c of this.counters(table)) {
      const line = this.readLine(c);
      if (line !== null) yield line;
    }
  }

  /** Bytes of the documents file (live and superseded versions). */
  fileBytes() { return fstatSync(this.fd).size; }

  /** A Blob backed by a file in the store, holding `bytes`: its contents stay on disk. */
  async fileBlob(bytes, type) {
    const path = join(this.dir, `file-${++this.files}`);
    writeFileSync(path, bytes);
    return await openAsBlob(path, type ? { type } : {});
  }

  close() {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
    rmSync(this.dir, { recursive: true, force: true });
  }
}
