"""Shared by the collect tests: a todo app mapping scoped by owner, users over HTTP."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path

import httpx

from migrator import commands
from migrator.generate.collect_module import CollectSettings

from conftest import FIXTURES

TODO = FIXTURES / "apps" / "todo-js"
ISSUER = "https://auth.example"


def owned_todo_mapping(tmp: Path) -> Path:
    """The todo-js mapping with options.ownerField "owner", planned again so the keys are scoped."""
    dumps = [TODO / "dump.json"]
    path = commands.plan_mappings([TODO / "src"], dumps, tmp / "mappings").writes[0].path
    path.write_text(path.read_text().replace('"ownerField": null', '"ownerField": "owner"'))
    commands.plan_mappings([TODO / "src"], dumps, tmp / "mappings")
    return path


def generate_collect(mapping: Path, convex_dir: Path, max_bytes: int, browser: Path | None = None):
    return commands.generate_convex([mapping], convex_dir, collect=CollectSettings(max_bytes=max_bytes),
                                    browser_module=browser)


def unsigned_jwt(claims: dict) -> str:
    """A token as convex-test's withIdentity makes it (alg none); the local endpoint reads it unverified."""
    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def token_identifier(subject: str) -> str:
    return f"{ISSUER}|{subject}"


@dataclass
class Caller:
    """Calls functions over HTTP with one Authorization header (or none)."""

    url: str
    authorization: str | None = None

    @staticmethod
    def user(url: str, subject: str, **claims) -> "Caller":
        return Caller(url, "Bearer " + unsigned_jwt({"iss": ISSUER, "sub": subject, **claims}))

    def call(self, kind: str, path: str, args: dict | None = None) -> httpx.Response:
        headers = {"Content-Type": "application/json"}
        if self.authorization:
            headers["Authorization"] = self.authorization
        return httpx.post(f"{self.url}/api/{kind}", headers=headers, timeout=60,
                          json={"path": path, "args": args or {}, "format": "convex_encoded_json"})

    def value(self, kind: str, path: str, args: dict | None = None):
        reply = self.call(kind, path, args)
        body = reply.json()
        assert reply.status_code == 200 and body["status"] == "success", (path, reply.status_code, body)
        return body["value"]

    def error(self, kind: str, path: str, args: dict | None = None) -> dict:
        """The function's ConvexError data (the call must fail inside the function)."""
        reply = self.call(kind, path, args)
        body = reply.json()
        assert reply.status_code == 200 and body["status"] == "error", (path, reply.status_code, body)
        return body.get("errorData") or {"message": body["errorMessage"]}

    def upload(self, data: bytes) -> str:
        """An upload URL from generateUploadUrl, then POST the bytes: the storage id."""
        url = self.value("mutation", "dexieCollect:generateUploadUrl")
        reply = httpx.post(url, content=data, headers={"Content-Type": "application/json"}, timeout=60)
        assert reply.status_code == 200, reply.text
        return reply.json()["storageId"]
