"""The `dexie-convex` command line: parse options, call `commands`, print results."""

from __future__ import annotations

import functools
import sys
from contextlib import contextmanager
from pathlib import Path

import click
import orjson

from . import commands
from .diff.report import format_text
from .errors import MigratorError


def library_errors(fn):
    """Show a MigratorError (message + remedy) as a click error: exit code 1, no traceback."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except MigratorError as exc:
            raise click.ClickException(str(exc)) from exc
    return wrapper


def json_option(fn):
    return click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")(fn)


def print_json(data) -> None:
    click.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())


class _PipelineOrder(click.Group):
    """`--help` lists the commands once, in the order a migration uses them (not sorted)."""

    def list_commands(self, ctx):
        return list(self.commands)


@click.group(cls=_PipelineOrder, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="dexie-convex")
def cli():
    """Move a Dexie.js / IndexedDB app's data into Convex."""


@cli.command(short_help="what a dump holds, and what Convex cannot take as is")
@click.argument("dumps", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@json_option
@library_errors
def inspect(dumps, as_json):
    """Profile dump files: per table, rows, key kind, field types and anomalies.

    Reads dexie-export-import files (streamed: any size) and indexeddb-export-import files.
    """
    results = commands.inspect_dumps(list(dumps))
    if as_json:
        print_json([{**profile.to_json(), "warnings": warnings} for _, profile, warnings in results])
        return
    for path, profile, warnings in results:
        click.echo(f"== {path}")
        for w in warnings:
            click.echo(f"warning: {w}", err=True)
        click.echo(profile.format_text())


@cli.command(short_help="read declarations and dumps, write a mapping file per database")
@click.argument("dumps", nargs=-1, type=click.Path(exists=True, dir_okay=False))
@click.option("--dexie", "dexie", multiple=True, type=click.Path(exists=True),
              help="Dexie declarations: a JS/TS file or a folder (repeatable).")
@click.option("-o", "--out-dir", default="mappings", show_default=True, type=click.Path(file_okay=False),
              help="Where mapping files are written (one per database).")
@click.option("--database", help="Only this database; also names the database of dumps that do not.")
@click.option("--dates", type=click.Choice(["ms", "iso"]),
              help="Store Dates as epoch milliseconds (default) or ISO strings; saved in the mapping.")
@click.option("--dry-run", is_flag=True, help="Show the plan without writing mapping files.")
@json_option
@library_errors
def plan(dumps, dexie, out_dir, database, dates, dry_run, as_json):
    """Plan how each Dexie database maps to Convex; write mappings/<db>.json5.

    Give Dexie sources (--dexie), dumps (DUMPS), or both. Re-running keeps your edits to the
    mapping file and only adds what is new.
    """
    result = commands.plan_mappings(list(dexie), list(dumps), out_dir, database=database, dates=dates,
                                    write=not dry_run)
    if as_json:
        print_json({"databases": [p.summary_json() for p in result.plans], "warnings": result.warnings,
                    "files": [{"path": str(w.path), "status": w.status, "added": w.added,
                               "keptEdits": w.kept_edits} for w in result.writes]})
        return
    for w in result.warnings:
        click.echo(f"warning: {w}", err=True)
    for plan in result.plans:
        _print_plan(plan)
    for w in result.writes:
        click.echo(f"{w.status}: {w.path}" + (f" ({len(w.added)} new entries)" if w.status == "updated" else "")
                   + (f"; kept {len(w.kept_edits)} of your edits" if w.kept_edits else ""))


def _print_plan(plan) -> None:
    click.echo(f"Database {plan.database}")
    for t in plan.tables:
        if t.skip:
            click.echo(f"  {t.source}: skipped ({'; '.join(t.notes)})")
            continue
        key = t.key.field if t.key else "-"
        arrow = t.source if t.source == t.table else f"{t.source} -> {t.table}"
        click.echo(f"  {arrow}: key {key}, {len(t.fields)} fields, {len(t.indexes)} indexes"
                   + (f", {len(t.multi_entry)} multiEntry" if t.multi_entry else ""))
        for w in t.warnings:
            click.echo(f"    warning: {w}")
    for ref, target in plan.suggested_references.items():
        click.echo(f"  suggestion: {ref} may refer to {target} (add it under `references` to apply)")
    for w in plan.warnings:
        click.echo(f"  warning: {w}")


@cli.command(short_help="write convex/schema.ts and convex/dexieImport.ts from mappings")
@click.argument("mappings", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--out-dir", default="convex", show_default=True, type=click.Path(file_okay=False),
              help="The Convex functions folder.")
@click.option("--force", is_flag=True, help="Overwrite a schema.ts that dexie-convex did not write.")
@click.option("--merge", is_flag=True,
              help="Into a schema.ts dexie-convex did not write: keep your other tables, replace or add the mapped ones.")
@click.option("--check", is_flag=True,
              help="Type-check the result with tsc against the real `convex` package and load it.")
@click.option("--collect", is_flag=True,
              help="Also write convex/dexieCollect.ts (users upload their exports; import --from-uploads).")
@click.option("--collect-max-bytes", type=click.IntRange(1), help="With --collect: the largest upload accepted "
                                                                  "(default 256 MiB).")
@click.option("--collect-identity-field", help="With --collect: the identity field that names the owner "
                                               "(default tokenIdentifier).")
@click.option("--browser-module", type=click.Path(dir_okay=False),
              help="With --collect: also write the app's upload module here (e.g. src/uploadToConvex.ts).")
@library_errors
def generate(mappings, out_dir, force, merge, check, collect, collect_max_bytes, collect_identity_field,
             browser_module):
    """Write convex/schema.ts and the import module convex/dexieImport.ts from mapping files.

    When schema.ts exists, shows how it differs from what the mappings generate (as `diff`).
    With --collect, also convex/dexieCollect.ts and the `dexieUploads` table (kept by later
    runs without --collect), and with --browser-module the app's side.
    """
    planned_from = ", ".join(mappings)
    settings = None
    if collect:
        from .generate.collect_module import CollectSettings
        settings = CollectSettings()
        settings.max_bytes = collect_max_bytes or settings.max_bytes
        settings.identity_field = collect_identity_field or settings.identity_field
    elif collect_max_bytes or collect_identity_field:
        raise click.UsageError("--collect-max-bytes and --collect-identity-field go with --collect")
    try:
        result = commands.generate_convex(list(mappings), out_dir, force=force, merge=merge, collect=settings,
                                          browser_module=browser_module)
    except commands.HandWrittenSchema as exc:
        if exc.diff is not None:
            click.echo(format_text(exc.diff, planned_from))
        raise
    if result.schema_diff is not None and result.schema_diff.changes:
        click.echo(format_text(result.schema_diff, planned_from))
    elif result.schema_diff is not None:
        click.echo(f"{result.schema_path}: no differences (`dexie-convex diff` lists what does not carry over)")
    if result.diff_problem:
        click.echo(f"warning: no diff, the existing schema.ts could not be read: {result.diff_problem}", err=True)
    tables = sum(len(p.mapped_tables()) + len(p.side_tables()) for p in result.plans)
    indexes = sum(len(t.indexes) for p in result.plans for t in p.mapped_tables())
    for path in (result.schema_path, result.module_path, result.collect_path, result.browser_path):
        if path is not None:
            click.echo(f"{'wrote' if path in result.written else 'unchanged'}: {path}")
    click.echo(f"{tables} tables, {indexes} indexes"
               f"{' (plus side-table indexes)' if any(p.side_tables() for p in result.plans) else ''}")
    if check:
        from .node_tools import check_convex_dir
        report = check_convex_dir(result.schema_path.parent)
        for d in report["diagnostics"]:
            click.echo(d, err=True)
        if report["diagnostics"]:
            raise click.ClickException(f"{len(report['diagnostics'])} TypeScript error(s) in {result.schema_path}")
        loaded = report["schema"]["tables"]
        click.echo(f"checked: tsc --noEmit clean; schema.export() lists {len(loaded)} tables, "
                   f"{sum(len(t['indexes']) for t in loaded)} indexes")
        if result.browser_path:
            from .node_tools import check_browser_files
            problems = check_browser_files([result.browser_path])
            for d in problems:
                click.echo(d, err=True)
            if problems:
                raise click.ClickException(f"{len(problems)} TypeScript error(s) in {result.browser_path}")
            click.echo(f"checked: {result.browser_path} type-checks against dexie, dexie-export-import and convex")


class _UsageErrorsExitOne(click.Command):
    """`diff --exit-code` gives exit code 2 a meaning (differences), so usage errors exit 1."""

    def parse_args(self, ctx, args):
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            exc.exit_code = 1
            raise


@cli.command(cls=_UsageErrorsExitOne, short_help="compare what generate would write with an existing schema.ts")
@click.argument("mappings", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--against", type=click.Path(dir_okay=False),
              help="The existing convex/schema.ts (default: an empty schema).")
@click.option("--exit-code", is_flag=True, help="Exit 0 with no differences, 2 with differences, 1 on any error.")
@json_option
@library_errors
def diff(mappings, against, exit_code, as_json):
    """Compare what `generate` would write for MAPPINGS with an existing schema.ts.

    Per table: tables, fields (old and new validator), optional-ness and indexes added,
    removed or changed; what would break existing data or app code is marked BREAKING. Also
    lists the Dexie features that do not carry over (primary and unique keys, multiEntry
    indexes, .upgrade() code) and how the plan handles each.
    """
    result = commands.diff_schema(list(mappings), against)
    if as_json:
        print_json(result.to_json())
    else:
        click.echo(format_text(result, ", ".join(mappings)))
    if exit_code and result.differs:
        click.get_current_context().exit(2)


def _print_summary(summary) -> None:
    """This run's counts per table (and side table); the whole import's when this run resumed one."""
    from .importer.run import COUNT_KEYS, RUN_KEYS
    _print_counts(summary.tables, summary.sides, COUNT_KEYS, summary.seconds)
    if summary.totals is not None:
        click.echo("whole import (every run of this checkpoint):")
        _print_counts(summary.totals, summary.side_totals, [k for k in COUNT_KEYS if k not in RUN_KEYS], None)
    if summary.dangling_total:
        click.echo(f"{summary.dangling_total} optional references name rows that do not exist; the rows were "
                   f"imported without them: see {summary.dangling_path}")
    click.echo(f"{summary.requests} requests, {summary.retries} retried" + _pacing_note(summary))


def _print_counts(tables: dict, sides, cols, seconds: dict | None) -> None:
    timed = seconds is not None
    rows = [[t] + [str(c[k]) for k in cols] + ([f"{seconds.get(t, 0.0):.1f}"] if timed else [])
            for t, c in tables.items()]
    header = ["table", *cols] + (["seconds"] if timed else [])
    totals = ["TOTAL"] + [str(sum(c[k] for c in tables.values())) for k in cols] + ([""] if timed else [])
    widths = [max(len(r[i]) for r in [header, totals, *rows]) for i in range(len(header))]
    for r in [header, *rows, totals]:
        click.echo("  ".join(cell.ljust(widths[0]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(r)))
    if sides:
        click.echo("side tables (rows written): " + ", ".join(f"{side} {n}" for side, n in sides.items()))


def _pacing_note(summary) -> str:
    note = f", {summary.reconnects} stale connections replaced" if summary.reconnects else ""
    if summary.throttled:
        note += (f", {summary.throttled} throttled (429 TooManyWrites); writes settled at "
                 f"{summary.settled_rate / 1024:.0f} KiB/s")
    return note


IMPORT_OPTIONS = [
    click.option("--url", help="Deployment URL (else CONVEX_URL or CONVEX_SELF_HOSTED_URL; none: the local endpoint)."),
    click.option("--deploy-key", help="Deploy/admin key (else CONVEX_DEPLOY_KEY or CONVEX_SELF_HOSTED_ADMIN_KEY)."),
    click.option("--insecure", is_flag=True, help="Allow plain http:// to a host other than localhost."),
    click.option("--deploy", is_flag=True, help="Deploy the generated convex/ folder with `npx convex deploy` first."),
    click.option("--dry-run", is_flag=True, help="Read, transform and validate every row; send nothing. Rejects and "
                                                 "checkpoint go to <state-dir>/dry-run/."),
    click.option("--concurrency", default=4, show_default=True, type=click.IntRange(1, 64), help="Batches in flight."),
    click.option("--batch-size", default=256, show_default=True, type=click.IntRange(1, 8192),
                 help="Rows per batch at most."),
    click.option("--batch-bytes", default=4 * 1024 * 1024, show_default=True,
                 type=click.IntRange(1024, 15 * 1024 * 1024), help="Encoded bytes per batch at most."),
    click.option("--max-errors", type=click.IntRange(0), help="Stop once more than N rows are rejected; exit 0 within N."),
    click.option("--replace", is_flag=True, help="Empty the target tables first (asks; --yes to skip)."),
    click.option("--yes", is_flag=True, help="Do not ask before --replace."),
    click.option("--owner-field", help="Stamp each document with its owner (must match options.ownerField of the "
                                       "mapping)."),
    click.option("--owner-from", help="Owner value: 'filename' (default), 'database', or a literal value."),
    click.option("--state-dir", default=".dexie-convex", show_default=True, type=click.Path(file_okay=False),
                 help="Checkpoint, rejects file and local endpoint output."),
    click.option("--restart", is_flag=True, help="Forget the checkpoint and start over (writes are still upserts)."),
    click.option("--duplicates", type=click.Choice(["reject", "last-wins"]), default="reject", show_default=True,
                 help="A row whose table (and owner) already had its key: reject it, or write it over the first "
                      "(last-wins sends one batch at a time, so the later write lands last)."),
    click.option("--local-out", type=click.Path(file_okay=False),
                 help="Local endpoint only: where its final contents go as JSONL per table."),
    click.option("--summary-json", type=click.Path(dir_okay=False), help="Also write the summary as JSON to this file."),
    click.option("-q", "--quiet", is_flag=True, help="No progress bar."),
]


def import_options(fn):
    """The options `import` and `migrate` share: where to, how to batch, where state goes."""
    for option in reversed(IMPORT_OPTIONS):
        fn = option(fn)
    return fn


def _import_call(opts: dict) -> tuple:
    """(ImportOptions, keyword arguments for commands.import_dumps) from the shared options."""
    from .importer.run import ImportOptions
    options = ImportOptions(batch_rows=opts["batch_size"], batch_bytes=opts["batch_bytes"],
                            concurrency=opts["concurrency"], max_errors=opts["max_errors"],
                            state_dir=Path(opts["state_dir"]), owner_field=opts["owner_field"],
                            owner_from=opts["owner_from"], progress=not opts["quiet"], restart=opts["restart"],
                            duplicates=opts["duplicates"])
    confirm = None if opts["yes"] else (
        lambda target: click.confirm(f"Delete every row of the mapped tables in {target}?"))
    target = {k: opts[k] for k in ("url", "deploy_key", "insecure", "replace", "deploy", "local_out", "dry_run")}
    return options, {**target, "confirm_replace": confirm}


def _report_import(result, summary_json: str | None) -> None:
    """Print one import's summary (and write it as JSON when asked)."""
    summary = result.summary
    if result.dry_run:
        click.echo("Dry run: nothing was sent. Counts are what the import would do.")
    else:
        click.echo(f"Imported into {result.target}")
    for table, n in result.cleared.items():
        click.echo(f"replaced: deleted {n} rows of {table} first")
    _print_summary(summary)
    if result.dry_run:
        d = result.dry_run
        click.echo(f"would send {d.batches} batches ({d.batch_bytes} bytes of arguments) and upload "
                   f"{d.blobs} files ({d.blob_bytes} bytes)")
    if result.local_contents:
        click.echo(f"local endpoint contents: {result.local_contents}/<table>.jsonl")
    if summary_json:
        _write_json(summary_json, _summary_data(result))


def _summary_data(result) -> dict:
    extra = {"dryRun": result.dry_run.to_json()} if result.dry_run else {}
    return {**result.summary.to_json(), "target": result.target, **extra}


def _write_json(path: str, data) -> None:
    Path(path).write_text(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())


def _import_failures(results, max_errors: int | None) -> None:
    """Exit non-zero when an import stopped early or rejected rows beyond --max-errors."""
    for result in results:
        summary = result.summary
        if summary.stopped:
            raise click.ClickException(f"stopped: {summary.stopped}")
        if summary.rejected_total and (max_errors is None or summary.rejected_total > max_errors):
            raise click.ClickException(f"{summary.rejected_total} rows rejected: see {summary.rejects_path}")


@contextmanager
def _stopped_imports(summary_json: str | None):
    """An interrupted import still prints (and writes) what it did before it stopped."""
    from .importer.run import ImportStopped
    try:
        yield
    except ImportStopped as stopped:
        _print_summary(stopped.summary)
        if summary_json:       # what was done before it stopped (the checkpoint has it too)
            _write_json(summary_json, stopped.summary.to_json())
        raise


@cli.command(name="import", short_help="import dumps through the generated mutation, exactly once")
@click.argument("mapping", type=click.Path(exists=True, dir_okay=False))
@click.argument("dumps", nargs=-1, type=click.Path(exists=True, dir_okay=False))
@import_options
@click.option("--from-uploads", is_flag=True, help="Import the users' uploads collected by convex/dexieCollect.ts "
                                                   "(generate --collect) instead of DUMPS, each with its owner.")
@click.option("--watch", type=click.FloatRange(1), metavar="SECONDS",
              help="With --from-uploads: look for new uploads again every SECONDS, until Ctrl-C.")
@click.option("--retry-failed", is_flag=True, help="With --from-uploads: also take uploads marked failed again.")
@library_errors
def import_(mapping, dumps, from_uploads, watch, retry_failed, **opts):
    """Import dumps into Convex through the generated batched mutation.

    Upserts by the original Dexie key: stopping and re-running never duplicates; a checkpoint
    in --state-dir lets a re-run continue where it stopped. Rows that cannot be imported go
    to <state-dir>/rejects.jsonl with the reason (a second row with a key already read too,
    unless --duplicates last-wins); optional references to rows that do not exist are left out
    and listed in <state-dir>/dangling.jsonl. Without a deployment URL, imports into the
    local Convex-compatible endpoint (no account needed).

    With --from-uploads (no DUMPS): every pending upload of the mapping's database, each
    downloaded to <state-dir>/uploads/<id>/, imported with its owner and marked imported
    (with its counts) or failed (with the reason); exactly once, even when killed.
    """
    if from_uploads:
        return _import_uploads(mapping, dumps, watch, retry_failed, opts)
    if watch or retry_failed:
        raise click.UsageError("--watch and --retry-failed go with --from-uploads")
    if not dumps:
        raise click.UsageError("give the DUMPS to import, or --from-uploads")
    options, target = _import_call(opts)
    with _stopped_imports(opts["summary_json"]):
        result = commands.import_dumps(mapping, list(dumps), options, **target)
    _report_import(result, opts["summary_json"])
    _import_failures([result], opts["max_errors"])


def _import_uploads(mapping, dumps, watch, retry_failed, opts) -> None:
    from .importer.uploads import summary_counts
    unused = [name for name in ("replace", "deploy", "owner_field", "owner_from", "local_out", "summary_json")
              if opts[name]]
    if dumps or unused:
        raise click.UsageError("--from-uploads takes no DUMPS and no "
                               + ", ".join(f"--{n.replace('_', '-')}" for n in unused or ["DUMPS"]))
    options, _ = _import_call(opts)
    failures = []

    def report(outcomes) -> None:
        if not outcomes:
            click.echo("no uploads to import")
        for o in outcomes:
            what = f"upload {o.upload.upload_id} of {o.upload.owner}: {o.status}"
            if o.summary is not None:
                counts = summary_counts(o.summary)
                what += " (" + ", ".join(f"{int(v)} {k}" for k, v in counts.items() if k != "read") + ")"
            if o.rejected:
                what += f"; rejects: {o.summary.rejects_path}"
            if o.reason:
                what += f": {o.reason}"
            click.echo(what)
            if o.status == "failed" or o.rejected:
                failures.append(o)

    try:
        commands.import_uploads(mapping, options, url=opts["url"], deploy_key=opts["deploy_key"],
                                insecure=opts["insecure"], dry_run=opts["dry_run"], retry_failed=retry_failed,
                                watch_interval=watch, on_round=report)
    except KeyboardInterrupt:
        click.echo("stopped watching", err=True)
    if failures:
        raise click.ClickException(f"{len(failures)} upload(s) failed or had rejected rows (see above)")


@cli.command(short_help="plan, generate and import in one go (the quick path)")
@click.argument("dumps", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--dexie", "dexie", multiple=True, type=click.Path(exists=True),
              help="Dexie declarations: a JS/TS file or a folder (repeatable).")
@click.option("-o", "--out-dir", default=".", show_default=True, type=click.Path(file_okay=False),
              help="Where mappings/ and convex/ are written.")
@click.option("--database", help="Only this database; also names the database of dumps that do not.")
@click.option("--dates", type=click.Choice(["ms", "iso"]), help="Dates as epoch milliseconds (default) or ISO strings.")
@click.option("--force", is_flag=True, help="Overwrite a schema.ts that dexie-convex did not write.")
@import_options
@library_errors
def migrate(dumps, dexie, out_dir, database, dates, force, **opts):
    """The quick path: plan, generate and import in one go.

    Writes <out-dir>/mappings/<db>.json5 and <out-dir>/convex/, then imports each database's
    dumps (into the local endpoint unless a deployment URL is given; deploy convex/ first, or
    pass --deploy). Review the mapping and re-run `plan`/`generate`/`import` to change anything.
    """
    options, target = _import_call(opts)
    with _stopped_imports(opts["summary_json"]):
        result = commands.migrate(list(dumps), list(dexie), options, out_dir=out_dir, database=database,
                                  dates=dates, force=force, **target)
    for w in result.planned.writes:
        click.echo(f"{w.status}: {w.path}")
    for path in (result.generated.schema_path, result.generated.module_path):
        click.echo(f"{'wrote' if path in result.generated.written else 'unchanged'}: {path}")
    for database_name, imported in result.imports.items():
        click.echo(f"== {database_name}")
        _report_import(imported, None)
    if opts["summary_json"]:
        _write_json(opts["summary_json"], {"databases": {name: _summary_data(imported)
                                                         for name, imported in result.imports.items()}})
    _import_failures(result.imports.values(), opts["max_errors"])


@cli.command(short_help="check fixtures against expected results, or a deployment")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--local", is_flag=True, help="Also import each fixture into the local endpoint and compare what it holds.")
@click.option("--update", is_flag=True, help="Rewrite each fixture's expected/ from the current results first "
                                              "(after a deliberate change; review the diff before committing).")
@click.option("--url", help="Verify this deployment after an import instead: PATHS are MAPPING DUMP...")
@click.option("--deploy-key", help="With --url: deploy/admin key (else CONVEX_DEPLOY_KEY or CONVEX_SELF_HOSTED_ADMIN_KEY).")
@click.option("--insecure", is_flag=True, help="With --url: allow plain http:// to a host other than localhost.")
@click.option("--owner-from", help="With --url and options.ownerField: each dump's owner, as given to import "
                                   "('filename' (default), 'database', or a value).")
@json_option
@library_errors
def verify(paths, local, update, url, deploy_key, insecure, owner_from, as_json):
    """Check fixtures against their expected results, or a deployment against its dumps.

    \b
    dexie-convex verify FIXTURE_DIR...              plan, generate, dry-run (--local: import) and compare
    dexie-convex verify --url URL MAPPING DUMP...   per table: counts, original keys, rows

    \b
    A fixture directory holds dump.json (or dump-*.json), optionally src/ (the Dexie
    declarations) and mapping.json5 or mappings/*.json5, and expected/ (plan.json, schema.ts,
    content.json) written by --update. Any other folder stands for every fixture below it.
    Every drift is printed with its fixture, table and original key. Exit code 1 on any drift.
    """
    if url:
        if update or local:
            raise click.UsageError("--update and --local are for fixture directories, not with --url")
        if len(paths) < 2:
            raise click.UsageError("with --url, give MAPPING DUMP...")
        reports = [commands.verify_deployment(paths[0], list(paths[1:]), url=url, deploy_key=deploy_key,
                                              insecure=insecure, owner_from=owner_from)]
    else:
        reports = commands.verify_fixtures(list(paths), local=local, update=update)
    if as_json:
        print_json({"ok": all(r.ok for r in reports), "reports": [r.to_json() for r in reports]})
    else:
        from .verify.report import format_report
        click.echo(format_report(reports))
    if not all(r.ok for r in reports):
        sys.exit(1)


def main() -> None:
    cli(prog_name="dexie-convex")


if __name__ == "__main__":
    sys.exit(main())
