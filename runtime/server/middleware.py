"""Middlewares, outermost first: request id + access log + metrics, CORS, errors, body cap,
per-IP rate limit.

- ``request_context``: takes a sane ``X-Request-Id`` from the caller or makes one, puts it in
  the log context and the response, logs one JSON line per request (path without the query,
  which may carry tokens) and counts it in the metrics.
- ``cors``: answers preflights; adds ``Access-Control-Allow-Origin`` for allowed origins.
- ``errors``: every failure becomes the seed's envelope; kiro-sync errors get their status,
  aiohttp's HTTP errors keep theirs, anything else is a logged 500 with the request id.
- ``body_cap``: a declared Content-Length over the limit is 413 before anything is read (the
  app's ``client_max_size`` enforces the same for chunked bodies).
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from aiohttp import web
from aiohttp.typedefs import Handler

from engine.errors import KiroSyncError, error_class
from runtime.logging import request_id_var
from runtime.ratelimit import retry_after_header
from runtime.server.access import client_ip
from runtime.server.responses import TooManyRequests, error_response, fail, internal_error
from runtime.server.state import ACTION, IP_LIMITER, METRICS, REQUEST_ID, ROUTE, SETTINGS

ACTION_PATH = "/functions/v1/integration-service"

log = logging.getLogger("runtime.server")
access_log = logging.getLogger("runtime.server.access")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
ALLOW_HEADERS = "authorization, x-client-info, apikey, content-type, x-request-id"
ALLOW_METHODS = "GET, HEAD, POST, OPTIONS"


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    given = request.headers.get("X-Request-Id", "")
    request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
    request[REQUEST_ID] = request_id
    token = request_id_var.set(request_id)
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        response.headers["X-Request-Id"] = request_id
        return response
    finally:
        _account(request, status, started)
        request_id_var.reset(token)


def _account(request: web.Request, status: int, started: float) -> None:
    route = request.get(ROUTE) or _route_name(request)
    action = request.get(ACTION, "")
    request.app[METRICS].request(route, action, status)
    access_log.info(
        "%s %s %s",
        request.method,
        request.path,
        status,
        extra={
            "method": request.method,
            "path": request.path,
            "status": status,
            "action": action or None,
            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            "remote": request.remote,
        },
    )


def _route_name(request: web.Request) -> str:
    resource = request.match_info.route.resource
    name = resource.name if resource is not None else None
    return name or "unmatched"


@web.middleware
async def cors(request: web.Request, handler: Handler) -> web.StreamResponse:
    origins = request.app[SETTINGS].cors_origins
    origin = request.headers.get("Origin")
    allowed = _allowed_origin(origins, origin)
    if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
        if allowed is None:
            return fail(403, "Origin not allowed")
        response: web.StreamResponse = web.Response(status=204)
        response.headers["Access-Control-Allow-Methods"] = ALLOW_METHODS
        response.headers["Access-Control-Allow-Headers"] = ALLOW_HEADERS
        response.headers["Access-Control-Max-Age"] = "86400"
    else:
        response = await handler(request)
    if allowed is not None:
        response.headers["Access-Control-Allow-Origin"] = allowed
        response.headers["Access-Control-Expose-Headers"] = "X-Request-Id, Retry-After"
        if allowed != "*":
            response.headers["Vary"] = "Origin"
    return response


def _allowed_origin(origins: tuple[str, ...], origin: str | None) -> str | None:
    if "*" in origins:
        return "*"
    if origin is not None and origin in origins:
        return origin
    return None


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except KiroSyncError as exc:
        response = error_response(exc)
        if response is not None:
            return response
        return _server_fault(request, exc)
    except web.HTTPRequestEntityTooLarge:
        return fail(413, "Request body too large", _cap_details(request))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return fail(exc.status, exc.reason, None, _kept_headers(exc))
    except Exception as exc:
        return _server_fault(request, exc)


def _server_fault(request: web.Request, exc: BaseException) -> web.Response:
    request_id = request.get(REQUEST_ID)
    log.error(
        "internal error",
        exc_info=exc,
        extra={"error_class": error_class(exc), "action": request.get(ACTION)},
    )
    return internal_error(request_id)


def _kept_headers(exc: web.HTTPException) -> dict[str, str]:
    return {k: v for k, v in exc.headers.items() if k in ("Allow", "Retry-After")}


def _cap_details(request: web.Request) -> dict[str, int]:
    return {"maxBytes": request.app[SETTINGS].max_body_bytes}


@web.middleware
async def body_cap(request: web.Request, handler: Handler) -> web.StreamResponse:
    limit = request.app[SETTINGS].max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        return fail(413, "Request body too large", _cap_details(request))
    return await handler(request)


@web.middleware
async def ip_rate_limit(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Per-IP limit on the action API; provider webhooks and probes are not limited (a
    provider's burst of deliveries must not be refused: some never retry)."""
    if request.method == "POST" and request.path == ACTION_PATH:
        wait = request.app[IP_LIMITER].take(client_ip(request))
        if wait > 0:
            raise TooManyRequests("Too many requests", retry_after=retry_after_header(wait))
    return await handler(request)


MIDDLEWARES = (request_context, cors, errors, body_cap, ip_rate_limit)
