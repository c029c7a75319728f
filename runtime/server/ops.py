"""Operations routes: liveness, readiness, Prometheus metrics, the OpenAPI document."""

from __future__ import annotations

import logging

from aiohttp import web

from engine.errors import error_class
from runtime.server.openapi import build_openapi
from runtime.server.responses import json_response
from runtime.server.state import ENGINE, METRICS, SETTINGS

log = logging.getLogger(__name__)
OPENAPI = web.AppKey("openapi", dict)


async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    try:
        ready = await request.app[ENGINE].ping()
    except Exception as exc:
        log.warning("store not reachable", extra={"error_class": error_class(exc)})
        ready = False
    if not ready:
        return json_response({"status": "unavailable", "store": False}, 503)
    return json_response({"status": "ready", "store": True})


async def metrics(request: web.Request) -> web.Response:
    registry = request.app[METRICS]
    try:
        registry.queue_depth.set(await request.app[ENGINE].webhook_backlog())
    except Exception as exc:  # the rest of the metrics are still worth serving
        log.warning("queue depth unavailable", extra={"error_class": error_class(exc)})
    response = web.Response(body=registry.render())
    response.headers["Content-Type"] = registry.content_type
    return response


async def openapi(request: web.Request) -> web.Response:
    return json_response(request.app[OPENAPI])


def setup(app: web.Application) -> None:
    app[OPENAPI] = build_openapi(app[SETTINGS].public_url)
    app.router.add_get("/healthz", healthz, name="healthz")
    app.router.add_get("/readyz", readyz, name="readyz")
    app.router.add_get("/metrics", metrics, name="metrics")
    app.router.add_get("/openapi.json", openapi, name="openapi")
