"""The local Convex-compatible endpoint (Node, on `convex-test`): the default import target.

It loads a generated convex/ folder, serves the Convex HTTP API on 127.0.0.1 and, when
stopped, writes every table as JSONL so the result can be inspected. The admin key is a
fresh random one, passed through the environment (not the command line, which `ps` shows).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ..errors import MigratorError
from ..node_tools import ensure_node_modules
from .convex_http import Deployment, Secret


@contextmanager
def local_endpoint(convex_dir: str | Path, state_out: str | Path | None = None, *,
                   faults: dict | None = None) -> Iterator[Deployment]:
    node = ensure_node_modules()
    key = secrets.token_hex(24)
    cmd = ["node", str(node / "local_convex.mjs"), "--convex-dir", str(Path(convex_dir).resolve()), "--port", "0"]
    if state_out is not None:
        cmd += ["--state-out", str(Path(state_out).resolve())]
    if faults:
        cmd += ["--faults", json.dumps(faults)]
    env = {**os.environ, "CONVEX_LOCAL_ADMIN_KEY": key}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()
        try:
            ready = json.loads(line)
        except ValueError:
            proc.kill()
            err = proc.stderr.read()[-3000:].replace(key, "***")
            raise MigratorError(f"the local Convex endpoint did not start:\n{err}",
                                f"check that {convex_dir} holds a generated schema.ts and dexieImport.ts") from None
        yield Deployment(url=ready["url"], key=Secret(key))
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()
