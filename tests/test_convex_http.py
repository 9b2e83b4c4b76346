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
KEY = "prod:http-test|KEY-4b1d9e7a2c5f8036"


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
    with local_endpoint(out / "convex", admin_key=KEY) as deployment:     # a known key, searched for in messages
        yield deployment


def _plan_hash(client: ConvexClient) -> str:
    return next(iter(client.query(f"{MODULE}:planInfo", {})["planHashes"].values()))


def _faults(deployment: Deployment, settings: dict) -> None:
    headers = {"Authorization": f"Convex {deployment.key.reveal()}"}
    httpx.post(f"{deployment.url}/_local/faults", json=settings, headers=headers).raise_for_status()


EMPTY_BATCH = {"planHash": "x", "table": "todoItems", "rows": []}
# Every answer a deployment (or the proxy before it) can give a call, and what the client does:
# ("retry", N): a failed attempt, sent again until the N attempts are used up, then it stops;
# ("stop", remedy words): stops at once with its status and a remedy.
ANSWERS = {
    400: ({"reply": {"status": 400, "code": "BadJsonBody", "message": "bad"}}, ("stop", None)),
    401: ({"reply": {"status": 401, "code": "Unauthenticated", "message": "no"}}, ("stop", "deploy key")),
    403: ({"reply": {"status": 403, "code": "BadDeployKey", "message": "no"}}, ("stop", "deploy key")),
    404: ({"reply": {"status": 404, "code": "NotFound", "message": "none"}}, ("stop", "deploy")),
    409: ({"reply": {"status": 409, "code": "Conflict", "message": "taken"}}, ("stop", None)),
    413: ({"reply": {"status": 413, "code": "PayloadTooLarge", "message": "big"}}, ("stop", None)),
    500: ({"status500": 1.0}, ("retry", "HTTP 500 InternalServerError")),
    502: ({"status502": 1.0}, ("retry", "HTTP 502")),
    503: ({"status503": 1.0}, ("retry", "HTTP 503 Overloaded")),
    504: ({"status504": 1.0}, ("retry", "HTTP 504")),
    "reset": ({"dropConnection": 1.0}, ("retry", "network error: RemoteProtocolError")),
    "timeout": ({"delayMs": [800, 800]}, ("retry", "network error: ReadTimeout")),
}


@pytest.mark.parametrize("answer", list(ANSWERS))
def test_each_answer_leads_to_its_action_and_never_shows_the_key(endpoint, answer, fake_time):
    faults, (action, words) = ANSWERS[answer]
    clock = fake_time
    client = ConvexClient(endpoint, retry=RetryPolicy(attempts=3), sleep=clock.sleep, clock=clock.now,
                          timeout=0.4 if answer == "timeout" else 10)
    _faults(endpoint, faults)
    try:
        with client, pytest.raises(ConvexCallError) as failed:
            client.mutation(f"{MODULE}:upsertBatch", EMPTY_BATCH)
    finally:
        _faults(endpoint, {})
    error = failed.value
    if action == "retry":
        assert client.stats.requests == 3 and client.stats.retries == 2 and len(clock.slept) == 2
        assert f"gave up after 3 attempts ({words})" in str(error) and "re-run" in error.remedy
    else:
        assert client.stats.requests == 1 and client.stats.retries == 0 and clock.slept == []
        assert error.status == answer and str(answer) in str(error)
        assert words is None or words in error.remedy
    assert client.stats.reconnects == 0
    shown = [str(error), repr(error), error.remedy or "", repr(error.__dict__), repr(client.deployment)]
    assert not [text for text in shown if KEY in text or KEY.split("|")[1] in text]


def test_429_slows_down_and_is_never_a_failed_attempt(endpoint, fake_time):
    """Half the calls refused with 429 + Retry-After: 1, far more than the attempts: every call
    succeeds; each wait is at least the Retry-After, and the waits differ (jitter)."""
    clock = fake_time
    client = ConvexClient(endpoint, retry=RetryPolicy(attempts=2), sleep=clock.sleep, clock=clock.now)
    batch = {**EMPTY_BATCH, "planHash": _plan_hash(client)}
    _faults(endpoint, {"status429": 0.5, "seed": 3})
    try:
        with client:
            for _ in range(30):
                assert client.mutation(f"{MODULE}:upsertBatch", batch) == []
    finally:
        _faults(endpoint, {})
    throttled = client.pacer.stats.throttled
    assert throttled > 2 * client.retry.attempts and client.stats.retries == 0
    waits = [s for s in clock.slept if s >= 1.0]
    assert len(waits) == throttled and all(1.0 <= s <= 1.5 for s in waits) and len(set(waits)) == len(waits)
    assert client.pacer.rate is not None                      # it paces itself from now on


def test_only_429s_for_longer_than_the_patience_stop_with_a_remedy(endpoint, fake_time):
    clock = fake_time
    _faults(endpoint, {"status429": 1.0})
    try:
        with ConvexClient(endpoint, retry=RetryPolicy(throttle_patience=60), sleep=clock.sleep,
                          clock=clock.now) as client:
            with pytest.raises(ConvexCallError) as stopped:
                client.mutation(f"{MODULE}:upsertBatch", EMPTY_BATCH)
    finally:
        _faults(endpoint, {})
    assert stopped.value.status == 429 and "only 429 TooManyWrites" in str(stopped.value)
    assert "re-run" in stopped.value.remedy and client.stats.retries == 0
    assert 55 <= sum(clock.slept) <= 60 and client.pacer.stats.throttled > 8


def test_a_kept_alive_connection_the_server_closed_is_replaced_at_once(endpoint, fake_time):
    """The endpoint drops every call arriving on a connection that served one before (as a
    server closing an idle connection while the request is on its way): each is sent again
    at once on a fresh connection, not counted as a failed attempt, and nothing is lost."""
    clock = fake_time
    _faults(endpoint, {"dropReused": 1.0})
    try:
        with ConvexClient(endpoint, retry=RetryPolicy(attempts=1), sleep=clock.sleep, clock=clock.now) as client:
            for _ in range(6):
                assert client.query(f"{MODULE}:planInfo", {})["tables"]
    finally:
        _faults(endpoint, {})
    assert client.stats.reconnects >= 2 and client.stats.retries == 0 and clock.slept == []
    assert client.stats.requests == 6 + client.stats.reconnects


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
