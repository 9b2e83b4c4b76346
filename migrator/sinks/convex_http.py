"""A Convex deployment over its HTTP API (`POST /api/{query,mutation,action}`), with retries.

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
from .wire import decode, encode

CLIENT_NAME = "dexie-convex-0.1.0"
RETRY_STATUS = {429, 503}
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
        where = f"{path}: " + (f"HTTP {status} {code or ''}".strip() + ": " if status and status != 200 else "")
        super().__init__(where + message, remedy)


class ConvexFunctionError(ConvexCallError):
    """The function ran and threw (reply status "error")."""


@dataclass
class RetryPolicy:
    attempts: int = 8
    base_delay: float = 0.2
    max_delay: float = 20.0

    def delay(self, attempt: int, retry_after: str | None) -> float:
        if retry_after:
            try:
                return min(float(retry_after), self.max_delay * 3)
            except ValueError:
                pass
        return min(self.max_delay, self.base_delay * 2 ** attempt) * (0.5 + random.random() / 2)


@dataclass
class CallStats:
    requests: int = 0
    retries: int = 0


class ConvexClient:
    def __init__(self, deployment: Deployment, *, retry: RetryPolicy | None = None, timeout: float = 120.0,
                 sleep=time.sleep):
        self.deployment = deployment
        self.retry = retry or RetryPolicy()
        self.stats = CallStats()
        self._sleep = sleep
        headers = {"Content-Type": "application/json", "Convex-Client": CLIENT_NAME}
        if deployment.key:
            headers["Authorization"] = f"Convex {deployment.key.reveal()}"
        self._http = httpx.Client(base_url=deployment.url, headers=headers, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "ConvexClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def query(self, path: str, args: dict) -> Any:
        return self.call("query", path, args)

    def mutation(self, path: str, args: dict) -> Any:
        return self.call("mutation", path, args)

    def action(self, path: str, args: dict) -> Any:
        return self.call("action", path, args)

    def call(self, kind: str, path: str, args: dict) -> Any:
        """Call a function; retry 429/503 and network failures with backoff, honouring Retry-After.

        Retrying a mutation is safe here because every import write is an upsert by key.
        """
        body = orjson.dumps({"path": path, "args": encode(args), "format": "convex_encoded_json"})
        last: str = ""
        for attempt in range(self.retry.attempts):
            self.stats.requests += 1
            try:
                reply = self._http.post(f"/api/{kind}", content=body)
            except httpx.TransportError as exc:
                last = f"network error: {type(exc).__name__}"
                self._backoff(attempt, None)
                continue
            if reply.status_code in RETRY_STATUS:
                last = f"HTTP {reply.status_code} {_error_code(reply)}"
                self._backoff(attempt, reply.headers.get("Retry-After"))
                continue
            return self._result(path, reply)
        raise ConvexCallError(path, f"gave up after {self.retry.attempts} attempts ({last})",
                              remedy="the deployment is unreachable or overloaded; re-run the same command "
                                     "later: it resumes where it stopped")

    def _backoff(self, attempt: int, retry_after: str | None) -> None:
        if attempt + 1 < self.retry.attempts:
            self.stats.retries += 1
            self._sleep(self.retry.delay(attempt, retry_after))

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
    try:
        return str(reply.json().get("code", ""))
    except ValueError:
        return ""
