"""State that grows with the row count lives on disk (sqlite), not in the process's memory.

The dry run remembers every row it "wrote" and the import remembers where every primary key
was first read; a million rows of either would cost hundreds of MB as Python objects. Both
keep 16-byte fingerprints in a sqlite file instead, written one transaction per batch.
"""

from __future__ import annotations

import hashlib
import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator

import orjson


CACHE_KIB = 8 * 1024           # sqlite's page cache per store: memory stays bounded by this


_BLAKE2B_16 = hashlib.blake2b(digest_size=16)


def fingerprint(encoded: Any) -> bytes:
    """16 bytes, equal for equal Convex values given in Convex-encoded JSON (as the compiled
    transforms make them: int64 1 is `{"$integer": ...}`, float 1.0 a number, so they differ
    as in an index). Not encoded again: every value fingerprinted already is."""
    hasher = _BLAKE2B_16.copy()         # a copy: cheaper than a new one made and set up by keywords
    hasher.update(orjson.dumps(encoded, option=orjson.OPT_SORT_KEYS))
    return hasher.digest()


# In a statement over `json_each(...)` with `packed` fingerprints as ?1: the row's own (`key`
# is its index in the array).
FINGERPRINT_AT = "substr(?1, key * 16 + 1, 16)"


def packed(fingerprints: Iterable[bytes]) -> bytearray:
    """A batch's fingerprints as one parameter, cut into rows by sqlite (`FINGERPRINT_AT`): one
    statement writes the batch, at half the instructions of executemany stepping each row from
    Python (in a throwaway store: a journal would first copy every page such a statement
    touches, see `open_store`). A bytearray, as a lone fingerprint is bound too: sqlite3 binds
    it as it is, where for bytes it first looks for an adapter, failing through two
    AttributeErrors."""
    return bytearray(b"".join(fingerprints))


def open_store(path: Path | None, *, durable: bool) -> sqlite3.Connection:
    """A sqlite store. `path` None: a private temporary file sqlite deletes on close.
    `durable`: survives the process being killed between batches in step with the checkpoint
    (WAL, synchronous NORMAL, a transaction per batch); otherwise a throwaway that stays in
    one transaction for its whole life, with no rollback journal: nothing reads it after a
    crash, nothing is rolled back, a commit per batch would write every page the batch touched
    again (with random keys, one per row), and a journal has a statement of many rows (`packed`)
    copy every page it touches first."""
    db = sqlite3.connect("" if path is None else str(path), isolation_level=None, check_same_thread=False)
    if path is not None:
        db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={'NORMAL' if durable else 'OFF'}")
    db.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
    if not durable:
        db.execute("PRAGMA journal_mode=OFF")
        db.execute("BEGIN")
    return db


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[None]:
    """One batch's writes: its own transaction in a durable store, part of the lasting one in a throwaway."""
    if db.in_transaction:
        yield
        return
    db.execute("BEGIN")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def remove_store(path: Path) -> None:
    """Delete a store file with its WAL and shared-memory companions."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
