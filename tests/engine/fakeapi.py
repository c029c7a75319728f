"""A generic fake provider for the interpreter's tests, served by aiohttp_server.

Records are ``{"id": i, "name": "item i", "updated": <i minutes after 2025-01-01>}`` for
``i < total``; ``total`` travels in the request (query, JSON body or GraphQL variables) so
one stateless server answers every property example.

Pagination routes (``/paged/<type>``): offset, page_number, link_header, cursor (query),
cursor_body (JSON body, Notion-like), cursor_header, is_last (Jira-like), next_url
(MS Graph-like), /graphql (Relay), loop (a cursor that never changes).
Auth routes (``/auth/<type>``): bearer, basic, api_key_header, api_key_query, header, query,
oauth2 (tokens from ``/oauth/token``, refresh tokens rotate).
Faults: ``api.script(path, answer, ...)`` makes the next requests to ``path`` get the given
answers before the real handler runs; /html, /text, /truncated and /cut answer broken bodies.
Writes: a Jira-like /issues API with transitions. Everything seen is in ``api.requests``.
"""

from __future__ import annotations

import asyncio
import base64
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from aiohttp import web

from engine.auth import register as register_auth
from engine.pagination import register as register_pagination
from engine.provider import Provider
from engine.registry import Registry
from engine.spec.models import ProviderSpec
from engine.templating import Templates

START = datetime(2025, 1, 1, tzinfo=UTC)
BEARER = "good-token-123"
API_KEY = "key-abc-123"
USER, PASSWORD = "me@example.com", "pass-word-1"
CLIENT_ID, CLIENT_SECRET = "client-1", "client-secret-1"


def record(i: int) -> dict[str, Any]:
    moment = START + timedelta(minutes=i)
    return {"id": i, "name": f"item {i}", "updated": moment.isoformat().replace("+00:00", "Z")}


def records(start: int, stop: int) -> list[dict[str, Any]]:
    return [record(i) for i in range(start, stop)]


def encode(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode()


def decode(token: str | None) -> int:
    return int(base64.urlsafe_b64decode(token.encode()).decode()[2:]) if token else 0


def answer(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    body = orjson.dumps(payload)
    return web.Response(body=body, status=status, content_type="application/json", headers=headers)


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


@dataclass
class Scripted:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


class FakeApi:
    def __init__(self) -> None:
        self.requests: list[Seen] = []
        self.scripts: dict[str, list[Scripted]] = {}
        self.refresh_token = "rt-0"
        self.access_tokens: set[str] = set()
        self.issued = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.transitions: list[tuple[str, str]] = []

    # ---- inspection and scripting -------------------------------------------------------
    def count(self, path: str, method: str | None = None) -> int:
        return sum(1 for r in self.requests if r.path == path and method in (None, r.method))

    def script(self, path: str, *answers: Scripted) -> None:
        self.scripts.setdefault(path, []).extend(answers)

    def expire_tokens(self) -> None:
        self.access_tokens.clear()

    # ---- the application ----------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        get, post = app.router.add_get, app.router.add_post
        get("/paged/offset", self.offset)
        get("/paged/page_number", self.page_number)
        get("/paged/link_header", self.link_header)
        get("/paged/cursor", self.cursor)
        post("/paged/cursor_body", self.cursor_body)
        get("/paged/cursor_header", self.cursor_header)
        get("/paged/is_last", self.is_last)
        get("/paged/next_url", self.next_url)
        post("/graphql", self.graphql)
        get("/paged/loop", self.loop)
        get("/data", self.data)
        get("/slow", self.slow)
        get("/html", self.html)
        get("/text", self.text)
        get("/truncated", self.truncated)
        get("/cut", self.cut)
        get("/repos", self.repos)
        get("/repos/{repo}/items", self.repo_items)
        get("/items/{id}/comments", self.comments)
        for kind in ("bearer", "basic", "api_key_header", "api_key_query", "header", "query"):
            get(f"/auth/{kind}", self.auth_check)
        get("/auth/oauth2", self.oauth2_check)
        post("/oauth/token", self.token)
        post("/issues", self.create_issue)
        get("/issues/{key}/transitions", self.list_transitions)
        post("/issues/{key}/transitions", self.do_transition)
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        body = await request.read() if request.can_read_body else b""
        self.requests.append(
            Seen(request.method, request.path, dict(request.query), dict(request.headers), body)
        )
        queued = self.scripts.get(request.path)
        if queued:
            scripted = queued.pop(0)
            payload = scripted.body
            raw = payload if isinstance(payload, bytes) else orjson.dumps(payload)
            return web.Response(
                body=raw,
                status=scripted.status,
                headers={"Content-Type": scripted.content_type, **scripted.headers},
            )
        response: web.StreamResponse = await handler(request)
        return response

    # ---- pagination ---------------------------------------------------------------------
    async def offset(self, request: web.Request) -> web.Response:
        total, q = int(request.query["total"]), request.query
        start, limit = int(q.get("offset", 0)), int(q.get("limit", 10))
        body: dict[str, Any] = {"items": records(start, min(total, start + limit))}
        if q.get("with_total"):
            body["total"] = total
        return answer(body)

    async def page_number(self, request: web.Request) -> web.Response:
        total, q = int(request.query["total"]), request.query
        page, size = int(q.get("page", 1)), int(q.get("per_page", 10))
        start = (page - 1) * size
        pages = math.ceil(total / size)
        return answer({"items": records(start, min(total, start + size)), "total_pages": pages})

    async def link_header(self, request: web.Request) -> web.Response:
        total, q = int(request.query["total"]), request.query
        page, size = int(q.get("page", 1)), int(q.get("per_page", 10))
        start = (page - 1) * size
        headers = {}
        if start + size < total:
            following = request.url.update_query(page=str(page + 1))
            last = request.url.update_query(page=str(math.ceil(total / size)))
            headers["Link"] = f'<{following}>; rel="next", <{last}>; rel="last"'
        return answer(records(start, min(total, start + size)), headers=headers)

    async def cursor(self, request: web.Request) -> web.Response:
        total, q = int(request.query["total"]), request.query
        start, limit = decode(q.get("cursor")), int(q.get("limit", 10))
        end = min(total, start + limit)
        more = end < total
        return answer(
            {"items": records(start, end), "next": encode(end) if more else None, "more": more}
        )

    async def cursor_body(self, request: web.Request) -> web.Response:
        query = await request.json()
        total, start = int(query["total"]), decode(query.get("start_cursor"))
        end = min(total, start + int(query.get("page_size", 10)))
        more = end < total
        return answer(
            {"results": records(start, end), "next_cursor": encode(end) if more else None,
             "has_more": more}
        )  # fmt: skip

    async def cursor_header(self, request: web.Request) -> web.Response:
        total, q = int(request.query["total"]), request.query
        start, limit = decode(q.get("after")), int(q.get("limit", 10))
        end = min(total, start + limit)
        headers = {"X-Next-Cursor": encode(end)} if end < total else {}
        return answer(records(start, end), headers=headers)

    async def is_last(self, request: web.Request) -> web.Response:
        total, q = int(request.query["total"]), request.query
        start, size = decode(q.get("nextPageToken")), int(q.get("maxResults", 10))
        end = min(total, start + size)
        # Like Jira: the flag is what says stop; a token is present even on the last page.
        return answer({"issues": records(start, end), "nextPageToken": encode(end),
                       "isLast": end >= total})  # fmt: skip

    async def next_url(self, request: web.Request) -> web.Response:
        total, q = int(request.query["total"]), request.query
        skip, top = int(q.get("$skip", 0)), int(q.get("$top", 10))
        body: dict[str, Any] = {"value": records(skip, min(total, skip + top))}
        if skip + top < total:
            body["@odata.nextLink"] = str(request.url.update_query({"$skip": str(skip + top)}))
        return answer(body)

    async def graphql(self, request: web.Request) -> web.Response:
        query = await request.json()
        variables = query.get("variables") or {}
        total, start = int(variables["total"]), decode(variables.get("after"))
        end = min(total, start + int(variables.get("first", 10)))
        page_info = {"hasNextPage": end < total, "endCursor": encode(end) if end else None}
        return answer({"data": {"items": {"nodes": records(start, end), "pageInfo": page_info}}})

    async def loop(self, request: web.Request) -> web.Response:
        return answer({"items": [record(1)], "next": "same-token"})

    # ---- plain data and broken bodies -----------------------------------------------------
    async def data(self, request: web.Request) -> web.Response:
        return answer({"items": records(0, 3), "login": "octo"})

    async def slow(self, request: web.Request) -> web.Response:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(float(request.query.get("seconds", "0.02")))
        finally:
            self.in_flight -= 1
        return answer({"items": [record(int(request.query.get("n", 0)))]})

    async def html(self, request: web.Request) -> web.Response:
        return web.Response(text="<html><body>Sign in</body></html>", content_type="text/html")

    async def text(self, request: web.Request) -> web.Response:
        return web.Response(text="all good", content_type="text/plain")

    async def truncated(self, request: web.Request) -> web.Response:
        return web.Response(body=b'{"items": [{"id": 1}, {"id"', content_type="application/json")

    async def cut(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.content_length = 1000
        await response.prepare(request)
        await response.write(b'{"items": [')
        assert request.transport is not None
        request.transport.close()
        return response

    # ---- partitions and parents -----------------------------------------------------------
    async def repos(self, request: web.Request) -> web.Response:
        return answer([{"name": "alpha"}, {"name": "beta"}, {"name": "alpha"}])

    async def repo_items(self, request: web.Request) -> web.Response:
        repo = request.match_info["repo"]
        return answer([{"id": f"{repo}-{i}", "n": i} for i in range(3)])

    async def comments(self, request: web.Request) -> web.Response:
        parent = request.match_info["id"]
        count = sum(map(ord, parent)) % 3
        return answer([{"id": f"{parent}/c{j}", "on": parent} for j in range(count)])

    # ---- auth -----------------------------------------------------------------------------
    async def auth_check(self, request: web.Request) -> web.Response:
        kind = request.path.rsplit("/", 1)[-1]
        headers, query = request.headers, request.query
        basic = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        ok = {
            "bearer": headers.get("Authorization") == f"Bearer {BEARER}",
            "basic": headers.get("Authorization") == f"Basic {basic}",
            "api_key_header": headers.get("X-Api-Key") == API_KEY,
            "api_key_query": query.get("api_key") == API_KEY,
            "header": headers.get("Authorization") == API_KEY,
            "query": query.get("key") == API_KEY and query.get("token") == BEARER,
        }[kind]
        if not ok:
            return answer({"message": f"Bad credentials for {kind}"}, status=401)
        return answer({"user": {"login": f"{kind}-user"}, "items": records(0, 2)})

    async def oauth2_check(self, request: web.Request) -> web.Response:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if given not in self.access_tokens:
            return answer({"error": "invalid_token", "message": "token expired"}, status=401)
        return answer({"user": {"login": "oauth-user"}, "items": records(0, 2)})

    async def token(self, request: web.Request) -> web.Response:
        form = await request.post()
        client_id, secret = form.get("client_id"), form.get("client_secret")
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            client_id, secret = base64.b64decode(auth[6:]).decode().split(":", 1)
        if (client_id, secret) != (CLIENT_ID, CLIENT_SECRET):
            return answer({"error": "invalid_client", "error_description": "bad client"}, 401)
        grant = form.get("grant_type")
        if grant == "refresh_token" and form.get("refresh_token") != self.refresh_token:
            return answer({"error": "invalid_grant", "error_description": "refresh token revoked"},
                          400)  # fmt: skip
        self.issued += 1
        token = f"at-{self.issued}"
        self.access_tokens.add(token)
        body: dict[str, Any] = {"access_token": token, "token_type": "Bearer", "expires_in": 3600}
        if grant == "refresh_token":
            self.refresh_token = body["refresh_token"] = f"rt-{self.issued}"
        return answer(body)

    # ---- writes (Jira-like) ---------------------------------------------------------------
    async def create_issue(self, request: web.Request) -> web.Response:
        fields = (await request.json()).get("fields", {})
        if not fields.get("summary"):
            return answer({"errorMessages": [], "errors": {"summary": "Summary is required"}}, 400)
        return answer({"id": "10001", "key": "FAKE-1", "self": "http://x/issue/10001"}, 201)

    async def list_transitions(self, request: web.Request) -> web.Response:
        names = [("11", "To Do"), ("21", "In Progress"), ("31", "Done")]
        return answer({"transitions": [{"id": i, "name": n, "to": {"name": n}} for i, n in names]})

    async def do_transition(self, request: web.Request) -> web.Response:
        chosen = (await request.json())["transition"]["id"]
        self.transitions.append((request.match_info["key"], chosen))
        return web.Response(status=204)


async def serve(aiohttp_server: Any) -> tuple[FakeApi, str]:
    """A fresh FakeApi on a real local socket; its base URL without a trailing slash."""
    api = FakeApi()
    server = await aiohttp_server(api.app())
    return api, str(server.make_url("")).rstrip("/")


class FakeClock:
    """A clock whose sleeps return at once and move time forward."""

    def __init__(self, start: float = 1_750_000_000.0) -> None:
        self.time = start
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.time

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.time += seconds
        await asyncio.sleep(0)


def registry() -> Registry:
    """A registry with the interpreter's strategies (auth and pagination)."""
    found = Registry()
    register_auth(found)
    register_pagination(found)
    return found


def provider(
    streams: dict[str, Any] | None = None,
    auth: dict[str, Any] | None = None,
    fields: list[dict[str, Any]] | None = None,
    registry_: Registry | None = None,
    **extra: Any,
) -> Provider:
    """A Provider built from a dict (the loader's job in production; no YAML here)."""
    data: dict[str, Any] = {
        "name": "fake",
        "title": "Fake",
        "category": "work_tracking",
        "base_url": "http://unused.invalid",
        "auth_modes": {
            "default": {
                "title": "Token",
                "fields": [{"name": "accessToken", "secret": True}] if fields is None else fields,
                "auth": auth or {"type": "bearer"},
            }
        },
        "rate_limit": {"backoff_base_seconds": 0.001, "backoff_max_seconds": 0.01},
        "test_connection": {"request": {"path": "/data"}, "identity_path": "$.login"},
        "streams": streams or {"data": {"request": {"path": "/data"}, "records_path": "items"}},
    }
    data.update(extra)
    used = registry_ or registry()
    with used.active():
        spec = ProviderSpec.model_validate(data, context={"registry": used})
    return Provider(spec, Templates())
