"""Import users' collected uploads (`import MAPPING --from-uploads`), each exactly once.

Per upload: claim it (status `importing`), download its file to disk as a stream, import
it with its owner as a dump of its own (its own state folder: checkpoint and rejects), then
mark it `imported` with its counts, or `failed` with the reason. A run that is killed
leaves the upload `importing` under this state folder's claimant id, so the next run takes
it back and resumes from its checkpoint; the writes are upserts by owner and key, so
nothing is written twice. Transport failures stop the run without marking anything.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import httpx

from ..dumps import open_dump
from ..errors import MigratorError
from ..generate.collect_module import COLLECT_MODULE, SUMMARY_KEYS
from ..plan.model import DatabasePlan
from ..sinks.convex_http import ConvexCallError, ConvexClient
from .run import ImportOptions, ImportStopped, ImportSummary, check_deployed_plan, run_import

CLAIM_LEASE_MS = 30 * 60 * 1000     # another import's claim is honoured this long
PAGE = 100
DOWNLOAD_CHUNK = 1 << 20


@dataclass
class Upload:
    upload_id: str
    owner: str
    database: str
    sha256: str          # hex
    size: int
    status: str


@dataclass
class UploadOutcome:
    upload: Upload
    status: str                           # imported | failed | skipped (not claimed) | dry-run
    summary: ImportSummary | None = None
    reason: str | None = None

    @property
    def rejected(self) -> int:
        return self.summary.rejected_total if self.summary else 0


class UploadDownloadFailed(MigratorError):
    """The upload's file cannot be had as recorded (gone, or not the bytes that were recorded)."""

    def __init__(self, upload_id: str, why: str, remedy: str):
        self.upload_id, self.why = upload_id, why
        super().__init__(f"upload {upload_id}: {why}", remedy)


def _fn(name: str) -> str:
    return f"{COLLECT_MODULE}:{name}"


def open_uploads(client: ConvexClient, database: str, statuses: tuple[str, ...]) -> list[Upload]:
    """Every upload of `database` in the given statuses, in that order (read whole first: the
    statuses change as the run goes)."""
    found = []
    for status in statuses:
        cursor = None
        while True:
            page = client.query(_fn("listUploads"), {"database": database, "status": status,
                                                     "paginationOpts": {"numItems": float(PAGE), "cursor": cursor}})
            found += [Upload(upload_id=u["uploadId"], owner=u["owner"], database=u["database"], sha256=u["sha256"],
                             size=int(u["size"]), status=u["status"]) for u in page["page"]]
            if page["isDone"]:
                break
            cursor = page["continueCursor"]
    return found


def claimant_id(state_dir: Path) -> str:
    """This state folder's name in claims: a re-run from it takes its own claims back."""
    path = state_dir / "uploads" / "claimant"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(12))
    return path.read_text().strip()


def upload_dir(state_dir: Path, upload_id: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_-]+", "_", upload_id)
    return state_dir / "uploads" / f"{safe}-{hashlib.sha256(upload_id.encode()).hexdigest()[:8]}"


def download(client: ConvexClient, upload: Upload, target: Path) -> Path:
    """The upload's file at `target`, streamed to disk and checked against its recorded sha256.
    A complete earlier download is kept as is (same file, so its checkpoint still applies)."""
    if target.exists() and _sha256_hex(target) == upload.sha256:
        return target
    url = client.query(_fn("uploadFileUrl"), {"uploadId": upload.upload_id})
    if url is None:
        raise UploadDownloadFailed(upload.upload_id, "its file is no longer in storage", "the user can upload again")
    partial = target.with_suffix(".part")
    digest = hashlib.sha256()
    try:
        with httpx.stream("GET", url, timeout=120.0, follow_redirects=True) as reply, partial.open("wb") as out:
            if reply.status_code == 404:
                raise UploadDownloadFailed(upload.upload_id, "its file is no longer in storage (HTTP 404)",
                                           "the user can upload again")
            if reply.status_code != 200:
                raise ConvexCallError(_fn("uploadFileUrl"), f"downloading the file: HTTP {reply.status_code}",
                                      status=reply.status_code, remedy="run the same command again later")
            for chunk in reply.iter_bytes(DOWNLOAD_CHUNK):
                digest.update(chunk)
                out.write(chunk)
    except httpx.TransportError as exc:
        raise ConvexCallError(_fn("uploadFileUrl"), f"downloading the file: network error {type(exc).__name__}",
                              remedy="run the same command again: it resumes") from None
    if digest.hexdigest() != upload.sha256:
        partial.unlink(missing_ok=True)
        raise UploadDownloadFailed(upload.upload_id, "the downloaded file is not the one recorded (sha256 differs)",
                                   "run the same command again; if it persists, the user can upload again")
    partial.replace(target)
    return target


def _sha256_hex(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(DOWNLOAD_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def summary_counts(summary: ImportSummary) -> dict[str, float]:
    """The upload's counts over every run of its checkpoint (a resumed import counts once)."""
    per_table = summary.totals if summary.totals is not None else summary.tables   # None: this run is all
    totals = {k: sum(c[k] for c in per_table.values()) for k in SUMMARY_KEYS if k != "read"}
    return {"read": float(sum(totals.values())), **{k: float(v) for k, v in totals.items()}}


def _check_database(path: Path, upload: Upload) -> None:
    with open_dump(path) as dump:
        named = dump.database_name
    if named is not None and named != upload.database:
        raise MigratorError(f"upload {upload.upload_id}: the file is an export of database {named!r}, "
                            f"recorded as {upload.database!r}", "the user can upload the right database again")


@dataclass
class UploadImporter:
    plan: DatabasePlan
    client: ConvexClient
    options: ImportOptions
    retry_failed: bool = False
    dry_run: Callable[[DatabasePlan, list[Path], ImportOptions], object] | None = None   # commands.dry_run_import

    def __post_init__(self):
        if not self.plan.options.owner_field:
            raise MigratorError(f"the mapping of {self.plan.database!r} has no options.ownerField: every user's "
                                "rows would share one key space",
                                "set options.ownerField in the mapping, re-run `dexie-convex plan` and "
                                "`dexie-convex generate --collect`, deploy, then import again")
        self.claimant = claimant_id(self.options.state_dir)

    def run_once(self) -> list[UploadOutcome]:
        """Every open upload of the plan's database: those a stopped run left `importing` first.
        The deployed module is checked first, so what fails an upload afterwards is the upload's."""
        check_deployed_plan(self.client, self.plan)
        statuses = ("importing", "pending") + (("failed",) if self.retry_failed else ())
        return [self.import_one(u) for u in open_uploads(self.client, self.plan.database, statuses)]

    def _options(self, upload: Upload, state: Path) -> ImportOptions:
        return dataclasses.replace(self.options, state_dir=state, owner_field=self.plan.options.owner_field,
                                   owner=upload.owner, owner_from=None)

    def import_one(self, upload: Upload) -> UploadOutcome:
        state = upload_dir(self.options.state_dir, upload.upload_id)
        state.mkdir(parents=True, exist_ok=True)
        if self.dry_run is not None:
            path = download(self.client, upload, state / "export.json")
            result = self.dry_run(self.plan, [path], self._options(upload, state))
            return UploadOutcome(upload, "dry-run", summary=result.summary)
        claim = self.client.mutation(_fn("claimUpload"), {"uploadId": upload.upload_id, "claimant": self.claimant,
                                                          "leaseMs": float(CLAIM_LEASE_MS),
                                                          "retryFailed": self.retry_failed})
        if not claim["claimed"]:
            return UploadOutcome(upload, "skipped", reason=claim["reason"])
        try:
            path = download(self.client, upload, state / "export.json")
            _check_database(path, upload)
            summary = run_import(self.plan, [path], self.client, self._options(upload, state))
        except (ImportStopped, ConvexCallError):
            raise                   # the deployment is unreachable: leave the claim, a re-run resumes
        except MigratorError as exc:
            self.client.mutation(_fn("markFailed"), {"uploadId": upload.upload_id, "claimant": self.claimant,
                                                     "reason": str(exc)})
            return UploadOutcome(upload, "failed", reason=str(exc))
        if summary.stopped:         # --max-errors
            reason = f"{summary.stopped}: see {summary.rejects_path}"
            self.client.mutation(_fn("markFailed"), {"uploadId": upload.upload_id, "claimant": self.claimant,
                                                     "reason": reason})
            return UploadOutcome(upload, "failed", summary=summary, reason=reason)
        self.client.mutation(_fn("markImported"), {"uploadId": upload.upload_id, "claimant": self.claimant,
                                                   "summary": summary_counts(summary)})
        return UploadOutcome(upload, "imported", summary=summary)
