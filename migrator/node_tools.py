"""The Node side: installs the pinned npm packages on first use and runs our scripts.

The real `typescript` and `convex` packages are how generated code is checked; they are
installed once, from `migrator/node/package-lock.json`, into a cache folder
(`DEXIE_CONVEX_NODE_DIR`, default `~/.cache/dexie-convex/node-<lock hash>`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

from .errors import MigratorError

PACKAGE_DIR = Path(__file__).parent / "node"


def node_dir() -> Path:
    lock = (PACKAGE_DIR / "package-lock.json").read_bytes()
    default = Path.home() / ".cache" / "dexie-convex" / f"node-{hashlib.sha256(lock).hexdigest()[:12]}"
    return Path(os.environ.get("DEXIE_CONVEX_NODE_DIR") or default)


def ensure_node_modules() -> Path:
    """The folder with our scripts and their node_modules, installing with `npm ci` if needed."""
    target = node_dir()
    if not (target / "node_modules" / ".package-lock.json").exists():
        if shutil.which("npm") is None:
            raise MigratorError("npm is not installed", "install Node.js 20+ with npm")
        target.mkdir(parents=True, exist_ok=True)
        if target.resolve() != PACKAGE_DIR.resolve():
            for name in ("package.json", "package-lock.json"):
                shutil.copyfile(PACKAGE_DIR / name, target / name)
        run = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=target,
                             capture_output=True, text=True)
        if run.returncode != 0:
            raise MigratorError(f"npm ci failed in {target}:\n{run.stderr[-2000:]}",
                                "check that the npm registry is reachable, or set DEXIE_CONVEX_NODE_DIR")
    if target.resolve() != PACKAGE_DIR.resolve():
        for script in PACKAGE_DIR.glob("*.mjs"):
            shutil.copyfile(script, target / script.name)
    return target


def check_convex_dir(convex_dir: str | Path) -> dict:
    """Type-check a convex/ folder and load its schema: {"diagnostics": [...], "schema": {...}}."""
    target = ensure_node_modules()
    run = subprocess.run(["node", str(target / "check_convex.mjs"), str(Path(convex_dir).resolve())],
                         capture_output=True, text=True)
    if run.returncode != 0:
        raise MigratorError(f"loading {convex_dir}/schema.ts failed:\n{run.stderr[-3000:]}")
    return json.loads(run.stdout)


def check_browser_files(paths: list[str | Path]) -> list[str]:
    """Type-check browser-side TypeScript (the generated upload module) as an app would: diagnostics."""
    target = ensure_node_modules()
    run = subprocess.run(["node", str(target / "check_browser_module.mjs"), *(str(Path(p).resolve()) for p in paths)],
                         capture_output=True, text=True)
    if run.returncode != 0:
        raise MigratorError(f"type-checking {', '.join(map(str, paths))} failed:\n{run.stderr[-3000:]}")
    return json.loads(run.stdout)["diagnostics"]
