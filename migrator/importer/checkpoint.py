"""Resumable progress: which rows of which dump and table are acknowledged by the deployment.

Only acknowledged batches count as done, so a batch in flight when the run died is sent
again; that is harmless because every write is an upsert by the original key. Rows of a
batch that finished out of order are not sent again (their counts are already in).

The append-only files next to the checkpoint (rejects, deferred rows) are only trusted up
to the length recorded here: lines written after the last save belong to rows that will be
sent again, so `settle_files` cuts them off and nothing is rejected or deferred twice.

No secret is ever stored here: the target is recorded without its key.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import MigratorError


@dataclass
class TableProgress:
    """Acknowledged rows of one dump table (or lines of one deferred-rows file), by position."""

    done_until: int = 0                                  # rows [0, done_until) are acknowledged
    finished: dict[int, int] = field(default_factory=dict)  # batches done beyond the prefix: start -> end
    counts: Counter = field(default_factory=Counter)     # cumulative over all runs
    sides: Counter = field(default_factory=Counter)      # side table -> side rows of the rows written

    def mark(self, start: int, end: int) -> None:
        self.finished[start] = max(end, self.finished.get(start, end))
        while self.done_until in self.finished:
            self.done_until = max(self.done_until, self.finished.pop(self.done_until))
        for s in [s for s, e in self.finished.items() if e <= self.done_until]:
            del self.finished[s]

    def is_done(self, index: int) -> bool:
        return index < self.done_until or any(s <= index < e for s, e in self.finished.items())

    def to_json(self) -> dict:
        return {"doneUntil": self.done_until, "finished": {str(k): v for k, v in self.finished.items()},
                "counts": dict(self.counts), "sides": dict(self.sides)}

    @classmethod
    def from_json(cls, data: dict) -> "TableProgress":
        return cls(done_until=data["doneUntil"], finished={int(k): v for k, v in data.get("finished", {}).items()},
                   counts=Counter(data.get("counts", {})), sides=Counter(data.get("sides", {})))


@dataclass
class Checkpoint:
    path: Path
    plan_hash: str
    target: str
    dumps: dict[str, dict[str, TableProgress]] = field(default_factory=dict)
    round: int = 1                     # deferred rows: the run reads deferred-<round>.jsonl next
    round_progress: TableProgress = field(default_factory=TableProgress)  # its acknowledged lines
    last_round: bool = False           # the round before resolved nothing: send without deferring
    files: dict[str, int] = field(default_factory=dict)   # append-only file name -> trusted length

    @classmethod
    def open(cls, path: Path, plan_hash: str, target: str) -> "Checkpoint":
        if not path.exists():
            return cls(path=path, plan_hash=plan_hash, target=target)
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("planHash") != plan_hash or data.get("target") != target:
            raise MigratorError(
                f"{path} belongs to another import (plan {data.get('planHash')} to {data.get('target')})",
                "finish that import, or start over with --restart (which deletes the checkpoint)")
        cp = cls(path=path, plan_hash=plan_hash, target=target, round=data.get("round", 1),
                 round_progress=TableProgress.from_json(data.get("roundProgress", {"doneUntil": 0})),
                 last_round=data.get("lastRound", False), files=dict(data.get("files", {})))
        for dump_id, tables in data.get("dumps", {}).items():
            cp.dumps[dump_id] = {t: TableProgress.from_json(p) for t, p in tables.items()}
        return cp

    def table(self, dump_id: str, table: str) -> TableProgress:
        return self.dumps.setdefault(dump_id, {}).setdefault(table, TableProgress())

    def note_file(self, path: Path) -> None:
        """Trust `path` up to its current length (call after flushing, before `save`)."""
        self.files[path.name] = path.stat().st_size if path.exists() else 0

    def settle_files(self, paths: list[Path]) -> None:
        """Cut each append-only file back to its trusted length; remove those this checkpoint does not know."""
        for path in paths:
            trusted = self.files.get(path.name)
            if trusted is None:
                path.unlink(missing_ok=True)
            elif path.exists() and path.stat().st_size > trusted:
                with path.open("r+b") as f:
                    f.truncate(trusted)

    def save(self) -> None:
        data = {"planHash": self.plan_hash, "target": self.target, "round": self.round,
                "roundProgress": self.round_progress.to_json(), "lastRound": self.last_round, "files": self.files,
                "dumps": {d: {t: p.to_json() for t, p in tables.items()} for d, tables in self.dumps.items()}}
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
        os.replace(tmp, self.path)

    def total(self, key: str) -> int:
        return sum(p.counts[key] for tables in self.dumps.values() for p in tables.values())

    def table_totals(self) -> dict[str, Counter]:
        """Cumulative counts per Convex table over every dump and run of this checkpoint."""
        totals: dict[str, Counter] = {}
        for tables in self.dumps.values():
            for table, p in tables.items():
                totals.setdefault(table, Counter()).update(p.counts)
        return totals

    def side_totals(self) -> Counter:
        """Cumulative side rows per side table over every dump and run of this checkpoint."""
        return sum((p.sides for tables in self.dumps.values() for p in tables.values()), Counter())
