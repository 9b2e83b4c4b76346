"""The generated convex/dexieCollect.ts, run by the local endpoint over real HTTP.

Users are Bearer tokens (the endpoint reads them unverified, as test identities); the
operator is the admin key. What is asserted is the security contract of the README's
"Collect your users' data": who may call what, and what ends up recorded.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets

import httpx
import pytest

from migrator import commands
from migrator.generate.collect_module import UPLOADS_INDEXES
from migrator.node_tools import check_browser_files, check_convex_dir
from migrator.sinks.local_endpoint import local_endpoint

from collect_helpers import Caller, TODO, generate_collect, owned_todo_mapping, token_identifier

MAX_BYTES = 20_000
INTERNAL = ["listUploads", "claimUpload", "markImported", "markFailed", "uploadFileUrl", "orphanCandidates",
            "deleteOrphans"]
PUBLIC = ["generateUploadUrl", "recordUpload", "myUploads"]


@pytest.fixture(scope="module")
def app(tmp_path_factory, node_available):
    tmp = tmp_path_factory.mktemp("collect")
    mapping = owned_todo_mapping(tmp)
    generate_collect(mapping, tmp / "convex", MAX_BYTES, browser=tmp / "src" / "uploadToConvex.ts")
    key = secrets.token_hex(16)
    with local_endpoint(tmp / "convex", admin_key=key) as dep:
        yield {"tmp": tmp, "mapping": mapping, "url": dep.url, "admin": Caller(dep.url, f"Convex {key}")}


def export_bytes(tag: str) -> bytes:
    """A small dexie-export-import file of TodoDB, different per tag."""
    data = json.loads((TODO / "dump.json").read_text())
    data["data"]["data"][0]["rows"][0]["title"] = tag
    return json.dumps(data).encode()


def pending(app) -> list[dict]:
    rows = []
    for status in ("pending", "importing", "imported", "failed"):
        rows += app["admin"].value("query", "dexieCollect:listUploads", {
            "database": "TodoDB", "status": status, "paginationOpts": {"numItems": 1000, "cursor": None}})["page"]
    return rows


# -- what is generated -------------------------------------------------------------------------
def test_generated_module_type_checks_and_schema_lists_uploads(app):
    convex = app["tmp"] / "convex"
    report = check_convex_dir(convex)
    assert report["diagnostics"] == []
    tables = {t["tableName"]: t for t in report["schema"]["tables"]}
    assert [(i["indexDescriptor"], i["fields"]) for i in tables["dexieUploads"]["indexes"]] == \
        [(name, fields) for name, fields in UPLOADS_INDEXES]
    text = (convex / "dexieCollect.ts").read_text()
    for name in PUBLIC:
        assert re.search(rf"export const {name} = (mutation|query)\(", text), name
    for name in INTERNAL:
        assert re.search(rf"export const {name} = internal(Mutation|Query)\(", text), name


def test_generated_module_type_checks_against_a_typed_data_model(app, tmp_path):
    """As in an app after `npx convex dev`: _generated/server.ts typed by the schema."""
    import shutil
    convex = tmp_path / "convex"
    shutil.copytree(app["tmp"] / "convex", convex)
    (convex / "_generated").mkdir()
    (convex / "_generated" / "server.ts").write_text('''
import { actionGeneric, internalActionGeneric, internalMutationGeneric, internalQueryGeneric, mutationGeneric,
  queryGeneric, type ActionBuilder, type DataModelFromSchemaDefinition, type MutationBuilder,
  type QueryBuilder } from "convex/server";
import schema from "../schema";
type DataModel = DataModelFromSchemaDefinition<typeof schema>;
export const query: QueryBuilder<DataModel, "public"> = queryGeneric;
export const internalQuery: QueryBuilder<DataModel, "internal"> = internalQueryGeneric;
export const mutation: MutationBuilder<DataModel, "public"> = mutationGeneric;
export const internalMutation: MutationBuilder<DataModel, "internal"> = internalMutationGeneric;
export const action: ActionBuilder<DataModel, "public"> = actionGeneric;
export const internalAction: ActionBuilder<DataModel, "internal"> = internalActionGeneric;
''')
    (convex / "_generated" / "api.ts").write_text(
        'import { anyApi } from "convex/server";\nexport const api: any = anyApi;\nexport const internal: any = anyApi;\n')
    assert check_convex_dir(convex)["diagnostics"] == []
    # the check can fail: a field the schema does not have
    module = convex / "dexieCollect.ts"
    module.write_text(module.read_text().replace('status: "pending", attempts: 0', 'status: "pending", attempts: 0, x: 1'))
    assert any("dexieCollect.ts" in d for d in check_convex_dir(convex)["diagnostics"])


def test_browser_module_type_checks_with_every_convex_client(app, tmp_path):
    module = app["tmp"] / "src" / "uploadToConvex.ts"
    usage = tmp_path / "usage.ts"
    usage.write_text('''
import Dexie from "dexie";
import { ConvexClient, ConvexHttpClient } from "convex/browser";
import { ConvexReactClient } from "convex/react";
import { uploadDexieToConvex, type UploadProgress, type UploadResult } from "./uploadToConvex";
const db = new Dexie("TodoDB");
const phases: UploadProgress["phase"][] = [];
export async function all(): Promise<UploadResult[]> {
  return [
    await uploadDexieToConvex(db, new ConvexHttpClient("https://a.convex.cloud")),
    await uploadDexieToConvex(db, new ConvexClient("https://a.convex.cloud"), { onProgress: (p) => phases.push(p.phase) }),
    await uploadDexieToConvex(db, new ConvexReactClient("https://a.convex.cloud"), { store: localStorage }),
  ];
}
''')
    assert check_browser_files([module, usage]) == []
    usage.write_text(usage.read_text().replace('new ConvexHttpClient("https://a.convex.cloud")', '"not a client"'))
    assert any("usage.ts" in d for d in check_browser_files([module, usage]))


def test_generate_without_collect_keeps_collecting(app, tmp_path):
    convex = tmp_path / "convex"
    generate_collect(app["mapping"], convex, 12345)
    first = (convex / "dexieCollect.ts").read_text()
    again = commands.generate_convex([app["mapping"]], convex)
    assert (convex / "dexieCollect.ts").read_text() == first and "12345" in first
    assert again.collect_path == convex / "dexieCollect.ts" and again.written == []
    assert "dexieUploads: defineTable" in (convex / "schema.ts").read_text()
    assert again.schema_diff.changes == []
    assert commands.diff_schema([app["mapping"]], convex / "schema.ts").changes == []   # diff knows it too
    (convex / "dexieCollect.ts").unlink()
    removed = commands.diff_schema([app["mapping"]], convex / "schema.ts").changes
    assert [(c.kind, c.table) for c in removed] == [("table-removed", "dexieUploads")]


def test_collect_needs_an_owner_field(tmp_path):
    path = commands.plan_mappings([TODO / "src"], [TODO / "dump.json"], tmp_path / "m").writes[0].path
    with pytest.raises(commands.MigratorError, match="options.ownerField"):
        generate_collect(path, tmp_path / "convex", 1000)


def test_bad_settings_are_refused(app, tmp_path):
    from migrator.generate.collect_module import CollectSettings
    for settings in (CollectSettings(max_bytes=0), CollectSettings(identity_field='x"); evil("')):
        with pytest.raises(commands.MigratorError):
            commands.generate_convex([app["mapping"]], tmp_path / "convex", collect=settings)


# -- who may call what -------------------------------------------------------------------------
def test_unauthenticated_upload_and_record_are_refused(app):
    anonymous = Caller(app["url"])
    assert anonymous.error("mutation", "dexieCollect:generateUploadUrl")["code"] == "Unauthenticated"
    alice = Caller.user(app["url"], "anon-test-alice")
    storage_id = alice.upload(export_bytes("anon"))
    before = pending(app)
    assert anonymous.error("mutation", "dexieCollect:recordUpload",
                           {"storageId": storage_id, "database": "TodoDB"})["code"] == "Unauthenticated"
    assert anonymous.error("query", "dexieCollect:myUploads")["code"] == "Unauthenticated"
    assert pending(app) == before


@pytest.mark.parametrize("authorization", ["Bearer not-a-jwt", "Bearer " + "e30.e30.", "Basic abc"])
def test_unreadable_tokens_are_refused_before_any_function_runs(app, authorization):
    reply = Caller(app["url"], authorization).call("mutation", "dexieCollect:generateUploadUrl")
    assert reply.status_code == 401 and reply.json()["code"] == "Unauthenticated"


@pytest.mark.parametrize("name", INTERNAL)
def test_internal_functions_need_the_deploy_key(app, name):
    kind = "query" if name in ("listUploads", "uploadFileUrl", "orphanCandidates") else "mutation"
    for caller, status in ((Caller(app["url"]), 401), (Caller.user(app["url"], "someone"), 401),
                           (Caller(app["url"], "Convex wrong-key"), 403)):
        reply = caller.call(kind, f"dexieCollect:{name}", {})
        assert reply.status_code == status, (name, reply.text)
    # with the key it runs (and fails on the missing arguments, inside the function)
    assert app["admin"].call(kind, f"dexieCollect:{name}", {}).json()["status"] == "error"


def test_recording_another_users_storage_id_is_refused(app):
    alice, mallory = Caller.user(app["url"], "steal-alice"), Caller.user(app["url"], "steal-mallory")
    storage_id = alice.upload(export_bytes("alice's secret"))
    recorded = alice.value("mutation", "dexieCollect:recordUpload", {"storageId": storage_id, "database": "TodoDB"})
    assert mallory.error("mutation", "dexieCollect:recordUpload",
                         {"storageId": storage_id, "database": "TodoDB"})["code"] == "StorageIdTaken"
    assert mallory.value("query", "dexieCollect:myUploads") == []
    mine = [u for u in pending(app) if u["uploadId"] == recorded["uploadId"]]
    assert [u["owner"] for u in mine] == [token_identifier("steal-alice")]


def test_an_owner_in_the_arguments_or_token_has_no_effect(app):
    mallory = Caller.user(app["url"], "fake-owner", tokenIdentifier=token_identifier("victim"), owner="victim")
    storage_id = mallory.upload(export_bytes("forged"))
    refused = mallory.error("mutation", "dexieCollect:recordUpload",
                            {"storageId": storage_id, "database": "TodoDB", "owner": token_identifier("victim")})
    assert "owner" in refused["message"]          # an unknown argument: the validator refuses the call
    recorded = mallory.value("mutation", "dexieCollect:recordUpload", {"storageId": storage_id, "database": "TodoDB"})
    owners = {u["owner"] for u in pending(app) if u["uploadId"] == recorded["uploadId"]}
    assert owners == {token_identifier("fake-owner")}
    assert Caller.user(app["url"], "victim").value("query", "dexieCollect:myUploads") == []


def test_my_uploads_shows_only_the_callers(app):
    users = {name: Caller.user(app["url"], f"mine-{name}") for name in ("ann", "ben", "cat")}
    ids = {name: {u.value("mutation", "dexieCollect:recordUpload",
                          {"storageId": u.upload(export_bytes(f"{name} {i}")), "database": "TodoDB"})["uploadId"]
                  for i in range(2)} for name, u in users.items()}
    for name, user in users.items():
        mine = user.value("query", "dexieCollect:myUploads")
        assert {u["uploadId"] for u in mine} == ids[name]
        assert all(set(u) >= {"status", "database", "sha256", "size"} and "owner" not in u for u in mine)


def test_a_file_over_the_size_limit_is_refused_and_not_recorded(app):
    user = Caller.user(app["url"], "big")
    for size in (MAX_BYTES + 1, 5 * MAX_BYTES):
        storage_id = user.upload(b"x" * size)
        error = user.error("mutation", "dexieCollect:recordUpload", {"storageId": storage_id, "database": "TodoDB"})
        assert (error["code"], error["size"], error["limit"]) == ("TooLarge", size, MAX_BYTES)
    exactly = user.upload(b"y" * MAX_BYTES)
    assert user.value("mutation", "dexieCollect:recordUpload",
                      {"storageId": exactly, "database": "TodoDB"})["size"] == MAX_BYTES
    assert [u["size"] for u in user.value("query", "dexieCollect:myUploads")] == [MAX_BYTES]


def test_unknown_database_and_missing_file_are_refused(app):
    user = Caller.user(app["url"], "odd")
    storage_id = user.upload(export_bytes("odd"))
    assert user.error("mutation", "dexieCollect:recordUpload",
                      {"storageId": storage_id, "database": "OtherDB"})["code"] == "UnknownDatabase"
    assert app["admin"].value("mutation", "dexieCollect:deleteOrphans", {"storageIds": [storage_id]}) == 1
    assert user.error("mutation", "dexieCollect:recordUpload",
                      {"storageId": storage_id, "database": "TodoDB"})["code"] == "NoSuchFile"
    assert user.value("query", "dexieCollect:myUploads") == []


def test_the_same_content_is_one_upload_per_owner(app):
    dora, eve = Caller.user(app["url"], "same-dora"), Caller.user(app["url"], "same-eve")
    data = export_bytes("same content")
    first = dora.value("mutation", "dexieCollect:recordUpload", {"storageId": dora.upload(data), "database": "TodoDB"})
    second_file = dora.upload(data)
    second = dora.value("mutation", "dexieCollect:recordUpload", {"storageId": second_file, "database": "TodoDB"})
    replay = dora.value("mutation", "dexieCollect:recordUpload", {"storageId": second_file, "database": "TodoDB"})
    assert (first["duplicate"], second["duplicate"], replay["duplicate"]) == (False, True, True)
    assert first["uploadId"] == second["uploadId"] == replay["uploadId"]
    theirs = eve.value("mutation", "dexieCollect:recordUpload", {"storageId": eve.upload(data), "database": "TodoDB"})
    assert theirs["uploadId"] != first["uploadId"] and theirs["duplicate"] is False
    assert len(dora.value("query", "dexieCollect:myUploads")) == 1


# -- the operator's side -----------------------------------------------------------------------
def test_claims_marks_and_file_urls(app):
    admin, user = app["admin"], Caller.user(app["url"], "claims")
    data = export_bytes("claims")
    upload = user.value("mutation", "dexieCollect:recordUpload", {"storageId": user.upload(data), "database": "TodoDB"})
    uid = upload["uploadId"]

    def claim(claimant, retry=False, lease=60_000.0):
        return admin.value("mutation", "dexieCollect:claimUpload",
                           {"uploadId": uid, "claimant": claimant, "leaseMs": lease, "retryFailed": retry})

    url = admin.value("query", "dexieCollect:uploadFileUrl", {"uploadId": uid})
    served = httpx.get(url)
    assert served.content == data
    assert served.headers["Digest"] == "sha-256=" + base64.b64encode(hashlib.sha256(data).digest()).decode()
    assert upload["sha256"] == hashlib.sha256(data).hexdigest()                 # hex, as Convex documents it
    assert claim("A")["claimed"] is True
    assert claim("B") == {"claimed": False, "reason": "claimed by another import"}
    assert claim("A")["owner"] == token_identifier("claims")          # a re-run takes its own claim back
    assert claim("B", lease=0.0)["claimed"] is True                     # an expired lease is taken over
    summary = {"read": 3.0, "inserted": 3.0, "updated": 0.0, "unchanged": 0.0, "rejected": 0.0}
    assert admin.error("mutation", "dexieCollect:markImported",
                       {"uploadId": uid, "claimant": "A", "summary": summary})["code"] == "NotClaimed"
    admin.value("mutation", "dexieCollect:markFailed", {"uploadId": uid, "claimant": "B", "reason": "bad file"})
    assert claim("C") == {"claimed": False, "reason": "already failed"}
    assert claim("C", retry=True)["claimed"] is True
    admin.value("mutation", "dexieCollect:markImported", {"uploadId": uid, "claimant": "C", "summary": summary})
    assert claim("C", retry=True) == {"claimed": False, "reason": "already imported"}
    mine, = user.value("query", "dexieCollect:myUploads")
    assert (mine["status"], mine["summary"], mine.get("reason")) == ("imported", summary, None)


def test_orphans_are_listed_and_deleted_recorded_files_kept(app):
    admin, user = app["admin"], Caller.user(app["url"], "orphans")
    orphan = user.upload(export_bytes("never recorded"))
    kept = user.upload(export_bytes("recorded"))
    user.value("mutation", "dexieCollect:recordUpload", {"storageId": kept, "database": "TodoDB"})

    def orphans(min_age=0.0) -> set[str]:
        found, cursor = set(), None
        while True:
            page = admin.value("query", "dexieCollect:orphanCandidates",
                               {"minAgeMs": min_age, "paginationOpts": {"numItems": 3, "cursor": cursor}})
            found |= {o["storageId"] for o in page["orphans"]}
            if page["isDone"]:
                return found
            cursor = page["continueCursor"]

    assert orphan in orphans() and kept not in orphans()
    assert orphan not in orphans(min_age=3_600_000.0)                   # too young to call an orphan
    assert admin.value("mutation", "dexieCollect:deleteOrphans", {"storageIds": [orphan, kept]}) == 1
    assert orphan not in orphans()
    kept_url = admin.value("query", "dexieCollect:uploadFileUrl",
                           {"uploadId": user.value("query", "dexieCollect:myUploads")[0]["uploadId"]})
    assert httpx.get(kept_url).status_code == 200


def test_orphans_leave_the_files_the_import_stored(tmp_path):
    """Blobs the import put in file storage (dexieImportFiles) are recorded files too."""
    from migrator.importer.run import ImportOptions
    app_dir = TODO.parent / "media-blobs"
    dumps = [app_dir / "dump.json"]
    path = commands.plan_mappings([app_dir / "src"], dumps, tmp_path / "mappings").writes[0].path
    path.write_text(path.read_text().replace('"ownerField": null', '"ownerField": "owner"'))
    commands.plan_mappings([app_dir / "src"], dumps, tmp_path / "mappings")
    generate_collect(path, tmp_path / "convex", MAX_BYTES)
    key = secrets.token_hex(16)
    with local_endpoint(tmp_path / "convex", admin_key=key) as dep:
        result = commands.import_dumps(path, dumps, ImportOptions(state_dir=tmp_path / "state", owner_field="owner",
                                                                  owner_from="someone", progress=False),
                                       url=dep.url, deploy_key=key)
        assert sum(c["blobs"] for c in result.summary.tables.values()) > 0
        admin, user = Caller(dep.url, f"Convex {key}"), Caller.user(dep.url, "blobs")
        stray = user.upload(b"never recorded")
        page = admin.value("query", "dexieCollect:orphanCandidates",
                           {"minAgeMs": 0.0, "paginationOpts": {"numItems": 1000, "cursor": None}})
        assert [o["storageId"] for o in page["orphans"]] == [stray] and page["isDone"]


def test_another_identity_field_names_the_owner(app, tmp_path):
    from migrator.generate.collect_module import CollectSettings
    commands.generate_convex([app["mapping"]], tmp_path / "convex",
                             collect=CollectSettings(max_bytes=MAX_BYTES, identity_field="email"))
    key = secrets.token_hex(16)
    with local_endpoint(tmp_path / "convex", admin_key=key) as dep:
        with_email = Caller.user(dep.url, "u-email", email="ann@example.com")
        recorded = with_email.value("mutation", "dexieCollect:recordUpload",
                                    {"storageId": with_email.upload(export_bytes("email")), "database": "TodoDB"})
        owners = Caller(dep.url, f"Convex {key}").value("query", "dexieCollect:listUploads", {
            "database": "TodoDB", "status": "pending", "paginationOpts": {"numItems": 10, "cursor": None}})["page"]
        assert [(u["uploadId"], u["owner"]) for u in owners] == [(recorded["uploadId"], "ann@example.com")]
        # a signed-in user whose identity lacks the field cannot upload
        assert Caller.user(dep.url, "no-email").error("mutation", "dexieCollect:generateUploadUrl")["code"] == "NoOwner"
