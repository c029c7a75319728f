"""The shared simulator machinery: clock, request log, fault injection, serve(), signing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import aiohttp
import orjson
import pytest
from aiohttp import web

from tests.simulators.base import (
    BaseSim,
    Delivery,
    SimClock,
    hmac_sha256_hex,
    parse_iso,
    post_webhook,
    serve,
)


class EchoSim(BaseSim):
    """The smallest simulator: GET /items answers a JSON list, POST /items echoes."""

    def _routes(self, app: web.Application) -> None:
        app.router.add_get("/items", self._list)
        app.router.add_post("/items", self._create)

    async def _list(self, request: web.Request) -> web.StreamResponse:
        return web.json_response([{"id": n, "name": f"item {n}"} for n in range(20)])

    async def _create(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(await request.json(), status=201)


def test_github_published_signature_vector() -> None:
    digest = hmac_sha256_hex("It's a Secret to Everybody", b"Hello, World!")
    assert digest == "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def test_clock_ticks_each_write_and_can_be_set() -> None:
    clock = SimClock(datetime(2025, 1, 31, 14, 5, tzinfo=UTC), step=timedelta(seconds=2))
    assert clock.tick() == datetime(2025, 1, 31, 14, 5, tzinfo=UTC)
    assert clock.tick() == datetime(2025, 1, 31, 14, 5, 2, tzinfo=UTC)
    clock.set("2026-01-01T00:00:00Z")
    assert clock.now == datetime(2026, 1, 1, tzinfo=UTC)
    clock.advance(minutes=3)
    assert clock.now == datetime(2026, 1, 1, 0, 3, tzinfo=UTC)


def test_parse_iso_accepts_the_providers_offsets() -> None:
    expected = datetime(2025, 1, 31, 14, 5, 12, tzinfo=UTC)
    assert parse_iso("2025-01-31T14:05:12Z") == expected
    assert parse_iso("2025-01-31T14:05:12.000+0000") == expected
    assert parse_iso("2025-01-31T16:05:12+02:00") == expected


async def test_serve_binds_loopback_and_closes() -> None:
    sim = EchoSim()
    async with serve(sim) as base_url:
        assert base_url.startswith("http://127.0.0.1:")
        async with aiohttp.ClientSession() as session, session.get(f"{base_url}/items") as r:
            assert r.status == 200
            assert len(await r.json()) == 20
    with pytest.raises(aiohttp.ClientConnectionError):
        async with aiohttp.ClientSession() as session, session.get(f"{base_url}/items"):
            pass


async def test_log_records_requests_and_successful_writes(aiohttp_client) -> None:
    sim = EchoSim()
    client = await aiohttp_client(sim.app())
    await client.get("/items?page=2")
    await client.post("/items", json={"name": "x"})
    assert len(sim.log) == 2
    assert sim.log.count("GET", "/items") == 1
    [write] = sim.log.writes
    assert write.method == "POST" and write.status == 201 and write.json() == {"name": "x"}
    assert sim.log.entries[0].query == {"page": "2"}


async def test_server_error_fires_n_times_then_recovers(aiohttp_client) -> None:
    sim = EchoSim()
    sim.inject_server_error(times=2, status=502)
    client = await aiohttp_client(sim.app())
    statuses = [(await client.get("/items")).status for _ in range(3)]
    assert statuses == [502, 502, 200]
    assert [e.fault for e in sim.log.entries] == ["http_502", "http_502", None]
    assert sim.faults.pending() == 0


async def test_fault_matches_method_and_path_only(aiohttp_client) -> None:
    sim = EchoSim()
    sim.inject_server_error(times=1, status=500, method="POST", path="/items")
    client = await aiohttp_client(sim.app())
    assert (await client.get("/items")).status == 200
    assert (await client.post("/items", json={})).status == 500
    assert (await client.post("/items", json={})).status == 201


async def test_html_error_page_is_html(aiohttp_client) -> None:
    sim = EchoSim()
    sim.inject_html_error(status=502)
    client = await aiohttp_client(sim.app())
    answer = await client.get("/items")
    assert answer.status == 502
    assert answer.content_type == "text/html"
    assert "<h1>502 Bad Gateway</h1>" in await answer.text()


async def test_truncated_json_is_the_real_answer_cut(aiohttp_client) -> None:
    sim = EchoSim()
    sim.inject_truncated_json()
    client = await aiohttp_client(sim.app())
    answer = await client.get("/items")
    body = await answer.read()
    assert answer.status == 200 and answer.content_type == "application/json"
    assert body.startswith(b'[{"id": 0')
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(body)
    assert len(orjson.loads(await (await client.get("/items")).read())) == 20


async def test_disconnect_drops_the_connection(aiohttp_client) -> None:
    sim = EchoSim()
    sim.inject_disconnect()
    client = await aiohttp_client(sim.app())
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await client.get("/items")
    assert (await client.get("/items")).status == 200


async def test_delay_answers_late(aiohttp_client) -> None:
    sim = EchoSim()
    sim.inject_delay(0.3)
    client = await aiohttp_client(sim.app())
    with pytest.raises(asyncio.TimeoutError):
        await client.get("/items", timeout=aiohttp.ClientTimeout(total=0.05))
    await asyncio.sleep(0.3)
    assert (await client.get("/items")).status == 200


async def test_post_webhook_sends_raw_bytes_and_headers(aiohttp_server) -> None:
    seen: list[tuple[bytes, str]] = []

    async def receive(request: web.Request) -> web.Response:
        seen.append((await request.read(), request.headers["X-Sig"]))
        return web.Response(status=202, text="queued")

    app = web.Application()
    app.router.add_post("/hook", receive)
    server = await aiohttp_server(app)
    delivery = Delivery({"X-Sig": "abc", "Content-Type": "application/json"}, b'{"a": 1}')
    result = await post_webhook(str(server.make_url("/hook")), delivery)
    assert (result.status, result.text) == (202, "queued")
    assert seen == [(b'{"a": 1}', "abc")]
