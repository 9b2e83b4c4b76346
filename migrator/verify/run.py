"""Verify fixtures (plan, generate, dry run, optionally import locally, compare) and deployments."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import orjson

from ..commands import import_dumps
from ..errors import MigratorError
from ..generate.import_module import MODULE
from ..importer.run import ImportOptions, check_deployed_plan
from ..plan.mapping_file import load_mapping
from ..plan.model import DatabasePlan
from ..sinks.convex_http import ConvexClient, ConvexFunctionError, resolve_deployment
from .compare import Drift, compare_content, compare_plans, compare_rejected, compare_schemas
from .content import TableContent, dump_content, owners, read_rejects, stored_content
from .expectations import DatabaseRun, Results, compute_results, plan_fixture, read_expected, write_expected
from .fixture_dir import Fixture

PAGE_SIZE = 64


@dataclass
class VerifyReport:
    """One fixture (or deployment): what ran, what drifted, what `--update` rewrote."""

    name: str
    path: Path
    stages: list[str] = field(default_factory=list)
    drifts: list[Drift] = field(default_factory=list)
    updated: list[Path] = field(default_factory=list)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)   # database -> table -> rows

    @property
    def ok(self) -> bool:
        return not self.drifts

    def to_json(self) -> dict:
        return {"name": self.name, "path": str(self.path), "ok": self.ok, "stages": self.stages,
                "counts": self.counts, "updated": [str(p) for p in self.updated],
                "drifts": [d.to_json() for d in self.drifts]}


def _import_options(state_dir: Path, plan: DatabasePlan, owner_from: str | None = None) -> ImportOptions:
    return ImportOptions(state_dir=state_dir, progress=False, owner_field=plan.options.owner_field,
                         owner_from=owner_from if plan.options.owner_field else None)


def _dry_run(run: DatabaseRun, state_dir: Path) -> dict[str, dict[str, str]]:
    """`import --dry-run` of the database's dumps: its rejected rows by table and original key."""
    result = import_dumps(run.mapping, run.dumps, _import_options(state_dir, run.plan), dry_run=True)
    return read_rejects(result.summary.rejects_path, owners(run.plan))


def _jsonl(path: Path) -> Iterator[dict]:
    if path.exists():
        with path.open("rb") as f:
            for line in f:
                yield orjson.loads(line)


def _local_import(run: DatabaseRun, work: Path) -> tuple[dict[str, TableContent], dict[str, dict[str, str]]]:
    """Import into the local endpoint; its contents as canonical rows, and the rows it rejected."""
    out = work / "local-out"
    result = import_dumps(run.mapping, run.dumps, _import_options(work / "state", run.plan), local_out=out)
    stored = stored_content(run.plan, lambda table: _jsonl(out / f"{table}.jsonl"))
    return stored, read_rejects(result.summary.rejects_path, owners(run.plan))


def _apply_dry_run(runs: list[DatabaseRun], actual: Results, work: Path) -> None:
    """Rows the dry run refuses (document limits, unique indexes, references) are rejected, not stored."""
    for i, run in enumerate(runs):
        tables = actual.content[run.plan.database]
        for table, rejected in _dry_run(run, work / f"dry-run-{i}").items():
            for key, reason in rejected.items():
                if table in tables:
                    tables[table].reject(key, f"(dry run) {reason}")


def _compare_local(fixture: Fixture, runs: list[DatabaseRun], expected: Results, actual: Results,
                   work: Path) -> list[Drift]:
    drifts = []
    for i, run in enumerate(runs):
        db = run.plan.database
        stored, rejected = _local_import(run, work / f"local-{i}")
        want = {db: expected.content.get(db, {})}
        drifts += compare_content(fixture.name, "local", want, {db: stored}, rejected=False)
        drifts += compare_rejected(fixture.name, "local", want, {db: rejected})
    return drifts


def verify_fixture(fixture: Fixture, *, local: bool = False, update: bool = False) -> VerifyReport:
    """Plan, generate, dry-run (and import locally) the fixture; compare with `expected/`."""
    report = VerifyReport(fixture.name, fixture.path)
    with tempfile.TemporaryDirectory(prefix="dexie-convex-verify-") as tmp:
        work = Path(tmp)
        try:
            runs = plan_fixture(fixture, work)
            report.stages += ["plan", "generate"]
            actual = compute_results(fixture, runs, work)
            _apply_dry_run(runs, actual, work)
            report.stages.append("dry-run")
            report.counts = {db: {t: len(c.rows) for t, c in tables.items()} for db, tables in actual.content.items()}
            if update:
                report.updated = write_expected(fixture, actual)
            expected = read_expected(fixture)
            if expected is None:
                report.drifts.append(Drift(fixture.name, "setup", f"no expectations in {fixture.expected}; "
                                           "write them with `dexie-convex verify --update`"))
                return report
            report.drifts += compare_plans(fixture.name, expected.plans, actual.plans)
            report.drifts += compare_schemas(fixture.name, expected.schema, actual.schema)
            report.drifts += compare_content(fixture.name, "content", expected.content, actual.content)
            if local:
                report.drifts += _compare_local(fixture, runs, expected, actual, work)
                report.stages.append("local")
        except MigratorError as exc:
            report.drifts.append(Drift(fixture.name, "setup", f"error: {exc}"))
    return report


# -- a deployment after an import ------------------------------------------------------------------
def read_documents(client: ConvexClient, table: str, page_size: int = PAGE_SIZE) -> Iterator[dict]:
    """The documents of a table through the generated `documentsPage` query, one page at a time.

    A page the deployment refuses (over a read limit) is asked for again at half the size.
    """
    cursor = None
    while True:
        try:            # numItems is a Convex number (float): a Python int would go as an int64
            page = client.query(f"{MODULE}:documentsPage", {"table": table, "cursor": cursor,
                                                             "numItems": float(page_size)})
        except ConvexFunctionError:
            if page_size == 1:
                raise
            page_size //= 2
            continue
        for text in page["docs"]:
            yield orjson.loads(text)
        if page["isDone"]:
            return
        cursor = page["continueCursor"]


def verify_deployment(mapping: str | Path, dumps: list[str | Path], *, url: str | None, deploy_key: str | None,
                      insecure: bool = False, owner_from: str | None = None) -> VerifyReport:
    """Per table: counts, the checksum of original keys and each row's content against the dumps.

    The deployment's documents are read page by page and only a digest per row is kept.
    With options.ownerField, rows are compared per (owner, key); `owner_from` names each
    dump's owner as `import --owner-from` did.
    """
    plan = load_mapping(mapping)
    deployment = resolve_deployment(url, deploy_key, insecure=insecure)
    if deployment is None:
        raise MigratorError("no deployment to verify", "give --url (or set CONVEX_URL) and the deploy key")
    report = VerifyReport(Path(mapping).name, Path(mapping), stages=["deployment"])
    expected = {plan.database: dump_content(plan, dumps, owners(plan, owner_from))}
    with ConvexClient(deployment) as client:
        check_deployed_plan(client, plan)
        actual = {plan.database: stored_content(plan, lambda table: read_documents(client, table))}
    report.counts = {plan.database: {t: len(c.rows) for t, c in actual[plan.database].items()}}
    report.drifts = compare_content(report.name, "deployment", expected, actual, rejected=False)
    for table, want in expected[plan.database].items():
        got = actual[plan.database][table]
        if want.keys_checksum() != got.keys_checksum():
            report.drifts.append(Drift(report.name, "deployment", "checksum of original keys differs",
                                       plan.database, table, None, want.keys_checksum(), got.keys_checksum()))
    return report
