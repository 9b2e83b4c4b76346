"""The Convex HTTP client: where the deployment comes from, and how replies are read, over
real HTTP against the local endpoint (its fault switches stand in for an overloaded deployment)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from migrator import commands
from migrator.errors import MigratorError
from migrator.generate.import_module import MODULE
from migrator.sinks.convex_http import (ConvexCallError, ConvexClient, ConvexFunctionError, Deployment, RetryPolicy,
                                        Secret, resolve_deployment)
from migrator.sinks.local_endpoint import local_endpoint

TODO = Path(__file__).resolve().parent.parent / "fixtures" / "apps" / "todo-js"


def test_flags_win_then_convex_env_then_self_hosted_env():
    env = {"CONVEX_URL": "https://a.convex.cloud", "CONVEX_DEPLOY_KEY": "ka",
           "CONVEX_SELF_HOSTED_URL": "https://b.example", "CONVEX_SELF_HOSTED_ADMIN_KEY": "kb"}
    flagged = resolve_deployment("https://c.convex.cloud/", "kc", env=env)
    assert (flagged.url, flagged.key.reveal()) == ("https://c.convex.cloud", "kc")
    from_env = resolve_deployment(None, None, env=env)
    assert (from_env.url, from_env.key.reveal()) == ("https://a.convex.cloud", "ka")
    self_hosted = resolve_deployment(None, None, env={k: v for k, v in env.items() if "SELF_HOSTED" in k})
    assert (self_hosted.url, self_hosted.key.reveal()) == ("https://b.example", "kb")
    assert resolve_deployment(None, None, env={}) is None        # no deployment: the local endpoint
    assert "kc" not in repr(flagged) and "kc" not in str(flagged.key)


def test_plain_http_only_to_localhost_unless_insecure():
    assert resolve_deployment("http://127.0.0.1:3210", "k", env={}).url == "http://127.0.0.1:3210"
    with pytest.raises(MigratorError) as refused:
        resolve_deployment("http://convex.internal:3210", "k", env={})
    assert "--insecure" in refused.value.remedy
    assert resolve_deployment("http://convex.internal:3210", "k", insecure=True, env={}).url.startswith("http://")
    with pytest.raises(MigratorError):
        resolve_deployment("convex.cloud", "k", env={})


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory, node_available):
    out = tmp_path_factory.mktemp("http")
    planned = commands.plan_mappings([TODO / "src"], [TODO / "dump.json"], out / "mappings")
    commands.generate_convex([planned.writes[0].path], out / "convex")
    with local_endpoint(out / "convex") as deployment:
        yield deployment


def _faults(deployment: Deployment, settings: dict) -> None:
    headers = {"Authorization": f"Convex {deployment.key.reveal()}"}
    httpx.post(f"{deployment.url}/_local/faults", json=settings, headers=headers).raise_for_status()


def test_429_is_retried_after_the_servers_retry_after_then_given_up(endpoint):
    slept: list[float] = []
    _faults(endpoint, {"status429": 1.0})
    try:
        with ConvexClient(endpoint, retry=RetryPolicy(attempts=3), sleep=slept.append) as client:
            with pytest.raises(ConvexCallError) as gave_up:
                client.query(f"{MODULE}:planInfo", {})
    finally:
        _faults(endpoint, {})
    assert slept == [1.0, 1.0]                                   # the endpoint sends Retry-After: 1
    assert "gave up after 3 attempts (HTTP 429" in str(gave_up.value) and "re-run" in gave_up.value.remedy
    assert client.stats.requests == 3 and client.stats.retries == 2


def test_503_and_dropped_connections_are_retried_with_backoff(endpoint):
    slept: list[float] = []
    _faults(endpoint, {"status503": 0.5, "dropConnection": 0.3, "seed": 7})
    try:
        with ConvexClient(endpoint, retry=RetryPolicy(attempts=30), sleep=slept.append) as client:
            for _ in range(10):
                assert client.query(f"{MODULE}:planInfo", {})["tables"]
    finally:
        _faults(endpoint, {})
    assert client.stats.retries == len(slept) > 0
    assert all(0 < s <= RetryPolicy().max_delay for s in slept)


def test_function_errors_carry_their_data(endpoint):
    with ConvexClient(endpoint) as client:
        with pytest.raises(ConvexFunctionError) as mismatch:
            client.mutation(f"{MODULE}:upsertBatch", {"planHash": "not-this-plan", "table": "todoItems", "rows": []})
    assert mismatch.value.data["code"] == "PlanMismatch"


def test_unknown_function_and_wrong_key_say_what_to_do(endpoint):
    with ConvexClient(endpoint) as client:
        with pytest.raises(ConvexCallError) as missing:
            client.query("nope:nothing", {})
    assert missing.value.status == 400 and "deploy" in missing.value.remedy
    wrong = Deployment(url=endpoint.url, key=Secret("wrong-key-1234"))
    with ConvexClient(wrong) as client:
        with pytest.raises(ConvexCallError) as denied:
            client.query(f"{MODULE}:planInfo", {})
    assert denied.value.status in (401, 403) and "deploy key" in denied.value.remedy
    assert "wrong-key-1234" not in str(denied.value) + repr(denied.value)
