"""`import --dry-run`: a client that plays the generated `dexieImport` module and sends nothing.

The importer reads, transforms and batches every row exactly as for a real import and
calls this client in place of `ConvexClient`. It answers like the deployed functions
(`planInfo`, `upsertBatch`, `storeFile`), but each document is checked by
`validate.document.check_document` against the plan's table validators instead of being
written. What it cannot know is what the deployment already holds: references resolve,
and keys count as existing, only against rows of this dry run. Not simulated: the
per-transaction limits (the importer's batch sizes stay below them) and the re-sending of
a batch in halves when one row's side rows fail (the row fails here directly), so the
batch count is that of a run where no batch is split.
"""

from __future__ import annotations

import hashlib
import threading
from array import array
from dataclasses import dataclass
from typing import Any

import orjson

from ..generate.import_module import MODULE, import_spec, plan_hash
from ..plan.model import DatabasePlan, side_table_fields
from ..plan.validators import Validator
from ..validate.document import check_document, loose_id_table
from .convex_http import CallStats, ConvexCallError, ConvexFunctionError, Deployment
from .pacing import Pacer
from .wire import encode, json_text

# Function arguments over this are refused by Convex (convex-facts.md: 16 MiB + 2000 bytes of body).
MAX_ARGS_BYTES = 16 * 1024 * 1024
STORAGE_TABLE = "_storage"


@dataclass
class DryRunReport:
    """What the import would have sent."""

    batches: int = 0              # upsertBatch calls
    batch_bytes: int = 0          # their arguments, Convex-encoded JSON
    blobs: int = 0                # distinct files (by sha256) to store
    blob_bytes: int = 0

    def to_json(self) -> dict:
        return {"batches": self.batches, "batchBytes": self.batch_bytes, "blobs": self.blobs,
                "blobBytes": self.blob_bytes}


def _fingerprint(value: Any) -> bytes:
    """16 bytes, equal for equal Convex values (int64 1 and float 1.0 differ, as in an index):
    the dry run remembers every row it "wrote", so it keeps fingerprints, not documents."""
    return hashlib.blake2b(orjson.dumps(encode(value), option=orjson.OPT_SORT_KEYS), digest_size=16).digest()


_MISSING = object()


def _at_path(doc: dict, path: str) -> Any:
    """The value at a dotted index path, or _MISSING (the unique check skips such rows)."""
    value: Any = doc
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


class DryRunClient:
    """Same interface as `ConvexClient` (`query`/`mutation`/`action`, `deployment`, `stats`, `pacer`)."""

    def __init__(self, plan: DatabasePlan):
        self.deployment = Deployment(url="dry-run", key=None)
        self.stats = CallStats()
        self.pacer = Pacer()               # never throttled: batches and concurrency as the options say
        self.report = DryRunReport()
        self.hash, self.database = plan_hash([plan]), plan.database
        self.spec = import_spec([plan])["tables"]
        self.fields: dict[str, dict[str, Validator]] = {t.table: t.document_validator() for t in plan.mapped_tables()}
        for parent, multi in plan.side_tables():
            self.fields[multi.table] = side_table_fields(parent, multi)
        # What the dry run "wrote", kept compact (a million rows must fit): rows are numbered
        # from 1; per row a content fingerprint and a table number; keys and unique-index
        # entries only for the rows that hold unique values.
        self._rows: dict[bytes, int] = {}           # fingerprint of (table, owner, key) -> row number
        self._digests = bytearray()                 # 16 bytes a row: its content's fingerprint
        self._row_tables = array("H")               # a row's table, as an index into _tables
        self._tables: list[str] = []
        self._unique: dict[bytes, int] = {}         # fingerprint of (table, index, values) -> row number
        self._unique_of: dict[int, tuple[Any, tuple[bytes, ...]]] = {}   # row -> (its key, its entries)
        self._files: dict[str, str] = {}            # sha256 -> placeholder storage id
        self._lock = threading.Lock()

    def close(self) -> None:
        pass

    def __enter__(self) -> "DryRunClient":
        return self

    def __exit__(self, *exc) -> None:
        pass

    # -- the functions of the generated module --------------------------------------------
    def query(self, path: str, args: dict) -> Any:
        self.stats.requests += 1
        if path == f"{MODULE}:planInfo":
            return {"planHashes": {self.database: self.hash}, "tables": list(self.spec)}
        raise ConvexCallError(path, "the dry run does not answer this query", status=400, code="FunctionNotFound")

    def mutation(self, path: str, args: dict, *, divisible: bool = False) -> Any:
        """(`divisible` is ConvexClient's; a dry run is never throttled, so never splits a batch.)"""
        with self._lock:
            self.stats.requests += 1
            if path == f"{MODULE}:clearTable":
                return 0
            if path != f"{MODULE}:upsertBatch":
                raise ConvexCallError(path, "the dry run does not answer this mutation", status=400,
                                      code="FunctionNotFound")
            size = len(orjson.dumps(encode(args)))
            if size > MAX_ARGS_BYTES:          # what the deployment answers; the importer splits the batch
                raise ConvexCallError(path, f"arguments of {size} bytes are over 16 MiB", status=413,
                                      code="PayloadTooLarge")
            if args.get("planHash") != self.hash:
                raise ConvexFunctionError(path, "plan mismatch", data={"code": "PlanMismatch"})
            self.report.batches += 1
            self.report.batch_bytes += size
            return [self._upsert(args["table"], row, args.get("deferRefs", False), args.get("owner"))
                    for row in args["rows"]]

    def action(self, path: str, args: dict) -> Any:
        with self._lock:
            self.stats.requests += 1
            if path != f"{MODULE}:storeFile":
                raise ConvexCallError(path, "the dry run does not answer this action", status=400,
                                      code="FunctionNotFound")
            known = self._files.get(args["sha256"])
            if known is None:
                self.report.blobs += 1
                self.report.blob_bytes += len(args["data"])
                known = self._files[args["sha256"]] = self._id(self._new_row(STORAGE_TABLE))
            return known

    # -- upsertBatch, row by row (the order of the generated mutation) ---------------------
    def _upsert(self, table: str, row: dict, defer: bool, owner: dict | None) -> dict:
        spec = self.spec[table]
        scope = owner["value"] if owner else None
        doc = dict(row["doc"])
        if owner:
            doc[owner["field"]] = owner["value"]
        try:
            deferred = self._resolve_refs(spec, doc, defer, scope)
        except ValueError as exc:
            return {"status": "failed", "reason": str(exc)}
        if any(not spec["refs"][f]["optional"] for f in deferred):
            return {"status": "deferred", "deferred": deferred}     # a required reference: nothing written
        key = doc.get(spec["keyField"])
        row_key = _fingerprint([table, scope, key])
        existing = self._rows.get(row_key)
        unique_keys = []
        for unique in spec["unique"]:
            values = [_at_path(doc, f) for f in unique["fields"]]
            if any(v is _MISSING for v in values):
                continue
            entry = _fingerprint([table, unique["index"], values])
            holder = self._unique.get(entry)
            if holder is not None and holder != existing:
                holder_key = json_text(encode(self._unique_of[holder][0]))
                return {"status": "failed", "reason": f"unique index {unique['index']} ({', '.join(unique['fields'])}): "
                                                      f"value already used by the row with key {holder_key}"}
            unique_keys.append(entry)
        problems = check_document(doc, self.fields[table], self._id_table)
        for side in spec["sides"]:
            for value in (row.get("sides") or {}).get(side["table"], []):
                side_doc = {"owner": self._id(existing) if existing else self._peek_id(table), "value": value}
                problems += [f"side table {side['table']}: {p}"
                             for p in check_document(side_doc, self.fields[side["table"]], self._id_table)]
        if problems:
            return {"status": "failed", "reason": "; ".join(map(str, problems))}
        digest = _fingerprint(doc)
        if existing is None:
            existing = self._rows[row_key] = self._new_row(table, digest)
            status = "inserted"
        else:
            at = (existing - 1) * 16
            status = "unchanged" if self._digests[at:at + 16] == digest else "updated"
            self._digests[at:at + 16] = digest
        for entry in self._unique_of.pop(existing, (None, ()))[1]:
            self._unique.pop(entry, None)
        if unique_keys:
            self._unique_of[existing] = (key, tuple(unique_keys))
            for entry in unique_keys:
                self._unique[entry] = existing
        outcome = {"status": status, "id": self._id(existing)}
        if deferred:
            outcome["deferred"] = deferred
        return outcome

    def _resolve_refs(self, spec: dict, doc: dict, defer: bool, scope: str | None) -> list[str]:
        """Original keys -> ids of rows this dry run has seen; missing ones deferred or refused."""
        deferred = []
        for field, ref in spec["refs"].items():
            original = doc.get(field)
            if original is None:
                continue
            if ref["many"] and not isinstance(original, list):
                raise ValueError(f"reference {field}: expected an array of keys")
            ids = []
            for key in (original if ref["many"] else [original]):
                target = self._rows.get(_fingerprint([ref["table"], scope, key]))
                if target is None:
                    if defer:
                        break
                    raise ValueError(f"reference {field}: no {ref['table']} row has key {json_text(encode(key))}")
                ids.append(self._id(target))
            if len(ids) != len(original if ref["many"] else [original]):
                del doc[field]
                deferred.append(field)
            else:
                doc[field] = ids if ref["many"] else ids[0]
        return deferred

    # -- placeholder ids -------------------------------------------------------------------
    def _id(self, row: int) -> str:
        return _placeholder(row, self._row_tables[row - 1])

    def _peek_id(self, table: str) -> str:
        """The id the next insert into `table` will get."""
        return _placeholder(len(self._row_tables) + 1, self._table_number(table))

    def _new_row(self, table: str, digest: bytes = bytes(16)) -> int:
        self._row_tables.append(self._table_number(table))
        self._digests += digest
        return len(self._row_tables)

    def _table_number(self, table: str) -> int:
        if table not in self._tables:
            self._tables.append(table)
        return self._tables.index(table)

    def _id_table(self, value: str) -> str | None:
        """Ids this dry run handed out know their table; anything else is checked loosely."""
        if len(value) == 32 and value.startswith(PLACEHOLDER_PREFIX):
            number = int(value[6:10], 16)
            if number < len(self._tables):
                return self._tables[number]
        return loose_id_table(value)


PLACEHOLDER_PREFIX = "dryrun"


def _placeholder(number: int, table_number: int) -> str:
    """32 characters like a real id (so document sizes are right), clearly not a real one;
    it names its table (by number), so no map from ids to tables has to be kept."""
    return f"{PLACEHOLDER_PREFIX}{table_number:04x}{number:022x}"

