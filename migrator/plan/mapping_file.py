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

from ..errors import MappingError
from .mapping_checks import Problems
from .mapping_read import FORMAT_VERSION, read_options, read_plan
from .mapping_upgrade import without_repeats
from .model import (KEY_INDEX_SOURCE, KEY_VALIDATORS, MULTI_ENTRY_STRATEGIES, DatabasePlan, FieldPlan,
                    MultiEntryPlan, PlanOptions, TablePlan)

Comments = dict[tuple, list[str]]


# -- plan -> data + comments -----------------------------------------------------------------
# Each decision is written once. What follows from another entry is left out and derived when
# the file is loaded (mapping_read): fields and indexes the tool adds (the key field of an
# outbound/compound key, the owner field, the key index), the owner scope of unique indexes,
# the id validator of a reference, a multiEntry element type and its array index.
def _field_key(f: FieldPlan) -> str:
    return f.source if f.source is not None else f"({f.name})"


def _key_entry(t: TablePlan) -> dict[str, Any]:
    key = t.key
    entry: dict[str, Any] = {"paths": key.paths, "outbound": key.outbound, "auto": key.auto,
                             "index": key.index, "encoding": key.encoding}
    if key.dedicated:
        entry["field"] = key.field
    return entry


def _written_fields(t: TablePlan) -> dict[str, dict]:
    fields = {}
    for f in t.fields:
        if f.source is None:
            continue
        item: dict[str, Any] = {"name": f.name}
        stored = f.original or f.validator
        if not (t.key and f.name == t.key.field and stored == KEY_VALIDATORS.get(t.key.encoding)):
            item["validator"] = stored.to_ts()
        if f.convert:
            item["convert"] = f.convert
        fields[f.source] = item
    return fields


def _written_indexes(t: TablePlan, owner: str | None) -> dict[str, dict]:
    derived = [[m.field] for m in t.multi_entry if m.strategy == "array-index"]
    indexes = {}
    for i in t.indexes:
        if i.source == KEY_INDEX_SOURCE or i.fields in derived:
            continue
        fields = i.fields[1:] if i.unique and owner and i.fields[:1] == [owner] else i.fields
        indexes[i.source] = {"name": i.name, "fields": fields, **({"unique": True} if i.unique else {})}
    return indexes


def _multi_entry(m: MultiEntryPlan) -> dict[str, Any]:
    return {"field": m.field, "strategy": m.strategy, **({"table": m.table} if m.strategy == "side-table" else {})}


def plan_to_data(plan: DatabasePlan) -> tuple[dict, Comments]:
    comments: Comments = {}
    tables: dict[str, Any] = {}
    owner = plan.options.owner_field
    for t in plan.tables:
        tp = ("tables", t.source)
        comments[tp] = t.notes + [f"WARNING: {w}" for w in t.warnings]
        if t.skip:
            tables[t.source] = {"table": t.table, "skip": True}
            continue
        entry: dict[str, Any] = {"table": t.table}
        if t.key:
            entry["key"] = _key_entry(t)
            comments[tp + ("key",)] = [
                f"the import upserts through index {t.key.index!r} on "
                f"{', '.join(([owner] if owner else []) + [t.key.field])}; the key field's validator follows "
                f"`encoding` ({KEY_VALIDATORS[t.key.encoding].to_ts()})"
                + ("; `field` is added to hold the key" if t.key.dedicated else "")]
        if t.wrap_value:
            entry["wrapValue"] = next((f.source for f in t.fields if f.name == t.wrap_value), t.wrap_value)
        entry["fields"] = _written_fields(t)
        for f in t.fields:
            if f.source is not None:
                comments[tp + ("fields", f.source)] = f.notes
        entry["indexes"] = _written_indexes(t, owner)
        for i in t.indexes:
            comments[tp + ("indexes", i.source)] = i.notes
        if t.multi_entry:
            entry["multiEntry"] = {m.source: _multi_entry(m) for m in t.multi_entry}
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
                              "multiEntry: " + " | ".join(MULTI_ENTRY_STRATEGIES) + " (dates, blobInlineMaxBytes "
                              "and multiEntry are applied by `dexie-convex plan`: re-run it after changing them); "
                              "ownerField: a field stamped on every document when importing one dump per user "
                              "(keys are then scoped per owner)"]
    comments[("references",)] = ['"table.field": "otherTable" makes the field a v.id("otherTable"); '
                                 "the import rewrites original keys to Convex _ids. The field's own validator "
                                 "stays the type of the original keys"]
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
def read_settings(path: Path) -> tuple[PlanOptions, dict[str, str]]:
    """The options and references of an existing mapping file (defaults when there is none)."""
    if not path.exists():
        return PlanOptions(), {}
    data = _load(path)
    problems = Problems()
    options = read_options(problems.mapping("options", data.get("options")), problems)
    if problems.errors:
        raise MappingError(str(path), "; ".join(problems.errors), "fix these options in the mapping file")
    return options, dict(problems.mapping("references", data.get("references")))


def _load(path: Path) -> dict:
    try:
        data = pyjson5.decode(path.read_text(encoding="utf-8"))
    except (ValueError, pyjson5.Json5Exception) as exc:
        raise MappingError(str(path), f"not valid JSON5: {exc}", "fix the syntax, or delete the file and re-run plan")
    if not isinstance(data, dict) or "tables" not in data:
        raise MappingError(str(path), "not a dexie-convex mapping file (no `tables`)")
    return data


def _base(path: Path) -> dict | None:
    try:
        return json.loads(base_path(path).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None


def load_mapping(path: str | Path) -> DatabasePlan:
    """Read and check a mapping file; every problem is reported at once, naming its entry."""
    path = Path(path)
    if not path.exists():
        raise MappingError(str(path), "no such mapping file", "create it with `dexie-convex plan`")
    plan, errors = read_plan(_load(path), path.stem, _base(path))
    if errors:
        raise MappingError(str(path), f"{len(errors)} problem(s):\n  " + "\n  ".join(errors),
                           "edit these entries in the mapping file, or delete them and re-run plan")
    return plan


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
        sound = not read_plan(mine, path.stem, None)[1]      # an older file's repeats all agree: drop them
        merged = three_way_merge(base, without_repeats(mine, fresh) if sound else mine, fresh)
        if sound:
            merged["formatVersion"] = FORMAT_VERSION
        before, after, fresh_leaves = _leaf_paths(mine), _leaf_paths(merged), _leaf_paths(fresh)
        result.added = [p for p in after if p not in before]
        result.kept_edits = [p for p, v in after.items() if p in fresh_leaves and fresh_leaves[p] != v]
        result.status = "unchanged" if merged == mine else "updated"
    path.parent.mkdir(parents=True, exist_ok=True)
    if result.status != "unchanged":
        path.write_text(render_json5(merged, comments), encoding="utf-8")
    base_path(path).write_text(json.dumps(fresh, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return result
