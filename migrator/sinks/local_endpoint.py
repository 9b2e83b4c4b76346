"""The local Convex-compatible endpoint (Node, on `convex-test`): the default import target.

It loads a generated convex/ folder, serves the Convex HTTP API on 127.0.0.1 and, when
stopped, writes every table as JSONL so the result can be inspected. Documents and files
live on disk while it runs, in a store folder it removes when it stops (`store_dir`, else
the system's temporary folder); `local_capacity` tells beforehand whether dumps fit. The admin key is a
fresh random one, passed through the environment (not the command line, which `ps` shows).

Everything the Node process says after its ready line (stderr, and stdout) goes to a log
file: a pipe nobody reads would fill up and stall a chatty endpoint mid-import.
"""

from __future__ import annotations

import json
import os
import secrets
import select
import signal
import subprocess
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator

from ..errors import MigratorError
from ..node_tools import ensure_node_modules
from .convex_http import Deployment, Secret

START_TIMEOUT_S = 120
STOP_QUIET_S = 60            # stopping: killed after this long without writing to --state-out
LOG_TAIL_CHARS = 3000


class EndpointDidNotStart(MigratorError):
    def __init__(self, convex_dir: Path, why: str, log_tail: str, log_path: Path | None):
        self.convex_dir, self.log_tail, self.log_path = convex_dir, log_tail, log_path
        where = f" (log: {log_path})" if log_path else ""
        super().__init__(f"the local Convex endpoint did not start: {why}{where}\n{log_tail}",
                         f"check that {convex_dir} holds a generated schema.ts and dexieImport.ts")


def _tail(log: IO[bytes], secret: str) -> str:
    log.flush()
    log.seek(0, os.SEEK_END)
    log.seek(max(0, log.tell() - LOG_TAIL_CHARS - len(secret)))   # redact first: no key cut in half
    return log.read().decode("utf-8", "replace").replace(secret, "***")[-LOG_TAIL_CHARS:]


def _drain(stream: IO[str], log: IO[bytes]) -> None:
    """Copy the endpoint's stdout after the ready line into the log, so its pipe never fills."""
    for line in stream:
        log.write(line.encode("utf-8", "replace"))
        log.flush()


def _written(state_out: Path | None) -> tuple:
    """What the state dump has written so far (names, sizes): it changes while it works."""
    if state_out is None or not state_out.is_dir():
        return ()
    sizes = []
    for path in state_out.iterdir():
        try:
            sizes.append((path.name, path.stat().st_size))
        except FileNotFoundError:       # a temporary file renamed meanwhile
            pass
    return tuple(sorted(sizes))


def _stop(proc: subprocess.Popen, state_out: Path | None) -> None:
    """SIGTERM, then wait while the endpoint writes its contents out (a large import takes a
    while); killed once it has been quiet for STOP_QUIET_S."""
    proc.send_signal(signal.SIGTERM)
    seen = _written(state_out)
    while True:
        try:
            proc.wait(timeout=STOP_QUIET_S)
            return
        except subprocess.TimeoutExpired:
            now = _written(state_out)
            if now == seen:
                proc.kill()
                proc.wait()
                return
            seen = now


def _ready_line(proc: subprocess.Popen, timeout: float) -> str:
    """The first stdout line, or "" when the process ends or says nothing for `timeout` seconds."""
    readable, _, _ = select.select([proc.stdout], [], [], timeout)
    return proc.stdout.readline() if readable else ""


@contextmanager
def local_endpoint(convex_dir: str | Path, state_out: str | Path | None = None, *,
                   faults: dict | None = None, log_path: str | Path | None = None,
                   admin_key: str | None = None, store_dir: str | Path | None = None) -> Iterator[Deployment]:
    """Start the endpoint on `convex_dir`; its output goes to `log_path` (else a temporary file).
    The admin key is a fresh random one unless `admin_key` is given."""
    node = ensure_node_modules()
    convex_dir = Path(convex_dir)
    key = admin_key or secrets.token_hex(24)
    cmd = ["node", str(node / "local_convex.mjs"), "--convex-dir", str(convex_dir.resolve()), "--port", "0"]
    if state_out is not None:
        cmd += ["--state-out", str(Path(state_out).resolve())]
    if store_dir is not None:
        cmd += ["--store-dir", str(Path(store_dir).resolve())]
    if faults:
        cmd += ["--faults", json.dumps(faults)]
    env = {**os.environ, "CONVEX_LOCAL_ADMIN_KEY": key}
    keep_log = log_path is not None
    if keep_log:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        Path(log_path).write_bytes(b"")
    else:
        fd, log_path = tempfile.mkstemp(prefix="local-convex-", suffix=".log")
        os.close(fd)
    # append mode: the Node process (stderr) and the drain thread (stdout) both write at the end
    with open(log_path, "a+b") as log:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True, env=env)
        drain = None
        try:
            line = _ready_line(proc, START_TIMEOUT_S)
            try:
                ready = json.loads(line)
                url = ready["url"]
            except (ValueError, TypeError, KeyError):
                try:
                    exited = proc.wait(timeout=2) if line == "" else None
                except subprocess.TimeoutExpired:
                    exited = None
                proc.kill()
                proc.wait()
                why = (f"it exited with code {exited}" if exited is not None
                       else f"no ready line within {START_TIMEOUT_S} s" if line == ""
                       else f"unexpected output {line.replace(key, '***')[:200]!r}")
                raise EndpointDidNotStart(convex_dir, why, _tail(log, key),
                                          Path(log_path) if keep_log else None) from None
            drain = threading.Thread(target=_drain, args=(proc.stdout, log), daemon=True)
            drain.start()
            yield Deployment(url=url, key=Secret(key))
        finally:
            if proc.poll() is None:
                _stop(proc, Path(state_out).resolve() if state_out is not None else None)
            if drain is not None:
                drain.join(timeout=5)
            proc.stdout.close()
            if not keep_log:
                Path(log_path).unlink(missing_ok=True)
