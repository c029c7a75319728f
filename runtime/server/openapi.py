"""The OpenAPI 3.1 document of the server, generated from the request models.

The action API's request body is a ``oneOf`` of the per-action models with ``action`` as the
discriminator; responses are the seed's envelopes. OpenAPI 3.1 schemas are JSON Schema
2020-12, so the document validates requests with any JSON Schema validator.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.json_schema import models_json_schema

from runtime.server.models import REQUEST_MODELS

REF = "#/components/schemas/{model}"
ACTION_STATUSES = {
    "200": "Done: `{success: true, data}`",
    "202": "Accepted (sync started, webhook queued): `{success: true, data}`",
    "400": "Malformed JSON, unknown action, invalid fields (with paths), connection test failed",
    "401": "Missing, expired or invalid token",
    "403": "The caller's project role does not allow the action",
    "404": "Unknown project or integration (or one the caller cannot see)",
    "409": "A sync of this integration is already running (`details.runId`)",
    "413": "Request body too large",
    "429": "Too many requests (see Retry-After)",
    "500": "Internal server error (`requestId` is in the server log)",
}


class SyncStarted(BaseModel):
    """``data`` of a 202 answer to ``sync``."""

    model_config = ConfigDict(extra="forbid")
    runId: str
    integrationId: str
    status: str


class ConnectionTested(BaseModel):
    """``data`` of ``test-connection``."""

    model_config = ConfigDict(extra="forbid")
    connected: bool
    identity: str | None = None


ENVELOPES: dict[str, Any] = {
    "Success": {
        "type": "object",
        "required": ["success", "data"],
        "properties": {"success": {"const": True}, "data": {}},
        "additionalProperties": False,
    },
    "Failure": {
        "type": "object",
        "required": ["success", "error"],
        "properties": {
            "success": {"const": False},
            "error": {"type": "string"},
            "details": {},
        },
        "additionalProperties": False,
    },
    "InternalError": {
        "type": "object",
        "required": ["success", "error", "requestId"],
        "properties": {
            "success": {"const": False},
            "error": {"const": "Internal server error"},
            "requestId": {"type": ["string", "null"]},
        },
        "additionalProperties": False,
    },
}


def build_openapi(server_url: str | None = None) -> dict[str, Any]:
    schemas = _schemas()
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "kiro-sync",
            "version": "0.1.0",
            "description": "The integration-service action API, provider webhooks, operations.",
        },
        "paths": {
            "/functions/v1/integration-service": {"post": _action_operation()},
            "/webhooks/{integrationId}": _webhook_item(),
            "/exports/{fileName}": _export_download_item(),
            **_ops_paths(),
        },
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "supabaseJwt": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }
    if server_url:
        document["servers"] = [{"url": server_url}]
    return document


def _schemas() -> dict[str, Any]:
    models: list[type[BaseModel]] = [*REQUEST_MODELS.values(), SyncStarted, ConnectionTested]
    _, top = models_json_schema([(m, "validation") for m in models], ref_template=REF)
    schemas: dict[str, Any] = dict(top.get("$defs", {}))
    schemas["ActionRequest"] = {
        "oneOf": [{"$ref": REF.format(model=m.__name__)} for m in REQUEST_MODELS.values()],
        "discriminator": {
            "propertyName": "action",
            "mapping": {name: REF.format(model=m.__name__) for name, m in REQUEST_MODELS.items()},
        },
    }
    schemas.update(ENVELOPES)
    return schemas


def _json(ref: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": REF.format(model=ref)}}}


def _action_operation() -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status, description in ACTION_STATUSES.items():
        envelope = "Success" if status.startswith("2") else "Failure"
        envelope = "InternalError" if status == "500" else envelope
        responses[status] = {"description": description, "content": _json(envelope)}
    return {
        "operationId": "integrationService",
        "summary": "Run an integration action",
        "security": [{"supabaseJwt": []}],
        "requestBody": {"required": True, "content": _json("ActionRequest")},
        "responses": responses,
    }


def _webhook_item() -> dict[str, Any]:
    parameter = {
        "name": "integrationId",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
    }
    post = {
        "operationId": "receiveWebhook",
        "summary": "A provider's webhook delivery or handshake (no JWT; verified by signature)",
        "requestBody": {"content": {"*/*": {"schema": {}}}},
        "responses": {
            "200": {"description": "Stored (applied in the background) or handshake answered"},
            "401": {"description": "Signature, replay window or handshake check failed"},
            "404": {"description": "Unknown or inactive integration"},
            "413": {"description": "Request body too large", "content": _json("Failure")},
        },
    }
    head = {
        "operationId": "checkWebhook",
        "summary": "Callback URL check (Trello)",
        "responses": {"200": {"description": "The URL is live"}},
    }
    return {"parameters": [parameter], "post": post, "head": head}


def _export_download_item() -> dict[str, Any]:
    """The link an export-data answer gives when the file is too large to inline."""
    parameters = [
        {"name": "fileName", "in": "path", "required": True, "schema": {"type": "string"}},
        {
            "name": "token",
            "in": "query",
            "required": True,
            "description": "The sealed, expiring token from export-data's data.url",
            "schema": {"type": "string"},
        },
    ]
    files = {
        mime: {"schema": {"type": "string", "format": "binary"}}
        for mime in (
            "application/json",
            "text/csv",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
    }
    get = {
        "operationId": "downloadExport",
        "summary": "Stream a large export-data file (no JWT; the token authorizes)",
        "responses": {
            "200": {"description": "The file, with Content-Disposition", "content": files},
            "404": {
                "description": "Unknown, expired or tampered token",
                "content": _json("Failure"),
            },
        },
    }
    return {"parameters": parameters, "get": get}


def _ops_paths() -> dict[str, Any]:
    def plain(operation_id: str, summary: str, responses: dict[str, str]) -> dict[str, Any]:
        answers = {code: {"description": text} for code, text in responses.items()}
        return {"get": {"operationId": operation_id, "summary": summary, "responses": answers}}

    return {
        "/healthz": plain("healthz", "The process is up", {"200": "ok"}),
        "/readyz": plain("readyz", "The store is reachable", {"200": "ready", "503": "not"}),
        "/metrics": plain("metrics", "Prometheus metrics (text format)", {"200": "metrics"}),
        "/openapi.json": plain("openapi", "This document", {"200": "OpenAPI 3.1"}),
    }
