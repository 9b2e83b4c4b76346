"""A Convex deployment over its HTTP API (`POST /api/{query,mutation,action}`), with retries.

What each answer leads to (every import write is an upsert by key, so sending a call again
is safe even when its first try committed):
- 429 (`TooManyWrites`: the write budget is spent): slow down (`pacing.Pacer`) and send it
  again; not a failed attempt. Only a deployment that refuses everything for
  `RetryPolicy.throttle_patience` seconds stops the import.
- 500 (`InternalServerError`), 502, 503, 504, timeouts, refused or reset connections: a
  failed attempt, sent again after a backoff with jitter (honouring `Retry-After`), up to
  `RetryPolicy.attempts`.
- A pooled keep-alive connection the server had closed (the request fails on a reused
  connection before any answer): sent again at once on a fresh connection, not an attempt.
- Anything else (400, 401, 403, 404, 409, 413, ...): `ConvexCallError` with its status and
  code, and a remedy where one is known; the importer bisects a batch refused with 400/413,
  and one far larger than the pace allows that met a 429 (`Oversized`).

The deploy key is held in a `Secret` whose repr hides it; it is only ever put in the
Authorization header and never in messages, logs or exceptions.
"""

from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import httpx
import orjson

from ..errors import MigratorError
from .pacing import Pacer
from .wire import decode, encode

CLIENT_NAME = "dexie-convex-0.1.0"
THROTTLED = 429
RETRY_STATUS = {500, 502, 503, 504}
# What a request on a connection the server has closed fails with (before any answer).
STALE_CONNECTION = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]"}


class Secret:
    """A deploy/admin key: usable, never shown."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)


@dataclass
class Deployment:
    url: str
    key: Secret | None

    def __repr__(self) -> str:
        return f"Deployment(url={self.url!r}, key={'***' if self.key else None})"


def resolve_deployment(url: str | None, key: str | None, *, insecure: bool = False,
                       env: dict | None = None) -> Deployment | None:
    """URL and key from flags, else CONVEX_URL/CONVEX_DEPLOY_KEY, else the self-hosted variables.

    None means no deployment was named (the caller may start the local endpoint).
    """
    env = os.environ if env is None else env
    url = url or env.get("CONVEX_URL") or env.get("CONVEX_SELF_HOSTED_URL")
    key = key or env.get("CONVEX_DEPLOY_KEY") or env.get("CONVEX_SELF_HOSTED_ADMIN_KEY")
    if not url:
        return None
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise MigratorError(f"{url!r} is not an http(s) URL", "give the deployment URL, e.g. https://happy-otter-123.convex.cloud")
    if parsed.scheme == "http" and parsed.hostname not in LOCAL_HOSTS and not insecure:
        raise MigratorError(f"refusing plain http:// to {parsed.hostname}: the deploy key would cross the network "
                            "unencrypted", "use https://, or pass --insecure if you really mean it")
    return Deployment(url=url.rstrip("/"), key=Secret(key) if key else None)


class ConvexCallError(MigratorError):
    """A call that failed for good: HTTP-level (`status`, `code`) or inside the function."""

    def __init__(self, path: str, message: str, *, status: int | None = None, code: str | None = None,
                 data: Any = None, remedy: str | None = None):
        self.path, self.status, self.code, self.data = path, status, code, data
        self.detail = message              # the message without where it came from
        where = f"{path}: " + (f"HTTP {status} {code or ''}".strip() + ": " if status and status != 200 else "")
        super().__init__(where + message, remedy)


class ConvexFunctionError(ConvexCallError):
    """The function ran and threw (reply status "error")."""


class Oversized(ConvexCallError):
    """A 429 for a batch made before the deployment's pace was known: send it in smaller parts."""


@dataclass
class RetryPolicy:
    attempts: int = 8                  # failed attempts (5xx, network) before a call gives up
    base_delay: float = 0.2
    max_delay: float = 20.0
    throttle_patience: float = 600.0   # seconds of nothing but 429s before the import stops

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Exponential backoff with jitter; a server's Retry-After is a floor, spread over half as long again."""
        if retry_after is not None:
            return min(retry_after, self.max_delay * 3) * (1 + random.random() / 2)
        return min(self.max_delay, self.base_delay * 2 ** attempt) * (0.5 + random.random() / 2)


@dataclass
class CallStats:
    requests: int = 0
    retries: int = 0                   # failed attempts sent again
    reconnects: int = 0                # stale pooled connections replaced by a fresh one (not attempts)


class ConvexClient:
    pipelined = False                  # calls wait on the network: the importer keeps several in flight on threads

    def hosted_ledger(self) -> None:
        """A deployment keeps no key ledger for the importer (the dry run's process does)."""
        return None

    def __init__(self, deployment: Deployment, *, retry: RetryPolicy | None = None, timeout: float = 120.0,
                 sleep=time.sleep, pacer: Pacer | None = None, clock=time.monotonic):
        self.deployment = deployment
        self.retry = retry or RetryPolicy()
        self.stats = CallStats()
        self.pacer = pacer or Pacer(sleep=sleep, clock=clock)
        self._sleep, self._clock = sleep, clock
        self._answered_at = clock()    # the last answer that was not a 429 or a failure
        headers = {"Content-Type": "application/json", "Convex-Client": CLIENT_NAME}
        if deployment.key:
            headers["Authorization"] = f"Convex {deployment.key.reveal()}"
        self._settings = {"base_url": deployment.url, "headers": headers, "timeout": timeout}
        self._http = httpx.Client(**self._settings)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "ConvexClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def query(self, path: str, args: dict) -> Any:
        return self.call("query", path, args)

    def mutation(self, path: str, args: dict, *, divisible: bool = False) -> Any:
        """`divisible`: the caller can split the arguments (a batch of rows), so a 429 for a body
        far over what the pace allows raises `Oversized` instead of waiting to send it whole."""
        return self.call("mutation", path, args, divisible=divisible)

    def action(self, path: str, args: dict) -> Any:
        return self.call("action", path, args)

    def call(self, kind: str, path: str, args: dict, *, divisible: bool = False) -> Any:
        """Call a function, paced; 429s slow down, failures are retried (see the module's docstring)."""
        body = orjson.dumps({"path": path, "args": encode(args), "format": "convex_encoded_json"})
        failed, last = 0, ""
        while True:
            sent_at = self.pacer.before_send(len(body))
            try:
                reply = self._post(kind, body)
            except httpx.TransportError as exc:
                reply, last = None, f"network error: {type(exc).__name__}"
            finally:
                self.pacer.done()
            if reply is not None and reply.status_code == THROTTLED:
                self._wait_throttled(path, reply, len(body), sent_at, divisible)
                continue
            if reply is not None and reply.status_code not in RETRY_STATUS:
                self._answered_at = self._clock()
                if reply.status_code == 200:
                    self.pacer.acknowledged(len(body), sent_at)
                return self._result(path, reply)
            if reply is not None:
                last = f"HTTP {reply.status_code} {_error_code(reply)}".strip()
            failed += 1
            if failed >= self.retry.attempts:
                raise ConvexCallError(path, f"gave up after {self.retry.attempts} attempts ({last})",
                                      remedy="the deployment is unreachable or failing; re-run the same command "
                                             "later: it resumes where it stopped")
            self.stats.retries += 1
            self._sleep(self.retry.delay(failed - 1, _retry_after(reply)))

    def _post(self, kind: str, body: bytes) -> httpx.Response:
        """POST once; a request that fails on a reused pooled connection before any answer
        (the server closed it while it was idle) goes again at once on a fresh connection."""
        opened: list[str] = []

        def trace(event: str, info: dict) -> None:
            if ".connect_tcp." in event:
                opened.append(event)
        self.stats.requests += 1
        try:
            return self._http.post(f"/api/{kind}", content=body, extensions={"trace": trace})
        except STALE_CONNECTION:
            if opened:                 # a fresh connection failed: a real failure
                raise
        self.stats.reconnects += 1
        self.stats.requests += 1
        with httpx.Client(**self._settings, limits=httpx.Limits(max_keepalive_connections=0)) as fresh:
            return fresh.post(f"/api/{kind}", content=body)

    def _wait_throttled(self, path: str, reply: httpx.Response, size: int, sent_at: float, divisible: bool) -> None:
        delay = self.pacer.throttled(size, sent_at, _retry_after(reply))
        if divisible and size > 2 * self.pacer.batch_bytes(size):
            raise Oversized(path, f"a {size}-byte batch is over what the deployment's write budget takes at once",
                            status=THROTTLED, code=_error_code(reply) or None)
        waited = self._clock() + delay - self._answered_at
        if waited > self.retry.throttle_patience:
            raise ConvexCallError(
                path, f"the deployment answered only 429 {_error_code(reply)} (write throughput exceeded) for "
                      f"{waited:.0f} s", status=THROTTLED, code=_error_code(reply) or None,
                remedy="another client may be using the deployment's whole write budget; re-run the same command "
                       "later: it resumes where it stopped")
        self._sleep(delay)

    def _result(self, path: str, reply: httpx.Response) -> Any:
        try:
            data = reply.json()
        except ValueError:
            raise ConvexCallError(path, f"reply is not JSON: {reply.text[:200]!r}", status=reply.status_code) from None
        if reply.status_code in (200, 560) and isinstance(data, dict) and "status" in data:
            if data["status"] == "success":
                return decode(data.get("value"))
            raise ConvexFunctionError(path, str(data.get("errorMessage", "function failed")),
                                      status=reply.status_code, data=decode(data.get("errorData")))
        code = data.get("code") if isinstance(data, dict) else None
        message = data.get("message", reply.text[:300]) if isinstance(data, dict) else reply.text[:300]
        remedy = None
        if reply.status_code in (401, 403):
            remedy = "check the deploy key (--deploy-key or CONVEX_DEPLOY_KEY) belongs to this deployment"
        elif reply.status_code == 404 or code in ("FunctionNotFound", "UnknownFunction"):
            remedy = "deploy the generated convex/ folder first (`npx convex deploy`), or pass --deploy"
        raise ConvexCallError(path, str(message), status=reply.status_code, code=code, remedy=remedy)


def _error_code(reply: httpx.Response) -> str:
    """Convex's error code from a JSON error body; "" for anything else (a proxy's HTML page)."""
    try:
        data = reply.json()
    except ValueError:
        return ""
    return str(data.get("code", "")) if isinstance(data, dict) else ""


def _retry_after(reply: httpx.Response | None) -> float | None:
    """Retry-After in seconds (Convex sends none; proxies may). An HTTP date is ignored."""
    try:
        value = float(reply.headers["Retry-After"]) if reply is not None else None
    except (KeyError, ValueError):
        return None
    return value if value is not None and value >= 0 else None
