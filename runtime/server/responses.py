"""The seed's response envelope and the one place errors become HTTP statuses.

Success: ``{"success": true, "data": ...}`` (200, or 202 for a started sync).
Failure: ``{"success": false, "error": "<one line>", "details": ...}`` with the status of
``error_status``; an unexpected exception is ``{"success": false, "error": "Internal server
error", "requestId": ...}`` (500) and is logged with that id.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from engine.errors import (
    ConfigError,
    ConflictError,
    KiroSyncError,
    NotFoundError,
    ProviderError,
    TransientError,
    ValidationError,
)
from runtime.auth import Forbidden, Unauthorized


class TooManyRequests(KiroSyncError):
    """The caller exceeded the inbound rate limit; ``retry_after`` is seconds."""

    error_class = "rate_limited"


class PayloadTooLarge(KiroSyncError):
    error_class = "too_large"


def json_response(
    payload: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=orjson.dumps(payload, default=str, option=orjson.OPT_NON_STR_KEYS),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def ok(data: Any, status: int = 200) -> web.Response:
    return json_response({"success": True, "data": data}, status)


def fail(
    status: int, error: str, details: Any = None, headers: dict[str, str] | None = None
) -> web.Response:
    body: dict[str, Any] = {"success": False, "error": error}
    if details is not None:
        body["details"] = details
    return json_response(body, status, headers)


def internal_error(request_id: str | None) -> web.Response:
    return json_response(
        {"success": False, "error": "Internal server error", "requestId": request_id}, 500
    )


# (error class, status) in the order they are tested: subclasses before their bases.
_STATUS: tuple[tuple[type[KiroSyncError], int], ...] = (
    (Unauthorized, 401),
    (Forbidden, 403),
    (TooManyRequests, 429),
    (PayloadTooLarge, 413),
    (ValidationError, 400),
    (NotFoundError, 404),
    (ConflictError, 409),
    (ConfigError, 400),
    (ProviderError, 400),
    (TransientError, 400),
)


def error_status(exc: KiroSyncError) -> int | None:
    """The HTTP status for an error the caller can act on; None means a real 500."""
    for cls, status in _STATUS:
        if isinstance(exc, cls):
            return status
    return None


def error_response(exc: KiroSyncError) -> web.Response | None:
    """The failure envelope of ``exc``, or None when it is a server fault (500)."""
    status = error_status(exc)
    if status is None:
        return None
    headers = None
    if isinstance(exc, TooManyRequests):
        headers = {"Retry-After": str(exc.context.get("retry_after", 1))}
    return fail(status, exc.message, error_details(exc), headers)


def error_details(exc: KiroSyncError) -> Any:
    """What the caller may see beyond the message: problems, the running run, a reason."""
    if isinstance(exc, ValidationError) and exc.problems:
        return list(exc.problems)
    if isinstance(exc, ConflictError) and exc.context.get("run_id"):
        return {"runId": exc.context["run_id"]}
    details = exc.context.get("details")
    if details is not None:
        return details if isinstance(details, str | list | dict) else str(details)
    if isinstance(exc, ProviderError | TransientError):
        return exc.message
    return None
