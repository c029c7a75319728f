"""Streams: records, filters, partitions, parents, cursors, concurrency, limits, memory."""

from __future__ import annotations

import gc
import tracemalloc
import weakref
from contextlib import aclosing
from typing import Any

import pytest

from engine.errors import ConfigError, TransientError
from engine.http import Connection
from engine.reader import Page, extract_records, max_cursor, render_cursor
from engine.spec.models import CursorSpec
from tests.engine.fakeapi import BEARER, FakeApi, Scripted, provider, registry, serve

CURSOR_PAGES = {
    "request": {"path": "/paged/cursor", "query": {"total": "{{ config.total }}"}},
    "records_path": "items",
    "pagination": {
        "type": "cursor",
        "cursor_path": "next",
        "cursor_param": "cursor",
        "page_size_param": "limit",
    },
}


@pytest.fixture
async def fake(aiohttp_server: Any) -> tuple[FakeApi, str]:
    return await serve(aiohttp_server)


def connect(base: str, streams: dict[str, Any], config: dict[str, Any] | None = None, **kw: Any):
    return Connection(
        provider(streams=streams, **kw), {"accessToken": BEARER, "baseUrl": base}, config,
        registry=registry(),
    )  # fmt: skip


async def collect(conn: Connection, stream: str, **kw: Any) -> list[Page]:
    async with conn:
        return [page async for page in conn.read(stream, **kw)]


async def test_records_path_and_record_filter(fake: Any) -> None:
    _, base = fake
    streams = {"d": {"request": {"path": "/data"}, "records_path": "$.items[*]",
                     "record_filter": "{{ record.id != 1 and config.keep }}"}}  # fmt: skip
    pages = await collect(connect(base, streams, {"keep": True}), "d")
    assert [[r["id"] for r in p.records] for p in pages] == [[0, 2]]
    assert (pages[0].stream, pages[0].page_number, pages[0].partition) == ("d", 1, None)


async def test_partitions_from_values(fake: Any) -> None:
    api, base = fake
    streams = {"items": {"request": {"path": "/repos/{{ partition }}/items"},
                         "partitions": {"values": "{{ config.repos }}"}}}  # fmt: skip
    pages = await collect(connect(base, streams, {"repos": ["x", "y"]}), "items")
    assert [(p.partition, [r["id"] for r in p.records]) for p in pages] == [
        ("x", ["x-0", "x-1", "x-2"]),
        ("y", ["y-0", "y-1", "y-2"]),
    ]
    assert [r.path for r in api.requests] == ["/repos/x/items", "/repos/y/items"]


async def test_partitions_fall_back_to_another_streams_records(fake: Any) -> None:
    _, base = fake
    streams = {
        "repos": {"request": {"path": "/repos"}},
        "items": {
            "request": {"path": "/repos/{{ partition }}/items"},
            "partitions": {
                "values": "{{ config.get('repos') }}",
                "stream": "repos",
                "value": "{{ record.name }}",
            },
        },
    }
    pages = await collect(connect(base, streams, {}), "items")
    assert [p.partition for p in pages] == ["alpha", "beta"]  # "alpha" twice upstream
    pages = await collect(connect(base, streams, {}), "items", partition="gamma")
    assert [p.partition for p in pages] == ["gamma"]


async def test_parent_streams_one_child_request_per_parent(fake: Any) -> None:
    api, base = fake
    streams = {
        "issues": {"request": {"path": "/repos/{{ partition }}/items"},
                   "partitions": {"values": "{{ config.repos }}"}},
        "comments": {
            "request": {"path": "/items/{{ parent.id }}/comments",
                        "query": {"repo": "{{ partition }}"}},
            "parent": {"stream": "issues", "when": "{{ record.n != 1 and parent.n != 1 }}"},
        },
    }  # fmt: skip
    pages = await collect(connect(base, streams, {"repos": ["a", "b"]}), "comments")
    parents = [p.parent["id"] for p in pages]
    assert parents == ["a-0", "a-2", "b-0", "b-2"]
    for page in pages:
        assert all(c["on"] == page.parent["id"] for c in page.records)
        assert page.partition == page.parent["id"][0]
    children = [r for r in api.requests if r.path.startswith("/items/")]
    assert [(r.path, r.query["repo"]) for r in children] == [
        ("/items/a-0/comments", "a"), ("/items/a-2/comments", "a"),
        ("/items/b-0/comments", "b"), ("/items/b-2/comments", "b"),
    ]  # fmt: skip


async def test_concurrency_across_partitions_is_bounded(fake: Any) -> None:
    api, base = fake
    query = {"n": "{{ partition }}", "seconds": 0.03}
    parts = {"values": "{{ config.parts }}"}
    streams = {"slow": {"request": {"path": "/slow", "query": query}, "records_path": "items",
                        "partitions": parts, "concurrency": 3}}  # fmt: skip
    pages = await collect(connect(base, streams, {"parts": list(range(8))}), "slow")
    assert sorted(p.partition for p in pages) == list(range(8))
    assert all(p.records[0]["id"] == p.partition for p in pages)
    assert api.max_in_flight == 3


async def test_concurrent_failure_reaches_the_reader(fake: Any) -> None:
    api, base = fake
    api.script("/slow", Scripted(200, {"items": []}), Scripted(500, {"message": "down"}))
    streams = {"slow": {"request": {"path": "/slow", "query": {"n": "{{ partition }}"}},
                        "records_path": "items", "partitions": {"values": "{{ config.parts }}"},
                        "concurrency": 2}}  # fmt: skip
    conn = connect(base, streams, {"parts": list(range(6))}, rate_limit={"max_retries": 0})
    with pytest.raises(TransientError, match="down"):
        await collect(conn, "slow")


async def test_stopping_early_with_concurrency_cancels_the_workers(fake: Any) -> None:
    api, base = fake
    streams = {"slow": {"request": {"path": "/slow", "query": {"n": "{{ partition }}"}},
                        "records_path": "items", "partitions": {"values": "{{ config.parts }}"},
                        "concurrency": 2}}  # fmt: skip
    conn = connect(base, streams, {"parts": list(range(50))})
    async with conn, aclosing(conn.read("slow")) as pages:
        async for _ in pages:
            break
    assert api.count("/slow") < 10


async def test_limit_caps_records_and_requests(fake: Any) -> None:
    api, base = fake
    streams = {"c": {**CURSOR_PAGES, "page_size": 5}}
    pages = await collect(connect(base, streams, {"total": 23}), "c", limit=12)
    assert [len(p.records) for p in pages] == [5, 5, 2]
    assert api.count("/paged/cursor") == 3
    assert await collect(connect(base, streams, {"total": 23}), "c", limit=0) == []


async def test_cursor_and_window_enter_the_request(fake: Any) -> None:
    api, base = fake
    streams = {"d": {
        "request": {"path": "/data", "query": {
            "since": "{{ cursor }}",
            "jql": "updated >= '{{ cursor }}'"
                   "{{ ' AND updated < ' ~ window.end if window else '' }}",
        }},
        "records_path": "items",
        "cursor": {"field": "updated", "format": "%Y-%m-%d %H:%M", "overlap_seconds": 120},
    }}  # fmt: skip
    conn = connect(base, streams)
    await collect(conn, "d", cursor="2025-01-31T14:05:12.000+0000", window={"end": "2025-02-01"})
    assert api.requests[-1].query["since"] == "2025-01-31 14:03"
    assert api.requests[-1].query["jql"] == "updated >= '2025-01-31 14:03' AND updated < 2025-02-01"
    await collect(connect(base, {"d": {**streams["d"], "request": {"path": "/data",
                                       "query": {"since": "{{ cursor }}"}}}}), "d")  # fmt: skip
    assert "since" not in api.requests[-1].query


async def test_an_ignored_error_is_an_empty_page(fake: Any) -> None:
    api, base = fake
    api.script("/data", Scripted(404, {"message": "project gone"}))
    streams = {"d": {"request": {"path": "/data"}, "records_path": "items"}}
    pages = await collect(connect(base, streams, errors=[{"status": 404, "action": "ignore"}]), "d")
    assert [p.records for p in pages] == [[]]


async def test_unknown_stream_is_a_config_error(fake: Any) -> None:
    _, base = fake
    with pytest.raises(ConfigError, match="has no stream 'issue'; streams: data"):
        await collect(connect(base, {"data": {"request": {"path": "/data"}}}), "issue")


@pytest.mark.parametrize("concurrency", [1, 3])
async def test_pages_are_not_retained_while_reading(fake: Any, concurrency: int) -> None:
    _, base = fake
    streams = {"c": {**CURSOR_PAGES, "page_size": 20}}
    if concurrency > 1:
        streams = {"c": {**streams["c"], "partitions": {"values": "{{ config.parts }}"},
                         "concurrency": concurrency}}  # fmt: skip
    config = {"total": 2000, "parts": [1, 2, 3]}
    seen: list[weakref.ref[Page]] = []
    most_alive = 0
    async with connect(base, streams, config) as conn:
        async for page in conn.read("c"):
            seen.append(weakref.ref(page))
            del page
            most_alive = max(most_alive, sum(ref() is not None for ref in seen))
    pages = 100 * (3 if concurrency > 1 else 1)
    assert len(seen) == pages
    # the page in hand, the next one being built, and at most `concurrency` queued
    assert most_alive <= concurrency + 2


async def test_memory_does_not_grow_with_the_number_of_pages(fake: Any) -> None:
    _, base = fake
    streams = {"c": {**CURSOR_PAGES, "page_size": 50}}

    async def peak(total: int) -> int:
        gc.collect()
        tracemalloc.start()
        try:
            records = 0
            async with connect(base, streams, {"total": total}) as conn:
                async for page in conn.read("c"):
                    records += len(page.records)
            assert records == total
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small, large = await peak(500), await peak(10_000)  # 10 pages, then 200 pages
    assert large < small * 1.5 + 256 * 1024


def test_extract_records() -> None:
    data = {"a": {"list": [1, 2]}, "one": {"id": 1}, "rows": [{"x": [1]}, {"x": [2]}]}
    assert extract_records("a.list", data) == [1, 2]
    assert extract_records("one", data) == [{"id": 1}]
    assert extract_records("missing", data) == []
    assert extract_records("$.rows[*].x", data) == [[1], [2]]
    assert extract_records("$", [{"id": 1}]) == [{"id": 1}]
    assert extract_records("$", None) == []


def test_render_cursor() -> None:
    plain = CursorSpec(field="updated")
    overlap = CursorSpec(field="updated", overlap_seconds=60)
    jql = CursorSpec(field="updated", format="%Y-%m-%d %H:%M")
    assert render_cursor(plain, "2025-01-31T14:05:12Z") == "2025-01-31T14:05:12Z"
    assert render_cursor(overlap, "2025-01-31T14:05:12+01:00") == "2025-01-31T13:04:12Z"
    assert render_cursor(jql, "2025-01-31T14:05:12.000+0000") == "2025-01-31 14:05"
    assert render_cursor(overlap, "1512085950.000216") == "1512085890.000216"  # Slack ts
    assert render_cursor(overlap, 1738332312000) == 1738332252000  # epoch ms
    assert render_cursor(jql, 1738332312) == "2025-01-31 14:05"
    assert render_cursor(plain, "opaque-token") == "opaque-token"
    assert render_cursor(None, "anything") == "anything"
    assert render_cursor(overlap, None) is None and render_cursor(overlap, "") is None
    with pytest.raises(ConfigError, match="not a date or a number"):
        render_cursor(jql, "opaque-token")


def test_max_cursor_compares_instants() -> None:
    spec = CursorSpec(field="fields.updated")
    records = [
        {"fields": {"updated": "2025-01-31T14:05:12.000+0000"}},
        {"fields": {"updated": "2025-01-31T15:00:00Z"}},
        {"fields": {"updated": "2025-01-31T16:00:00+02:00"}},  # 14:00Z
        {"fields": {}},
    ]
    assert max_cursor(spec, records) == "2025-01-31T15:00:00Z"
    assert max_cursor(CursorSpec(field="ts"), [{"ts": "9.5"}, {"ts": "10.25"}]) == "10.25"
    assert max_cursor(spec, []) is None


YAML = """
name: acme
title: Acme
category: work_tracking
base_url: https://api.acme.invalid
headers: {X-Api-Version: "2024-01"}
auth_modes:
  token:
    title: API token
    fields: [{name: accessToken, secret: true}]
    auth: {type: bearer}
rate_limit: {max_retries: 1, backoff_base_seconds: 0.001}
errors:
  - when: "{{ response.errors[0].extensions.code == 'RATELIMITED' }}"
    action: retry
    retry_after: "0"
test_connection:
  request: {path: /data}
  identity_path: $.login
streams:
  nodes:
    request:
      method: POST
      path: /graphql
      graphql:
        query: "query($after: String, $first: Int) { items { nodes { id } } }"
        variables: {total: "{{ config.total }}"}
    records_path: data.items.nodes
    record_filter: "{{ record.id % 2 == 0 }}"
    cursor: {field: updated}
    page_size: 4
    pagination:
      type: graphql_relay
      page_info_path: $.data.items.pageInfo
      page_size_variable: first
"""


async def test_a_provider_loaded_from_yaml_reads_through_the_interpreter(fake: Any) -> None:
    from engine.spec.loader import load_provider_text

    api, base = fake
    used = registry()
    loaded = load_provider_text(YAML, "acme.yaml", used)
    api.script("/graphql", Scripted(200, {"errors": [{"extensions": {"code": "RATELIMITED"}}]}))
    conn = Connection(
        loaded, {"accessToken": BEARER, "baseUrl": base}, {"total": 10}, registry=used
    )
    async with conn:
        assert (await conn.test_connection()).identity == "octo"
        pages = [page async for page in conn.read("nodes")]
    assert [[r["id"] for r in p.records] for p in pages] == [[0, 2], [4, 6], [8]]
    assert max_cursor(loaded.spec.streams["nodes"], pages[-1].records) == "2025-01-01T00:08:00Z"
    assert api.count("/graphql") == 4  # one rate-limited answer, then three pages
    assert api.requests[-1].headers["X-Api-Version"] == "2024-01"
