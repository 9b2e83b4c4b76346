"""How fast to write to a deployment: a rate, a window of requests in flight and a batch size
that follow what it answers (AIMD, as TCP does with a congested link).

A deployment whose write budget is spent answers 429 `TooManyWrites` (Convex checks the bytes
committed in the last second before it runs a mutation; it first retries such a mutation
itself for a while, so latency grows before any 429 shows). Each 429 that starts a new
congestion episode (the request was sent after the last cut) cuts the rate to a share of the
throughput the deployment actually acknowledged (its best second lately: the dips while
refused requests wait are not its pace), halves the window of requests in flight
and sizes batches to a quarter second of that rate; then the rate grows slowly near the
cut and faster the longer no 429 comes, and each success widens the window a little. A request taking far longer than the recent ones narrows the window too. Every wait
has jitter, so requests that were refused together do not come back together.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

DECREASE = 0.9                # the rate after a 429: this share of the acknowledged throughput
INCREASE_PER_SECOND = 0.02    # then it grows by this share of the rate at the cut per second ...
ACCELERATE_S = 20.0           # ... faster the longer no 429 came: rate(t) = cut (1 + a (t + t^2 / ACCELERATE_S))
THROUGHPUT_WINDOW_S = 3.0     # acknowledgements kept this long; their best second estimates the throughput
BATCH_SECONDS = 0.25          # once throttled, a batch carries this long of the rate
EPISODE_S = 1.0               # 429s for requests sent within this long after a cut belong to its episode
                              # (Convex refuses while the bytes of the last second are over the budget)
MIN_RATE = 64 * 1024          # the rate is never cut below this (far below any deployment's budget), so
                              # 429s that have nothing to do with throughput cannot starve the import
MIN_BATCH_BYTES = 16 * 1024
SLOW_FACTOR = 4.0             # a request this many times slower than the recent ones narrows the window
SLOW_FLOOR_S = 1.0            # ... if it also took at least this long


@dataclass
class PacingStats:
    throttled: int = 0                 # 429 answers
    cuts: int = 0                      # congestion episodes (rate cuts)
    slow: int = 0                      # window narrowed for latency
    acknowledged_bytes: int = 0


@dataclass
class Pacer:
    """Shared by every thread sending through one client. No limit until the deployment asks."""

    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    jitter: Callable[[], float] = random.random
    rate: float | None = None          # bytes/s; None: not throttled yet
    window: float | None = None        # requests in flight; None: the caller's maximum
    stats: PacingStats = field(default_factory=PacingStats)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _next_send: float = 0.0            # when the rate lets the next byte go
    _cut_at: float = float("-inf")     # the last rate cut (429)
    _narrowed_at: float = float("-inf")  # the last narrowing of the window (429 or slow reply)
    _cut_rate: float = 0.0
    _inflight: int = 0
    _acked: deque = field(default_factory=deque, repr=False)    # (time, bytes) within THROUGHPUT_WINDOW_S
    _latency: float | None = None      # smoothed latency of recent successes

    # -- what the send loop asks -----------------------------------------------------------
    def concurrency(self, most: int) -> int:
        with self._lock:
            return most if self.window is None else max(1, min(most, int(self.window)))

    def batch_bytes(self, most: int) -> int:
        rate = self.rate                   # one read (asked for each row read: no lock)
        return most if rate is None else max(MIN_BATCH_BYTES, min(most, int(rate * BATCH_SECONDS)))

    # -- around each request ---------------------------------------------------------------
    def before_send(self, size: int) -> float:
        """Wait until the rate lets `size` bytes go; returns the send time (for `throttled`)."""
        with self._lock:
            now = self.clock()
            wait = 0.0
            if self.rate is not None:
                start = max(now, self._next_send)
                self._next_send = start + size / self.rate
                wait = start - now
            self._inflight += 1
        if wait > 0:
            self.sleep(wait)
        return self.clock()

    def done(self) -> None:
        with self._lock:
            self._inflight -= 1

    def acknowledged(self, size: int, sent_at: float) -> None:
        """A success: count its bytes, grow rate and window, watch its latency."""
        with self._lock:
            now = self.clock()
            latency = now - sent_at
            self.stats.acknowledged_bytes += size
            self._acked.append((now, size))
            while self._acked and self._acked[0][0] < now - THROUGHPUT_WINDOW_S:
                self._acked.popleft()
            slow = (self._latency is not None and latency > SLOW_FACTOR * self._latency
                    and latency >= SLOW_FLOOR_S and sent_at > self._narrowed_at)
            if slow:
                self.stats.slow += 1
                self._narrowed_at = now
                self.window = max(1.0, min(self.window or self._inflight + 1, self._inflight + 1) * 0.75)
            self._latency = latency if self._latency is None else 0.8 * self._latency + 0.2 * latency
            if self.rate is not None:
                t = max(0.0, now - self._cut_at)
                self.rate = self._cut_rate * (1.0 + INCREASE_PER_SECOND * (t + t * t / ACCELERATE_S))
            if self.window is not None and not slow:     # widen, but not past what is really used
                self.window = min(self.window + 1.0 / self.window, self._inflight + 2.0)

    def throttled(self, size: int, sent_at: float, retry_after: float | None) -> float:
        """A 429: cut once per episode, and say how long this request waits before it is sent again."""
        with self._lock:
            now = self.clock()
            self.stats.throttled += 1
            if sent_at > self._cut_at + EPISODE_S:
                self.stats.cuts += 1
                self._cut_at = self._narrowed_at = now
                measured = self._throughput(now)
                base = min(self.rate, measured) if self.rate is not None and measured else (self.rate or measured)
                # Nothing measured yet (the first batches refused at once): the refused request's
                # bytes did not fit in a second, so start below that, not at the floor.
                self.rate = max(MIN_RATE, DECREASE * (base or size))
                self._cut_rate = self.rate
                used = self._inflight + 1    # the others in flight, and this one
                self.window = max(1.0, min(self.window or used, used) * 0.5)
            floor = retry_after if retry_after is not None else size / self.rate
        return floor * (1.0 + 0.5 * self.jitter())      # never sooner than asked, spread over half as long again

    def _throughput(self, now: float) -> float | None:
        """Bytes/s the deployment took lately: its best second among the last few (acknowledged
        bytes after the first success of a second, over the time since it), not their mean,
        which takes in the dips after earlier 429s and would cut lower each time."""
        acked = list(self._acked)
        best = None
        for i, (start, _) in enumerate(acked):
            within = [(t, b) for t, b in acked[i + 1:] if t <= start + 1.0]
            if within and within[-1][0] - start >= 0.2:
                rate = sum(b for _, b in within) / (within[-1][0] - start)
                best = rate if best is None else max(best, rate)
        return best
