"""Connection: retries, rate limits, error rules and classified errors, against a real server."""

from __future__ import annotations

from email.utils import formatdate
from typing import Any
from urllib.parse import quote

import pytest

from engine.errors import (
    AuthError,
    ConfigError,
    ProviderError,
    RateLimitedError,
    TransientError,
    error_class,
)
from engine.http import Connection, parse_body
from engine.ratelimit import parse_reset, parse_retry_after
from engine.spec.models import RequestSpec
from tests.engine.fakeapi import (
    API_KEY,
    BEARER,
    FakeApi,
    FakeClock,
    Scripted,
    provider,
    registry,
    serve,
)

DATA = RequestSpec(path="/data")
LIMIT_HEADERS = {"remaining_header": "X-RateLimit-Remaining", "reset_header": "X-RateLimit-Reset"}


@pytest.fixture
async def fake(aiohttp_server: Any) -> tuple[FakeApi, str]:
    return await serve(aiohttp_server)


def connect(
    base: str,
    clock: FakeClock | None = None,
    rate_limit: dict[str, Any] | None = None,
    credentials: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
    timeout: float = 10.0,
    **spec: Any,
) -> Connection:
    limits = {"backoff_base_seconds": 0.5, "backoff_max_seconds": 4.0, **(rate_limit or {})}
    return Connection(
        provider(rate_limit=limits, **spec),
        {"accessToken": BEARER, "baseUrl": base, **(credentials or {})},
        config,
        registry=registry(),
        clock=clock or FakeClock(),
        timeout=timeout,
    )


async def test_429_waits_for_retry_after_then_succeeds(fake: Any) -> None:
    api, base = fake
    api.script("/data", Scripted(429, {"message": "slow down"}, {"Retry-After": "7"}))
    clock = FakeClock()
    async with connect(base, clock) as conn:
        response = await conn.request(DATA, conn.context())
    assert response.status == 200 and response.data["login"] == "octo"
    assert clock.sleeps == [7.0]
    assert api.count("/data") == 2


async def test_retry_after_as_an_http_date(fake: Any) -> None:
    api, base = fake
    clock = FakeClock()
    when = formatdate(clock.now() + 12, usegmt=True)
    api.script("/data", Scripted(429, {}, {"Retry-After": when}))
    async with connect(base, clock) as conn:
        await conn.request(DATA, conn.context())
    assert clock.sleeps == [12.0]


async def test_5xx_is_retried_with_capped_jittered_backoff_then_succeeds(fake: Any) -> None:
    api, base = fake
    page = b"<html><body>502 Bad Gateway</body></html>"
    api.script(
        "/data",
        Scripted(502, page, content_type="text/html"),
        Scripted(503, {"message": "try later"}),
        Scripted(500, {}),
    )
    clock = FakeClock()
    async with connect(
        base, clock, {"backoff_base_seconds": 1.0, "backoff_max_seconds": 3}
    ) as conn:
        response = await conn.request(DATA, conn.context())
    assert response.data["items"][0]["id"] == 0
    assert api.count("/data") == 4
    assert len(clock.sleeps) == 3
    for attempt, slept in enumerate(clock.sleeps):
        assert 0 <= slept <= min(3.0, 1.0 * 2**attempt)


async def test_5xx_gives_up_after_max_retries_as_transient(fake: Any) -> None:
    api, base = fake
    api.script("/data", *[Scripted(500, {"message": "boom"})] * 3)
    async with connect(base, rate_limit={"max_retries": 2}) as conn:
        with pytest.raises(TransientError) as caught:
            await conn.request(DATA, conn.context())
    assert api.count("/data") == 3
    error = caught.value
    assert error_class(error) == "transient"
    assert error.status == 500 and "boom" in str(error)  # type: ignore[attr-defined]


async def test_401_is_a_config_error_and_is_not_retried(fake: Any) -> None:
    api, base = fake
    api.script("/data", Scripted(401, {"message": f"Bad credentials: {BEARER} revoked"}))
    async with connect(base) as conn:
        with pytest.raises(AuthError) as caught:
            await conn.request(DATA, conn.context())
    assert api.count("/data") == 1
    error = caught.value
    assert error_class(error) == "config"
    assert "Bad credentials" in str(error) and "HTTP 401" in str(error)
    assert BEARER not in str(error) and BEARER not in repr(error.context)
    assert error.details == "Bad credentials: **** revoked"  # type: ignore[attr-defined]


async def test_403_with_no_requests_left_is_a_rate_limit(fake: Any) -> None:
    api, base = fake
    clock = FakeClock()
    reset = str(int(clock.now()) + 20)
    limited = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset}
    api.script("/data", Scripted(403, {"message": "API rate limit exceeded"}, limited))
    async with connect(base, clock, LIMIT_HEADERS) as conn:
        await conn.request(DATA, conn.context())
    assert api.count("/data") == 2
    assert sum(clock.sleeps) == pytest.approx(20.0)


async def test_remaining_zero_waits_for_the_reset_before_the_next_request(fake: Any) -> None:
    api, base = fake
    clock = FakeClock()
    headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(clock.now()) + 30)}
    api.script("/data", Scripted(200, {"login": "first"}, headers))
    async with connect(base, clock, LIMIT_HEADERS) as conn:
        first = await conn.request(DATA, conn.context())
        assert clock.sleeps == []  # the answer itself is fine
        second = await conn.request(DATA, conn.context())
    assert (first.data["login"], second.data["login"]) == ("first", "octo")
    assert clock.sleeps == [30.0]


async def test_a_wait_beyond_max_wait_raises_rate_limited(fake: Any) -> None:
    api, base = fake
    api.script("/data", Scripted(429, {}, {"Retry-After": "5000"}))
    clock = FakeClock()
    async with connect(base, clock) as conn:
        with pytest.raises(RateLimitedError) as caught:
            await conn.request(DATA, conn.context())
    error = caught.value
    assert error.retry_after == 5000 and error.status == 429  # type: ignore[attr-defined]
    assert str(error) == (
        f"fake: GET {base}/data -> HTTP 429: the provider asks to wait 5000s,"
        " more than the 900s allowed"
    )
    assert clock.sleeps == [] and api.count("/data") == 1


async def test_requests_per_second_budget(fake: Any) -> None:
    api, base = fake
    clock = FakeClock()
    async with connect(base, clock, {"requests_per_second": 5}) as conn:
        for _ in range(12):
            await conn.request(DATA, conn.context())
    assert api.count("/data") == 12
    # a burst of 5, then one request every 0.2 s
    assert sum(clock.sleeps) == pytest.approx(7 * 0.2)
    assert all(s == pytest.approx(0.2) for s in clock.sleeps)


async def test_concurrency_cap(fake: Any) -> None:
    import asyncio

    api, base = fake
    slow = RequestSpec(path="/slow", query={"seconds": "0.05"})
    async with connect(base, rate_limit={"max_concurrency": 2}) as conn:
        await asyncio.gather(*(conn.request(slow, conn.context()) for _ in range(6)))
    assert api.max_in_flight == 2


@pytest.mark.parametrize(
    ("path", "what"),
    [
        ("/html", "an HTML page instead of JSON"),
        ("/text", "text that is not JSON"),
        ("/truncated", "truncated JSON"),
    ],
)
async def test_unusable_bodies_name_provider_stream_method_masked_url_and_status(
    fake: Any, path: str, what: str
) -> None:
    api, base = fake
    auth = {
        "type": "query",
        "params": {"key": "{{ credentials.apiKey }}", "token": "{{ credentials.apiToken }}"},
    }
    fields = [{"name": "apiKey", "secret": True}, {"name": "apiToken", "secret": True}]
    streams = {"broken": {"request": {"path": path, "query": {"q": "x"}}, "records_path": "items"}}
    credentials = {"apiKey": API_KEY, "apiToken": BEARER}
    conn = connect(base, credentials=credentials, auth=auth, fields=fields, streams=streams)
    async with conn:
        with pytest.raises(ProviderError) as caught:
            async for _ in conn.read("broken"):
                pass
    error = caught.value
    text = str(error)
    assert text.startswith(f"fake stream broken: GET {base}{path}?")
    assert "q=x" in text and "key=****" in text and "token=****" in text
    assert text.endswith(f"-> HTTP 200: answered {what}")
    assert API_KEY not in text and BEARER not in text and "Sign in" not in text
    assert (error.provider, error.stream, error.method, error.status) == (  # type: ignore[attr-defined]
        "fake",
        "broken",
        "GET",
        200,
    )
    assert API_KEY not in error.url  # type: ignore[attr-defined]
    assert api.count(path) == 1  # not retried


async def test_a_body_cut_short_is_retried_then_transient(fake: Any) -> None:
    api, base = fake
    async with connect(base, rate_limit={"max_retries": 1}) as conn:
        with pytest.raises(TransientError, match="dropped before the whole body arrived"):
            await conn.request(RequestSpec(path="/cut"), conn.context())
    assert api.count("/cut") == 2


async def test_connection_refused_is_transient() -> None:
    conn = connect("http://127.0.0.1:9", rate_limit={"max_retries": 1})
    async with conn:
        with pytest.raises(TransientError, match=r"fake: GET http://127.0.0.1:9/data: network"):
            await conn.request(DATA, conn.context())


async def test_timeout_is_transient(fake: Any) -> None:
    _, base = fake
    slow = RequestSpec(path="/slow", query={"seconds": "0.5"})
    async with connect(base, rate_limit={"max_retries": 0}, timeout=0.1) as conn:
        with pytest.raises(TransientError, match=r"no answer within 0.1s"):
            await conn.request(slow, conn.context())


async def test_graphql_error_inside_a_200_matches_a_retry_rule(fake: Any) -> None:
    api, base = fake
    rule = {
        "when": "{{ response is mapping and response.errors is defined"
        " and response.errors[0].extensions.code == 'RATELIMITED' }}",
        "action": "retry",
        "retry_after": "{{ headers['X-Wait'] }}",
    }
    limited = {"errors": [{"message": "Rate limited", "extensions": {"code": "RATELIMITED"}}]}
    api.script("/data", Scripted(200, limited, {"X-Wait": "4"}))
    clock = FakeClock()
    async with connect(base, clock, errors=[rule]) as conn:
        response = await conn.request(DATA, conn.context())
    assert response.data["login"] == "octo"
    assert clock.sleeps == [4.0]


async def test_rules_ignore_fail_config_and_fail_transient(fake: Any) -> None:
    api, base = fake
    rules = [
        {"status": 404, "action": "ignore"},
        {"status": "400", "when": "{{ response.code == 'NO_PROJECT' }}", "action": "fail_config",
         "message": "project {{ response.project }} does not exist"},
        {"status": ["409"], "action": "fail_transient"},
    ]  # fmt: skip
    api.script(
        "/data",
        Scripted(404, {"message": "gone"}),
        Scripted(400, {"code": "NO_PROJECT", "project": "ABC"}),
        Scripted(409, {"message": "busy"}),
        Scripted(400, {"code": "OTHER", "message": "bad field"}),
    )
    async with connect(base, errors=rules) as conn:
        ignored = await conn.request(DATA, conn.context())
        assert ignored.data is None and ignored.status == 404
        with pytest.raises(ConfigError) as config:
            await conn.request(DATA, conn.context())
        assert config.value.details == "project ABC does not exist"  # type: ignore[attr-defined]
        assert not isinstance(config.value, AuthError)
        with pytest.raises(TransientError):
            await conn.request(DATA, conn.context())
        with pytest.raises(ProviderError, match="bad field"):  # rule did not match: default
            await conn.request(DATA, conn.context())
    assert api.count("/data") == 4  # nothing retried


async def test_a_rule_that_cannot_be_evaluated_does_not_match(fake: Any) -> None:
    _, base = fake
    rule = {"when": "{{ response.missing.deeper == 1 }}", "action": "fail"}
    async with connect(base, errors=[rule]) as conn:
        response = await conn.request(DATA, conn.context())
    assert response.data["login"] == "octo"


async def test_the_error_message_never_holds_the_body(fake: Any) -> None:
    api, base = fake
    api.script("/data", Scripted(422, {"stuff": "SECRET-BODY-CONTENT"}))
    async with connect(base) as conn:
        with pytest.raises(ProviderError) as caught:
            await conn.request(DATA, conn.context())
    assert "SECRET-BODY-CONTENT" not in str(caught.value)
    assert "HTTP 422" in str(caught.value)


@pytest.mark.parametrize("padding", [0, 280, 290, 295])
@pytest.mark.parametrize("status", [401, 422])
@pytest.mark.parametrize("token", [BEARER, "tok/en+with=sign$"])
async def test_a_provider_echoing_our_token_never_shows_it(
    fake: Any, padding: int, status: int, token: str
) -> None:
    """Even where the reason is cut to its first 300 characters, mid-token, or where the
    provider quotes it URL-encoded."""
    api, base = fake
    echo = "x" * padding + f" token {token} is not valid; try ?access_token={quote(token)}"
    api.script("/data", Scripted(status, {"message": echo}))
    async with connect(base, credentials={"accessToken": token}) as conn:
        with pytest.raises((AuthError, ProviderError)) as caught:
            await conn.request(DATA, conn.context())
    shown = f"{caught.value} {caught.value.context['details']}"
    for piece in (token, token[:9], quote(token)):
        assert piece not in shown, shown


async def test_base_url_from_the_spec_and_default_headers(fake: Any) -> None:
    api, base = fake
    conn = Connection(
        provider(base_url="{{ config.host }}/", headers={"X-Version": "{{ config.version }}"}),
        {"accessToken": BEARER},
        {"host": base, "version": "2024-01"},
        registry=registry(),
    )
    async with conn:
        await conn.request(DATA, conn.context())
    seen = api.requests[-1]
    assert seen.path == "/data"
    assert seen.headers["X-Version"] == "2024-01"
    assert seen.headers["Authorization"] == f"Bearer {BEARER}"
    assert seen.headers["Accept"] == "application/json"


async def test_a_base_url_that_is_not_http_is_a_config_error() -> None:
    conn = connect("ftp://example.com")
    with pytest.raises(ConfigError, match="not an http"):
        conn.build_request(DATA, conn.context())
    await conn.close()


@pytest.mark.parametrize("base", ["http://127.0.0.1:99999", "http://[::1"])
async def test_a_url_yarl_refuses_is_a_config_error_naming_it(base: str) -> None:
    async with connect(base) as conn:
        with pytest.raises(ConfigError) as caught:
            await conn.request(DATA, conn.context())
    assert "invalid URL" in caught.value.message
    assert caught.value.context["method"] == "GET"


async def test_a_header_value_with_a_line_break_is_a_config_error(fake: Any) -> None:
    api, base = fake
    async with connect(
        base, config={"team": "a\r\nX-Injected: 1"}, headers={"X-Team": "{{ config.team }}"}
    ) as conn:
        with pytest.raises(ConfigError) as caught:  # was aiohttp's ValueError: a 500
            await conn.request(DATA, conn.context())
    assert caught.value.message.endswith(
        "the request cannot be sent: ValueError: "
        + ("Forbidden control character detected in headers. Potential header injection attack.")
    )
    assert api.count("/data") == 0


async def test_query_values_that_render_empty_are_left_out() -> None:
    conn = connect("http://127.0.0.1:1", config={"labels": ["a", "b"]})
    spec = RequestSpec(
        path="/x",
        query={
            "since": "{{ cursor }}",
            "empty": "",
            "labels": "{{ config.labels }}",
            "flag": True,
            "n": 5,
        },
    )
    request = conn.build_request(spec, conn.context(cursor=None), "test")
    assert request.params == [("labels", "a"), ("labels", "b"), ("flag", "true"), ("n", "5")]
    assert request.url == "http://127.0.0.1:1/x"
    await conn.close()


async def test_test_connection_identity_and_failures(fake: Any) -> None:
    api, base = fake
    async with connect(base) as conn:
        result = await conn.test_connection()
    assert result.identity == "octo" and result.raw["items"][0]["id"] == 0

    test = {
        "request": {"path": "/data"},
        "identity_path": "login",
        "success_when": "{{ response.ok }}",
    }
    api.script("/data", Scripted(200, {"ok": False, "error": "invalid_auth"}))
    async with connect(base, test_connection=test) as conn:
        with pytest.raises(ConfigError) as caught:
            await conn.test_connection()
    assert caught.value.details == "invalid_auth"  # type: ignore[attr-defined]

    test = {"request": {"path": "/data"}, "identity_path": "$.account.id"}
    async with connect(base, test_connection=test) as conn:
        with pytest.raises(ConfigError, match=r"nothing at \$\.account\.id"):
            await conn.test_connection()


async def test_a_post_is_not_resent_after_a_5xx_but_is_after_a_429(fake: Any) -> None:
    api, base = fake
    post = RequestSpec(method="POST", path="/issues", body={"fields": {"summary": "x"}})
    api.script("/issues", Scripted(502, {}))
    async with connect(base) as conn:
        with pytest.raises(TransientError):
            await conn.request(post, conn.context())
        assert api.count("/issues") == 1
        api.script("/issues", Scripted(429, {}, {"Retry-After": "1"}))
        created = await conn.request(post, conn.context())
    assert created.status == 201 and api.count("/issues") == 3


def test_parse_reset_formats() -> None:
    now = 1_000_000.0
    assert parse_reset("1000030", "epoch_seconds", now) == 30
    assert parse_reset("1000030000", "epoch_ms", now) == 30
    assert parse_reset("45", "delta_seconds", now) == 45
    assert parse_reset(formatdate(now + 60, usegmt=True), "http_date", now) == 60
    assert parse_reset("999990", "epoch_seconds", now) == 0  # already past
    assert parse_reset("soon", "epoch_seconds", now) is None
    assert parse_retry_after("2.5", now) == 2.5
    assert parse_retry_after("not a date", now) is None


def test_parse_body() -> None:
    assert parse_body(b'{"a": 1}') == ({"a": 1}, None)
    assert parse_body(b"  ") == (None, None)
    assert parse_body(b"<!DOCTYPE html>") == (None, "an HTML page instead of JSON")
    assert parse_body(b'[{"a": 1}, {"a"') == (None, "truncated JSON")
    assert parse_body(b'{"a": 1} trailing') == (None, "text that is not JSON")
    assert parse_body(b"OK", "text/plain") == (None, "text that is not JSON")
