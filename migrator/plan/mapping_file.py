"""The mapping file: a plan as JSON5 the user reviews and edits, one per database.

Re-running `plan` must keep the user's edits. Next to `<db>.json5` the tool keeps
`<db>.base.json`, what it wrote last time; a three-way merge then tells edits (file differs
from base: kept) from stale tool output (file equals base: refreshed), and adds what is new.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyjson5

from ..convex_names import field_name_problem, index_name_problem, table_name_problem
from ..errors import MappingError
from .model import (DATE_MODES, MULTI_ENTRY_STRATEGIES, DatabasePlan, FieldPlan, IndexPlan, KeyPlan,
                    MultiEntryPlan, PlanOptions, TablePlan)
from .validators import ValidatorSyntaxError, parse_validator

FORMAT_VERSION = 1
Comments = dict[tuple, list[str]]


# -- plan -> data + comments -----------------------------------------------------------------
def _field_key(f: FieldPlan) -> str:
    return f.source if f.source is not None else f"({f.name})"


def plan_to_data(plan: DatabasePlan) -> tuple[dict, Comments]:
    comments: Comments = {}
    tables: dict[str, Any] = {}
    for t in plan.tables:
        tp = ("tables", t.source)
        comments[tp] = t.notes + [f"WARNING: {w}" for w in t.warnings]
        if t.skip:
            tables[t.source] = {"table": t.table, "skip": True}
            continue
        entry: dict[str, Any] = {"table": t.table}
        if t.key:
            entry["key"] = {"paths": t.key.paths, "outbound": t.key.outbound, "auto": t.key.auto,
                            "field": t.key.field, "index": t.key.index, "encoding": t.key.encoding,
                            "dedicated": t.key.dedicated}
        if t.wrap_value:
            entry["wrapValue"] = t.wrap_value
        fields = {}
        for f in t.fields:
            item: dict[str, Any] = {"name": f.name, "validator": f.validator.to_ts()}
            if f.convert:
                item["convert"] = f.convert
            if f.references:
                item["references"] = f.references
            fields[_field_key(f)] = item
            comments[tp + ("fields", _field_key(f))] = f.notes
        entry["fields"] = fields
        indexes = {}
        for i in t.indexes:
            indexes[i.source] = {"name": i.name, "fields": i.fields, **({"unique": True} if i.unique else {})}
            comments[tp + ("indexes", i.source)] = i.notes
        entry["indexes"] = indexes
        if t.multi_entry:
            entry["multiEntry"] = {m.source: {"field": m.field, "strategy": m.strategy, "table": m.table,
                                              "item": m.item.to_ts()} for m in t.multi_entry}
            for m in t.multi_entry:
                comments[tp + ("multiEntry", m.source)] = m.notes + [
                    f"strategies: {', '.join(MULTI_ENTRY_STRATEGIES)}"]
        tables[t.source] = entry
    data = {
        "formatVersion": FORMAT_VERSION,
        "database": plan.database,
        "sources": plan.sources,
        "options": plan.options.to_json(),
        "references": dict(plan.references),
        "tables": tables,
    }
    comments[("options",)] = ["dates: 'ms' (epoch milliseconds, v.number()) or 'iso' (v.string()); "
                              "blobInlineMaxBytes: larger top-level Blobs go to file storage; "
                              "multiEntry: " + " | ".join(MULTI_ENTRY_STRATEGIES) + "; ownerField: a field stamped on every "
                              "document when importing one dump per user (keys are then scoped per owner)"]
    comments[("references",)] = ['"table.field": "otherTable" makes the field a v.id("otherTable"); '
                                 "the import rewrites original keys to Convex _ids"]
    comments[("references", "*inner")] = [f'suggested: "{k}": "{v}",'
                                          for k, v in plan.suggested_references.items()
                                          if k not in plan.references]
    comments[()] = [f"dexie-convex mapping for the Dexie database {plan.database!r}.",
                    "Edit freely: re-running `dexie-convex plan` keeps your edits and adds what is new.",
                    "`dexie-convex generate` turns this file into convex/schema.ts."]
    comments[()] += [f"NOTE: {n}" for n in plan.notes] + [f"WARNING: {w}" for w in plan.warnings]
    return data, comments


# -- JSON5 with comments -----------------------------------------------------------------------
def _one_line(text: str) -> str:
    return " ".join(text.split())


def render_json5(data: dict, comments: Comments) -> str:
    lines = [f"// {_one_line(c)}" for c in comments.get((), [])]
    _render(data, (), 0, lines, comments)
    return "\n".join(lines) + "\n"


def _render(value: Any, path: tuple, depth: int, lines: list[str], comments: Comments, prefix: str = "") -> None:
    pad = "  " * depth
    if isinstance(value, dict) and (value or comments.get(path + ("*inner",))):
        lines.append(pad + prefix + "{")
        for c in comments.get(path + ("*inner",), []):
            lines.append(pad + "  // " + _one_line(c))
        for key, item in value.items():
            for c in comments.get(path + (key,), []):
                lines.append(pad + "  // " + _one_line(c))
            _render(item, path + (key,), depth + 1, lines, comments, json.dumps(key) + ": ")
        lines.append(pad + "}" + ("," if depth else ""))
    else:
        text = json.dumps(value, ensure_ascii=False)
        lines.append(pad + prefix + text + ("," if depth else ""))


# -- merge -------------------------------------------------------------------------------------
def three_way_merge(base: Any, mine: Any, theirs: Any) -> Any:
    """`mine` is the file (maybe edited), `theirs` the fresh plan, `base` what was written last."""
    if isinstance(mine, dict) and isinstance(theirs, dict):
        base = base if isinstance(base, dict) else {}
        out = {}
        for key in list(mine) + [k for k in theirs if k not in mine]:
            if key in mine and key in theirs:
                out[key] = three_way_merge(base.get(key), mine[key], theirs[key])
            elif key in mine:
                out[key] = mine[key]                  # the user's own, or no longer planned: kept
            elif key not in base:
                out[key] = theirs[key]                # new
            # else: in base and theirs but not mine -> the user deleted it: stays deleted
        return out
    return theirs if mine == base else mine


# -- data -> plan --------------------------------------------------------------------------------
@dataclass
class _Reader:
    path: str
    errors: list[str] = field(default_factory=list)

    def fail(self, where: str, message: str) -> None:
        self.errors.append(f"{where}: {message}")


def read_settings(path: Path) -> tuple[PlanOptions, dict[str, str]]:
    """The options and references of an existing mapping file (defaults when there is none)."""
    if not path.exists():
        return PlanOptions(), {}
    data = _load(path)
    return _options(data.get("options") or {}, _Reader(str(path))), dict(data.get("references") or {})


def _load(path: Path) -> dict:
    try:
        data = pyjson5.decode(path.read_text(encoding="utf-8"))
    except (ValueError, pyjson5.Json5Exception) as exc:
        raise MappingError(str(path), f"not valid JSON5: {exc}", "fix the syntax, or delete the file and re-run plan")
    if not isinstance(data, dict) or "tables" not in data:
        raise MappingError(str(path), "not a dexie-convex mapping file (no `tables`)")
    return data


def _options(raw: dict, r: _Reader) -> PlanOptions:
    opts = PlanOptions()
    dates = raw.get("dates", opts.dates)
    if dates not in DATE_MODES:
        r.fail("options.dates", f"{dates!r} is not one of {', '.join(DATE_MODES)}")
    else:
        opts.dates = dates
    limit = raw.get("blobInlineMaxBytes", opts.blob_inline_max_bytes)
    if not isinstance(limit, int) or limit < 0:
        r.fail("options.blobInlineMaxBytes", "must be a whole number of bytes")
    else:
        opts.blob_inline_max_bytes = limit
    strategy = raw.get("multiEntry", opts.multi_entry)
    if strategy not in MULTI_ENTRY_STRATEGIES:
        r.fail("options.multiEntry", f"{strategy!r} is not one of {', '.join(MULTI_ENTRY_STRATEGIES)}")
    else:
        opts.multi_entry = strategy
    owner = raw.get("ownerField")
    if owner is not None and field_name_problem(str(owner), top_level=True):
        r.fail("options.ownerField", f"{owner!r}: {field_name_problem(str(owner), top_level=True)}")
    else:
        opts.owner_field = owner
    return opts


def load_mapping(path: str | Path) -> DatabasePlan:
    """Read and check a mapping file; every problem is reported at once, naming its entry."""
    path = Path(path)
    if not path.exists():
        raise MappingError(str(path), "no such mapping file", "create it with `dexie-convex plan`")
    data = _load(path)
    r = _Reader(str(path))
    plan = DatabasePlan(database=str(data.get("database") or path.stem), options=_options(data.get("options") or {}, r),
                        tables=[], references=dict(data.get("references") or {}),
                        sources=dict(data.get("sources") or {}))
    table_names: set[str] = set()
    for source, raw in (data.get("tables") or {}).items():
        table = _table(source, raw, r)
        if table is None:
            continue
        if table.table in table_names:
            r.fail(f"tables.{source}.table", f"{table.table!r} is used by another table")
        table_names.add(table.table)
        plan.tables.append(table)
    for t in plan.tables:
        for m in t.multi_entry:
            if m.table and m.table in table_names:
                r.fail(f"tables.{t.source}.multiEntry.{m.source}.table", f"{m.table!r} is used by another table")
            if m.table:
                table_names.add(m.table)
    if r.errors:
        raise MappingError(str(path), f"{len(r.errors)} problem(s):\n  " + "\n  ".join(r.errors),
                           "edit these entries in the mapping file, or delete them and re-run plan")
    return plan


def _validator(text: Any, where: str, r: _Reader):
    try:
        return parse_validator(str(text))
    except ValidatorSyntaxError as exc:
        r.fail(where, f"invalid validator: {exc}")
        return None


def _table(source: str, raw: dict, r: _Reader) -> TablePlan | None:
    where = f"tables.{source}"
    if not isinstance(raw, dict):
        r.fail(where, "must be an object")
        return None
    name = str(raw.get("table", source))
    if raw.get("skip"):
        return TablePlan(source=source, table=name, key=None, fields=[], indexes=[], skip=True)
    problem = table_name_problem(name)
    if problem:
        r.fail(f"{where}.table", f"{name!r}: {problem}")
    fields: list[FieldPlan] = []
    for key, f in (raw.get("fields") or {}).items():
        fname = str(f.get("name", key))
        problem = field_name_problem(fname, top_level=True)
        if problem:
            r.fail(f"{where}.fields.{key}.name", f"{fname!r}: {problem}")
        if any(x.name == fname for x in fields):
            r.fail(f"{where}.fields.{key}.name", f"{fname!r} is used by another field")
        val = _validator(f.get("validator", "v.any()"), f"{where}.fields.{key}.validator", r)
        if val is not None:
            fields.append(FieldPlan(source=None if key.startswith("(") else key, name=fname, validator=val,
                                    convert=f.get("convert"), references=f.get("references")))
    field_names = {f.name for f in fields}
    key = None
    if raw.get("key"):
        k = raw["key"]
        key = KeyPlan(paths=list(k.get("paths", [])), outbound=bool(k.get("outbound")), auto=bool(k.get("auto")),
                      field=str(k.get("field")), index=str(k.get("index")), encoding=str(k.get("encoding")),
                      dedicated=bool(k.get("dedicated")))
        if key.field not in field_names:
            r.fail(f"{where}.key.field", f"{key.field!r} is not one of the table's fields")
    indexes: list[IndexPlan] = []
    for src, i in (raw.get("indexes") or {}).items():
        iname, ifields = str(i.get("name")), [str(x) for x in i.get("fields") or []]
        problem = index_name_problem(iname)
        if problem:
            r.fail(f"{where}.indexes.{src}.name", f"{iname!r}: {problem}")
        if any(x.name == iname for x in indexes):
            r.fail(f"{where}.indexes.{src}.name", f"{iname!r} is used by another index")
        if not ifields or len(ifields) > 15:
            r.fail(f"{where}.indexes.{src}.fields", "an index needs 1 to 15 fields")
        for fp in ifields:
            if fp.split(".")[0] not in field_names:
                r.fail(f"{where}.indexes.{src}.fields", f"{fp!r} is not a field of the table")
            elif any(field_name_problem(seg, top_level=False) for seg in fp.split(".")[1:]):
                r.fail(f"{where}.indexes.{src}.fields", f"{fp!r} is not a valid field path")
        if any(x.fields == ifields for x in indexes):
            r.fail(f"{where}.indexes.{src}.fields", "another index has the same fields (Convex rejects that)")
        indexes.append(IndexPlan(source=src, name=iname, fields=ifields, unique=bool(i.get("unique"))))
    multi: list[MultiEntryPlan] = []
    for src, m in (raw.get("multiEntry") or {}).items():
        strategy = m.get("strategy")
        if strategy not in MULTI_ENTRY_STRATEGIES:
            r.fail(f"{where}.multiEntry.{src}.strategy", f"{strategy!r} is not one of {', '.join(MULTI_ENTRY_STRATEGIES)}")
            continue
        side = m.get("table")
        if strategy == "side-table" and (not side or table_name_problem(str(side))):
            r.fail(f"{where}.multiEntry.{src}.table", f"{side!r}: {table_name_problem(str(side))}")
        item = _validator(m.get("item", "v.any()"), f"{where}.multiEntry.{src}.item", r)
        if item is not None:
            multi.append(MultiEntryPlan(source=src, field=str(m.get("field")), strategy=strategy,
                                        table=str(side) if side else None, item=item))
    return TablePlan(source=source, table=name, key=key, fields=fields, indexes=indexes, multi_entry=multi,
                     wrap_value=raw.get("wrapValue"))


# -- writing -------------------------------------------------------------------------------------
@dataclass
class WriteResult:
    path: Path
    status: str                 # created | updated | unchanged
    added: list[str] = field(default_factory=list)
    kept_edits: list[str] = field(default_factory=list)


def base_path(path: Path) -> Path:
    return path.with_name(path.name.removesuffix(".json5") + ".base.json")


def _leaf_paths(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_leaf_paths(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: value}


def write_mapping(plan: DatabasePlan, path: str | Path) -> WriteResult:
    """Write (or merge into) the mapping file; report what was added and which edits were kept."""
    path = Path(path)
    fresh, comments = plan_to_data(plan)
    result = WriteResult(path=path, status="created")
    merged = fresh
    if path.exists():
        mine = _load(path)
        bp = base_path(path)
        base = json.loads(bp.read_text(encoding="utf-8")) if bp.exists() else mine
        merged = three_way_merge(base, mine, fresh)
        before, after, fresh_leaves = _leaf_paths(mine), _leaf_paths(merged), _leaf_paths(fresh)
        result.added = [p for p in after if p not in before]
        result.kept_edits = [p for p, v in after.items() if p in fresh_leaves and fresh_leaves[p] != v]
        result.status = "unchanged" if merged == mine else "updated"
    path.parent.mkdir(parents=True, exist_ok=True)
    if result.status != "unchanged":
        path.write_text(render_json5(merged, comments), encoding="utf-8")
    base_path(path).write_text(json.dumps(fresh, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return result
