"""Every way reading a dump can fail is a DumpError naming the path and what went wrong,
and on the command line (inspect, plan, import) an exit code != 0 with that message and no
traceback. The cases the machine cannot produce for real (EIO; permission denied when the
tests run as root) use stand-ins, named as such below.
"""
from __future__ import annotations

import errno
import gzip
import io
import os
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import FIXTURES
from migrator.cli import cli
from migrator.dumps import Dump, open_dump, window
from migrator.errors import DumpError

TODO = FIXTURES / "apps" / "todo-js" / "dump.json"


class FailingFile(io.RawIOBase):
    """Stand-in for a file on a failing disk: reads like the real file until `fail_at`
    bytes have been read, then every read raises OSError(EIO)."""

    def __init__(self, path: Path, fail_at: int):
        self.real, self.fail_at = path.open("rb"), fail_at

    def read(self, n: int = -1) -> bytes:
        if self.real.tell() + (n if n >= 0 else 1 << 62) > self.fail_at:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return self.real.read(n)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.real.seek(offset, whence)

    def tell(self) -> int:
        return self.real.tell()

    def close(self) -> None:
        self.real.close()


def read_all(path) -> None:
    with open_dump(path) as dump:
        list(dump.rows())


@pytest.fixture
def special_files(tmp_path):
    """A path of each kind that is not a regular file: (path, what the error says)."""
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    sock_path = tmp_path / "sock.json"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(sock_path))
    yield [(tmp_path / "missing.json", "no such file"), (tmp_path, "is a directory"),
           (fifo, "is a FIFO (named pipe), not a regular file"), (sock_path, "is a socket, not a regular file"),
           (Path("/dev/null"), "is a character device, not a regular file")]
    sock.close()


def bad_contents(tmp_path) -> list[tuple[Path, str]]:
    """Files that exist but are no dump text: (path, what the error says)."""
    text = TODO.read_text()
    cases = {"empty.json": (b"", "the file is empty"),
             "utf16.json": (text.encode("utf-16"), "the file is UTF-16 text, not UTF-8"),
             "utf16-no-bom.json": (text.encode("utf-16-le"), "the file is not UTF-8 text (NUL bytes"),
             "dump.json.gz": (gzip.compress(text.encode()), "the file is gzip-compressed"),
             "latin1.json": (text.replace('"Groceries"', '"Caf\u00e9"').encode("latin-1"), "invalid bytes in UTF8")}
    out = []
    for name, (data, message) in cases.items():
        (tmp_path / name).write_bytes(data)
        out.append((tmp_path / name, message))
    return out


def test_paths_that_are_not_regular_files(special_files):
    for path, message in special_files:
        with pytest.raises(DumpError) as err:
            read_all(path)
        assert str(err.value).startswith(f"{path}: {message}") and err.value.remedy, path


def test_files_that_are_not_dump_text(tmp_path):
    assert '"Groceries"' in TODO.read_text()
    for path, message in bad_contents(tmp_path):
        with pytest.raises(DumpError) as err:
            read_all(path)
        assert str(err.value).startswith(str(path)) and message in str(err.value), path
    with pytest.raises(DumpError) as err:
        read_all(tmp_path / "latin1.json")
    bad = (tmp_path / "latin1.json").read_bytes().index(b"Caf\xe9") + 3
    assert bad <= err.value.offset <= bad + 1 and err.value.table == "todoLists" and err.value.row == 0


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_permission_denied(tmp_path):
    path = tmp_path / "locked.json"
    path.write_bytes(TODO.read_bytes())
    path.chmod(0)
    with pytest.raises(DumpError, match="cannot open the file: Permission denied \\(EACCES\\)"):
        read_all(path)


def test_permission_denied_stand_in(tmp_path, monkeypatch):
    """Stand-in for a file the user may not read: `open` raises PermissionError as the OS does
    (the test above cannot deny root)."""
    path = tmp_path / "locked.json"
    path.write_bytes(TODO.read_bytes())
    real_open = Path.open

    def denied(self, *args, **kwargs):
        if self == path:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", denied)
    with pytest.raises(DumpError) as err:
        read_all(path)
    assert str(err.value).startswith(f"{path}: cannot open the file: Permission denied (EACCES)")
    assert "read access" in err.value.remedy


@pytest.mark.parametrize("fail_at", [0, 100, 2000, 5000])
@pytest.mark.parametrize("slow", [False, True], ids=["window", "repairing"])
def test_io_error_anywhere_while_reading(tmp_path, monkeypatch, fail_at, slow):
    """EIO in the format sniffing, the header, the rows, and the repairing re-read."""
    text = TODO.read_text()
    if slow:            # a defect only the repairing reader reads: it opens the file again
        text = text.replace('"id":1,"$types":{"createdAt":"date"}}', '"id":1,"$types":{"createdAt":"date"},}', 1)
        assert ',}' in text
    path = tmp_path / "d.json"
    path.write_text(text)
    assert fail_at < len(text)
    monkeypatch.setattr(window, "CHUNK", 512)
    monkeypatch.setattr(Dump, "_open", lambda self: FailingFile(self.path, fail_at))
    with pytest.raises(DumpError) as err:
        read_all(path)
    assert str(err.value).startswith(f"{path}") and "Input/output error (EIO)" in str(err.value)
    assert "cannot read the file" in str(err.value) and "check the disk" in err.value.remedy


# -- on the command line ---------------------------------------------------------------------
def cli_run(*args) -> tuple[int, str]:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def todo_mapping(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("mappings")
    code, output = cli_run("plan", TODO, "-o", out)
    assert code == 0, output
    [mapping] = out.glob("*.json5")
    return mapping


def commands_for(path: Path, mapping: Path, state: Path) -> dict[str, list]:
    return {"inspect": ["inspect", path], "plan": ["plan", path, "-o", state / "m"],
            "import": ["import", mapping, path, "--dry-run", "--state-dir", state / "s"]}


def test_cli_reading_errors_name_the_path_and_exit_non_zero(tmp_path, special_files, todo_mapping):
    cases = special_files + bad_contents(tmp_path)
    for path, message in cases:
        for command, args in commands_for(path, todo_mapping, tmp_path).items():
            code, output = cli_run(*args)
            assert code != 0, (command, path)
            flat = " ".join(output.split())
            if message in ("no such file", "is a directory"):      # click checks these itself (exit code 2)
                assert f"'{path}'" in flat and ("does not exist" in flat or "is a directory" in flat), (command, output)
            else:
                assert code == 1 and f"{path}" in flat and message in flat and "remedy:" in flat, (command, output)


def test_cli_io_error_names_the_path(tmp_path, monkeypatch, todo_mapping):
    """EIO (stand-in, as above) through every command."""
    monkeypatch.setattr(Dump, "_open", lambda self: FailingFile(self.path, 3000))
    for command, args in commands_for(TODO, todo_mapping, tmp_path).items():
        code, output = cli_run(*args)
        assert code == 1 and str(TODO) in output and "Input/output error (EIO)" in output, (command, output)
