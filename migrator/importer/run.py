"""Run an import: dump rows -> transform -> batches -> the generated upsert mutation.

Exactly once comes from the deployment side (upserts by original key through the key
index); resumability from the checkpoint (the acknowledged batches per dump and table);
"nothing lost" from the rejects file and the summary that counts it. References to rows
not imported yet are deferred: a row is written without an optional one (which also
settles reference cycles), and not written at all while a required one is missing; either
way it is sent again in rounds after the first pass, until a round resolves nothing more
and a last one settles what is left: a row missing a required reference is rejected, one
missing only optional ones stays written without them (listed in the dangling file).
Duplicate keys, which the upserts would merge, are caught on the client by the key ledger.
"""

from __future__ import annotations

import hashlib
import sys
import threading
import time
from collections import Counter, deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator

import msgspec
import orjson
from tqdm import tqdm

from ..dumps import open_dump
from ..dumps.model import source_value
from ..collector import Sweeper, streaming_rows
from ..errors import MigratorError
from ..generate.import_module import MODULE, plan_hash
from ..plan.model import DatabasePlan, TablePlan
from ..sinks.convex_http import ConvexCallError, ConvexClient, ConvexFunctionError, Oversized
from ..sinks.wire import decode
from ..transform.compiled import Transforms
from ..transform.prepared import PreparedRow, upsert_rows
from ..transform.values import BlobToStore, ValueRejected
from .checkpoint import Checkpoint, TableProgress
from .key_ledger import KeyLedger
from .rejects import JsonLinesFile, RejectsFile, jsonable

MiB = 1024 * 1024
MAX_ACTION_BLOB = 15 * MiB
PROGRESS_ROWS = 256                    # rows read between progress-bar updates (an update costs µs)
HELD_CLAIMS = 1                        # batches read ahead of their key-ledger claims (`Importer._claimed`)
RECENT_FILES = 4096                    # sha256 -> storage id kept to skip storeFile calls (not every file)
# Per table: `read`/`skipped` say what this run read; the rest settle rows (RUN_KEYS are per run only).
COUNT_KEYS = ("read", "inserted", "updated", "unchanged", "rejected", "duplicates", "deferred", "resolved", "dangling",
              "blobs", "skipped")
RUN_KEYS = ("read", "skipped")
UPSERT = f"{MODULE}:upsertBatch"


@dataclass
class ImportOptions:
    batch_rows: int = 256
    batch_bytes: int = 4 * MiB
    concurrency: int = 4
    max_errors: int | None = None
    state_dir: Path = Path(".dexie-convex")
    owner_field: str | None = None
    owner_from: str | None = None          # filename | database | a literal value
    owner: str | None = None               # the owner itself (one collected upload's), before owner_from
    progress: bool = True
    restart: bool = False
    duplicates: str = "reject"             # a second row with a key already read: reject | last-wins
    resumable: bool = True                 # False (a dry run): nothing kept to resume (no checkpoint saved per batch,
                                           # a throwaway key ledger)


@dataclass
class ImportSummary:
    """What the import did, per Convex table, each count once. Every row is settled once, as
    inserted, updated, unchanged or rejected, in the run whose write (or rejection) settles it,
    so a whole import has read = inserted + updated + unchanged + rejected. Within those:
    `duplicates` are rows whose key an earlier row had (rejected, or written over it with
    --duplicates last-wins); `deferred` rows waited for a reference, then were `resolved`,
    rejected, or written with `dangling` optional references left out (listed in the dangling
    file); `blobs` are the files the written rows hold. `sides`: side rows of the written rows.

    `tables`/`sides` are this run's. A run that resumed an earlier one (rows skipped or settled
    before) also has `totals`/`side_totals`: the same counts over every run of the checkpoint,
    where every dump row is settled once; they are None when they would repeat this run's."""

    tables: dict[str, Counter] = field(default_factory=dict)
    sides: Counter = field(default_factory=Counter)
    totals: dict[str, Counter] | None = None
    side_totals: Counter | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    rejects_path: Path | None = None
    dangling_path: Path | None = None
    rejected_total: int = 0                # over every run of this checkpoint
    dangling_total: int = 0                # over every run of this checkpoint
    requests: int = 0
    retries: int = 0
    reconnects: int = 0                    # stale keep-alive connections replaced (not failures)
    throttled: int = 0                     # 429 answers (write budget spent): the import slowed down
    settled_rate: float | None = None      # bytes/s the pacing settled at, when throttled
    stopped: str | None = None             # why the run stopped early, if it did

    def to_json(self) -> dict:
        def settled(c: Counter) -> dict:
            return {k: c[k] for k in COUNT_KEYS if k not in RUN_KEYS}
        return {"tables": {t: {**{k: c[k] for k in COUNT_KEYS}, "seconds": round(self.seconds.get(t, 0.0), 3)}
                           for t, c in self.tables.items()},
                "sideTables": dict(self.sides),
                "totals": None if self.totals is None else {
                    "tables": {t: settled(c) for t, c in self.totals.items()}, "sideTables": dict(self.side_totals)},
                "rejectedTotal": self.rejected_total,
                "rejectsFile": str(self.rejects_path) if self.rejected_total else None,
                "danglingTotal": self.dangling_total,
                "danglingFile": str(self.dangling_path) if self.dangling_total else None,
                "requests": self.requests, "retries": self.retries,
                "reconnects": self.reconnects, "throttled": self.throttled,
                "settledBytesPerSecond": None if self.settled_rate is None else round(self.settled_rate),
                "stopped": self.stopped}


class ImportStopped(MigratorError):
    def __init__(self, message: str, summary: ImportSummary, remedy: str | None = None):
        self.summary = summary
        super().__init__(message, remedy)


class _Pending(msgspec.Struct, gc=False):
    """One row on its way: enough to count it and, if it fails, to reject it with its data.
    Built in C, as `PreparedRow`."""

    dump: str
    table: TablePlan
    key: Any
    source: Any                # the row as read (`DumpRow.source`: its text, parsed again to reject it)
    row: PreparedRow
    size: int
    blobs: int = 0
    written: bool = False      # an earlier pass wrote it (without a deferred reference) and counted it
    position: int = -1         # its row index in its dump table (first pass)


@dataclass
class _Batch:
    dump_id: str
    table: TablePlan
    start: int
    end: int
    items: list[_Pending]
    owner: str | None
    second_pass: bool = False          # start/end are then line numbers in the deferred-rows file
    rejected: list[tuple] = field(default_factory=list)   # (dump, key, reason, row) found while converting
    writes: int = 0                    # documents and side rows the items write (side rows: delete + insert)
    size: int = 0                      # the items' encoded bytes
    duplicates: int = 0                # rows whose key an earlier row had (rejected, or sent with last-wins)
    defer_refs: bool = True            # False in the last round for rows not written yet: a missing reference fails

    def add(self, item: _Pending) -> None:
        self.items.append(item)
        sides = item.row.side_rows
        self.writes += 1 + 2 * sum(map(len, sides.values())) if sides else 1
        self.size += item.size


def dump_identity(path: Path, owner: str | None) -> str:
    """The checkpoint's name for a dump: a file re-exported in place (new size or time) starts over."""
    st = path.stat()
    return f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}" + (f"|owner={owner}" if owner else "")


def owner_value(options: ImportOptions, path: Path, database: str | None) -> str | None:
    if not options.owner_field:
        return None
    if options.owner is not None:
        return options.owner
    source = options.owner_from or "filename"
    if source == "filename":
        return path.name.split(".")[0]
    if source == "database":
        if not database:
            raise MigratorError(f"{path}: the dump names no database", "use --owner-from filename or a value")
        return database
    return source


def check_deployed_plan(client: ConvexClient, plan: DatabasePlan) -> None:
    """The deployed import module must be the one generated from this mapping (its plan hash)."""
    remedy = ("generate convex/ from this mapping (`dexie-convex generate MAPPING -o convex/`) and deploy it "
              "(`npx convex deploy`, or `import --deploy`)")
    try:
        info = client.query(f"{MODULE}:planInfo", {})
    except ConvexCallError as exc:
        if exc.status in (401, 403) or exc.status is None:
            raise                          # a wrong key or an unreachable deployment: its own remedy
        raise MigratorError(f"the deployment has no usable {MODULE} module ({exc.message})", remedy) from None
    deployed, expected = (info.get("planHashes") or {}).get(plan.database), plan_hash([plan])
    if deployed != expected:
        raise MigratorError(f"the deployed {MODULE} module was generated from another plan of database "
                            f"{plan.database!r} (deployed {deployed}, this mapping {expected})", remedy)


class Importer:
    def __init__(self, plan: DatabasePlan, client: ConvexClient, options: ImportOptions):
        if options.duplicates == "last-wins":     # the later row's write must land last: batches in reading order
            options = replace(options, concurrency=1)
        self.plan, self.client, self.options = plan, client, options
        self.hash = plan_hash([plan])
        self.by_source = {t.source: t for t in plan.tables}
        self.transforms = Transforms(plan)
        options.state_dir.mkdir(parents=True, exist_ok=True)
        cp_path = options.state_dir / "checkpoint.json"
        if options.restart:
            cp_path.unlink(missing_ok=True)
        self.checkpoint = Checkpoint.open(cp_path, self.hash, client.deployment.url)
        self.rejects = RejectsFile(options.state_dir / "rejects.jsonl")
        self.dangling = JsonLinesFile(options.state_dir / "dangling.jsonl")
        self.checkpoint.settle_files(self._state_files())
        self.summary = ImportSummary(rejects_path=self.rejects.path, dangling_path=self.dangling.path)
        self.ledger = (_open_ledger(options.state_dir / "keys.sqlite", self.checkpoint, fresh=not cp_path.exists())
                       if options.resumable else client.hosted_ledger() or KeyLedger(None, fresh=True))
        self._held: deque[tuple[_Batch, Callable[[], list]]] = deque()  # batches whose ledger claims are out
        self._sweeper = Sweeper()          # streaming_rows() gives the run its own
        self._blob_ids: dict[str, str] = {}
        self._lock = threading.Lock()
        self._started: dict[str, float] = {}
        if plan.options.owner_field != options.owner_field:
            raise MigratorError(
                f"the mapping's options.ownerField is {plan.options.owner_field!r} but the import was asked for "
                f"{options.owner_field!r}",
                "set options.ownerField in the mapping, re-run `dexie-convex plan` (it scopes the key indexes by "
                "the owner) and `dexie-convex generate`, deploy, then import again")
        unscoped = [t.table for t in plan.mapped_tables() if options.owner_field and t.key
                    and next((i.fields for i in t.indexes if i.name == t.key.index), [None])[0] != options.owner_field]
        if unscoped:
            raise MigratorError(
                f"options.ownerField is {options.owner_field!r} but the key index of {', '.join(unscoped)} does not "
                "start with it, so two owners' rows with the same key would collide",
                "re-run `dexie-convex plan` with the same sources and dumps (it keeps your edits and scopes the key "
                "indexes by the owner), then `dexie-convex generate`, deploy, and import again")

    def _deferred_path(self, round_: int) -> Path:
        """Rows waiting for references, read in round `round_` (written by the pass before)."""
        return self.options.state_dir / f"deferred-{round_}.jsonl"

    def _state_files(self) -> list[Path]:
        return [self.rejects.path, self.dangling.path, *self.options.state_dir.glob("deferred-*.jsonl")]

    # -- checks ------------------------------------------------------------------------------
    def check_deployment(self) -> None:
        check_deployed_plan(self.client, self.plan)

    def clear_tables(self) -> dict[str, int]:
        """--replace: empty every mapped table (side rows go with their owners)."""
        cleared = {}
        for t in self.plan.mapped_tables():
            total = 0
            while True:
                n = int(self.client.mutation(f"{MODULE}:clearTable", {"planHash": self.hash, "table": t.table,
                                                                       "limit": 500.0}))
                total += n
                if n == 0:
                    break
            cleared[t.table] = total
        self.checkpoint = Checkpoint(path=self.checkpoint.path, plan_hash=self.hash, target=self.checkpoint.target)
        self.checkpoint.settle_files(self._state_files())
        self.checkpoint.save()
        self.ledger.reset()
        return cleared

    # -- reading -----------------------------------------------------------------------------
    def _counts(self, table: str) -> Counter:
        return self.summary.tables.setdefault(table, Counter())

    def _batches(self, path: Path, progress) -> Iterator[_Batch]:
        done_before = progress.n               # bytes of the dumps read before this one
        with open_dump(path) as dump:
            owner = owner_value(self.options, path, dump.database_name)
            dump_id = dump_identity(path, owner)
            ledger_dump = self.ledger.dump_number(dump_id, f"{path.resolve()}|{owner}", str(path))
            unmapped = [t.name for t in dump.tables if t.name not in self.by_source]
            if unmapped:
                raise MigratorError(f"{path}: tables {', '.join(map(repr, unmapped))} are not in the mapping",
                                    "re-run `dexie-convex plan` with this dump (it adds them), or add them "
                                    "with `skip: true`")
            current: _Batch | None = None
            source = None                      # the table being read, and what belongs to it
            name = str(path)
            shown = not progress.disable
            for row in dump.rows(typed=self.transforms.typed):
                if row.table != source:
                    source, table = row.table, self.by_source.get(row.table)
                    if table is None:
                        raise MigratorError(f"{path}: rows of table {row.table!r}, which is not in the mapping",
                                            "re-run `dexie-convex plan` with this dump")
                    if not table.skip:
                        counts, acknowledged = self._counts(table.table), self.checkpoint.table(dump_id, table.table)
                        resumed = acknowledged.done_until > 0 or bool(acknowledged.finished)   # rows to skip
                        prepare = self.transforms.tables[table.source].prepare
                        self._started.setdefault(table.table, time.monotonic())
                index = row.index
                if shown and not index % PROGRESS_ROWS:
                    _show_progress(progress, dump, row.table, done_before)
                if table.skip:
                    continue
                if resumed and acknowledged.is_done(index):
                    counts["skipped"] += 1
                    continue
                counts["read"] += 1
                key = index if row.key is None else row.key
                if current is not None and (current.table is not table or self._full(current)):
                    yield from self._claimed(current, ledger_dump)
                    current = None
                if current is None:
                    current = _Batch(dump_id, table, index, index, [], owner)
                converted = row.made           # read and transformed from its text already (transform/typed.py)
                if converted is None:
                    try:
                        converted = prepare(key, row.value)
                    except ValueError as exc:  # ValueRejected, or a value the wire cannot carry
                        current.rejected.append((name, key, str(exc), row.value))
                        current.end = index + 1
                        continue
                    converted.release()
                current.add(_Pending(name, table, key, row.source(), converted, converted.request_bytes, 0, False,
                                     index))
                current.end = index + 1
            if current is not None:
                yield from self._claimed(current, ledger_dump)
            yield from self._claimed(None, ledger_dump)
            for w in dump.warnings:
                self.warnings.append(w)

    def _claimed(self, batch: _Batch | None, ledger_dump: int) -> Iterator[_Batch]:
        """Hand `batch`'s keys to the ledger, and yield the batches held back before it once
        their claims are answered (None: the last batch of a dump, all of them). HELD_CLAIMS
        batches are held back so a ledger in another process (the dry run's, busy with a batch
        of upserts when a claim comes) answers while this one reads on."""
        held = self._held
        if batch is not None:
            held.append((batch, self.ledger.claim_later(
                ledger_dump, batch.table.source, (batch.table.table, batch.owner),
                [(item.row.key, item.position) for item in batch.items])))
        while held and (batch is None or len(held) > HELD_CLAIMS):
            waiting, claim = held.popleft()
            yield self._without_duplicates(waiting, claim())

    def _without_duplicates(self, batch: _Batch, firsts: list) -> _Batch:
        """Rows whose key an earlier row had (in this batch, an earlier one, or another dump of
        the same owner), as the ledger found them (`firsts`): rejected naming both positions, or
        kept with --duplicates last-wins."""
        if firsts.count(None) == len(firsts):
            return batch                       # the usual batch: no key seen before
        kept = []
        for item, first in zip(batch.items, firsts):
            if first is not None:
                batch.duplicates += 1
                if self.options.duplicates != "last-wins":
                    batch.rejected.append((item.dump, item.key, (
                        f"duplicate primary key: {item.dump}, table {batch.table.source}, row {item.position + 1} "
                        f"has the key of the row read first at {first}; that one is kept, this one is not "
                        "(--duplicates last-wins writes the later row over the first)"), source_value(item.source)))
                    continue
            kept.append(item)
        if len(kept) < len(batch.items):
            batch.size = sum(item.size for item in kept)
        batch.items = kept
        return batch

    def _full(self, batch: _Batch) -> bool:
        """Full at the row, write or byte limit; the byte limit shrinks while the deployment
        throttles (asked each row: a batch being filled when a 429 comes stops at the new pace)."""
        return (len(batch.items) >= self.options.batch_rows or batch.writes >= 8000
                or batch.size >= self.client.pacer.batch_bytes(self.options.batch_bytes))

    # -- sending -----------------------------------------------------------------------------
    def _store_blobs(self, item: _Pending) -> None:
        if not item.row.uploads:
            return
        for name, value in list(item.row.document.items()):
            if not isinstance(value, BlobToStore):
                continue
            if len(value.data) > MAX_ACTION_BLOB:
                raise ValueRejected(name, f"Blob of {len(value.data)} bytes is over the {MAX_ACTION_BLOB} bytes "
                                          "this version uploads through an action")
            sha = hashlib.sha256(value.data).hexdigest()
            with self._lock:
                known = self._blob_ids.get(sha)
            if known is None:
                known = self.client.action(f"{MODULE}:storeFile", {"sha256": sha, "contentType": value.mime,
                                                                   "data": value.data})
                with self._lock:
                    self._blob_ids[sha] = known
                    if len(self._blob_ids) > RECENT_FILES:       # storeFile finds older ones by sha256 itself
                        del self._blob_ids[next(iter(self._blob_ids))]
            item.row.document[name] = known
            item.blobs += 1

    def _send(self, batch: _Batch, items: list[_Pending]) -> list[dict]:
        """Outcomes, one per item; a batch the deployment refuses whole is bisected down to rows."""
        ready, outcomes, args = self._request(batch, items)
        return self._settle(batch, items, ready, outcomes, args is not None,
                            lambda: self.client.mutation(UPSERT, args, divisible=len(ready) > 1))

    def _request(self, batch: _Batch, items: list[_Pending]) -> tuple[list[int], dict[int, dict], dict | None]:
        """Store the items' Blobs; then the items ready to send (by index), outcomes for those
        that failed, and the upsertBatch arguments of the ready ones (None when none is)."""
        if not any([item.row.uploads for item in items]):    # no Blob to store: every item is ready
            return list(range(len(items))), {}, self._upsert_args(batch, items)
        ready, outcomes = [], {}
        for i, item in enumerate(items):
            try:
                self._store_blobs(item)
                ready.append(i)
            except ValueRejected as exc:
                outcomes[i] = {"status": "failed", "reason": str(exc)}
            except ConvexFunctionError as exc:
                outcomes[i] = {"status": "failed", "reason": f"storing a Blob failed: {exc.message}"}
        if not ready:
            return ready, outcomes, None
        return ready, outcomes, self._upsert_args(batch, [items[i] for i in ready])

    def _upsert_args(self, batch: _Batch, items: list[_Pending]) -> dict:
        args = {"planHash": self.hash, "table": batch.table.table, "rows": upsert_rows([item.row for item in items]),
                "deferRefs": batch.defer_refs}
        if batch.owner is not None:
            args["owner"] = {"field": self.options.owner_field, "value": batch.owner}
        return args

    def _settle(self, batch: _Batch, items: list[_Pending], ready: list[int], outcomes: dict[int, dict],
                sent: bool, call: Callable[[], list[dict]]) -> list[dict]:
        """Outcomes, one per item, once `call()` has the deployment's replies to the ready ones
        (`sent`: there were some)."""
        if sent:
            def halves() -> list[dict]:
                mid = len(ready) // 2
                return (self._send(batch, [items[i] for i in ready[:mid]])
                        + self._send(batch, [items[i] for i in ready[mid:]]))
            try:
                size = batch.size if items is batch.items and len(ready) == len(items) else sum(items[i].size for i in ready)
                if len(ready) > 1 and size > 2 * self.client.pacer.batch_bytes(batch.size):
                    raise Oversized(UPSERT, "made before the deployment throttled")
                replies = call()
            except Oversized:                  # larger than the deployment's pace allows: send it in halves
                replies = halves()
            except ConvexFunctionError as exc:
                if isinstance(exc.data, dict) and exc.data.get("code") == "PlanMismatch":
                    raise
                replies = halves() if len(ready) > 1 else [{"status": "failed", "reason": exc.message}]
            except ConvexCallError as exc:
                if exc.status in (400, 413) and len(ready) > 1:
                    replies = halves()
                elif exc.status == 413 or (exc.status == 400 and exc.code == "BadJsonBody"):
                    replies = [{"status": "failed", "reason": exc.message}]   # this one row's arguments are refused
                else:
                    raise
            if len(ready) == len(items) == len(replies):   # all of them sent (`ready` lists indices in order)
                return replies
            for i, reply in zip(ready, replies):
                outcomes[i] = reply
        return [outcomes[i] for i in range(len(items))]

    def _record(self, batch: _Batch, outcomes: list[dict], deferred_file) -> None:
        """Count a finished batch, reject and defer what needs it, then advance the checkpoint."""
        counts = self._counts(batch.table.table)
        progress = self.checkpoint.table(batch.dump_id, batch.table.table)
        final_round = batch.second_pass and self.checkpoint.last_round
        settled: Counter = Counter()
        sides: Counter = Counter()             # side rows written, per side table
        blobs = 0
        second_pass = batch.second_pass
        rejected = list(batch.rejected)
        for item, outcome in zip(batch.items, outcomes):
            status = outcome.get("status")
            if status == "failed":
                reason = outcome.get("reason", "failed")
                if item.written:
                    reason += " (an earlier pass imported the row without this reference)"
                rejected.append((item.dump, item.key, reason, source_value(item.source)))
                continue
            wrote = status in ("inserted", "updated", "unchanged")
            if wrote and not item.written:          # the first write of this row: count it once
                settled[status] += 1
                blobs += item.blobs
                for side, values in item.row.side_rows.items():
                    sides[side] += len(values)
            if not second_pass and "deferred" not in outcome:
                continue                            # the usual outcome: written, nothing left out
            missing = outcome.get("deferred") or []
            if missing and final_round:             # optional references to rows that do not exist
                self._record_dangling(batch, item, missing, outcome.get("missing") or {})
                settled["dangling"] += len(missing)
            elif missing:
                deferred_file.write(orjson.dumps({
                    "dumpId": batch.dump_id, "dump": item.dump, "table": batch.table.source, "owner": batch.owner,
                    "key": item.row.key, "doc": item.row.the_document(), "convexSize": item.row.convex_size,
                    "sides": item.row.side_rows, "written": wrote or item.written,
                    "blobs": item.blobs}) + b"\n")
                if not second_pass:
                    settled["deferred"] += 1
            elif second_pass:
                settled["resolved"] += 1
        for dump, key, reason, source in rejected:
            self.rejects.write(dump=dump, table=batch.table.table, key=key, reason=reason, row=source)
        settled["blobs"] += blobs
        settled["rejected"] += len(rejected)
        settled["duplicates"] += batch.duplicates
        self.summary.sides.update(sides)
        progress.sides.update(sides)
        counts.update(settled)
        progress.counts.update(settled)
        (self.checkpoint.round_progress if batch.second_pass else progress).mark(batch.start, batch.end)
        self.summary.seconds[batch.table.table] = time.monotonic() - self._started.setdefault(batch.table.table, time.monotonic())
        if self.options.resumable:
            deferred_file.flush()
            for path in (Path(deferred_file.name), self.rejects.path, self.dangling.path):
                self.checkpoint.note_file(path)
            self.checkpoint.save()
        self._sweeper.batch_done()
        if self.options.max_errors is not None and self.checkpoint.total("rejected") > self.options.max_errors:
            raise _TooManyErrors()

    def _record_dangling(self, batch: _Batch, item: _Pending, fields: list[str], missing: dict) -> None:
        """One line per optional reference left out because no row has the key it names."""
        for name in fields:
            keys = missing.get(name, [item.row.the_document().get(name)])
            self.dangling.append({"dump": item.dump, "table": batch.table.table, "key": jsonable(item.key),
                                  "field": name, "missing": [jsonable(k) for k in keys]})

    # -- the run -----------------------------------------------------------------------------
    def run(self, dumps: list[Path]) -> ImportSummary:
        self.warnings: list[str] = []
        show = self.options.progress and sys.stderr.isatty()
        total = sum(Path(d).stat().st_size for d in dumps)
        progress = tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, disable=not show,
                        dynamic_ncols=True, desc="reading")
        try:
            with streaming_rows() as self._sweeper, \
                    self._deferred_path(self.checkpoint.round).open("ab") as deferred_file:
                self._pump(self._first_pass(dumps, progress), deferred_file)
            with streaming_rows() as self._sweeper:
                self._resolve_deferred()
        except _TooManyErrors:
            self.summary.stopped = f"more than --max-errors {self.options.max_errors} rows rejected"
        except KeyboardInterrupt:
            self.summary.stopped = "interrupted; run the same command again to resume"
            raise ImportStopped("import interrupted", self._finish(progress),
                                "run the same command again: it resumes where it stopped") from None
        except ConvexCallError as exc:
            self.summary.stopped = exc.message
            raise ImportStopped(f"import stopped: {exc.message}", self._finish(progress),
                                exc.remedy or "fix the cause, then run the same command again: it resumes "
                                              "where it stopped") from None
        return self._finish(progress)

    def _finish(self, progress) -> ImportSummary:
        progress.close()
        self.rejects.close()
        self.dangling.close()
        self.ledger.close()
        self.summary.rejected_total = self.checkpoint.total("rejected")
        self.summary.dangling_total = self.checkpoint.total("dangling")
        totals, side_totals = self.checkpoint.table_totals(), self.checkpoint.side_totals()
        if _settled(totals) != _settled(self.summary.tables) or +side_totals != +self.summary.sides:
            self.summary.totals, self.summary.side_totals = totals, side_totals     # an earlier run did part
        stats, pacer = self.client.stats, self.client.pacer
        self.summary.requests, self.summary.retries, self.summary.reconnects = stats.requests, stats.retries, stats.reconnects
        self.summary.throttled, self.summary.settled_rate = pacer.stats.throttled, pacer.rate
        return self.summary

    def _first_pass(self, dumps: list[Path], progress) -> Iterator[_Batch]:
        for path in dumps:
            yield from self._batches(Path(path), progress)

    def _resolve_deferred(self) -> None:
        """Send deferred rows again, round after round, until none is left. A round that
        resolves nothing is followed by a last one that does not defer: what is left then is
        a reference to a row that does not exist, and is rejected."""
        cp = self.checkpoint
        while True:
            current = self._deferred_path(cp.round)
            if not current.exists() or current.stat().st_size == 0:
                return
            following = self._deferred_path(cp.round + 1)
            with following.open("ab") as deferred_file:
                self._pump(self._second_pass(current), deferred_file)
            left_before, left_after = _line_count(current), _line_count(following)
            cp.files.pop(current.name, None)
            cp.round, cp.round_progress = cp.round + 1, TableProgress()
            cp.last_round = left_after == left_before
            cp.save()
            current.unlink()

    def _second_pass(self, path: Path) -> Iterator[_Batch]:
        """The rows of one deferred-rows file not acknowledged yet, in batches of lines."""
        with path.open("rb") as f:
            batch: _Batch | None = None
            for number, line in enumerate(f):
                if self.checkpoint.round_progress.is_done(number):
                    continue
                d = orjson.loads(line)
                table = self.by_source[d["table"]]
                row = PreparedRow(table=table.table, key=d["key"], document=d["doc"], side_rows=d["sides"],
                                  convex_size=d.get("convexSize"))
                item = _Pending(d["dump"], table, decode(row.key), decode(row.document), row, len(line),
                                blobs=d.get("blobs", 0), written=d["written"])
                # The last round still defers for rows already written: what is missing then is a
                # dangling optional reference, left out of a row that stays imported.
                defer = item.written or not self.checkpoint.last_round
                if batch is not None and (batch.table is not table or batch.owner != d["owner"]
                                          or batch.dump_id != d["dumpId"] or batch.defer_refs != defer
                                          or self._full(batch)):
                    yield batch
                    batch = None
                if batch is None:
                    batch = _Batch(d["dumpId"], table, number, number, [], d["owner"], second_pass=True,
                                   defer_refs=defer)
                batch.add(item)
                batch.end = number + 1
            if batch is not None:
                yield batch

    def _pump(self, batches: Iterator[_Batch], deferred_file) -> None:
        """Keep up to `concurrency` batches in flight (fewer while the deployment throttles);
        record results as they come back."""
        most = max(1, self.options.concurrency)
        if self.client.pipelined:
            self._pump_pipelined(batches, deferred_file, max(most, self.client.depth))
            return
        with ThreadPoolExecutor(max_workers=most) as pool:
            inflight: dict[Future, _Batch] = {}
            try:
                for batch in batches:
                    if not batch.items:
                        self._record(batch, [], deferred_file)
                        continue
                    while len(inflight) >= self.client.pacer.concurrency(most):
                        self._collect(inflight, deferred_file)
                    inflight[pool.submit(self._send, batch, batch.items)] = batch
                while inflight:
                    self._collect(inflight, deferred_file)
            except BaseException:
                for fut in inflight:
                    fut.cancel()
                raise

    def _pump_pipelined(self, batches: Iterator[_Batch], deferred_file, most: int) -> None:
        """A client that takes calls without waiting for them (the dry run's deployment): up to
        `most` batches submitted ahead; answers read and recorded in submission order."""
        waiting: deque[tuple] = deque()
        for batch in batches:
            ready, outcomes, args = self._request(batch, batch.items)
            ticket = None if args is None else self.client.submit("mutation", UPSERT, args)
            waiting.append((batch, ready, outcomes, ticket))     # not `args`: serialized, and let go of
            while len(waiting) > most:
                self._record_answer(waiting.popleft(), deferred_file)
        while waiting:
            self._record_answer(waiting.popleft(), deferred_file)

    def _record_answer(self, submitted: tuple, deferred_file) -> None:
        batch, ready, outcomes, ticket = submitted
        self._record(batch, self._settle(batch, batch.items, ready, outcomes, ticket is not None,
                                         lambda: self.client.answer(ticket)), deferred_file)

    def _collect(self, inflight: dict, deferred_file) -> None:
        done, _ = wait(list(inflight), return_when=FIRST_COMPLETED)
        for fut in done:
            batch = inflight.pop(fut)
            self._record(batch, fut.result(), deferred_file)


def _show_progress(progress: tqdm, dump, table: str, done_before: int) -> None:
    """Bytes of the dumps read so far, and the table being read (asked only while shown)."""
    if progress.desc != table:
        progress.set_description_str(table, refresh=False)
    progress.update(done_before + dump.bytes_read - progress.n)


class _TooManyErrors(Exception):
    pass


def _settled(tables: dict[str, Counter]) -> dict[str, dict]:
    """The counts that settle rows, per table, without zeros: a run's compare equal to the
    checkpoint's when the run did the whole import."""
    return {t: kept for t, c in tables.items() if (kept := {k: c[k] for k in COUNT_KEYS if k not in RUN_KEYS and c[k]})}


def _open_ledger(path: Path, checkpoint: Checkpoint, *, fresh: bool) -> KeyLedger:
    """The key ledger lives and dies with the checkpoint: without it, a key of a row the
    checkpoint skips would not be known, and its duplicates would go unseen."""
    if not fresh and checkpoint.dumps and not path.exists():
        raise MigratorError(f"{checkpoint.path} has rows imported but no key ledger ({path}) next to it, so "
                            "duplicate keys among them could not be caught",
                            "run the import again with --restart (writes are upserts: nothing is duplicated)")
    return KeyLedger(path, fresh=fresh)


def _line_count(path: Path) -> int:
    if not path.exists():
        return 0
    with path.open("rb") as f:
        return sum(1 for _ in f)


def run_import(plan: DatabasePlan, dumps: list[Path], client: ConvexClient, options: ImportOptions,
               *, replace: bool = False, on_cleared: Callable[[dict], None] | None = None) -> ImportSummary:
    importer = Importer(plan, client, options)
    importer.check_deployment()
    if replace:
        cleared = importer.clear_tables()
        if on_cleared:
            on_cleared(cleared)
    return importer.run(dumps)
