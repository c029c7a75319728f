"""Shared machinery of the provider simulators.

A simulator is an in-memory state object (``GitHubSim``, ``JiraSim``, ``LinearSim``) plus an
aiohttp application built from it by ``sim.app()``. Everything provider-neutral lives here:

    SimClock        the settable "now" every write is stamped with
    RequestLog      every request the app answered (method, path, query, headers, body, status)
    FaultQueue      injected failures: the next N matching requests answer 429 / 5xx / an HTML
                    page / a truncated body / a dropped connection / a slow answer
    BaseSim         middleware tying the three together; subclasses add routes and auth
    serve()         runs a simulator on 127.0.0.1 with web.AppRunner and yields its base URL
    Delivery        one signed webhook delivery (headers + raw body) and ``post_webhook``
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from aiohttp import web

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PRINCIPAL = web.RequestKey("principal", str)  # who the request authenticated as


def load_fixture(relative: str) -> Any:
    """A JSON payload copied into tests/fixtures (never read from shared/ at run time)."""
    return orjson.loads((FIXTURES / relative).read_bytes())


def parse_iso(value: str) -> datetime:
    """ISO 8601 with ``Z`` or an offset (``+0000`` too) -> aware UTC datetime."""
    text = value.strip().replace("Z", "+00:00")
    if len(text) > 5 and text[-5] in "+-" and text[-3] != ":":
        text = f"{text[:-2]}:{text[-2:]}"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def hmac_sha256_hex(secret: str | bytes, body: bytes) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def json_response(
    payload: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return raw_json_response(orjson.dumps(payload), status, headers)


def raw_json_response(
    body: bytes, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    all_headers = {"Content-Type": "application/json; charset=utf-8"}
    all_headers.update(headers or {})
    return web.Response(body=body, status=status, headers=all_headers)


class SimClock:
    """The simulator's notion of now. Writes take ``tick()``: now, then now += step."""

    def __init__(self, start: datetime | None = None, step: timedelta = timedelta(seconds=1)):
        base = start or datetime.now(UTC).replace(microsecond=0)
        self.now: datetime = base.astimezone(UTC)
        self.step = step

    def tick(self) -> datetime:
        stamp = self.now
        self.now = self.now + self.step
        return stamp

    def advance(self, **delta: float) -> datetime:
        self.now = self.now + timedelta(**delta)
        return self.now

    def set(self, when: datetime | str) -> None:
        self.now = parse_iso(when) if isinstance(when, str) else when.astimezone(UTC)


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    status: int = 0
    fault: str | None = None

    def json(self) -> Any:
        return orjson.loads(self.body) if self.body else None


class RequestLog:
    """Every request a simulator answered, in order."""

    def __init__(self) -> None:
        self.entries: list[RecordedRequest] = []

    def __len__(self) -> int:
        return len(self.entries)

    def count(self, method: str | None = None, path: str | None = None) -> int:
        return len(self.matching(method, path))

    def matching(self, method: str | None = None, path: str | None = None) -> list[RecordedRequest]:
        """Entries with this method and a path starting with ``path`` (both optional)."""
        return [
            e
            for e in self.entries
            if (method is None or e.method == method.upper())
            and (path is None or e.path.startswith(path))
        ]

    @property
    def writes(self) -> list[RecordedRequest]:
        """Requests that may change state (anything but GET/HEAD/OPTIONS) that succeeded."""
        return [
            e
            for e in self.entries
            if e.method not in ("GET", "HEAD", "OPTIONS") and 200 <= e.status < 300
        ]

    def clear(self) -> None:
        self.entries.clear()


@dataclass
class Fault:
    """Answer the next ``remaining`` matching requests with ``respond`` instead of the handler."""

    kind: str
    remaining: int
    respond: Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]
    method: str | None = None
    path: str | None = None

    def matches(self, request: web.Request) -> bool:
        return (
            self.remaining > 0
            and (self.method is None or request.method == self.method.upper())
            and (self.path is None or request.path.startswith(self.path))
        )


class FaultQueue:
    """Injected failures, first matching one wins; each fires ``remaining`` times."""

    def __init__(self) -> None:
        self.faults: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        self.faults.append(fault)
        return fault

    def take(self, request: web.Request) -> Fault | None:
        for fault in self.faults:
            if fault.matches(request):
                fault.remaining -= 1
                if fault.remaining == 0:
                    self.faults.remove(fault)
                return fault
        return None

    def pending(self) -> int:
        return sum(f.remaining for f in self.faults)

    def clear(self) -> None:
        self.faults.clear()


HTML_ERROR_PAGE = (
    "<!DOCTYPE html>\n<html><head><title>{status} {reason}</title></head>\n"
    "<body><h1>{status} {reason}</h1><p>The server encountered a temporary error and could"
    " not complete your request.</p></body></html>\n"
)


async def _truncate(request: web.Request, handler: Handler) -> web.StreamResponse:
    answer = await handler(request)
    if not isinstance(answer, web.Response) or answer.body is None:
        return answer
    body = bytes(answer.body)  # type: ignore[arg-type]
    cut = body[: max(1, len(body) // 2)]
    return web.Response(body=cut, status=200, headers={"Content-Type": answer.content_type})


async def _disconnect(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.transport is not None:
        request.transport.abort()
    raise asyncio.CancelledError  # nothing is sent: the client sees a dropped connection


class BaseSim:
    """Clock, request log, fault queue and the middleware that applies them.

    Subclasses implement ``_routes(app)``, may override ``_gate(request)`` (auth and other
    checks made before any handler) and ``_decorate(request, response)`` (headers such as
    rate-limit counters added to every answer). Injected faults fire before the gate.
    """

    def __init__(self, clock: SimClock | None = None) -> None:
        self.clock = clock or SimClock()
        self.log = RequestLog()
        self.faults = FaultQueue()

    # ---- the application -------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware], client_max_size=32 * 1024**2)
        self._routes(app)
        return app

    def _routes(self, app: web.Application) -> None:
        raise NotImplementedError

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        body = await request.read() if request.can_read_body else b""
        entry = RecordedRequest(
            request.method, request.path, dict(request.query), dict(request.headers), body
        )
        self.log.entries.append(entry)
        fault = self.faults.take(request)
        entry.fault = fault.kind if fault else None
        try:
            if fault is not None:
                response = await fault.respond(request, handler)
            else:
                response = self._gate(request) or await handler(request)
        except web.HTTPException as exc:
            response = exc
        self._decorate(request, response)
        entry.status = response.status
        return response

    def _gate(self, request: web.Request) -> web.StreamResponse | None:
        """Checks before any handler (auth, required headers, rate budget): an answer or None."""
        return None

    def _decorate(self, request: web.Request, response: web.StreamResponse) -> None:
        """Headers every answer carries (rate-limit counters); none by default."""

    # ---- fault injection (provider-neutral) ------------------------------------------------
    def inject(
        self,
        kind: str,
        respond: Callable[[web.Request, Handler], Awaitable[web.StreamResponse]],
        times: int = 1,
        method: str | None = None,
        path: str | None = None,
    ) -> Fault:
        return self.faults.add(Fault(kind, times, respond, method, path))

    def inject_server_error(
        self, times: int = 1, status: int = 503, method: str | None = None, path: str | None = None
    ) -> Fault:
        async def respond(request: web.Request, handler: Handler) -> web.StreamResponse:
            return self._server_error(status)

        return self.inject(f"http_{status}", respond, times, method, path)

    def inject_html_error(
        self, times: int = 1, status: int = 502, method: str | None = None, path: str | None = None
    ) -> Fault:
        """An HTML error page (a proxy's or load balancer's), not the provider's JSON."""

        async def respond(request: web.Request, handler: Handler) -> web.StreamResponse:
            html = HTML_ERROR_PAGE.format(status=status, reason=HTTPStatus(status).phrase)
            return web.Response(text=html, status=status, content_type="text/html")

        return self.inject("html_error", respond, times, method, path)

    def inject_truncated_json(
        self, times: int = 1, method: str | None = None, path: str | None = None
    ) -> Fault:
        """The real answer, cut in half, served as a 200 application/json."""
        return self.inject("truncated_json", _truncate, times, method, path)

    def inject_disconnect(
        self, times: int = 1, method: str | None = None, path: str | None = None
    ) -> Fault:
        """Drop the connection without answering (the client sees a server disconnect)."""
        return self.inject("disconnect", _disconnect, times, method, path)

    def inject_delay(
        self, seconds: float, times: int = 1, method: str | None = None, path: str | None = None
    ) -> Fault:
        """Answer normally after ``seconds`` (for client timeouts)."""

        async def respond(request: web.Request, handler: Handler) -> web.StreamResponse:
            await asyncio.sleep(seconds)
            return await handler(request)

        return self.inject("delay", respond, times, method, path)

    def _server_error(self, status: int) -> web.StreamResponse:
        return json_response({"message": "Server Error"}, status)


@asynccontextmanager
async def serve(sim: BaseSim, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
    """Run ``sim`` on a real socket; yields its base URL (``http://127.0.0.1:PORT``)."""
    runner = web.AppRunner(sim.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound_host, bound_port = runner.addresses[0][:2]
    try:
        yield f"http://{bound_host}:{bound_port}"
    finally:
        await runner.cleanup()


@dataclass
class Delivery:
    """One webhook delivery: exactly the bytes and headers the provider would send."""

    headers: dict[str, str]
    body: bytes
    payload: dict[str, Any] = field(default_factory=dict)

    @property
    def delivery_id(self) -> str | None:
        for name in ("X-GitHub-Delivery", "Linear-Delivery", "X-Atlassian-Webhook-Identifier"):
            if name in self.headers:
                return self.headers[name]
        return None


@dataclass
class DeliveryResult:
    status: int
    text: str
    headers: dict[str, str]


def encode_webhook_body(payload: dict[str, Any]) -> bytes:
    """Providers' own JSON text (``", "`` separators), so a receiver that re-serialises the
    parsed body instead of hashing the raw bytes computes a different signature."""
    return json.dumps(payload, ensure_ascii=False).encode()


async def post_webhook(
    url: str,
    delivery: Delivery,
    session: aiohttp.ClientSession | None = None,
    timeout: float = 10.0,
) -> DeliveryResult:
    """POST ``delivery`` to ``url`` like the provider does; returns the receiver's answer."""
    own = session is None
    client = session or aiohttp.ClientSession()
    try:
        async with client.post(
            url,
            data=delivery.body,
            headers=delivery.headers,
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as answer:
            return DeliveryResult(answer.status, await answer.text(), dict(answer.headers))
    finally:
        if own:
            await client.close()
