"""What a table holds, per original key, in a form that is the same however it was reached.

Two sides meet here. From the dump: each row through the real transform path
(the compiled transforms, as the importer runs them). From a deployment or the local endpoint: the
documents as Convex-encoded JSON. Both become one canonical form per row: the Convex-encoded
document without system fields (every JSON number a float, as Convex means it), references
back as the original keys they were written from, file-storage ids as the sha256 of the file,
plus the row's multiEntry side-table values. Its digest is stable across runs and machines.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import orjson

from ..dumps import open_dump
from ..errors import MigratorError
from ..generate.schema_ts import FILES_TABLE, uses_file_storage
from ..importer.rejects import jsonable
from ..importer.run import ImportOptions, owner_value
from ..plan.model import DatabasePlan, TablePlan
from ..plan.validators import Validator
from ..sinks.wire import json_text
from ..transform.compiled import Transforms
from ..transform.rows import row_key
from ..transform.values import BlobToStore

SYSTEM_FIELDS = ("_id", "_creationTime")
SIDE_PREFIX = "side table "        # the field digest of a row's multiEntry side-table values
FIELD_DIGEST_CHARS = 6
STORAGE_ID = Validator.id("_storage")


def canonical(value: Any) -> Any:
    """Convex-encoded JSON with every plain number a float (JSON text cannot tell 1 from 1.0)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return {k: canonical(v) for k, v in value.items()}


def original_key_label(key: Any) -> str:
    """A Dexie key as the rejects file writes it (rejected rows have no stored key)."""
    return orjson.dumps(jsonable(key), option=orjson.OPT_SORT_KEYS).decode()


def digest(data: bytes | str) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()[:16]


def storage_marker(sha256: str) -> dict:
    return {"$storage": sha256}


@dataclass
class TableContent:
    """One Convex table: key label -> digest of the row's canonical form; rejected rows apart."""

    rows: dict[str, str] = field(default_factory=dict)
    rejected: dict[str, str] = field(default_factory=dict)     # original key label -> reason
    stored_keys: dict[str, str] = field(default_factory=dict)  # original key label -> row label (from a dump)
    fields: dict[str, dict[str, str]] = field(default_factory=dict)  # row label -> field -> short digest

    def add(self, label: str, doc: dict, sides: dict[str, list]) -> None:
        """A row in canonical form: its digest, and one per field so a drift can name what changed."""
        form = {"doc": doc, "sides": {t: v for t, v in sides.items() if v}}
        self.rows[label] = digest(orjson.dumps(form, option=orjson.OPT_SORT_KEYS))
        parts = {**form["doc"], **{f"{SIDE_PREFIX}{t}": v for t, v in form["sides"].items()}}
        self.fields[label] = {n: digest(orjson.dumps(v, option=orjson.OPT_SORT_KEYS))[:FIELD_DIGEST_CHARS]
                              for n, v in parts.items()}

    def reject(self, original: str, reason: str) -> None:
        """A row refused later on the way (by the dry run): rejected, not stored."""
        if original not in self.rejected:
            self.rows.pop(self.stored_keys.get(original, ""), None)
            self.rejected[original] = reason

    def keys_checksum(self) -> str:
        return digest("\n".join(sorted(self.rows)))

    def checksum(self) -> str:
        return digest("\n".join(f"{k}\t{d}" for k, d in sorted(self.rows.items())))

    def changed_fields(self, other: "TableContent", label: str) -> list[str]:
        """The fields (and side tables) in which this table's row `label` differs from the other's."""
        a, b = self.fields.get(label, {}), other.fields.get(label, {})
        return [n for n in sorted(a.keys() | b.keys()) if a.get(n) != b.get(n)]

    def to_json(self) -> dict:
        """Compact: per row its digest, and its field digests as one line in the order of `fieldNames`."""
        names = sorted({n for f in self.fields.values() for n in f})
        return {"count": len(self.rows), "keysChecksum": self.keys_checksum(), "checksum": self.checksum(),
                "rows": dict(sorted(self.rows.items())), "rejected": dict(sorted(self.rejected.items())),
                "fieldNames": names,
                "fieldDigests": {k: " ".join(self.fields[k].get(n, "-") for n in names)
                                 for k in sorted(self.rows) if k in self.fields}}

    @classmethod
    def from_json(cls, data: dict) -> "TableContent":
        names = data.get("fieldNames", [])
        fields = {k: {n: d for n, d in zip(names, line.split(" ")) if d != "-"}
                  for k, line in data.get("fieldDigests", {}).items()}
        return cls(rows=dict(data.get("rows", {})), rejected=dict(data.get("rejected", {})), fields=fields)


def _key_field(table: TablePlan) -> str:
    if table.key is None:
        raise MigratorError(f"table {table.source!r} has no key in the mapping", "give it a `key` (re-run plan)")
    return table.key.field


def row_label(key: Any, owner: Any = None) -> str:
    """A stored row's name: its key as stored, scoped by its owner when the plan has ownerField."""
    return json_text(key) if owner is None else f"[{json_text(owner)},{json_text(key)}]"


def rejected_label(key: Any, owner: str | None = None) -> str:
    """A rejected row's name: its original Dexie key (it has no stored key), scoped by its owner."""
    label = original_key_label(key)
    return label if owner is None else f"{json_text(owner)} {label}"


# -- from the dump -----------------------------------------------------------------------------
OwnerOf = Callable[[Path], str]     # a dump -> the owner the import stamps on its rows (options.ownerField)


def owners(plan: DatabasePlan, owner_from: str | None = None) -> OwnerOf | None:
    """Each dump's owner as `import --owner-from` names it (None for a plan without ownerField)."""
    if not plan.options.owner_field:
        return None
    options = ImportOptions(owner_field=plan.options.owner_field, owner_from=owner_from)
    return lambda path: owner_value(options, path, plan.database)


def dump_content(plan: DatabasePlan, dumps: Iterable[str | Path], owner_of: OwnerOf | None = None
                 ) -> dict[str, TableContent]:
    """Per Convex table, what importing these dumps with this plan must leave behind.

    With options.ownerField, each dump's rows carry their owner (`owner_of`) and are told
    apart by (owner, key), as the import scopes them.
    """
    by_source = {t.source: t for t in plan.tables}
    transforms = Transforms(plan)
    owner_field = plan.options.owner_field
    tables = {t.table: TableContent() for t in plan.mapped_tables()}
    for path in dumps:
        with open_dump(path) as dump:
            owner = owner_of(Path(path)) if owner_field and owner_of else None
            if owner_field and owner is None:
                raise MigratorError(f"{plan.database!r} is mapped with options.ownerField: the owner of {path} "
                                    "is needed", "say how with --owner-from (as for import)")
            for row in dump.rows():
                table = by_source.get(row.table)
                if table is None:
                    raise MigratorError(f"{path}: table {row.table!r} is not in the mapping of {plan.database!r}",
                                        "re-run `dexie-convex plan` with this dump, or add the table with `skip: true`")
                if table.skip:
                    continue
                key = row_key(row.key, row.index)
                content = tables[table.table]
                try:
                    converted = transforms.prepare(table, key, row.value)
                    doc = {name: storage_marker(hashlib.sha256(v.data).hexdigest()) if isinstance(v, BlobToStore) else v
                           for name, v in converted.document.items()}
                    if owner_field:
                        doc[owner_field] = owner
                    doc, sides = canonical(doc), canonical(converted.side_rows)
                except ValueError as exc:      # ValueRejected, or a value the wire cannot carry: the importer rejects it
                    content.rejected[rejected_label(key, owner)] = str(exc)
                    continue
                label = row_label(doc[_key_field(table)], owner)
                content.rejected.pop(rejected_label(key, owner), None)
                content.stored_keys[rejected_label(key, owner)] = label
                content.add(label, doc, sides)     # a later row with the same key wins, as upserts do
    return tables


# -- from stored documents -----------------------------------------------------------------------
def _may_hold_file(validator: Validator) -> bool:
    """A field the import may fill with a file-storage id (alone or as a member of a union)."""
    return validator == STORAGE_ID or (validator.kind == "union" and STORAGE_ID in validator.args)


Documents = Callable[[str], Iterable[dict]]     # a Convex table -> its documents, read as they are needed


def stored_content(plan: DatabasePlan, documents: Documents) -> dict[str, TableContent]:
    """Per Convex table, the canonical rows of documents read back (Convex-encoded JSON, with `_id`).

    Documents are read table by table as a stream and only their digests kept: first what
    other rows point at (keys of referenced tables, the file registry, side-table values by
    owner), then each mapped table.
    """
    targets = {f.references for t in plan.mapped_tables() for f in t.fields if f.references}
    key_by_id: dict[str, Any] = {}
    for t in plan.mapped_tables():
        if t.source in targets:
            key_by_id.update((doc["_id"], canonical(doc.get(_key_field(t)))) for doc in documents(t.table))
    file_by_id = ({row["storageId"]: row["sha256"] for row in documents(FILES_TABLE)}
                  if uses_file_storage([plan]) else {})
    sides_by_owner: dict[str, dict[str, list]] = {}
    for _, multi in plan.side_tables():
        for row in documents(multi.table):
            sides_by_owner.setdefault(row["owner"], {}).setdefault(multi.table, []).append(canonical(row["value"]))
    owner_field = plan.options.owner_field
    tables = {}
    for t in plan.mapped_tables():
        storage = {f.name for f in t.fields if _may_hold_file(f.validator.required)}
        refs = {f.name for f in t.fields if f.references}
        content = tables[t.table] = TableContent()
        for stored in documents(t.table):
            doc = {}
            for name, value in stored.items():
                if name in SYSTEM_FIELDS:
                    continue
                if name in storage and isinstance(value, str):
                    value = storage_marker(file_by_id.get(value, f"(storage id {value} not in {FILES_TABLE})"))
                elif name in refs:
                    value = [key_by_id.get(v, v) for v in value] if isinstance(value, list) else key_by_id.get(value, value)
                doc[name] = canonical(value)
            label = row_label(doc.get(_key_field(t)), doc.get(owner_field) if owner_field else None)
            content.add(label, doc, sides_by_owner.pop(stored["_id"], {}))
    return tables


def read_rejects(path: Path | None, owner_of: OwnerOf | None = None) -> dict[str, dict[str, str]]:
    """An import's rejects file as Convex table -> original key label -> reason (scoped by the
    owner of the row's dump when `owner_of` is given)."""
    rejected: dict[str, dict[str, str]] = {}
    if path is None or not path.exists():
        return rejected
    with path.open("rb") as f:
        for line in f:
            entry = orjson.loads(line)
            key = orjson.dumps(entry["key"], option=orjson.OPT_SORT_KEYS).decode()
            if owner_of is not None:
                key = f"{json_text(owner_of(Path(entry['dump'])))} {key}"
            rejected.setdefault(entry["table"], {})[key] = entry["reason"]
    return rejected
