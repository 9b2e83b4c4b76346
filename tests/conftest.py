import shutil
import signal
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"


@pytest.fixture(scope="session")
def node_available():
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.fail("Node.js and npm are required for the type-check tests (see README)")
    return True


def sigint_as_ctrl_c() -> None:
    """`preexec_fn` for a child process a test sends SIGINT: Python turns SIGINT into
    KeyboardInterrupt only when it was not ignored at start, and a test run started in the
    background (`cmd &`, nohup) passes SIGINT on ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def as_js(value):
    """A parsed JSON value as JS reads it: integers outside int64 become floats."""
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**63:
        return float(value)
    if isinstance(value, list):
        return [as_js(v) for v in value]
    if isinstance(value, dict):
        return {k: as_js(v) for k, v in value.items()}
    return value


class FakeTime:
    """Time that passes only when slept through, so waits can be read instead of sat through."""

    def __init__(self):
        self.t, self.slept = 1000.0, []

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += seconds


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()
