// The local endpoint's fault switch: a deterministic share of function calls fails the
// ways a deployment (or the proxy in front of it) fails, before or after the commit.

// mulberry32: small deterministic PRNG so a seed replays the same fault sequence.
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Shares in [0, 1]. Before the function runs: failBeforeCommit (503 OCC), status429,
// status500, status502, status503, status504, dropConnection (socket closed, no reply),
// dropReused (a request arriving on a kept-alive connection is dropped, as when the server
// closed the idle connection while the request was on its way). After a mutation
// committed: failAfterCommit (503), status500AfterCommit, dropAfterCommit.
export const FAULT_KEYS = ["failBeforeCommit", "failAfterCommit", "dropAfterCommit", "status429", "status503", "dropConnection",
  "status500", "status502", "status504", "status500AfterCommit", "dropReused"];

// The answers, as Convex's backend (errors crate) and a proxy in front of it give them.
export const ANSWERS = {
  status429: { status: 429, code: "TooManyWrites", message: "Write throughput exceeded (injected fault).", headers: { "Retry-After": "1" } },
  status500: { status: 500, code: "InternalServerError", message: "Your request couldn't be completed. Try again later." },
  status502: { status: 502, html: "<html><head><title>502 Bad Gateway</title></head><body>502 Bad Gateway</body></html>" },
  status503: { status: 503, code: "Overloaded", message: "The deployment is overloaded (injected fault)." },
  status504: { status: 504, html: "<html><head><title>504 Gateway Time-out</title></head><body>504 Gateway Time-out</body></html>" },
  failBeforeCommit: { status: 503, code: "OptimisticConcurrencyControlFailure", message: "Transaction was rejected before it ran (injected fault)." },
  failAfterCommit: { status: 503, code: "InternalServerError", message: "The reply was lost after the transaction committed (injected fault)." },
  status500AfterCommit: { status: 500, code: "InternalServerError", message: "Your request couldn't be completed. Try again later." },
};
const BEFORE = ["status429", "status500", "status502", "status503", "status504", "failBeforeCommit"];

export class Faults {
  constructor(config) { this.set(config); }

  // Also: seed, delayMs [min, max], keepAliveMs (the server's keep-alive timeout), and
  // reply {status, code, message, html, headers} answered to every mutation (not random).
  set(config) {
    const c = config ?? {};
    for (const k of FAULT_KEYS) {
      if (c[k] !== undefined && !(typeof c[k] === "number" && c[k] >= 0 && c[k] <= 1)) throw new Error(`fault ${k} must be a share in [0, 1]`);
    }
    if (c.delayMs !== undefined && !(Array.isArray(c.delayMs) && c.delayMs.length === 2 && c.delayMs.every((x) => typeof x === "number" && x >= 0))) {
      throw new Error("delayMs must be [min, max] milliseconds");
    }
    if (c.keepAliveMs !== undefined && !(Number.isInteger(c.keepAliveMs) && c.keepAliveMs > 0)) throw new Error("keepAliveMs must be a positive integer");
    if (c.reply !== undefined && !(Number.isInteger(c.reply?.status) && c.reply.status >= 400 && c.reply.status < 600)) {
      throw new Error("reply must be {status: 400..599, code, message}");
    }
    this.config = { ...c };
    this.random = prng(c.seed ?? 1);
    this.injected = {};          // answers given per fault since the last set(), for tests to see they happened
  }

  count(kind) {
    this.injected[kind] = (this.injected[kind] ?? 0) + 1;
  }

  // One draw per function call: always the same number of random numbers, so a seed gives
  // the same decisions for the same order of requests whatever the shares are.
  draw() {
    const r = Array.from({ length: FAULT_KEYS.length + 1 }, () => this.random());
    const c = this.config;
    const out = {};
    FAULT_KEYS.forEach((k, i) => { out[k] = (c[k] ?? 0) > 0 && r[i] < c[k]; });
    const [lo, hi] = c.delayMs ?? [0, 0];
    out.delayMs = lo + Math.floor(r[FAULT_KEYS.length] * (Math.max(hi, lo) - lo + 1));
    return out;
  }

  // The answer to give before the function runs, if any ({status, code, message, headers} or {status, html}).
  before(draw, isMutation) {
    if (this.config.reply && isMutation) return this.config.reply;
    const hit = BEFORE.find((k) => draw[k] && (k !== "failBeforeCommit" || isMutation));
    if (!hit) return null;
    this.count(hit);
    return ANSWERS[hit];
  }

  // The answer instead of a committed mutation's reply, if any ("drop": close the socket).
  afterCommit(draw) {
    const hit = ["dropAfterCommit", "failAfterCommit", "status500AfterCommit"].find((k) => draw[k]);
    if (!hit) return null;
    this.count(hit);
    return hit === "dropAfterCommit" ? "drop" : ANSWERS[hit];
  }
}
