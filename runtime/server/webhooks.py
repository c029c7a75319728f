"""``/webhooks/{integrationId}``: provider deliveries, unauthenticated, verified by the engine.

POST carries deliveries and most handshakes (Slack url_verification, Asana X-Hook-Secret,
Microsoft Graph's ``validationToken``); HEAD is Trello's check of its callback URL. The
route hands the raw bytes, headers, query and the public URL the provider called (Trello
signs it) to ``Engine.receive_webhook`` and answers what it says. The engine commits a
verified delivery before this answer goes out; the worker applies it afterwards.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from engine.intake import WebhookResponse
from engine.webhooks.request import InboundRequest
from runtime.server.state import ENGINE, METRICS, ROUTE, SETTINGS, WORKER

ROUTE_PATH = "/webhooks/{integration_id}"


async def receive(request: web.Request) -> web.Response:
    request[ROUTE] = "webhook"
    body = await request.read()
    url = request.app[SETTINGS].base_url + str(request.rel_url)
    inbound = InboundRequest.build(request.method, url, dict(request.headers), body)
    answer = await request.app[ENGINE].receive_webhook(
        request.match_info["integration_id"], inbound
    )
    _count(request, answer)
    return to_response(answer)


def _count(request: web.Request, answer: WebhookResponse) -> None:
    metrics = request.app[METRICS]
    if not answer.accepted:
        metrics.webhooks_rejected.labels(status=str(answer.status)).inc()
        return
    if answer.webhook_id is None or answer.duplicate:
        return  # a handshake, or a delivery already stored
    metrics.webhooks_received.inc()
    worker = request.app.get(WORKER)
    if worker is not None and answer.kind == "accepted":  # "ignored" ones need no work
        worker.wake()


def to_response(answer: WebhookResponse) -> web.Response:
    body, content_type = _encode(answer.body, answer.content_type)
    headers = dict(answer.headers)
    if body:
        headers.setdefault("Content-Type", content_type)
    return web.Response(status=answer.status, body=body, headers=headers)


def _encode(body: Any, content_type: str) -> tuple[bytes, str]:
    if body is None:
        return b"", content_type
    if isinstance(body, bytes):
        return body, content_type
    if isinstance(body, str):
        return body.encode(), content_type
    return orjson.dumps(body, default=str), "application/json"


def setup(app: web.Application) -> None:
    app.router.add_post(ROUTE_PATH, receive, name="webhook")
    app.router.add_route("HEAD", ROUTE_PATH, receive, name="webhook-head")
