// An opt-in write budget for the local endpoint, answered as a Convex deployment answers
// when its write throughput is spent (for tests and benchmarks of a client's pacing).
//
// Convex (crates/database: WriteThroughputLimiter) checks before a mutation runs whether the
// bytes committed in the last second are over the deployment's limit, and if so refuses it:
// HTTP 429 {"code": "TooManyWrites", "message": "Too many writes per second. ..."}, no
// Retry-After header. Here the budget is a bucket of one second's bytes that commits drain
// and time refills: a mutation is refused while the bucket is empty (in debt), so over any
// stretch no client writes faster than the budget plus one second's worth (Convex's sliding
// window lets a client that sends large batches exceed its limit; a bucket does not).
// A mutation's bytes are its arguments' Convex size: an upsert batch writes what it carries.

// Convex's common::fmt::format_bytes: the unit that divides most cleanly.
const BYTE_UNITS = [[2 ** 30, "GiB"], [1e9, "GB"], [2 ** 20, "MiB"], [1e6, "MB"], [1024, "KiB"], [1000, "KB"]];
export function formatBytes(n) {
  if (n === 0) return "0 bytes";
  for (const [size, name] of BYTE_UNITS) {
    if (n < size) continue;
    if (n % size === 0) return `${n / size} ${name}`;
    if ((n * 10) % size === 0) return `${Math.floor(n / size)}.${Math.floor((n * 10) / size) % 10} ${name}`;
  }
  return `${n} bytes`;
}

const WINDOW_MS = 1000;

export class WriteBudget {
  constructor(now = () => performance.now()) {
    this.now = now;
    this.set({});
  }

  // {bytesPerSecond: N | null, retryAfter: seconds (optional; Convex sends none)}
  set(config) {
    const c = config ?? {};
    const rate = c.bytesPerSecond ?? null;
    if (rate !== null && !(Number.isInteger(rate) && rate > 0)) throw new Error("bytesPerSecond must be a positive integer (or null: no budget)");
    if (c.retryAfter !== undefined && !(typeof c.retryAfter === "number" && c.retryAfter >= 0)) throw new Error("retryAfter must be seconds >= 0");
    this.config = { bytesPerSecond: rate, ...(c.retryAfter !== undefined ? { retryAfter: c.retryAfter } : {}) };
    this.tokens = rate ?? 0;
    this.at = this.now();
    this.committedBytes = 0;
    this.committed = 0;
    this.refused = 0;
    this.firstCommitMs = null;
    this.firstCommitBytes = 0;
    this.lastCommitMs = null;
  }

  refill() {
    const t = this.now();
    const rate = this.config.bytesPerSecond;
    this.tokens = Math.min(rate * (WINDOW_MS / 1000), this.tokens + ((t - this.at) / 1000) * rate);
    this.at = t;
  }

  // null when the mutation may run, else the refusal: {status, code, message, headers}
  admit() {
    const rate = this.config.bytesPerSecond;
    if (rate === null) return null;
    this.refill();
    if (this.tokens >= 0) return null;
    this.refused += 1;
    return {
      status: 429,
      code: "TooManyWrites",
      message: `Too many writes per second. Your deployment is limited to ${formatBytes(rate)} bytes written per 1 second. Reduce your write rate or upgrade to a larger deployment.`,
      headers: this.config.retryAfter !== undefined ? { "Retry-After": String(this.config.retryAfter) } : {},
    };
  }

  // A mutation committed `bytes`.
  charge(bytes) {
    const t = this.now();
    if (this.firstCommitMs === null) [this.firstCommitMs, this.firstCommitBytes] = [t, bytes];
    this.lastCommitMs = t;
    this.committed += 1;
    this.committedBytes += bytes;
    if (this.config.bytesPerSecond === null) return;
    this.refill();
    this.tokens -= bytes;
  }

  // The rate over the commits: bytes committed after the first one, per second between the first and the last.
  stats() {
    const span = this.firstCommitMs === null ? 0 : (this.lastCommitMs - this.firstCommitMs) / 1000;
    const rate = span > 0 ? (this.committedBytes - this.firstCommitBytes) / span : null;
    return { ...this.config, committed: this.committed, committedBytes: this.committedBytes, refused: this.refused,
      commitSeconds: span, committedBytesPerSecond: rate };
  }
}
