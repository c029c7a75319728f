"""Every paginator against a real local server: all records once, in order, then stop."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from engine.errors import PaginationLoopError
from engine.http import Connection
from engine.pagination import BUILTIN, CursorPaginator, parse_link_header
from tests.engine.fakeapi import BEARER, FakeApi, provider, registry, serve

TOTAL = "{{ config.total }}"

STREAMS: dict[str, dict[str, Any]] = {
    "none": {
        "request": {"path": "/paged/offset", "query": {"total": TOTAL, "limit": 1000}},
        "records_path": "items",
    },
    "offset_total": {
        "request": {"path": "/paged/offset", "query": {"total": TOTAL, "with_total": 1}},
        "records_path": "items",
        "pagination": {"type": "offset", "total_path": "total"},
    },
    "offset_short_page": {
        "request": {"path": "/paged/offset", "query": {"total": TOTAL}},
        "records_path": "items",
        "pagination": {"type": "offset"},
    },
    "page_number_total": {
        "request": {"path": "/paged/page_number", "query": {"total": TOTAL}},
        "records_path": "items",
        "pagination": {
            "type": "page_number",
            "page_size_param": "per_page",
            "total_pages_path": "total_pages",
        },
    },
    "page_number_short_page": {
        "request": {"path": "/paged/page_number", "query": {"total": TOTAL}},
        "records_path": "items",
        "pagination": {"type": "page_number", "page_size_param": "per_page"},
    },
    "link_header": {
        "request": {"path": "/paged/link_header", "query": {"total": TOTAL}},
        "records_path": "$",
        "pagination": {"type": "link_header", "page_size_param": "per_page"},
    },
    "cursor_query": {
        "request": {"path": "/paged/cursor", "query": {"total": TOTAL}},
        "records_path": "items",
        "pagination": {
            "type": "cursor",
            "cursor_path": "next",
            "cursor_param": "cursor",
            "has_more_path": "more",
            "page_size_param": "limit",
        },
    },
    "cursor_body": {
        "request": {
            "method": "POST",
            "path": "/paged/cursor_body",
            "body": {"total": TOTAL, "page_size": "{{ page.size }}"},
        },
        "records_path": "results",
        "pagination": {
            "type": "cursor",
            "cursor_path": "next_cursor",
            "cursor_body_path": "start_cursor",
            "has_more_path": "has_more",
        },
    },
    "cursor_header": {
        "request": {"path": "/paged/cursor_header", "query": {"total": TOTAL}},
        "records_path": "$",
        "pagination": {
            "type": "cursor",
            "cursor_header": "X-Next-Cursor",
            "cursor_param": "after",
            "page_size_param": "limit",
        },
    },
    "cursor_is_last": {
        "request": {
            "path": "/paged/is_last",
            "query": {"total": TOTAL, "maxResults": "{{ page.size }}"},
        },
        "records_path": "issues",
        "pagination": {
            "type": "cursor",
            "cursor_path": "nextPageToken",
            "cursor_param": "nextPageToken",
            "is_last_path": "isLast",
        },
    },
    "next_url": {
        "request": {
            "path": "/paged/next_url",
            "query": {"total": TOTAL, "$top": "{{ page.size }}"},
        },
        "records_path": "value",
        "pagination": {"type": "next_url", "next_url_path": "$['@odata.nextLink']"},
    },
    "graphql_relay": {
        "request": {
            "method": "POST",
            "path": "/graphql",
            "graphql": {
                "query": "query($after: String, $first: Int) { items { nodes { id } } }",
                "variables": {"total": TOTAL},
            },
        },
        "records_path": "data.items.nodes",
        "pagination": {
            "type": "graphql_relay",
            "page_info_path": "data.items.pageInfo",
            "page_size_variable": "first",
        },
    },
}

PAGINATED = [name for name in STREAMS if name != "none"]


def make_provider(name: str, page_size: int, **stream: Any) -> Any:
    spec = {**STREAMS[name], "page_size": page_size, **stream}
    return provider(streams={name: spec})


async def read_ids(
    base: str, name: str, total: int, page_size: int, session: aiohttp.ClientSession | None = None
) -> tuple[list[int], list[int]]:
    credentials = {"accessToken": BEARER, "baseUrl": base}
    conn = Connection(
        make_provider(name, page_size), credentials, {"total": total}, registry=registry(),
        session=session,
    )  # fmt: skip
    ids: list[int] = []
    sizes: list[int] = []
    async with conn:
        async for page in conn.read(name):
            ids.extend(r["id"] for r in page.records)
            sizes.append(len(page.records))
    return ids, sizes


@pytest.fixture
async def fake(aiohttp_server: Any) -> tuple[FakeApi, str]:
    return await serve(aiohttp_server)


@pytest.mark.parametrize("name", PAGINATED)
async def test_each_type_reads_every_record_once_in_order(fake: Any, name: str) -> None:
    api, base = fake
    ids, sizes = await read_ids(base, name, total=23, page_size=5)
    assert ids == list(range(23))
    assert sizes[:4] == [5, 5, 5, 5]
    assert sum(sizes) == 23
    # 5 pages of data; the short-page/empty-page rules may not need a 6th request
    assert len(api.requests) in (5, 6)


async def test_none_reads_one_page(fake: Any) -> None:
    api, base = fake
    ids, sizes = await read_ids(base, "none", total=30, page_size=5)
    assert ids == list(range(30)) and sizes == [30]
    assert len(api.requests) == 1


async def test_offset_stops_on_an_exact_multiple_with_one_empty_page(fake: Any) -> None:
    api, base = fake
    ids, sizes = await read_ids(base, "offset_short_page", total=10, page_size=5)
    assert ids == list(range(10))
    assert sizes == [5, 5, 0]
    assert [r.query["offset"] for r in api.requests] == ["0", "5", "10"]


async def test_total_based_types_need_no_extra_request(fake: Any) -> None:
    api, base = fake
    for name in ("offset_total", "page_number_total", "cursor_is_last", "graphql_relay"):
        api.requests.clear()
        ids, _ = await read_ids(base, name, total=10, page_size=5)
        assert ids == list(range(10))
        assert len(api.requests) == 2, name


async def test_link_header_follows_the_url_verbatim(fake: Any) -> None:
    api, base = fake
    await read_ids(base, "link_header", total=7, page_size=3)
    assert [r.query.get("page") for r in api.requests] == [None, "2", "3"]
    assert all(r.query["per_page"] == "3" for r in api.requests)


async def test_cursor_in_a_json_body(fake: Any) -> None:
    api, base = fake
    await read_ids(base, "cursor_body", total=5, page_size=2)
    bodies = [r.body for r in api.requests]
    assert b"start_cursor" not in bodies[0]
    assert all(b'"start_cursor"' in b for b in bodies[1:])


@pytest.mark.parametrize("name", [*PAGINATED, "none"])
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],  # the server is stateless
)
@given(total=st.integers(0, 500), page_size=st.integers(1, 100))
async def test_property_every_record_exactly_once_in_order(
    fake: Any, name: str, total: int, page_size: int
) -> None:
    _, base = fake
    ids, _ = await read_ids(base, name, total, page_size)
    assert ids == list(range(total))


async def test_a_repeated_cursor_is_a_loop_error(fake: Any) -> None:
    api, base = fake
    spec = {
        "request": {"path": "/paged/loop"},
        "records_path": "items",
        "pagination": {"type": "cursor", "cursor_path": "next", "cursor_param": "c"},
    }
    conn = Connection(
        provider(streams={"loop": spec}), {"accessToken": "t0k3n", "baseUrl": base},
        registry=registry(),
    )  # fmt: skip
    pages = 0
    async with conn:
        with pytest.raises(PaginationLoopError) as caught:
            async for _ in conn.read("loop"):
                pages += 1
    assert pages == 1  # the second answer repeats the token: it fails before being yielded
    error = caught.value
    assert error.stream == "loop" and error.provider == "fake"  # type: ignore[attr-defined]
    assert "same-token" in str(error) and "/paged/loop" in str(error)
    assert len(api.requests) == 2


async def test_max_pages_stops_early(fake: Any) -> None:
    api, base = fake
    conn = Connection(
        make_provider("cursor_query", 2, max_pages=3), {"accessToken": "t0k3n", "baseUrl": base},
        {"total": 100}, registry=registry(),
    )  # fmt: skip
    async with conn:
        pages = [page async for page in conn.read("cursor_query")]
    assert [p.page_number for p in pages] == [1, 2, 3]
    assert len(api.requests) == 3


async def test_empty_page_with_a_token_continues_when_configured(fake: Any) -> None:
    from tests.engine.fakeapi import Scripted, encode

    api, base = fake
    api.script("/paged/cursor", Scripted(200, {"items": [], "next": encode(0), "more": True}))
    for stop, expected in ((True, []), (False, list(range(4)))):
        pagination = {**STREAMS["cursor_query"]["pagination"], "stop_on_empty_page": stop}
        conn = Connection(
            make_provider("cursor_query", 10, pagination=pagination),
            {"accessToken": "t0k3n", "baseUrl": base}, {"total": 4}, registry=registry(),
        )  # fmt: skip
        async with conn:
            ids = [r["id"] async for page in conn.read("cursor_query") for r in page.records]
        assert ids == expected
        api.script("/paged/cursor", Scripted(200, {"items": [], "next": encode(0), "more": True}))


def test_link_header_parsing() -> None:
    value = '<https://a/x?page=2>; rel="next", <https://a/x?page=5>; rel="last"'
    assert parse_link_header(value) == {"next": "https://a/x?page=2", "last": "https://a/x?page=5"}
    assert parse_link_header('<https://a/y>; rel="prev next"')["next"] == "https://a/y"
    assert parse_link_header("") == {}


def test_cursor_config_needs_one_source_and_one_target() -> None:
    with pytest.raises(ValidationError, match="exactly one of cursor_path, cursor_header"):
        CursorPaginator.Config.model_validate({"cursor_param": "c"})
    with pytest.raises(ValidationError, match="exactly one of cursor_param, cursor_body_path"):
        CursorPaginator.Config.model_validate({"cursor_path": "next"})
    with pytest.raises(ValidationError, match="not a plain path"):
        CursorPaginator.Config.model_validate({"cursor_path": "next", "cursor_body_path": "$.a[*]"})


def test_unknown_type_lists_the_valid_names() -> None:
    with pytest.raises(ValidationError) as caught:
        provider(streams={"s": {"request": {}, "pagination": {"type": "linkheader"}}})
    text = str(caught.value)
    assert "unknown pagination type 'linkheader'" in text
    assert "cursor, graphql_relay, link_header, next_url, none, offset, page_number" in text


def test_misplaced_key_is_rejected() -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        provider(streams={"s": {"request": {}, "pagination": {"type": "offset", "size": 3}}})


def test_pages_named_by_position_say_so() -> None:
    """An item moving during the walk shifts position-named pages (engine.sync.checkpoint)."""
    by_position = {cls.Config.model_fields["type"].default for cls in BUILTIN if cls.position_based}
    assert by_position == {"link_header", "offset", "page_number"}
