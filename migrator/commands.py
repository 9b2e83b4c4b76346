"""The commands as plain functions: each takes its inputs and returns a result object.

`cli.py` only parses options, calls these and prints; tests and other tools can call
them directly.
"""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from .declarations import DeclaredDatabase, read_declarations
from .diff.against import existing_schema, planned_schema, schema_diff
from .diff.compare import SchemaDiff
from .diff.merge import merge_schema
from .diff.schema_reader import SchemaReadError
from .dumps import open_dump
from .dumps.profile import DumpProfile, profile_dump
from .errors import DeclarationError, MigratorError
from .importer.run import ImportOptions, ImportSummary, run_import
from .importer.uploads import UploadImporter, UploadOutcome
from .sinks.convex_http import ConvexClient, Deployment, resolve_deployment
from .sinks.dry_run import DryRunReport
from .sinks.dry_run_client import DryRunClient
from .sinks.local_capacity import ensure_room
from .sinks.local_endpoint import local_endpoint
from .generate.collect_module import COLLECT_MODULE, CollectSettings, render_collect_module, settings_of, \
    uploads_table_block
from .generate.browser_module import render_browser_module
from .generate.import_module import MODULE, render_import_module
from .generate.schema_ts import is_generated, render_schema
from .plan.mapping_file import WriteResult, load_mapping, read_settings, write_mapping
from .plan.model import DatabasePlan
from .plan.observed import merge_observed
from .plan.planner import DeclaredTableInput, ObservedTable, plan_database
from .plan.profile_input import observed_tables


def mapping_path(out_dir: Path, database: str) -> Path:
    """`mappings/<database>.json5`, with the name made safe for a file system."""
    return Path(out_dir) / (re.sub(r"[^A-Za-z0-9._-]+", "_", database).strip(".") + ".json5")


# -- inspect -----------------------------------------------------------------------------------
def inspect_dumps(paths: list[str | Path]) -> list[tuple[Path, DumpProfile, list[str]]]:
    """Profile each dump: (path, profile, warnings)."""
    results = []
    for path in paths:
        with open_dump(path) as dump:
            profile = profile_dump(dump)
            results.append((Path(path), profile, list(dump.warnings)))
    return results


# -- plan --------------------------------------------------------------------------------------
@dataclass
class PlanResult:
    plans: list[DatabasePlan] = field(default_factory=list)        # as resolved from the written files
    writes: list[WriteResult] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class UnnamedDatabase(MigratorError):
    """A `new Dexie(expr)` whose name is not a literal, with no way to tell which database it is."""

    def __init__(self, locations: list[str]):
        self.locations = locations
        super().__init__(f"the database name at {', '.join(locations)} is not a literal the tool can evaluate",
                         "name it with --database NAME (one unnamed declaration per run), or give its dump "
                         "(a dexie-export-import file names its database)")


def _named(found: list[DeclaredDatabase], database: str | None, dumps: list[str | Path]) -> list[DeclaredDatabase]:
    """Give an unnamed declaration its name: --database, else the one dump database not declared by name."""
    unnamed = [db for db in found if not db.name]
    if not unnamed:
        return found
    if len(unnamed) > 1:
        raise UnnamedDatabase([db.location for db in unnamed])
    name, how = database, "--database"
    if not name:
        named = {db.name for db in found if db.name}
        in_dumps = set()
        for path in dumps:
            with open_dump(path) as dump:
                if dump.database_name and dump.database_name not in named:
                    in_dumps.add(dump.database_name)
        if len(in_dumps) != 1:
            raise UnnamedDatabase([unnamed[0].location])
        name, how = in_dumps.pop(), "the dump"
    unnamed[0].name = name
    unnamed[0].notes.append(f"the database name is not a literal in the source; {name!r} comes from {how}")
    return found


def _declared_inputs(db: DeclaredDatabase, observed: dict[str, ObservedTable]) -> dict[str, DeclaredTableInput]:
    """The declared tables, and the dump's tables the source may declare but cannot say statically."""
    inputs = {name: DeclaredTableInput(name=name, schema=t.schema, row_type=t.row_type, type_name=t.type_name,
                                       schema_unknown=t.unknown.error.message if t.unknown else None)
              for name, t in db.tables.items()}
    for name in observed:
        unknown = db.unknown_reason(name) if name not in inputs else None
        if unknown is not None:
            inputs[name] = DeclaredTableInput(name=name, schema=None, row_type=None,
                                              schema_unknown=unknown.error.message)
    return inputs


def _from_dump(db: DeclaredDatabase, observed: dict[str, ObservedTable], dumps: list[str]) -> list[str]:
    """The tables whose schema the dump gives because the source cannot be evaluated; an
    error when there is no dump, or the dump lacks one of them."""
    if not observed:
        raise db.unevaluated[0].error
    unknown = [t for t in db.tables.values() if t.schema is None]
    for table in unknown:
        if table.name not in observed or observed[table.name].schema is None:
            error = table.unknown.error
            raise DeclarationError(error.location, error.message[len(error.location) + 2:] +
                                   f"; the dump ({', '.join(dumps)}) has no schema for table {table.name!r} either",
                                   "give a dexie-export-import dump that holds the table, or make the "
                                   "declaration static")
    from_dump = [t.name for t in unknown] + [n for n in observed if n not in db.tables]
    return from_dump


def plan_mappings(dexie: list[str | Path], dumps: list[str | Path], out_dir: str | Path = "mappings", *,
                  database: str | None = None, dates: str | None = None,
                  write: bool = True) -> PlanResult:
    """Plan every database found in the declarations and dumps; write/merge its mapping file."""
    if not dexie and not dumps:
        raise MigratorError("nothing to plan", "give Dexie sources (--dexie src/) and/or dump files")
    result = PlanResult()
    declared: dict[str, DeclaredDatabase] = {}
    for db in _named(read_declarations(dexie) if dexie else [], database, dumps):
        if database and db.name != database:
            continue
        if db.name in declared:
            result.warnings.append(f"database {db.name!r} is declared twice ({declared[db.name].location} and "
                                   f"{db.location}); the first is used")
            continue
        declared[db.name] = db
    observed: dict[str, dict[str, ObservedTable]] = {}
    dump_sources: dict[str, list[str]] = {}
    for path in dumps:
        with open_dump(path) as dump:
            name = database or dump.database_name or (next(iter(declared)) if len(declared) == 1 else None)
            if name is None:
                raise MigratorError(f"{path}: the dump does not name its database",
                                    "say which database it belongs to with --database NAME")
            profile = profile_dump(dump)
            result.warnings.extend(dump.warnings)
            tables = observed.setdefault(name, {})
            for tname, obs in observed_tables(profile).items():
                tables[tname] = merge_observed(tables[tname], obs) if tname in tables else obs
            dump_sources.setdefault(name, []).append(str(path))
    for name in list(declared) + [n for n in observed if n not in declared]:
        target = mapping_path(Path(out_dir), name)
        options, references = read_settings(target)
        if dates:
            options.dates = dates
        db = declared.get(name)
        from_dump = _from_dump(db, observed.get(name, {}), dump_sources.get(name, [])) \
            if db and not db.complete() else []
        plan = plan_database(name, _declared_inputs(db, observed.get(name, {})) if db else {}, observed.get(name, {}),
                             options, references)
        plan.sources = {"dexie": [db.location] if db else [], "dumps": dump_sources.get(name, [])}
        if db:
            plan.notes.extend(db.notes)          # these include each .upgrade() that is not run
        if from_dump:
            plan.notes.append(f"the schema of {', '.join(map(repr, from_dump))} comes from the dump "
                              f"({', '.join(dump_sources[name])}), since the source cannot be evaluated "
                              f"statically; every other table's from the declaration at {db.location}")
        if not write:
            result.plans.append(plan)
            continue
        written = write_mapping(plan, target)
        result.writes.append(written)
        resolved = load_mapping(target)
        _carry_explanations(plan, resolved)
        result.plans.append(resolved)
    return result


def _carry_explanations(fresh: DatabasePlan, resolved: DatabasePlan) -> None:
    """Notes and warnings live in comments of the file; give them to the resolved plan too."""
    resolved.notes, resolved.warnings = fresh.notes, fresh.warnings
    resolved.suggested_references = {k: v for k, v in fresh.suggested_references.items()
                                      if k not in resolved.references}
    by_source = {t.source: t for t in fresh.tables}
    for t in resolved.tables:
        if t.source in by_source:
            t.notes, t.warnings = by_source[t.source].notes, by_source[t.source].warnings


# -- generate ----------------------------------------------------------------------------------
@dataclass
class GenerateResult:
    schema_path: Path
    module_path: Path
    plans: list[DatabasePlan]
    written: list[Path]
    schema_diff: SchemaDiff | None = None   # the existing schema.ts against the plan
    diff_problem: str | None = None         # why there is no diff (--force over an unreadable schema.ts)
    collect_path: Path | None = None        # dexieCollect.ts, when collecting uploads
    browser_path: Path | None = None        # the app's upload module, when asked for


class HandWrittenSchema(MigratorError):
    def __init__(self, path: Path, diff: SchemaDiff | None = None):
        self.path, self.diff = path, diff
        super().__init__(f"{path} was not written by dexie-convex; not overwriting it",
                         f"review the differences (`dexie-convex diff MAPPING... --against {path}`), then pass "
                         "--merge to keep your other tables and replace or add the mapped ones, or --force to "
                         "replace the file" if path.name == "schema.ts" else "pass --force to replace it")


def generate_convex(mappings: list[str | Path], out_dir: str | Path = "convex", *, force: bool = False,
                    merge: bool = False, collect: CollectSettings | None = None,
                    browser_module: str | Path | None = None) -> GenerateResult:
    """Write `<out_dir>/schema.ts` and the import module `<out_dir>/dexieImport.ts`.

    An existing schema.ts is diffed against the plan. One this tool did not write is replaced
    only with `force`, or merged with `merge` (the user's other tables kept as written).
    `collect` (or a dexieCollect.ts written before, whose settings are kept) adds the
    functions that collect users' exports and their `dexieUploads` table; `browser_module`
    is where the app's side of it goes.
    """
    if force and merge:
        raise MigratorError("--force and --merge exclude each other",
                            "--merge keeps your other tables in schema.ts, --force replaces the whole file")
    plans = [load_mapping(m) for m in mappings]
    out = Path(out_dir)
    schema_path = out / "schema.ts"
    collect_path = out / f"{COLLECT_MODULE}.ts"
    collect = collect or settings_of(collect_path)
    files = {schema_path: render_schema(plans, [str(m) for m in mappings],
                                        [uploads_table_block()] if collect else []),
             out / f"{MODULE}.ts": render_import_module(plans)}
    if collect:
        files[collect_path] = render_collect_module(plans, collect)
    elif browser_module:
        raise MigratorError("the browser module goes with --collect", "pass --collect too")
    if browser_module:
        files[Path(browser_module)] = render_browser_module()
    found, problem = None, None
    if schema_path.exists():
        planned = planned_schema(files[schema_path])
        try:
            existing = existing_schema(schema_path)
            found = schema_diff(plans, mappings, planned, existing)
        except SchemaReadError as exc:
            if not force:
                raise
            problem = str(exc)
        if merge and not is_generated(schema_path):
            files[schema_path] = merge_schema(existing, planned)
        elif not force and not is_generated(schema_path):
            raise HandWrittenSchema(schema_path, found)
    for path in files:
        if path.exists() and not force and not is_generated(path) and not (merge and path == schema_path):
            raise HandWrittenSchema(path)
    written = []
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            written.append(path)
    return GenerateResult(schema_path=schema_path, module_path=out / f"{MODULE}.ts", plans=plans,
                          written=written, schema_diff=found, diff_problem=problem,
                          collect_path=collect_path if collect else None,
                          browser_path=Path(browser_module) if browser_module else None)


# -- diff --------------------------------------------------------------------------------------
def diff_schema(mappings: list[str | Path], against: str | Path | None = None) -> SchemaDiff:
    """Compare what `generate` would write for the mappings with an existing schema.ts
    (None: an empty schema); beside a generated dexieCollect.ts, with its `dexieUploads` table."""
    plans = [load_mapping(m) for m in mappings]
    collecting = against is not None and settings_of(Path(against).parent / f"{COLLECT_MODULE}.ts") is not None
    planned = planned_schema(render_schema(plans, [str(m) for m in mappings],
                                           [uploads_table_block()] if collecting else []))
    return schema_diff(plans, mappings, planned, existing_schema(against))


# -- import ------------------------------------------------------------------------------------
@dataclass
class ImportResult:
    summary: ImportSummary
    target: str                       # the deployment URL, or "local endpoint (...)"
    local_contents: Path | None = None
    cleared: dict[str, int] = field(default_factory=dict)
    dry_run: DryRunReport | None = None   # set by a dry run: what would have been sent


def dry_run_import(plan: DatabasePlan, paths: list[Path], options: ImportOptions) -> ImportResult:
    """The import with `DryRunClient` in place of the deployment.

    Its checkpoint, deferred rows and rejects live in `<state-dir>/dry-run/`, started afresh
    each time, so the real import's checkpoint never learns of rows that were not sent.
    """
    state = options.state_dir / "dry-run"
    (state / "rejects.jsonl").unlink(missing_ok=True)
    dry_options = dataclasses.replace(options, state_dir=state, restart=True, resumable=False)
    with DryRunClient(plan, separate=True, keys_unique=options.duplicates != "last-wins") as client:
        summary = run_import(plan, paths, client, dry_options)
    return ImportResult(summary=summary, target="nothing (dry run)", dry_run=client.report)


def deploy_with_convex_cli(project_dir: Path, deployment: Deployment) -> None:
    """`--deploy`: push the generated convex/ folder with the real Convex CLI (`npx convex deploy`)."""
    env = {**os.environ}
    if deployment.key:
        env["CONVEX_DEPLOY_KEY"] = deployment.key.reveal()
    run = subprocess.run(["npx", "--yes", "convex", "deploy", "--yes"], cwd=project_dir, env=env,
                         capture_output=True, text=True)
    if run.returncode != 0:
        secret = deployment.key.reveal() if deployment.key else None
        tail = (run.stderr or run.stdout)[-2000:]
        raise MigratorError(f"npx convex deploy failed:\n{tail.replace(secret, '***') if secret else tail}",
                            "deploy by hand from your app's folder (`npx convex deploy`), then import again")


@contextmanager
def _local_deployment(convex_dir: Path, options: ImportOptions, local_out: str | Path | None,
                      dumps: list[Path]) -> Iterator[tuple[Deployment, str, Path, ImportOptions]]:
    """The local endpoint serving `convex_dir`: (deployment, its label, where its contents go,
    the import options for it), once `dumps` are known to fit it. It holds its data for one
    run and starts empty, so a checkpoint from an earlier run would skip rows it never saw:
    every local run starts over."""
    contents = Path(local_out) if local_out else options.state_dir / "local-contents"
    store = options.state_dir / "local-store"
    ensure_room(dumps, store)
    options.state_dir.mkdir(parents=True, exist_ok=True)
    with local_endpoint(convex_dir, contents, log_path=options.state_dir / "local-convex.log",
                        store_dir=store) as dep:
        yield dep, f"the local Convex endpoint ({dep.url})", contents, dataclasses.replace(options, restart=True)


def import_dumps(mapping: str | Path, dumps: list[str | Path], options: ImportOptions, *,
                 url: str | None = None, deploy_key: str | None = None, insecure: bool = False,
                 replace: bool = False, deploy: bool = False, project_dir: str | Path = ".",
                 local_out: str | Path | None = None,
                 confirm_replace: Callable[[str], bool] | None = None, dry_run: bool = False) -> ImportResult:
    """Import dumps into the deployment named by flags/environment, or into the local endpoint.

    `dry_run`: read, transform and validate every row, send nothing (see `dry_run_import`).
    """
    plan = load_mapping(mapping)
    paths = [Path(d) for d in dumps]
    if dry_run:
        return dry_run_import(plan, paths, options)
    deployment = resolve_deployment(url, deploy_key, insecure=insecure)

    def go(dep: Deployment, target: str, run_options: ImportOptions = options) -> ImportResult:
        if replace and confirm_replace is not None and not confirm_replace(target):
            raise MigratorError("not replacing: nothing was changed", "pass --yes to skip the question")
        cleared: dict[str, int] = {}
        with ConvexClient(dep) as client:
            summary = run_import(plan, paths, client, run_options, replace=replace, on_cleared=cleared.update)
        return ImportResult(summary=summary, target=target, cleared=cleared)

    if deployment is not None:
        if deploy:
            deploy_with_convex_cli(Path(project_dir), deployment)
        return go(deployment, deployment.url)
    convex_dir = options.state_dir / "local-convex"
    generate_convex([mapping], convex_dir, force=True)
    with _local_deployment(convex_dir, options, local_out, paths) as (dep, label, contents, local_options):
        result = go(dep, label, local_options)
    result.local_contents = contents
    return result


def import_uploads(mapping: str | Path, options: ImportOptions, *, url: str | None = None,
                   deploy_key: str | None = None, insecure: bool = False, dry_run: bool = False,
                   retry_failed: bool = False, watch_interval: float | None = None,
                   on_round: Callable[[list[UploadOutcome]], None] | None = None) -> list[UploadOutcome]:
    """`import --from-uploads`: import every open collected upload of the mapping's database,
    each with its owner; with `watch_interval`, again every so many seconds until interrupted.
    `dry_run`: download and dry-run each, claim and mark nothing."""
    plan = load_mapping(mapping)
    deployment = resolve_deployment(url, deploy_key, insecure=insecure)
    if deployment is None:
        raise MigratorError("--from-uploads needs the deployment that holds the uploads",
                            "pass --url (or set CONVEX_URL) and the deploy key (--deploy-key or CONVEX_DEPLOY_KEY)")
    with ConvexClient(deployment) as client:
        importer = UploadImporter(plan, client, options, retry_failed=retry_failed,
                                  dry_run=dry_run_import if dry_run else None)
        while True:
            outcomes = importer.run_once()
            if on_round is not None:
                on_round(outcomes)
            if watch_interval is None:
                return outcomes
            time.sleep(watch_interval)


# -- migrate -----------------------------------------------------------------------------------
@dataclass
class MigrateResult:
    planned: PlanResult
    generated: GenerateResult
    imports: dict[str, ImportResult]          # database -> its import


def migrate(dumps: list[str | Path], dexie: list[str | Path], options: ImportOptions, *,
            out_dir: str | Path = ".", database: str | None = None, dates: str | None = None,
            force: bool = False, **target) -> MigrateResult:
    """The quick path: plan -> generate -> import, leaving `mappings/` and `convex/` to review.

    Each database imports its own dumps (as listed in its plan), with its own state folder
    when there are several; `target` is passed on to `import_dumps` (url, deploy_key, ...).
    With no deployment named, the local endpoint serves the generated convex/ folder, every
    database in it, as a deployment would.
    """
    out = Path(out_dir)
    planned = plan_mappings(dexie, dumps, out / "mappings", database=database, dates=dates)
    work = [(w.path, p, [d for d in dumps if str(d) in p.sources.get("dumps", [])])
            for w, p in zip(planned.writes, planned.plans)]
    work = [(mapping, plan, mine) for mapping, plan, mine in work if mine]
    generated = generate_convex([w.path for w in planned.writes], out / "convex", force=force)

    def import_each(run_options: ImportOptions, **where) -> dict[str, ImportResult]:
        return {plan.database: import_dumps(
                    mapping, mine, dataclasses.replace(
                        run_options, state_dir=run_options.state_dir / mapping.stem if len(work) > 1
                        else run_options.state_dir),
                    project_dir=out, **{**target, **where})
                for mapping, plan, mine in work}

    named = resolve_deployment(target.get("url"), target.get("deploy_key"), insecure=target.get("insecure", False))
    if named is not None or target.get("dry_run"):
        return MigrateResult(planned=planned, generated=generated, imports=import_each(options))
    with _local_deployment(generated.schema_path.parent, options, target.get("local_out"),
                           [Path(d) for d in dumps]) as (dep, label, contents, local_options):
        imports = import_each(local_options, url=dep.url, deploy_key=dep.key.reveal(), local_out=None, deploy=False)
    for result in imports.values():
        result.target, result.local_contents = label, contents
    return MigrateResult(planned=planned, generated=generated, imports=imports)


# -- verify ------------------------------------------------------------------------------------
# Imported inside the functions: the verify package runs the commands above (plan, import).
def verify_fixtures(paths: list[str | Path], *, local: bool = False, update: bool = False) -> list:
    """Plan, generate and dry-run each fixture (with `local`, import it too); compare with its `expected/`.

    Returns one `verify.run.VerifyReport` per fixture; `update` rewrites `expected/` first.
    """
    from .verify.fixture_dir import find_fixtures
    from .verify.run import verify_fixture
    return [verify_fixture(f, local=local, update=update) for f in find_fixtures(paths)]


def verify_deployment(mapping: str | Path, dumps: list[str | Path], *, url: str | None,
                      deploy_key: str | None = None, insecure: bool = False, owner_from: str | None = None):
    """A deployment after an import: per table counts, original-key checksum and rows against the dumps
    (per owner and key with options.ownerField; `owner_from` as for import)."""
    from .verify.run import verify_deployment as check
    return check(mapping, dumps, url=url, deploy_key=deploy_key, insecure=insecure, owner_from=owner_from)
