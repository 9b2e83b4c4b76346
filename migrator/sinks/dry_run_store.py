"""What a dry run "wrote", on disk: its memory must not grow with the row count.

Per row a number (from 1, for placeholder ids), its table's number, a 16-byte fingerprint
of its content and the unique-index entries it holds, found by the fingerprint of (table,
owner, key); per unique-index entry the row holding it and that row's key (for the clash
message); stored files by sha256. A private temporary sqlite file, deleted when the store
closes. The work is batched as the import batches: a batch's own rows are fetched in one
query, its writes kept in dicts (later rows of the batch see them) and written at its end.
A filter of fixed size (by hash, 4 MiB) tells the unique-index entries no row ever took,
the usual case, which are then not looked up.
"""

from __future__ import annotations

import struct
from contextlib import contextmanager
from typing import Iterable, Iterator, NamedTuple

import orjson

from ..ondisk import FINGERPRINT_AT, open_store, packed

_LOOKUP_CHUNK = 500            # ids per SELECT ... IN (...)
_FILTER_BYTES = 1 << 22        # the filter of the unique-index entries taken (4 MiB)


class StoredRow(NamedTuple):            # a tuple: one made per row, cheaper than a frozen dataclass
    number: int
    table: int                 # index into the dry run's table names
    digest: bytes              # content fingerprint
    entries: bytes = b""       # its unique-index entries, 16 bytes each


class DryRunStore:
    def __init__(self):
        self.db = open_store(None, durable=False)
        for table in ("rows (id BLOB PRIMARY KEY, n INTEGER, tab INTEGER, digest BLOB, entries BLOB)",
                      "uniq (entry BLOB PRIMARY KEY, holder BLOB, key TEXT)", "files (sha TEXT PRIMARY KEY, id TEXT)"):
            self.db.execute(f"CREATE TABLE {table} WITHOUT ROWID")
        self.count = 0                                          # rows numbered so far (documents and files)
        self._fetched: dict[bytes, StoredRow | None] = {}       # this batch: its rows as they were
        self._written: dict[bytes, StoredRow] = {}              # this batch: its rows as written
        self._uniq: dict[bytes, tuple[int, str] | None] = {}    # this batch: entries taken (None: released)
        self._uniq_fetched: dict[bytes, tuple[int, str] | None] = {}   # this batch: entries as they were
        self._taken = bytearray(_FILTER_BYTES)                  # by hash, a byte per slot: entries ever taken

    @contextmanager
    def batch(self, row_ids: list[bytes | None], entries: list[bytes] = ()) -> Iterator[None]:
        """One batch of upserts: `row_ids` (the rows it writes; None: a row not kept) and the
        unique-index `entries` they are likely to hold are fetched at once, not one query per
        row; its writes go to the store at its end (a throwaway store: one transaction for the
        whole dry run)."""
        row_ids = [i for i in row_ids if i is not None]
        for at in range(0, len(row_ids), _LOOKUP_CHUNK):
            chunk = row_ids[at:at + _LOOKUP_CHUNK]
            found = {r[0]: StoredRow(*r[1:]) for r in self.db.execute(
                f"SELECT id, n, tab, digest, entries FROM rows WHERE id IN ({','.join('?' * len(chunk))})",
                list(map(bytearray, chunk)))}
            self._fetched.update({i: found.get(i) for i in chunk})
        self._uniq_fetched.update(dict.fromkeys(entries))      # new, unless the filter says they may not be
        entries = [e for e in entries if self._maybe_taken(e)]
        for at in range(0, len(entries), _LOOKUP_CHUNK):
            chunk = entries[at:at + _LOOKUP_CHUNK]
            found_entries = {r[0]: _holder(*r[1:]) for r in self.db.execute(
                f"SELECT entry, holder, key FROM uniq WHERE entry IN ({','.join('?' * len(chunk))})",
                list(map(bytearray, chunk)))}
            self._uniq_fetched.update({e: found_entries.get(e) for e in chunk})
        try:
            yield
        finally:
            self._write()
            self._fetched.clear()
            self._written.clear()
            self._uniq.clear()
            self._uniq_fetched.clear()

    def _write(self) -> None:
        """The batch's writes. The entries it took go in one statement (`ondisk.packed`), their
        holders' numbers cut likewise from a blob of 8 bytes apiece, their keys' texts from a
        JSON array of strings (array elements that are arrays json_each renders and parses again)."""
        self.db.executemany("INSERT OR REPLACE INTO rows (id, n, tab, digest, entries) VALUES (?, ?, ?, ?, ?)",
                            [(bytearray(i), r.number, r.table, bytearray(r.digest), bytearray(r.entries))
                             for i, r in self._written.items()])
        self.db.executemany("DELETE FROM uniq WHERE entry = ?",
                            [(bytearray(e),) for e, h in self._uniq.items() if h is None])
        taken = [(e, h) for e, h in self._uniq.items() if h is not None]
        for entry, _ in taken:
            self._taken[hash(entry) & (_FILTER_BYTES - 1)] = 1
        holders = struct.pack(f">{len(taken)}Q", *(number for _, (number, _) in taken))
        self.db.execute(f"INSERT OR REPLACE INTO uniq (entry, holder, key) SELECT {FINGERPRINT_AT}, "
                        "substr(?2, key * 8 + 1, 8), value FROM json_each(?3)",
                        (packed(e for e, _ in taken), bytearray(holders),
                         orjson.dumps([key for _, (_, key) in taken]).decode()))

    def all_free(self, entries: list[bytes]) -> bool:
        """No row holds any of this batch's `entries` (fetched by `batch`), and none repeats."""
        return len(set(entries)) == len(entries) and not any(self._uniq_fetched[e] for e in entries)

    def next_number(self) -> int:
        self.count += 1
        return self.count

    def next_numbers(self, count: int) -> range:
        self.count += count
        return range(self.count - count + 1, self.count + 1)

    def row(self, row_id: bytes) -> StoredRow | None:
        if row_id in self._written:
            return self._written[row_id]
        if row_id in self._fetched:
            return self._fetched[row_id]
        found = self.db.execute("SELECT n, tab, digest, entries FROM rows WHERE id = ?",
                                (bytearray(row_id),)).fetchone()
        return StoredRow(*found) if found else None

    def put_row(self, row_id: bytes, row: StoredRow) -> None:
        self._written[row_id] = row

    def hold(self, number: int, key_text: str, entries: list[bytes], old: bytes) -> None:
        """Row `number` (with key `key_text`) now holds exactly `entries`, and no longer those
        in `old` that are not among them."""
        for at in range(0, len(old), 16):
            if old[at:at + 16] not in entries:
                self._uniq[old[at:at + 16]] = None
        for entry in entries:
            self._uniq[entry] = (number, key_text)

    def hold_new(self, held: list[tuple[int, str, Iterable[bytes]]]) -> None:
        """Each (row number, key text, entries) of rows just inserted: the row now holds them."""
        for number, key_text, entries in held:
            for entry in entries:
                self._uniq[entry] = (number, key_text)

    def unique_holder(self, entry: bytes) -> tuple[int, str] | None:
        """(row number, key text) of the row holding a unique-index entry."""
        if entry in self._uniq:
            return self._uniq[entry]
        if entry in self._uniq_fetched:
            return self._uniq_fetched[entry]
        if not self._maybe_taken(entry):
            return None
        found = self.db.execute("SELECT holder, key FROM uniq WHERE entry = ?", (bytearray(entry),)).fetchone()
        return _holder(*found) if found else None

    def _maybe_taken(self, entry: bytes) -> bool:
        """False: no row ever held `entry`, nothing to look up (the usual case, a new value: a
        lookup costs sqlite a walk down the index, this a byte of a filter of fixed size)."""
        return self._taken[hash(entry) & (_FILTER_BYTES - 1)] != 0

    def file(self, sha256: str) -> str | None:
        found = self.db.execute("SELECT id FROM files WHERE sha = ?", (sha256,)).fetchone()
        return found[0] if found else None

    def put_file(self, sha256: str, storage_id: str) -> None:
        self.db.execute("INSERT INTO files (sha, id) VALUES (?, ?)", (sha256, storage_id))

    def close(self) -> None:
        self.db.close()


def _holder(number: bytes, key_text: str) -> tuple[int, str]:
    """A unique-index entry's holder as stored (its number in 8 bytes, `_write`): (row number, key text)."""
    return int.from_bytes(number, "big"), key_text
