"""A fixture's results (plan, schema, content) as the tool computes them now, and as `expected/` holds them."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from ..commands import generate_convex, plan_mappings
from ..dumps import open_dump
from ..errors import MigratorError
from ..plan.mapping_file import load_mapping
from ..plan.model import DatabasePlan
from .content import TableContent, dump_content, owners
from .fixture_dir import CONTENT_FILE, PLAN_FILE, SCHEMA_FILE, Fixture

FIXTURE_PLACEHOLDER = "<fixture>"


@dataclass
class DatabaseRun:
    """One database of a fixture: its plan, the mapping file that holds it, and its dumps."""

    plan: DatabasePlan
    mapping: Path
    label: str                 # the mapping as the generated schema names it
    dumps: list[Path] = field(default_factory=list)


@dataclass
class Results:
    plans: dict[str, dict]                         # database -> resolved plan (`plan --json` form)
    schema: str
    content: dict[str, dict[str, TableContent]]    # database -> Convex table -> content


def plan_fixture(fixture: Fixture, work: Path) -> list[DatabaseRun]:
    """The fixture's mapping files as they are, else a plan from src/ and the dumps written under `work`."""
    if fixture.mappings:
        runs = [DatabaseRun(load_mapping(m), m, fixture.relative(m)) for m in fixture.mappings]
    else:
        planned = plan_mappings([fixture.src] if fixture.src else [], fixture.dumps, work / "mappings")
        runs = [DatabaseRun(plan, w.path, f"mappings/{w.path.name}") for plan, w in zip(planned.plans, planned.writes)]
    by_name = {r.plan.database: r for r in runs}
    for path in fixture.dumps:
        with open_dump(path) as dump:
            name = dump.database_name
        run = by_name.get(name) if name in by_name else runs[0] if len(runs) == 1 else None
        if run is None:
            raise MigratorError(f"{path}: database {name!r} has no mapping in fixture {fixture.name} "
                                f"(mappings for {', '.join(sorted(by_name))})",
                                "add its mapping file, or remove the dump from the fixture")
        run.dumps.append(path)
    return runs


def _plan_json(fixture: Fixture, plan: DatabasePlan) -> dict:
    """The plan with paths into the fixture made machine-independent."""
    text = orjson.dumps(plan.summary_json()).decode()
    for prefix in (str(fixture.path.resolve()), str(fixture.path)):
        text = text.replace(orjson.dumps(prefix).decode()[1:-1], FIXTURE_PLACEHOLDER)
    return orjson.loads(text)


def _generated_schema(runs: list[DatabaseRun], work: Path) -> str:
    """`generate` into `work`; schema.ts with its header naming the mappings as the fixture does."""
    result = generate_convex([r.mapping for r in runs], work / "convex", force=True)
    header, _, body = result.schema_path.read_text(encoding="utf-8").partition("\n")
    for r in runs:
        header = header.replace(json.dumps(str(r.mapping)), json.dumps(r.label))
    return header + "\n" + body


def compute_results(fixture: Fixture, runs: list[DatabaseRun], work: Path) -> Results:
    return Results(plans={r.plan.database: _plan_json(fixture, r.plan) for r in runs},
                   schema=_generated_schema(runs, work),
                   content={r.plan.database: dump_content(r.plan, r.dumps, owners(r.plan)) for r in runs})


def _json_bytes(data) -> bytes:
    return orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def write_expected(fixture: Fixture, results: Results) -> list[Path]:
    """`--update`: write the expectations; returns the files that changed."""
    fixture.expected.mkdir(parents=True, exist_ok=True)
    files = {
        fixture.expected / PLAN_FILE: _json_bytes({"databases": results.plans}),
        fixture.expected / SCHEMA_FILE: results.schema.encode(),
        fixture.expected / CONTENT_FILE: _json_bytes({"databases": {
            db: {t: c.to_json() for t, c in tables.items()} for db, tables in results.content.items()}}),
    }
    changed = []
    for path, data in files.items():
        if not path.exists() or path.read_bytes() != data:
            path.write_bytes(data)
            changed.append(path)
    return changed


def read_expected(fixture: Fixture) -> Results | None:
    """None when the fixture has no expectations yet."""
    paths = [fixture.expected / name for name in (PLAN_FILE, SCHEMA_FILE, CONTENT_FILE)]
    if not all(p.is_file() for p in paths):
        return None
    try:
        plans = orjson.loads(paths[0].read_bytes())["databases"]
        content = orjson.loads(paths[2].read_bytes())["databases"]
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise MigratorError(f"{fixture.expected}: unreadable expectations ({exc})",
                            "restore them from version control, or rewrite them with --update") from None
    return Results(plans=plans, schema=paths[1].read_text(encoding="utf-8"),
                   content={db: {t: TableContent.from_json(c) for t, c in tables.items()}
                            for db, tables in content.items()})
