"""`import --deploy` runs the real Convex CLI (`npx convex deploy`), which needs a real
deployment. Here a MOCK `npx` on PATH stands in for it (no real backend can run here): the
tests check what dexie-convex hands the CLI and that the key never shows in an error."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from migrator.commands import deploy_with_convex_cli
from migrator.errors import MigratorError
from migrator.sinks.convex_http import Deployment, Secret

KEY = "prod:happy-otter-123|eyJ2MiI6ImRlYWRiZWVmIn0"


@pytest.fixture
def mock_npx(tmp_path: Path, monkeypatch):
    """A fake `npx` recording its argv, cwd and CONVEX_DEPLOY_KEY; exits with $MOCK_NPX_EXIT."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "npx.log"
    script = bin_dir / "npx"
    script.write_text("#!/bin/sh\n"
                      f'printf "%s\\n" "$*" "$PWD" "$CONVEX_DEPLOY_KEY" > "{log}"\n'
                      'echo "Error: deploy failed for key $CONVEX_DEPLOY_KEY" >&2\n'
                      'exit "${MOCK_NPX_EXIT:-0}"\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return log


def test_deploy_passes_the_key_in_the_environment_not_argv(mock_npx: Path, tmp_path: Path):
    deploy_with_convex_cli(tmp_path, Deployment(url="https://happy-otter-123.convex.cloud", key=Secret(KEY)))
    argv, cwd, env_key = mock_npx.read_text().splitlines()
    assert argv == "--yes convex deploy --yes"
    assert Path(cwd) == tmp_path
    assert env_key == KEY and KEY not in argv


def test_failed_deploy_is_an_error_without_the_key(mock_npx: Path, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("MOCK_NPX_EXIT", "1")
    with pytest.raises(MigratorError) as caught:
        deploy_with_convex_cli(tmp_path, Deployment(url="https://happy-otter-123.convex.cloud", key=Secret(KEY)))
    text = str(caught.value) + repr(caught.value) + (caught.value.remedy or "")
    assert "deploy failed for key ***" in text
    assert KEY not in text and "npx convex deploy" in caught.value.remedy
