"""A row ready to send: its checked, Convex-encoded document, and the generic way to make it.

`prepare_generic` is the reference: convert with `Converter` (per-value dispatch), check
with `validate.document.check_document`, encode with `sinks.wire.encode`. The compiled
per-table transforms (`compiled.py`) must give exactly what it gives, and hand it every row
they cannot settle themselves, so reject reasons have one author.

What neither path can check before sending is left out of the check: reference fields
(they hold original keys until the deployment, or the dry run, resolves them to ids) and
the owner field (the import adds it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import msgspec
import orjson

from ..plan.model import TablePlan
from ..plan.validators import Validator
from ..sinks.wire import EncodedRows, encode, encode_bytes
from ..validate.document import Problem, check_document, value_size
from .rows import side_rows_of, transform_row
from .values import BlobToStore, Converter, ValueRejected

REQUEST_OVERHEAD = 64     # bytes a row adds to the upsertBatch arguments besides its document


class DocumentRejected(ValueRejected):
    """Every reason Convex would refuse the converted document, as `check_document` words them."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        self.path, self.reason = "", "; ".join(map(str, problems))
        ValueError.__init__(self, self.reason)


class PreparedRow(msgspec.Struct, gc=False):
    """One per row, so built in C (a msgspec Struct: a third of a slotted dataclass's
    instructions); `gc=False`, as it never refers back to anything that refers to it."""

    table: str                        # Convex table
    key: Any                          # the original key as its key field holds it, Convex-encoded
    document: dict                    # Convex-encoded; file-storage fields hold a BlobToStore until uploaded
    side_rows: dict[str, list] = msgspec.field(default_factory=dict)   # side table -> Convex-encoded elements
    request_bytes: int = 0            # what the row adds to the upsertBatch arguments (Blobs as bytes)
    convex_size: int | None = None    # Convex's size formula over the checked fields (None: not known)
    uploads: bool = False             # holds Blobs for file storage (BlobToStore): uploaded before it is sent
    document_json: bytes | None = None  # `document` serialized (None while it holds Blobs to upload)

    def release(self) -> None:
        """Let go of `document` while the row waits in flight: `document_json` says the same in
        one object (`the_document` parses it again, for the few rows that need it)."""
        if self.document_json is not None:
            self.document = None

    def the_document(self) -> dict:
        return orjson.loads(self.document_json) if self.document is None else self.document


@dataclass(frozen=True)
class TableRules:
    """What both paths need to know about one table besides its plan."""

    plan: TablePlan
    unchecked: frozenset[str]          # reference fields and the owner field
    checked_fields: dict[str, Validator]
    side_rows: Callable[[dict], dict[str, list]]    # a document's side rows (`rows.side_rows_of`)

    @classmethod
    def of(cls, plan: TablePlan, converter: Converter, owner_field: str | None) -> "TableRules":
        refs = {f.name for f in plan.fields if f.references and f.references in converter.key_encodings}
        unchecked = frozenset(refs | ({owner_field} if owner_field else set()))
        return cls(plan, unchecked, {n: v for n, v in plan.document_validator().items() if n not in unchecked},
                   side_rows_of(plan))


def _blob_as_bytes(value: Any) -> Any:
    if isinstance(value, BlobToStore):
        return encode_bytes(value.data)
    raise TypeError(f"cannot encode {type(value).__name__} for Convex")


def ready_row(table: str, key: Any, document: dict, convex_size: int | None, rules: TableRules) -> PreparedRow:
    """The row as both paths hand it on: with its side rows, what it adds to a request (a Blob
    counted as its bytes: the batch-size estimate) and whether it holds Blobs to upload first."""
    try:
        serialized = orjson.dumps(document, option=orjson.OPT_PASSTHROUGH_DATACLASS)
        size, uploads = len(serialized), False
    except TypeError:                  # a BlobToStore (or a value the wire refuses: raised again here)
        serialized = None
        size, uploads = len(orjson.dumps(document, default=_blob_as_bytes, option=orjson.OPT_PASSTHROUGH_DATACLASS)), True
    return PreparedRow(table=table, key=key, document=document, side_rows=rules.side_rows(document),
                       request_bytes=size + REQUEST_OVERHEAD, convex_size=convex_size, uploads=uploads,
                       document_json=serialized)


def upsert_rows(rows: list[PreparedRow]) -> EncodedRows:
    """upsertBatch's `rows` argument: each row's document and side rows, its document spliced in
    from its JSON (an `orjson.Fragment`: a quarter fewer instructions than formatting each row)."""
    return EncodedRows(orjson.dumps([{"doc": orjson.Fragment(
        orjson.dumps(row.document) if row.document_json is None else row.document_json),
        "sides": row.side_rows} for row in rows]), [row.convex_size for row in rows])


def encode_document(document: dict) -> dict:
    """Convex-encoded, with top-level BlobToStore placeholders kept for the upload (a nested
    one cannot be uploaded, and `encode` refuses it)."""
    return {k: v if isinstance(v, BlobToStore) else encode(v) for k, v in document.items()}


def prepare_generic(rules: TableRules, key: Any, value: Any, converter: Converter) -> PreparedRow:
    """Raises ValueRejected (DocumentRejected for what the check finds) or WireError."""
    row = transform_row(rules.plan, key, value, converter)
    checked = {n: v for n, v in row.document.items() if n not in rules.unchecked}
    problems = check_document(checked, rules.checked_fields)
    if problems:
        raise DocumentRejected(problems)
    document = encode_document(row.document)
    return ready_row(row.table, encode(row.key), document, value_size(checked), rules)
