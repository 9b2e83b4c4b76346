"""Where each primary key was first read, so a second row with the same key is caught.

The deployment upserts by key: two rows with one key in one table (within a dump, or across
the dumps of one owner) would be merged and the first lost without a trace. Only the client
can see it, so the import keeps, per (table, owner, key), the first position the key was
read at (dump, table, row number), on disk next to the checkpoint and reset with it.

Re-runs: a row read again at its own position (sent before a crash, never acknowledged) is
the same occurrence, not a duplicate; a first occurrence is recorded before its batch is
sent, so one acknowledged before a crash is still known afterwards. A dump re-exported in
place (a new identity for the same file and owner) replaces its earlier version, whose
positions are dropped when the new one is first read.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import orjson

from ..ondisk import FINGERPRINT_AT, fingerprint, open_store, packed, remove_store, transaction

_LOOKUP_CHUNK = 500            # keys per SELECT ... IN (...)
_DOUBLE, _BITS = struct.Struct(">d"), struct.Struct(">Q")
_SIGN = 1 << 63


@dataclass(frozen=True)
class Position:
    """Where a row was read: its dump file, its table there and its row number (from 1)."""

    dump: str
    table: str
    row: int

    def __str__(self) -> str:
        return f"{self.dump}, table {self.table}, row {self.row}"


class KeyLedger:
    def __init__(self, path: Path | None, *, fresh: bool):
        """`path` None: a throwaway ledger for one run that is never resumed (a dry run)."""
        self.path = path
        if fresh and path is not None:
            remove_store(path)
        self.db = open_store(path, durable=path is not None)
        self.db.execute("CREATE TABLE IF NOT EXISTS dumps (n INTEGER PRIMARY KEY, identity TEXT UNIQUE, "
                        "file TEXT, path TEXT)")
        self.db.execute("CREATE TABLE IF NOT EXISTS keys (id BLOB PRIMARY KEY, dump INTEGER, tab TEXT, "
                        "row INTEGER) WITHOUT ROWID")
        self._paths: dict[int, str] = {}

    def dump_number(self, identity: str, file: str, path: str) -> int:
        """The ledger's number for a dump version; `file` names the dump and its owner, so an
        earlier version of the same file (re-exported in place) is forgotten here."""
        found = self.db.execute("SELECT n FROM dumps WHERE identity = ?", (identity,)).fetchone()
        if found:
            return found[0]
        with transaction(self.db):
            self.db.execute("DELETE FROM keys WHERE dump IN (SELECT n FROM dumps WHERE file = ?)", (file,))
            self.db.execute("DELETE FROM dumps WHERE file = ?", (file,))
            return self.db.execute("INSERT INTO dumps (identity, file, path) VALUES (?, ?, ?)",
                                   (identity, file, path)).lastrowid

    def claim(self, dump: int, table: str, entries: list[tuple[bytes, int]]) -> list[Position | None]:
        """For each (key fingerprint, row index) of one batch of `dump`, in reading order: None
        when this row is the key's first occurrence (or that occurrence read again), else the
        first occurrence's position. First occurrences are recorded before this returns.

        Every key is inserted unless it is there already: when all of them were new (the usual
        batch) that is all, one lookup per key; else the first occurrence of each is read back."""
        before = self.db.total_changes
        with transaction(self.db):
            self._insert(dump, table, entries)
        if self.db.total_changes - before == len(entries):
            return [None] * len(entries)
        first: dict[bytes, tuple[int, str, int]] = {}
        ids = [key for key, _ in entries]
        for at in range(0, len(ids), _LOOKUP_CHUNK):
            chunk = ids[at:at + _LOOKUP_CHUNK]
            query = f"SELECT id, dump, tab, row FROM keys WHERE id IN ({','.join('?' * len(chunk))})"
            for key, d, tab, row in self.db.execute(query, list(map(bytearray, chunk))):
                first[key] = (d, tab, row)
        return [None if first[key] == (dump, table, row) else Position(self._path(first[key][0]), first[key][1],
                                                                      first[key][2] + 1)
                for key, row in entries]

    def _insert(self, dump: int, table: str, entries: list[tuple[bytes, int]]) -> None:
        """INSERT OR IGNORE each (key, row): a throwaway ledger in one statement (`ondisk.packed`);
        a durable one row by row, as its statement journal would copy every page a statement of
        many rows touches."""
        if self.path is None:
            self.db.execute(f"INSERT OR IGNORE INTO keys (id, dump, tab, row) SELECT {FINGERPRINT_AT}, ?2, ?3, value "
                            "FROM json_each(?4)", (packed(key for key, _ in entries), dump, table,
                                                   orjson.dumps([row for _, row in entries]).decode()))
            return
        self.db.executemany("INSERT OR IGNORE INTO keys (id, dump, tab, row) VALUES (?, ?, ?, ?)",
                            [(bytearray(key), dump, table, row) for key, row in entries])

    def claim_later(self, dump: int, table: str, scope: tuple[str, str | None],
                    keys: list[tuple[Any, int]]) -> Callable[[], list[Position | None]]:
        """`claim` of (Convex-encoded key, row index) pairs in `scope` (Convex table, owner), its
        answer read by calling what this returns (a ledger in another process answers meanwhile:
        `dry_run_client.HostedLedger`, which is also where the keys are fingerprinted)."""
        if self.path is None:
            prefix = fingerprint(list(scope))[:8]
            entries = [(_in_order(prefix, key) if type(key) is float else fingerprint([*scope, key]), row)
                       for key, row in keys]
        else:
            entries = [(fingerprint([*scope, key]), row) for key, row in keys]
        found = self.claim(dump, table, entries)
        return lambda: found

    def _path(self, dump: int) -> str:
        if dump not in self._paths:
            self._paths[dump] = self.db.execute("SELECT path FROM dumps WHERE n = ?", (dump,)).fetchone()[0]
        return self._paths[dump]

    def reset(self) -> None:
        """Forget every position (with the checkpoint: --replace)."""
        with transaction(self.db):
            self.db.execute("DELETE FROM keys")
            self.db.execute("DELETE FROM dumps")
        self._paths.clear()

    def close(self) -> None:
        self.db.close()


def _in_order(prefix: bytes, number: float) -> bytes:
    """A throwaway ledger's id for a number key (Convex-encoded: a float, finite, not -0): its
    scope's 8-byte `prefix`, then the number's bytes ordered as the numbers are. A table's rows
    come in key order (Dexie exports them by primary key), so their ids are appended to the
    B-tree instead of inserted at random: a third of the ledger's time over 200k rows. A
    durable ledger keeps the fingerprints it was first written with (its ids must not change
    between runs); ids of other keys are 16-byte fingerprints, which meet these only by a
    64-bit coincidence of the prefix."""
    bits = _BITS.unpack(_DOUBLE.pack(number))[0]
    return prefix + _BITS.pack(bits ^ 0xFFFF_FFFF_FFFF_FFFF if bits & _SIGN else bits | _SIGN)
