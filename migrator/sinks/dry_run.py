"""`import --dry-run`: a deployment that plays the generated `dexieImport` module and keeps nothing.

The importer reads, transforms and batches every row exactly as for a real import and
calls `dry_run_client.DryRunClient` in place of `ConvexClient`; the client hands each call,
serialized as it would be sent, to this deployment. It answers like the deployed functions
(`planInfo`, `upsertBatch`, `storeFile`), but nothing is written. Documents arrive as the
compiled transforms made them (Convex-encoded, already checked against their validators and
Convex's limits, with the size they measured or, from `transform/typed.py`, a bound of it); the dry run checks what only it knows with
`validate.document.check_document`: references resolved to ids, the owner field, side rows and
the size of the whole document with them. What it cannot know is what the deployment already holds: references resolve,
and keys count as existing, only against rows of this dry run. Not simulated: the
per-transaction limits (the importer's batch sizes stay below them) and the re-sending of
a batch in halves when one row's side rows fail (the row fails here directly), so the
batch count is that of a run where no batch is split. What it "wrote" (fingerprints of
keys and contents, unique-index entries, files) is kept on disk (`dry_run_store`), so its
memory does not grow with the row count; a row that nothing can ask for again is not kept
(`keys_unique`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, TypedDict

import msgspec
import orjson

from ..generate.import_module import MODULE, import_spec, plan_hash
from ..ondisk import fingerprint
from ..plan.model import DatabasePlan, MultiEntryPlan, TablePlan, side_table_fields
from ..plan.validators import Validator
from ..validate.document import check_document, loose_id_table, size_problem, value_size
from .convex_http import ConvexCallError, ConvexFunctionError
from .dry_run_store import DryRunStore, StoredRow
from .wire import decode, encode, json_text

# Function arguments over this are refused by Convex (convex-facts.md: 16 MiB + 2000 bytes of body).
MAX_ARGS_BYTES = 16 * 1024 * 1024
STORAGE_TABLE = "_storage"
# A side row's size beyond its value's (an owner id of 32 characters, two field names).
SIDE_ROW_OVERHEAD = value_size({"owner": "x" * 32, "value": None}) - value_size(None)


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


_MISSING = object()


class _Call(msgspec.Struct, gc=False):
    """A request as `DryRunClient.submit` frames it; `args` left as its JSON text, parsed as its
    function needs it."""

    kind: str
    path: str
    args: msgspec.Raw
    size: int = 0
    convexSizes: list[int | None] | None = None     # noqa: N815 (the wire's name)


class _Upsert(msgspec.Struct, gc=False):
    """upsertBatch's arguments, `rows` still JSON text: most batches need only a few fields of them."""

    table: str
    rows: msgspec.Raw
    planHash: Any = None                            # noqa: N815
    deferRefs: bool = False                         # noqa: N815
    owner: Any = None


_CALL = msgspec.json.Decoder(_Call)
_UPSERT = msgspec.json.Decoder(_Upsert)


@dataclass(frozen=True, slots=True)
class _Table:
    """A table's facts as its rows use them, looked up once."""

    name: str
    number: int                     # in its placeholder ids
    kept: bool                      # its rows are kept (`keys_unique`)
    key_field: str | None
    refs: dict[str, dict]           # of its import spec, as the rest
    unique: list[dict]
    sides: list[dict]
    unchecked_sides: list[dict]     # those whose rows the transform did not check (when the size allows)


def _at_path(doc: dict, path: str) -> Any:
    """The value at a dotted index path, or _MISSING (the unique check skips such rows)."""
    value: Any = doc
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


class DryRunDeployment:
    """Answers the generated module's functions as the deployment would, one serialized request
    at a time (`answer`): the same bytes whether it runs in the importer's process or in a
    process of its own (`dry_run_client`)."""

    def __init__(self, plan: DatabasePlan, *, keys_unique: bool = False):
        """`keys_unique`: the importer's key ledger lets no key through twice (duplicates are
        rejected, not written over), so the rows of a table that neither defers references (and
        is sent again) nor is referenced are never looked up again: they are not kept."""
        self.report = DryRunReport()
        self.hash, self.database = plan_hash([plan]), plan.database
        self.spec = import_spec([plan])["tables"]
        self.fields: dict[str, dict[str, Validator]] = {t.table: t.document_validator() for t in plan.mapped_tables()}
        for parent, multi in plan.side_tables():
            self.fields[multi.table] = side_table_fields(parent, multi)
        self._sides_checked = {multi.table for parent, multi in plan.side_tables() if _elements_checked(parent, multi)}
        self._store = DryRunStore()                 # what the dry run "wrote": fingerprints, on disk
        referenced = {ref["table"] for spec in self.spec.values() for ref in spec["refs"].values()}
        self._kept = {t for t, spec in self.spec.items() if not keys_unique or spec["refs"] or t in referenced}
        self._tables: list[str] = []                # table names; rows name theirs by index here
        self._table_numbers: dict[str, int] = {}    # and back
        self._facts: dict[str, _Table] = {}
        self._readers: dict[str, msgspec.json.Decoder] = {}     # per table, `_fields_read`

    def close(self) -> None:
        self._store.close()

    def answer(self, request: bytes) -> bytes:
        """`request`: {kind, path, args (Convex-encoded), size (of the arguments as the client
        would send them), convexSizes (per row of a batch)}. The reply: {value} or {error}."""
        call = _CALL.decode(request)
        kind, path = call.kind, call.path
        try:
            if kind == "report":
                value = dataclasses.asdict(self.report)
            elif kind == "query":
                value = self.query(path, orjson.loads(memoryview(call.args)))
            elif kind == "mutation":
                value = self.mutation(path, call.args, call.size, call.convexSizes or [])
            else:
                value = self.action(path, decode(orjson.loads(memoryview(call.args))))
        except ConvexFunctionError as exc:
            return orjson.dumps({"path": path, "error": {"function": True, "message": exc.detail, "data": exc.data}})
        except ConvexCallError as exc:
            return orjson.dumps({"path": path, "error": {"function": False, "message": exc.detail,
                                                         "status": exc.status, "code": exc.code}})
        return orjson.dumps({"value": value})

    # -- the functions of the generated module --------------------------------------------
    def query(self, path: str, args: dict) -> Any:
        if path == f"{MODULE}:planInfo":
            return {"planHashes": {self.database: self.hash}, "tables": list(self.spec)}
        raise ConvexCallError(path, "the dry run does not answer this query", status=400, code="FunctionNotFound")

    def mutation(self, path: str, raw_args: msgspec.Raw, size: int, convex_sizes: list[int | None]) -> Any:
        if path == f"{MODULE}:clearTable":
            return 0
        if path != f"{MODULE}:upsertBatch":
            raise ConvexCallError(path, "the dry run does not answer this mutation", status=400,
                                  code="FunctionNotFound")
        if size > MAX_ARGS_BYTES:          # what the deployment answers; the importer splits the batch
            raise ConvexCallError(path, f"arguments of {size} bytes are over 16 MiB", status=413,
                                  code="PayloadTooLarge")
        args = _UPSERT.decode(raw_args)
        if args.planHash != self.hash:
            raise ConvexFunctionError(path, "plan mismatch", data={"code": "PlanMismatch"})
        self.report.batches += 1
        self.report.batch_bytes += size
        t, owner = self._table(args.table), args.owner
        if self._only_inserts(t, owner, convex_sizes):
            rows = self._fields_read(t).decode(args.rows)
            per_row = self._likely_unique_entries(t, rows, owner)
            entries = [e for row_entries in per_row for e in row_entries.values()]
            with self._store.batch([], entries):
                if self._store.all_free(entries):
                    return self._insert_all(t, rows, per_row)
        rows = orjson.loads(memoryview(args.rows))
        scope = owner["value"] if owner else None
        row_ids = ([fingerprint([t.name, scope, row["doc"].get(t.key_field)]) for row in rows] if t.kept
                   else [None] * len(rows))
        sizes = convex_sizes or [None] * len(rows)
        per_row = self._likely_unique_entries(t, rows, owner)
        entries = [e for row_entries in per_row for e in row_entries.values()]
        with self._store.batch(row_ids, entries):
            return [self._upsert(t, row, size, row_id, args.deferRefs, owner, entries)
                    for row, size, row_id, entries in zip(rows, sizes, row_ids, per_row)]

    def action(self, path: str, args: dict) -> Any:
        if path != f"{MODULE}:storeFile":
            raise ConvexCallError(path, "the dry run does not answer this action", status=400,
                                  code="FunctionNotFound")
        known = self._store.file(args["sha256"])
        if known is None:
            self.report.blobs += 1
            self.report.blob_bytes += len(args["data"])
            known = _placeholder(self._store.next_number(), self._table_number(STORAGE_TABLE))
            self._store.put_file(args["sha256"], known)
        return known

    def _likely_unique_entries(self, t: _Table, rows: list[dict], owner: dict | None) -> list[dict[str, bytes]]:
        """Per row, the unique-index entries it holds as sent (index -> entry), to fetch in one
        query and not to fingerprint again. An index over a reference field or the owner field
        is left out: its value changes (to an id, to the owner) before the check."""
        per_row: list[dict[str, bytes]] = [{} for _ in rows]
        for unique in t.unique:
            if any(f in t.refs or (owner and f == owner["field"]) for f in unique["fields"]):
                continue
            index, fields = unique["index"], unique["fields"]
            plain = fields[0] if len(fields) == 1 and "." not in fields[0] else None
            for row, entries in zip(rows, per_row):
                if plain is not None:           # the usual unique index: one top-level field
                    value = row["doc"].get(plain, _MISSING)
                    if value is not _MISSING:
                        entries[index] = fingerprint([t.name, index, [value]])
                    continue
                values = [_at_path(row["doc"], f) for f in fields]
                if not any(v is _MISSING for v in values):
                    entries[index] = fingerprint([t.name, index, values])
        return per_row

    # -- upsertBatch, row by row (the order of the generated mutation) ---------------------
    def _only_inserts(self, t: _Table, owner: dict | None, sizes: list[int | None]) -> bool:
        """Every row of the batch is new and has nothing left to check, given its unique-index
        entries are free (`DryRunStore.all_free`): a table not kept, with no references, no
        owner and no side rows the transform did not check, as small as they are checked for
        (`sizes`: each row's, as the request gives them; none: not known)."""
        if t.kept or t.refs or owner or t.unchecked_sides:
            return False
        return not t.sides or (bool(sizes) and None not in sizes
                               and size_problem(max(sizes) + SIDE_ROW_OVERHEAD) is None)

    def _fields_read(self, t: _Table) -> msgspec.json.Decoder:
        """For `_only_inserts` batches: each row as `{"doc": {...}}` with only the fields those
        read (the key, the first part of every unique index's paths), parsed in C; the other
        fields are skipped over, not built and thrown away."""
        decoder = self._readers.get(t.name)
        if decoder is None:
            names = {t.key_field, *(f.split(".")[0] for unique in t.unique for f in unique["fields"])} - {None}
            doc = TypedDict("Doc", {name: Any for name in names}, total=False)
            decoder = self._readers[t.name] = msgspec.json.Decoder(list[TypedDict("Row", {"doc": doc})])
        return decoder

    def _insert_all(self, t: _Table, rows: list[dict], per_row: list[dict[str, bytes]]) -> list[dict]:
        """What `_upsert` answers for each row of a batch of `_only_inserts`, at a fraction of its cost."""
        numbers = self._store.next_numbers(len(rows))
        self._store.hold_new([(number, json_text(row["doc"].get(t.key_field)), entries.values())
                              for number, row, entries in zip(numbers, rows, per_row) if entries])
        return [{"status": "inserted", "id": _placeholder(number, t.number)} for number in numbers]

    def _upsert(self, t: _Table, row: dict, convex_size: int | None, row_id: bytes | None, defer: bool,
                owner: dict | None, known_entries: dict[str, bytes]) -> dict:
        """`row_id` None: a row not kept (`keys_unique`), so new. `known_entries`: its unique-index
        entries already fingerprinted (`_likely_unique_entries`)."""
        doc = row["doc"]
        if owner:
            doc[owner["field"]] = owner["value"]
        deferred: list[str] = []
        if t.refs:
            try:
                deferred, missing = self._resolve_refs(t.refs, doc, defer, owner["value"] if owner else None)
            except ValueError as exc:
                return {"status": "failed", "reason": str(exc)}
            if any(not t.refs[f]["optional"] for f in deferred):
                return {"status": "deferred", "deferred": deferred}     # a required reference: nothing written
        existing = None if row_id is None else self._store.row(row_id)
        unique_keys = []
        for unique in t.unique:
            entry = known_entries.get(unique["index"])
            if entry is None:
                values = [_at_path(doc, f) for f in unique["fields"]]
                if any(v is _MISSING for v in values):
                    continue
                entry = fingerprint([t.name, unique["index"], values])
            holder = self._store.unique_holder(entry)
            if holder is not None and (existing is None or holder[0] != existing.number):
                return {"status": "failed", "reason": f"unique index {unique['index']} ({', '.join(unique['fields'])}): "
                                                      f"value already used by the row with key {holder[1]}"}
            unique_keys.append(entry)
        number = existing.number if existing else self._store.count + 1     # the next insert's number
        problems = self._check_added(t, doc, convex_size, owner) if t.refs or owner else []
        # each side row is as small as its document, so the transform's checks hold for it too
        sides = t.unchecked_sides if not t.sides or size_problem(convex_size + SIDE_ROW_OVERHEAD) is None else t.sides
        if sides:
            problems += self._side_problems(sides, row.get("sides") or {}, _placeholder(number, t.number))
        if problems:
            return {"status": "failed", "reason": "; ".join(map(str, problems))}
        digest = b"" if row_id is None else fingerprint(doc)
        if existing is None:
            number = self._store.next_number()
            status = "inserted"
        else:
            status = "unchanged" if existing.digest == digest else "updated"
        if row_id is not None:
            self._store.put_row(row_id, StoredRow(number, t.number, digest, b"".join(unique_keys)))
        self._store.hold(number, json_text(doc.get(t.key_field)) if unique_keys else "", unique_keys,
                         existing.entries if existing else b"")
        outcome = {"status": status, "id": _placeholder(number, t.number)}
        if deferred:
            outcome.update(deferred=deferred, missing=missing)
        return outcome

    def _check_added(self, t: _Table, doc: dict, checked_size: int, owner: dict | None) -> list:
        """The fields the transform could not check (references, now ids, and the owner), and the
        size of the whole document with them (asked only when the table has such fields)."""
        added = [*t.refs, *([owner["field"]] if owner else [])]
        fields = self.fields[t.name]
        present = {f: doc[f] for f in added if f in doc}
        problems = check_document(present, {f: fields[f] for f in added if f in fields}, self._id_table)
        extra = value_size(present) - value_size({})
        too_large = size_problem(checked_size + extra)
        if too_large:                  # the size sent may be a bound (transform/typed.py): measure
            too_large = size_problem(value_size(decode({f: v for f, v in doc.items() if f not in present})) + extra)
        return problems + ([too_large] if too_large else [])

    def _side_problems(self, sides: list[dict], values: dict[str, list], owner_id: str) -> list[str]:
        """What is wrong with the side rows of these `sides` (their values as sent, by side table)."""
        problems = []
        for side in sides:
            for value in values.get(side["table"], []):
                side_doc = {"owner": owner_id, "value": decode(value)}
                problems += [f"side table {side['table']}: {p}"
                             for p in check_document(side_doc, self.fields[side["table"]], self._id_table)]
        return problems

    def _resolve_refs(self, refs: dict, doc: dict, defer: bool, scope: str | None) -> tuple[list[str], dict]:
        """Original keys -> ids of rows this dry run has seen; missing ones deferred (field
        left out, its absent keys named) or refused."""
        deferred, missing = [], {}
        for field, ref in refs.items():
            original = doc.get(field)
            if original is None:
                continue
            if ref["many"] and not isinstance(original, list):
                raise ValueError(f"reference {field}: expected an array of keys")
            ids, absent = [], []
            for key in (original if ref["many"] else [original]):
                target = self._store.row(fingerprint([ref["table"], scope, key]))
                if target is None:
                    if not defer:
                        raise ValueError(f"reference {field}: no {ref['table']} row has key {json_text(encode(key))}")
                    absent.append(key)
                else:
                    ids.append(_placeholder(target.number, target.table))
            if absent:
                del doc[field]
                deferred.append(field)
                missing[field] = absent
            else:
                doc[field] = ids if ref["many"] else ids[0]
        return deferred, missing

    def _table(self, table: str) -> _Table:
        """Its facts, worked out at its first batch (which numbers the table, as any batch did)."""
        facts = self._facts.get(table)
        if facts is None:
            spec = self.spec[table]
            unchecked = [side for side in spec["sides"] if side["table"] not in self._sides_checked]
            facts = self._facts[table] = _Table(table, self._table_number(table), table in self._kept, spec["keyField"],
                                                spec["refs"], spec["unique"], spec["sides"], unchecked)
        return facts

    # -- placeholder ids -------------------------------------------------------------------
    def _table_number(self, table: str) -> int:
        number = self._table_numbers.get(table)
        if number is None:
            number = self._table_numbers[table] = len(self._tables)
            self._tables.append(table)
        return number

    def _id_table(self, value: str) -> str | None:
        """Ids this dry run handed out know their table; anything else is checked loosely."""
        if len(value) == 32 and value.startswith(PLACEHOLDER_PREFIX):
            number = int(value[6:10], 16)
            if number < len(self._tables):
                return self._tables[number]
        return loose_id_table(value)


def _elements_checked(parent: TablePlan, multi: MultiEntryPlan) -> bool:
    """The transform checked every side value already: each is an element of a top-level field
    whose validator is `v.array(item)` (or `item`, a value indexed as one entry) with the side
    table's own `item`; nested no deeper there than in the side row. The owner is an id the dry
    run hands out for the parent's table, so nothing in the side row is left to check."""
    field = parent.field_named(multi.field)
    if field is None or field.references:
        return False
    val = field.validator.required
    return (val.args[0] if val.kind == "array" else val) == multi.item


PLACEHOLDER_PREFIX = "dryrun"


def _placeholder(number: int, table_number: int) -> str:
    """32 characters like a real id (so document sizes are right), clearly not a real one;
    it names its table (by number), so no map from ids to tables has to be kept."""
    return "%s%04x%022x" % (PLACEHOLDER_PREFIX, table_number, number)     # %: cheaper than an f-string's specs

