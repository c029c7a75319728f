"""Bad input is a 400 with a path, never a 500; CORS; rate limits; the body cap; real 500s."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime.server.actions import ACTIONS, parse_body
from runtime.server.models import REQUEST_MODELS
from tests.runtime.server.conftest import (
    ACTION_PATH,
    GITHUB_TOKEN,
    PROJECT,
    REPO,
    Api,
    connect_body,
    connected,
)

VALID = sorted(ACTIONS)


async def raw_post(api: Api, data: bytes, **headers: str) -> tuple[int, Any]:
    headers.setdefault("Authorization", f"Bearer {api.token()}")
    headers.setdefault("Content-Type", "application/json")
    response = await api.client.post(ACTION_PATH, data=data, headers=headers)
    return response.status, await response.json()


async def test_malformed_json(api: Api) -> None:
    for data in (b"{not json", b"", b"   ", b"\xff\xfe", b'{"action": "sync",}'):
        status, body = await raw_post(api, data)
        assert status == 400 and body["success"] is False, data
        assert body["error"] in ("Malformed JSON", "Request body must be a JSON object")
    status, body = await raw_post(api, b'["connect"]')
    assert (status, body["error"]) == (400, "Request body must be a JSON object")


async def test_unknown_and_missing_action_list_the_valid_ones(api: Api) -> None:
    status, body = await api.call({"action": "explode", "projectId": PROJECT})
    assert status == 400
    assert body == {
        "success": False,
        "error": "Unknown action 'explode'",
        "details": {"validActions": VALID},
    }
    status, body = await api.call({"projectId": PROJECT})
    assert (status, body["error"], body["details"]["validActions"]) == (
        400,
        "Missing action",
        VALID,
    )


async def test_wrong_types_name_their_path(api: Api) -> None:
    status, body = await api.call(
        {
            "action": "connect",
            "integrationType": "github",
            "projectId": 123,
            "data": {
                "credentials": "token",
                "config": {"syncFrequency": "weekly", "filters": {"lables": ["bug"]}},
            },
            "extra": True,
        }
    )
    assert status == 400 and body["error"] == "Invalid request"
    paths = sorted(problem.split(":")[0] for problem in body["details"])
    assert paths == [
        "data.config.filters.lables",
        "data.config.syncFrequency",
        "data.credentials",
        "extra",
        "projectId",
    ]
    status, body = await api.call(
        {"action": "sync", "integrationId": "x", "data": {"syncOptions": {"batchSize": "many"}}}
    )
    assert status == 400 and body["details"] == [
        "data.syncOptions.batchSize: Input should be a valid integer, unable to parse string "
        "as an integer"
    ]


async def test_engine_validation_reaches_the_caller(api: Api, github_url: str) -> None:
    body = {
        "action": "connect",
        "integrationType": "gitlab",
        "projectId": PROJECT,
        "data": {"credentials": {"token": "x"}},
    }
    status, answer = await api.call(body)
    assert status == 400 and answer["details"][0].startswith("integrationType: unknown")
    body["integrationType"] = "github"
    body["data"]["credentials"] = {"baseUrl": github_url, "tokn": "x"}
    status, answer = await api.call(body)
    assert status == 400
    assert any(problem.startswith("credentials.tokn") for problem in answer["details"])


@pytest.mark.parametrize(
    "credentials",
    [
        {"token": GITHUB_TOKEN, "baseUrl": "http://[::1"},
        {"token": GITHUB_TOKEN, "baseUrl": "http://127.0.0.1:99999"},
        {"token": GITHUB_TOKEN, "authType": ["token"]},
        {"token": GITHUB_TOKEN, "authType": {"mode": "token"}},
        {"token": "t0ken\r\nX-Injected: 1"},  # into a header: aiohttp raised ValueError
    ],
)
async def test_odd_credentials_are_400_with_their_path(api: Api, credentials: Any) -> None:
    for action in ("connect", "test-connection"):
        body = {
            "action": action,
            "integrationType": "github",
            "projectId": PROJECT,
            "data": {"credentials": credentials},
        }
        status, answer = await api.call(body)
        assert status == 400, answer
        assert answer["details"][0].startswith(
            ("credentials.baseUrl", "credentials.authType", "credentials.token")
        )
    assert await api.engine.list_integrations() == []


async def test_a_failed_webhook_registration_says_so_with_the_providers_reason(
    api: Api, github, github_url: str
) -> None:
    missing = {"projects": ["octo/missing"]}
    body = connect_body(github_url, filters=missing, webhookEvents=["issues"])
    status, answer = await api.call(body)  # the connection test passes; the hook is refused
    assert (status, answer["error"]) == (400, "Webhook registration failed"), answer
    assert "Not Found" in answer["details"]

    body["data"]["config"]["filters"] = {"projects": []}  # nowhere to register it
    status, answer = await api.call(body)
    assert (status, answer["error"]) == (400, "Webhook registration failed"), answer
    assert "webhooks.register.create" in answer["details"]

    body["data"]["config"]["filters"] = {"projects": [REPO]}
    github.inject_server_error(times=10, method="POST", path=f"/repos/{REPO}/hooks")
    status, answer = await api.call(body)
    assert (status, answer["error"]) == (400, "Webhook registration failed"), answer
    assert answer["details"] == "Server Error"  # the simulator's own words
    assert await api.engine.list_integrations() == []


async def test_disconnect_answers_what_the_provider_kept(api: Api, github, github_url: str) -> None:
    status, answer = await api.call(connect_body(github_url, webhookEvents=["issues"]))
    assert status == 200 and answer["data"]["webhook"]["registered"] is True, answer
    github.inject_server_error(times=10, method="DELETE")
    status, answer = await api.call({"action": "disconnect", "integrationId": answer["data"]["id"]})
    assert status == 200 and answer["data"]["is_active"] is False, answer
    [warning] = answer["data"]["warnings"]
    assert "could not be deleted" in warning and "provider's settings" in warning


async def test_nul_characters_and_absurd_nesting_are_400_with_their_path(
    api: Api, github_url: str
) -> None:
    integration_id = await connected(api, github_url)
    deep: list[Any] = []
    for _ in range(300):  # parses (orjson takes 1024 levels) but cannot be stored (255)
        deep = [deep]
    cases = [
        ({"action": "get-integrations", "projectId": "p\x00"}, "projectId: contains a NUL"),
        (
            {"action": "get-sync-status", "integrationId": "\x00"},
            "integrationId: contains a NUL",
        ),
        (
            {
                "action": "webhook",
                "integrationId": integration_id,
                "data": {"payload": {"a\x00": 1}},
            },
            "data.payload.a\\0: a key contains a NUL",
        ),
        (
            {
                "action": "webhook",
                "integrationId": integration_id,
                "data": {"payload": {"d": deep}},
            },
            "nested deeper than 100 levels",
        ),
        (
            {
                "action": "import-data",
                "projectId": PROJECT,
                "data": {"importData": {"workItems": deep}},
            },
            "nested deeper than 100 levels",
        ),
    ]
    for body, says in cases:
        status, answer = await api.call(body)
        assert status == 400, answer
        assert says in answer["details"][0], answer
    # import rows check their own text: one bad row is a row error, the others go in
    rows = [{"title": "fine"}, {"title": "bad\x00"}]
    body = {
        "action": "import-data",
        "projectId": PROJECT,
        "data": {"importData": {"workItems": rows}},
    }
    status, answer = await api.call(body)
    assert status == 200 and answer["data"]["failed"] == 1 and answer["data"]["created"] == 1


def test_parsed_requests_never_print_the_credentials() -> None:
    for action in ("connect", "test-connection"):
        body = {
            "action": action,
            "integrationType": "github",
            "projectId": PROJECT,
            "data": {"credentials": {"token": GITHUB_TOKEN}},
        }
        parsed = parse_body(REQUEST_MODELS[action], body)
        assert GITHUB_TOKEN not in repr(parsed) and GITHUB_TOKEN not in str(parsed)
        assert parsed.data.credentials == {"token": GITHUB_TOKEN}


def json_values() -> st.SearchStrategy[Any]:
    scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=20)
    scalars = scalars | st.floats(allow_nan=False, allow_infinity=False)
    return st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
        ),
        max_leaves=12,
    )


def mostly(good: list[Any]) -> st.SearchStrategy[Any]:
    """Usually one of the good values, sometimes any JSON at all."""
    return st.one_of(
        st.sampled_from(good), st.sampled_from(good), st.sampled_from(good), json_values()
    )


def action_data(base_urls: list[str]) -> dict[str, st.SearchStrategy[Any]]:
    """Per action, ``data`` shaped like the real thing with every field sometimes wrong. Base
    URLs only ever point at the simulator, a closed local port or nonsense: nothing leaves
    the machine."""
    credentials = st.fixed_dictionaries(
        {"baseUrl": mostly([*base_urls, "not a url", "", "ftp://x"])},
        optional={
            "token": mostly([GITHUB_TOKEN, "wrong-token"]),
            "webhookSecret": mostly(["s3cret-value"]),
            "authType": mostly(["token", "oauth"]),
        },
    )
    config = st.fixed_dictionaries(
        {},
        optional={
            "syncFrequency": mostly(["hourly", "daily", "manual", "realtime", "weekly"]),
            "syncDirection": mostly(["import", "export", "bidirectional", "sideways"]),
            "filters": st.fixed_dictionaries(
                {}, optional={"projects": mostly([[REPO], ["nobody/nothing"], []])}
            ),
            "fieldMappings": st.dictionaries(st.text(max_size=10), mostly(["title", "status"])),
            "conflictResolution": mostly(["manual", "kiro_wins", "loudest"]),
        },
    )
    options = st.fixed_dictionaries(
        {},
        optional={
            "batchSize": st.integers(-5, 20_000),
            "startDate": mostly(["2024-01-01", "2024-13-01", "yesterday", "2024-01-01T00:00:00Z"]),
            "endDate": mostly(["2023-01-01", "2030-01-01"]),
            "includeComments": mostly([True, False]),
        },
    )
    return {
        "connect": st.fixed_dictionaries({"credentials": credentials}, optional={"config": config}),
        "test-connection": st.fixed_dictionaries({"credentials": credentials}),
        "sync": st.fixed_dictionaries({}, optional={"syncOptions": options}),
        "webhook": st.fixed_dictionaries(
            {"payload": json_values()}, optional={"eventType": mostly(["issues", "ping", "?"])}
        ),
        "resolve-conflict": st.fixed_dictionaries(
            {
                "conflictId": st.text(max_size=12),
                "resolution": mostly(["kiro", "external", "value"]),
            },
            optional={"value": json_values()},
        ),
        "export-data": st.fixed_dictionaries(
            {}, optional={"exportFormat": mostly(["json", "csv", "xlsx", "pdf"])}
        ),
        "import-data": st.fixed_dictionaries({"importData": json_values()}),
    }


def action_bodies(base_urls: list[str], ids: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    data = action_data(base_urls)

    def body(action: str) -> st.SearchStrategy[dict[str, Any]]:
        return st.fixed_dictionaries(
            {"action": st.just(action)},
            optional={
                "integrationType": mostly(["github", "jira", "", "../etc"]),
                "projectId": mostly([PROJECT, "other", ""]),
                "integrationId": mostly([*ids, "missing", ""]),
                "data": data.get(action, st.just({})) | json_values(),
            },
        )

    return st.sampled_from([*VALID, "nope"]).flatmap(body)


async def test_generated_bodies_never_produce_a_500(api: Api, github_url: str, caplog) -> None:
    integration_id = await connected(api, github_url)
    await api.engine.add_member(PROJECT, "mia", "member")
    bodies: list[tuple[Any, str]] = []

    @settings(
        max_examples=150,
        database=None,
        deadline=None,
        derandomize=True,  # the same bodies every run: a failure reproduces
        suppress_health_check=list(HealthCheck),
    )
    @given(
        body=action_bodies([github_url, "http://127.0.0.1:9"], [integration_id]) | json_values(),
        sub=st.sampled_from(["service", "mia"]),
    )
    def collect(body: Any, sub: str) -> None:
        bodies.append((body, sub))

    collect()
    statuses = set()
    for body, sub in bodies:
        data = json.dumps(body).encode()
        status, answer = await raw_post(api, data, Authorization=f"Bearer {api.token(sub)}")
        assert status != 500, (body, answer)
        assert answer["success"] is (status < 300), answer
        statuses.add(status)
        if status == 202 and isinstance(body, dict) and body.get("action") == "sync":
            await api.wait_idle(integration_id)
    assert {400, 404} <= statuses and statuses & {200, 202}  # past the first checks
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_cors_preflight_and_headers(server) -> None:
    api = await server(cors_origins="https://app.kiro.dev")
    preflight = await api.client.options(
        ACTION_PATH,
        headers={
            "Origin": "https://app.kiro.dev",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert preflight.status == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://app.kiro.dev"
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert "authorization" in preflight.headers["Access-Control-Allow-Headers"]
    denied = await api.client.options(
        ACTION_PATH,
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert denied.status == 403 and "Access-Control-Allow-Origin" not in denied.headers
    response = await api.client.post(
        ACTION_PATH, json={"action": "get-integrations"}, headers={"Origin": "https://app.kiro.dev"}
    )
    assert response.status == 401  # CORS headers on failures too, or browsers hide the error
    assert response.headers["Access-Control-Allow-Origin"] == "https://app.kiro.dev"


async def test_cors_default_is_any_origin(api: Api) -> None:
    preflight = await api.client.options(
        ACTION_PATH, headers={"Origin": "https://x.dev", "Access-Control-Request-Method": "POST"}
    )
    assert preflight.status == 204 and preflight.headers["Access-Control-Allow-Origin"] == "*"


async def test_rate_limit_per_user_and_per_ip(server) -> None:
    api = await server(rate_limit_per_minute=6, rate_limit_burst=3)
    body = {"action": "get-integrations", "projectId": PROJECT}
    statuses = [(await api.call(body, sub="service"))[0] for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    response = await api.client.post(
        ACTION_PATH, json=body, headers={"Authorization": f"Bearer {api.token()}"}
    )
    assert response.status == 429
    assert int(response.headers["Retry-After"]) >= 1
    assert (await response.json())["error"] == "Too many requests"
    # another user from the same address: the per-IP bucket (burst 3) is spent too
    status, _answer = await api.call(body, sub="someone-else")
    assert status == 429
    health = await api.client.get("/healthz")  # probes are never limited
    assert health.status == 200


async def test_body_cap_is_413(server) -> None:
    api = await server(max_body_bytes=2048)
    big = {"action": "connect", "projectId": PROJECT, "data": {"credentials": {"x": "a" * 4096}}}
    status, body = await api.call(big)
    assert status == 413
    assert body == {
        "success": False,
        "error": "Request body too large",
        "details": {"maxBytes": 2048},
    }

    async def chunks():
        yield b'{"action": "sync", "integrationId": "'
        yield b"b" * 4096
        yield b'"}'

    response = await api.client.post(
        ACTION_PATH, data=chunks(), headers={"Authorization": f"Bearer {api.token()}"}
    )
    assert response.status == 413  # no Content-Length: the cap holds while reading


async def test_a_real_500_is_enveloped_with_its_request_id(api: Api, log_guard) -> None:
    await api.engine.store.close()  # the store goes away under the server
    response = await api.client.post(
        ACTION_PATH,
        json={"action": "get-integrations", "projectId": PROJECT},
        headers={"Authorization": f"Bearer {api.token()}", "X-Request-Id": "req-42"},
    )
    assert response.status == 500
    assert await response.json() == {
        "success": False,
        "error": "Internal server error",
        "requestId": "req-42",
    }
    assert response.headers["X-Request-Id"] == "req-42"
    lines = [json.loads(line) for line in log_guard.getvalue().splitlines()]
    errors = [line for line in lines if line["level"] == "error"]
    assert errors and errors[0]["request_id"] == "req-42" and "exc" in errors[0]
    ready = await api.client.get("/readyz")
    assert ready.status == 503
