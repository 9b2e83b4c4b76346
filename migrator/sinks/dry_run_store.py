"""What a dry run "wrote", on disk: its memory must not grow with the row count.

Per row a number (from 1, for placeholder ids), its table's number and a 16-byte
fingerprint of its content, found by the fingerprint of (table, owner, key); unique-index
entries by fingerprint, with the key of the row holding them (for the clash message);
stored files by sha256. A private temporary sqlite file, deleted when the store closes.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from ..ondisk import open_store


@dataclass(frozen=True)
class StoredRow:
    number: int
    table: int                 # index into the dry run's table names
    digest: bytes              # content fingerprint


class DryRunStore:
    def __init__(self):
        self.db = open_store(None, durable=False)
        self.db.executescript("""
            CREATE TABLE rows (id BLOB PRIMARY KEY, n INTEGER, tab INTEGER, digest BLOB) WITHOUT ROWID;
            CREATE TABLE uniq (entry BLOB PRIMARY KEY, holder INTEGER) WITHOUT ROWID;
            CREATE TABLE holders (n INTEGER PRIMARY KEY, key TEXT, entries BLOB);
            CREATE TABLE files (sha TEXT PRIMARY KEY, id TEXT) WITHOUT ROWID;
        """)
        self.count = 0             # rows numbered so far (documents and stored files)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One transaction per batch: sqlite's cost is per commit, not per row."""
        self.db.execute("BEGIN")
        try:
            yield
        finally:
            self.db.execute("COMMIT")

    def next_number(self) -> int:
        self.count += 1
        return self.count

    def row(self, row_id: bytes) -> StoredRow | None:
        found = self.db.execute("SELECT n, tab, digest FROM rows WHERE id = ?", (row_id,)).fetchone()
        return StoredRow(*found) if found else None

    def put_row(self, row_id: bytes, row: StoredRow) -> None:
        self.db.execute("INSERT OR REPLACE INTO rows (id, n, tab, digest) VALUES (?, ?, ?, ?)",
                        (row_id, row.number, row.table, row.digest))

    def unique_holder(self, entry: bytes) -> int | None:
        found = self.db.execute("SELECT holder FROM uniq WHERE entry = ?", (entry,)).fetchone()
        return found[0] if found else None

    def holder_key(self, number: int) -> str:
        return self.db.execute("SELECT key FROM holders WHERE n = ?", (number,)).fetchone()[0]

    def set_unique(self, number: int, key_text: str, entries: list[bytes]) -> None:
        """Row `number` now holds exactly `entries` (its earlier ones are released)."""
        old = self.db.execute("SELECT entries FROM holders WHERE n = ?", (number,)).fetchone()
        if old:
            self.db.executemany("DELETE FROM uniq WHERE entry = ?",
                                [(old[0][i:i + 16],) for i in range(0, len(old[0]), 16)])
            self.db.execute("DELETE FROM holders WHERE n = ?", (number,))
        if entries:
            self.db.execute("INSERT INTO holders (n, key, entries) VALUES (?, ?, ?)",
                            (number, key_text, b"".join(entries)))
            self.db.executemany("INSERT OR REPLACE INTO uniq (entry, holder) VALUES (?, ?)",
                                [(e, number) for e in entries])

    def file(self, sha256: str) -> str | None:
        found = self.db.execute("SELECT id FROM files WHERE sha = ?", (sha256,)).fetchone()
        return found[0] if found else None

    def put_file(self, sha256: str, storage_id: str) -> None:
        self.db.execute("INSERT INTO files (sha, id) VALUES (?, ?)", (sha256, storage_id))

    def close(self) -> None:
        self.db.close()
