"""Auth strategies against a real server: one route per auth type, OAuth 2 token handling."""

from __future__ import annotations

import asyncio
import base64
from typing import Any
from urllib.parse import parse_qs

import pytest

from engine.auth import select_auth_mode
from engine.errors import AuthError, ConfigError
from engine.http import Connection
from engine.spec.models import RequestSpec
from tests.engine.fakeapi import (
    API_KEY,
    BEARER,
    CLIENT_ID,
    CLIENT_SECRET,
    PASSWORD,
    USER,
    FakeApi,
    FakeClock,
    Scripted,
    provider,
    registry,
    serve,
)

SECRET = {"secret": True}
AUTHS: dict[str, tuple[dict[str, Any], list[dict[str, Any]], dict[str, str]]] = {
    "bearer": ({"type": "bearer"}, [{"name": "accessToken", **SECRET}], {"accessToken": BEARER}),
    "basic": (
        {"type": "basic"},
        [{"name": "email"}, {"name": "apiToken", **SECRET}],
        {"email": USER, "apiToken": PASSWORD},
    ),
    "api_key_header": (
        {"type": "api_key", "in": "header", "name": "X-Api-Key"},
        [{"name": "apiKey", **SECRET}],
        {"apiKey": API_KEY},
    ),
    "api_key_query": (
        {"type": "api_key", "in": "query", "name": "api_key"},
        [{"name": "apiKey", **SECRET}],
        {"apiKey": API_KEY},
    ),
    "header": (
        {"type": "header", "headers": {"Authorization": "{{ credentials.apiKey }}"}},
        [{"name": "apiKey", **SECRET}],
        {"apiKey": API_KEY},
    ),
    "query": (
        {"type": "query",
         "params": {"key": "{{ credentials.apiKey }}", "token": "{{ credentials.apiToken }}"}},
        [{"name": "apiKey", **SECRET}, {"name": "apiToken", **SECRET}],
        {"apiKey": API_KEY, "apiToken": BEARER},
    ),
}  # fmt: skip


@pytest.fixture
async def fake(aiohttp_server: Any) -> tuple[FakeApi, str]:
    return await serve(aiohttp_server)


def auth_connection(base: str, kind: str, credentials: dict[str, str]) -> Connection:
    auth, fields, _ = AUTHS[kind]
    test = {"request": {"path": f"/auth/{kind}"}, "identity_path": "user.login"}
    spec = provider(auth=auth, fields=fields, test_connection=test)
    return Connection(spec, {**credentials, "baseUrl": base}, registry=registry())


@pytest.mark.parametrize("kind", list(AUTHS))
async def test_each_auth_type_is_accepted(fake: Any, kind: str) -> None:
    _, base = fake
    async with auth_connection(base, kind, AUTHS[kind][2]) as conn:
        result = await conn.test_connection()
    assert result.identity == f"{kind}-user"


@pytest.mark.parametrize("kind", list(AUTHS))
async def test_wrong_credentials_are_an_auth_error_without_secrets(fake: Any, kind: str) -> None:
    api, base = fake
    wrong = {name: f"wrong-{value}" for name, value in AUTHS[kind][2].items()}
    async with auth_connection(base, kind, wrong) as conn:
        with pytest.raises(AuthError) as caught:
            await conn.test_connection()
    assert f"Bad credentials for {kind}" in str(caught.value)
    for value in wrong.values():
        if value != f"wrong-{USER}":  # the email is not a secret
            assert value not in str(caught.value)
    assert api.count(f"/auth/{kind}") == 1


def oauth_provider(grant: str, **extra: Any) -> Any:
    auth = {"type": "oauth2", "grant": grant, "token_url": "{{ credentials.baseUrl }}/oauth/token"}
    fields = [
        {"name": "clientId"},
        {"name": "clientSecret", **SECRET},
        {"name": "refreshToken", "required": grant == "refresh_token", **SECRET},
    ]
    return provider(auth={**auth, **extra}, fields=fields)


CHECK = RequestSpec(path="/auth/oauth2")
CLIENT = {"clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET}


def form_of(api: FakeApi, index: int = -1) -> dict[str, list[str]]:
    bodies = [r.body for r in api.requests if r.path == "/oauth/token"]
    return parse_qs(bodies[index].decode())


async def test_client_credentials_token_is_fetched_once_and_cached(fake: Any) -> None:
    api, base = fake
    updates: list[dict[str, Any]] = []
    conn = Connection(
        oauth_provider("client_credentials", scope="read write"),
        {**CLIENT, "baseUrl": base}, registry=registry(), on_credentials_update=updates.append,
    )  # fmt: skip
    async with conn:
        for _ in range(3):
            await conn.request(CHECK, conn.context())
    assert api.count("/oauth/token") == 1
    form = form_of(api)
    assert form["grant_type"] == ["client_credentials"] and form["scope"] == ["read write"]
    assert form["client_id"] == [CLIENT_ID] and form["client_secret"] == [CLIENT_SECRET]
    assert [r.headers["Authorization"] for r in api.requests[1:]] == ["Bearer at-1"] * 3
    assert updates[0]["accessToken"] == "at-1" and "refreshToken" not in updates[0]


async def test_client_secret_sent_with_basic_auth(fake: Any) -> None:
    api, base = fake
    conn = Connection(
        oauth_provider("client_credentials", client_auth="basic"),
        {**CLIENT, "baseUrl": base}, registry=registry(),
    )  # fmt: skip
    async with conn:
        await conn.request(CHECK, conn.context())
    token_call = next(r for r in api.requests if r.path == "/oauth/token")
    pair = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    assert token_call.headers["Authorization"] == f"Basic {pair}"
    assert "client_secret" not in form_of(api)


async def test_refresh_once_on_401_and_rotated_refresh_tokens_are_handed_back(fake: Any) -> None:
    api, base = fake
    stored: dict[str, Any] = {**CLIENT, "refreshToken": "rt-0", "accessToken": "stale"}

    async def keep(changes: dict[str, Any]) -> None:
        stored.update(changes)

    conn = Connection(
        oauth_provider("refresh_token"), {**stored, "baseUrl": base}, registry=registry(),
        on_credentials_update=keep,
    )  # fmt: skip
    async with conn:
        first = await conn.request(CHECK, conn.context())
        assert first.data["user"]["login"] == "oauth-user"
        assert stored["refreshToken"] == "rt-1" and stored["accessToken"] == "at-1"
        api.expire_tokens()
        await conn.request(CHECK, conn.context())
    assert stored["refreshToken"] == "rt-2" and stored["accessToken"] == "at-2"
    assert [form_of(api, i)["refresh_token"] for i in (0, 1)] == [["rt-0"], ["rt-1"]]
    # each expiry: one 401, one refresh, one retry
    statuses = [r.headers.get("Authorization") for r in api.requests if r.path == "/auth/oauth2"]
    assert statuses == ["Bearer stale", "Bearer at-1", "Bearer at-1", "Bearer at-2"]


async def test_a_token_near_expiry_is_refreshed_before_sending(fake: Any) -> None:
    api, base = fake
    clock = FakeClock()
    conn = Connection(
        oauth_provider("refresh_token"), {**CLIENT, "refreshToken": "rt-0", "baseUrl": base},
        registry=registry(), clock=clock,
    )  # fmt: skip
    async with conn:
        await conn.request(CHECK, conn.context())
        clock.time += 3600 - 59  # inside the 60 s margin
        await conn.request(CHECK, conn.context())
    assert api.count("/oauth/token") == 2
    used = [r.headers["Authorization"] for r in api.requests if r.path == "/auth/oauth2"]
    assert used == ["Bearer at-1", "Bearer at-2"]  # no 401 on the way


async def test_an_unreadable_stored_expiry_fetches_a_new_token(fake: Any) -> None:
    api, base = fake
    stored = {**CLIENT, "accessToken": "at-unknown-age", "expiresAt": "next tuesday"}
    conn = Connection(
        oauth_provider("client_credentials"), {**stored, "baseUrl": base}, registry=registry()
    )
    async with conn:  # was: ValueError from the stored expiry
        answer = await conn.request(CHECK, conn.context())
    assert answer.data["user"]["login"] == "oauth-user"
    assert api.count("/oauth/token") == 1


@pytest.mark.parametrize("expires_in", ["soon", [3600], "nan", -5])
async def test_a_token_lifetime_that_is_not_a_number_is_unknown(fake: Any, expires_in: Any) -> None:
    api, base = fake
    api.script("/oauth/token", Scripted(200, {"access_token": "at-odd", "expires_in": expires_in}))
    conn = Connection(
        oauth_provider("client_credentials"), {**CLIENT, "baseUrl": base}, registry=registry()
    )
    async with conn:  # at-odd is refused, refreshed once: at-1 works
        answer = await conn.request(CHECK, conn.context())
    assert answer.data["user"]["login"] == "oauth-user"


async def test_still_401_after_refresh_is_an_auth_error_refreshed_once(fake: Any) -> None:
    api, base = fake
    api.script("/auth/oauth2", *[Scripted(401, {"message": "app uninstalled"})] * 3)
    conn = Connection(
        oauth_provider("client_credentials"), {**CLIENT, "baseUrl": base}, registry=registry()
    )
    async with conn:
        with pytest.raises(AuthError, match="app uninstalled"):
            await conn.request(CHECK, conn.context())
    assert api.count("/oauth/token") == 2  # the first token, then one refresh
    assert api.count("/auth/oauth2") == 2


async def test_a_revoked_refresh_token_is_an_auth_error(fake: Any) -> None:
    _, base = fake
    conn = Connection(
        oauth_provider("refresh_token"), {**CLIENT, "refreshToken": "rt-old", "baseUrl": base},
        registry=registry(),
    )  # fmt: skip
    async with conn:
        with pytest.raises(AuthError) as caught:
            await conn.request(CHECK, conn.context())
    assert "refresh token revoked" in str(caught.value)
    assert "rt-old" not in str(caught.value) and CLIENT_SECRET not in str(caught.value)


async def test_concurrent_401s_share_one_refresh(fake: Any) -> None:
    api, base = fake
    conn = Connection(
        oauth_provider("refresh_token"),
        {**CLIENT, "refreshToken": "rt-0", "accessToken": "stale", "baseUrl": base},
        registry=registry(),
    )
    async with conn:
        await asyncio.gather(*(conn.request(CHECK, conn.context()) for _ in range(5)))
    assert api.count("/oauth/token") == 1
    assert api.count("/auth/oauth2") == 10


def test_auth_mode_selection() -> None:
    bearer = {"title": "Token", "fields": [{"name": "accessToken"}], "auth": {"type": "bearer"}}
    basic = {
        "title": "Email",
        "fields": [{"name": "email"}, {"name": "apiToken"}],
        "auth": {"type": "basic"},
    }
    spec = provider(auth_modes={"token": bearer, "email": basic}).spec
    assert select_auth_mode(spec, {"accessToken": "t"})[0] == "token"
    assert select_auth_mode(spec, {"email": "e", "apiToken": "x"})[0] == "email"
    assert select_auth_mode(spec, {"authType": "email", "accessToken": "t"})[0] == "email"
    with pytest.raises(ConfigError, match="token needs accessToken; email needs email, apiToken"):
        select_auth_mode(spec, {"accessToken": " "})
    with pytest.raises(ConfigError, match="unknown authType 'oauth'; valid: token, email"):
        select_auth_mode(spec, {"authType": "oauth"})


async def test_a_template_naming_a_missing_credential_is_a_config_error(fake: Any) -> None:
    _, base = fake
    spec = provider(auth={"type": "bearer", "token": "{{ credentials.pat }}"}, fields=[])
    async with Connection(spec, {"baseUrl": base}, registry=registry()) as conn:
        with pytest.raises(ConfigError, match="do not fit the auth mode"):
            await conn.request(RequestSpec(path="/data"), conn.context())


async def test_an_empty_token_is_a_config_error(fake: Any) -> None:
    _, base = fake
    spec = provider(fields=[{"name": "accessToken", "required": False}])
    async with Connection(spec, {"baseUrl": base, "accessToken": ""}, registry=registry()) as conn:
        with pytest.raises(ConfigError, match="token is empty"):
            await conn.request(RequestSpec(path="/data"), conn.context())


async def test_token_endpoint_outages_and_garbage_are_not_auth_errors(fake: Any) -> None:
    from engine.errors import ProviderError, TransientError

    api, base = fake
    api.script(
        "/oauth/token",
        Scripted(503, {"error": "temporarily_unavailable"}),
        Scripted(200, b"<html>login</html>", content_type="text/html"),
    )
    conn = Connection(
        oauth_provider("client_credentials"), {**CLIENT, "baseUrl": base}, registry=registry()
    )
    async with conn:
        with pytest.raises(TransientError, match="temporarily_unavailable"):
            await conn.request(CHECK, conn.context())
        with pytest.raises(ProviderError, match="an HTML page"):
            await conn.request(CHECK, conn.context())
        assert (await conn.request(CHECK, conn.context())).status == 200
    assert api.count("/auth/oauth2") == 1
