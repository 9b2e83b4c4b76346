"""Resumable progress: which rows of which dump and table are acknowledged by the deployment.

Only a contiguous prefix of each table counts as done, so a batch that finished out of
order is sent again after a crash; that is harmless because every write is an upsert by
the original key. No secret is ever stored here: the target is recorded without its key.
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
    done_until: int = 0                                  # rows [0, done_until) are acknowledged
    finished: dict[int, int] = field(default_factory=dict)  # batches done beyond the prefix: start -> end
    counts: Counter = field(default_factory=Counter)     # cumulative over all runs

    def mark(self, start: int, end: int) -> None:
        self.finished[start] = end
        while self.done_until in self.finished:
            self.done_until = self.finished.pop(self.done_until)


@dataclass
class Checkpoint:
    path: Path
    plan_hash: str
    target: str
    dumps: dict[str, dict[str, TableProgress]] = field(default_factory=dict)
    second_pass_done: bool = False

    @classmethod
    def open(cls, path: Path, plan_hash: str, target: str) -> "Checkpoint":
        if not path.exists():
            return cls(path=path, plan_hash=plan_hash, target=target)
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("planHash") != plan_hash or data.get("target") != target:
            raise MigratorError(
                f"{path} belongs to another import (plan {data.get('planHash')} to {data.get('target')})",
                "finish that import, or start over with --restart (which deletes the checkpoint)")
        cp = cls(path=path, plan_hash=plan_hash, target=target, second_pass_done=data.get("secondPassDone", False))
        for dump_id, tables in data.get("dumps", {}).items():
            cp.dumps[dump_id] = {t: TableProgress(done_until=p["doneUntil"],
                                                  finished={int(k): v for k, v in p.get("finished", {}).items()},
                                                  counts=Counter(p.get("counts", {})))
                                 for t, p in tables.items()}
        return cp

    def table(self, dump_id: str, table: str) -> TableProgress:
        return self.dumps.setdefault(dump_id, {}).setdefault(table, TableProgress())

    def save(self) -> None:
        data = {"planHash": self.plan_hash, "target": self.target, "secondPassDone": self.second_pass_done,
                "dumps": {d: {t: {"doneUntil": p.done_until, "finished": {str(k): v for k, v in p.finished.items()},
                                  "counts": dict(p.counts)} for t, p in tables.items()}
                          for d, tables in self.dumps.items()}}
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
        os.replace(tmp, self.path)

    def total(self, key: str) -> int:
        return sum(p.counts[key] for tables in self.dumps.values() for p in tables.values())
