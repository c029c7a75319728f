"""``POST /functions/v1/integration-service``: the seed's action API over ``Engine``.

The route authenticates (401), rate-limits the caller (429), reads the JSON body (400 when
malformed, nested deeper than 100 levels or holding a NUL character outside the import rows,
which are checked one by one), finds the action (400 listing the valid ones), validates the
body against the action's model (400 with each field path), resolves and authorizes its
target (404/403), and hands over to the action's handler. Each handler is a few lines
calling one ``Engine`` method; errors become statuses in ``runtime/server/responses.py``.

Least project role per action (``service_role`` may do everything):

    get-integrations, get-sync-status, export-data          viewer
    sync, webhook, resolve-conflict                          member
    connect, disconnect, test-connection, import-data        admin (owner ranks the same)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
import pydantic
from aiohttp import web

from engine.errors import ValidationError
from engine.facade import ConnectResult
from engine.wire import MAX_JSON_DEPTH, json_problem
from runtime.auth import ProjectRole
from runtime.server import bulk
from runtime.server.access import Target, authenticate, resolve_target
from runtime.server.calls import Call, Handler, Reply
from runtime.server.middleware import ACTION_PATH
from runtime.server.models import (
    REQUEST_MODELS,
    ActionRequest,
    ConnectRequest,
    GetIntegrationsRequest,
    ResolveConflictRequest,
    SyncRequest,
    TestConnectionRequest,
    WebhookRequest,
    wire_dict,
)
from runtime.server.responses import ok
from runtime.server.state import ACTION, ENGINE, ROUTE, RUNS, WORKER

ROUTE_PATH = ACTION_PATH


@dataclass(frozen=True, slots=True)
class Action:
    name: str
    target: Target
    needs: ProjectRole
    handler: Handler

    @property
    def model(self) -> type[ActionRequest]:
        return REQUEST_MODELS[self.name]


async def integration_service(request: web.Request) -> web.Response:
    request[ROUTE] = "integration-service"
    principal = await authenticate(request)
    body = await read_json_object(request)
    action = find_action(body.get("action"))
    request[ACTION] = action.name
    parsed = parse_body(action.model, body)
    engine = request.app[ENGINE]
    scope = await resolve_target(
        engine,
        principal,
        action.name,
        action.target,
        action.needs,
        parsed.projectId,
        parsed.integrationId,
    )
    reply = await action.handler(Call(request, engine, principal, parsed, scope))
    return ok(reply.data, reply.status)


async def read_json_object(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw.strip():
        raise ValidationError("Request body must be a JSON object", ["body: empty"])
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValidationError("Malformed JSON", [f"body: {exc}"]) from None
    if not isinstance(body, dict):
        raise ValidationError("Request body must be a JSON object", ["body: not an object"])
    if b"\\u0000" in raw or raw.count(b"[") + raw.count(b"{") > MAX_JSON_DEPTH:
        data = body.get("data")
        rows = data.get("importData") if isinstance(data, dict) else None  # checked per row
        problem = json_problem(body, nul_allowed_in=rows)
        if problem is not None:
            raise ValidationError(f"Invalid request: {problem}", [problem])
    return body


def find_action(name: Any) -> Action:
    action = ACTIONS.get(name) if isinstance(name, str) else None
    if action is None:
        message = "Missing action" if name is None else f"Unknown action {str(name)[:100]!r}"
        raise ValidationError(message, details={"validActions": sorted(ACTIONS)})
    return action


def parse_body(model: type[ActionRequest], body: dict[str, Any]) -> Any:
    try:
        return model.model_validate(body)
    except pydantic.ValidationError as exc:
        raise ValidationError("Invalid request", validation_problems(exc)) from None


def validation_problems(exc: pydantic.ValidationError) -> list[str]:
    """``path: message`` per problem; never the offending value (it may be a secret)."""
    problems = []
    for error in exc.errors(include_input=False, include_url=False):
        path = ".".join(str(part) for part in error["loc"]) or "body"
        problems.append(f"{path}: {error['msg']}")
    return problems


# --- handlers ------------------------------------------------------------------------------


async def connect(call: Call) -> Reply:
    body: ConnectRequest = call.body
    result = await call.engine.connect(
        project_id=body.projectId,
        integration_type=body.integrationType,
        credentials=body.data.credentials,
        config=wire_dict(body.data.config),
        name=body.data.name,
        created_by=call.principal.subject,
        create_project=call.principal.is_service,
    )
    return Reply(connect_answer(result))


def connect_answer(result: ConnectResult) -> dict[str, Any]:
    """The integration (never its credentials), its webhook setup and the account tested."""
    webhook = result.webhook
    return {
        **result.integration,
        "webhook": webhook.to_dict() if webhook is not None else None,
        "identity": result.identity,
    }


async def disconnect(call: Call) -> Reply:
    warnings = await call.engine.disconnect(call.integration_id)
    integration = await call.engine.get_integration(call.integration_id)
    return Reply({**integration, "warnings": warnings})


async def sync(call: Call) -> Reply:
    body: SyncRequest = call.body
    options = wire_dict(body.data.syncOptions) if body.data is not None else None
    handle = await call.http.app[RUNS].start(call.integration_id, options, trigger="api")
    data = {"runId": handle.run_id, "integrationId": call.integration_id, "status": "running"}
    return Reply(data, 202)


async def webhook(call: Call) -> Reply:
    body: WebhookRequest = call.body
    queued = await call.engine.relay_webhook(
        call.integration_id, body.data.payload, body.data.eventType
    )
    worker = call.http.app.get(WORKER)
    if worker is not None:
        worker.wake()
    return Reply(queued, 202)


async def get_integrations(call: Call) -> Reply:
    body: GetIntegrationsRequest = call.body
    items = await call.engine.list_integrations(call.scope.project_id)
    if body.integrationType is not None:
        items = [item for item in items if item.get("type") == body.integrationType]
    return Reply(items)


async def test_connection(call: Call) -> Reply:
    body: TestConnectionRequest = call.body
    result = await call.engine.test_connection(
        integration_type=body.integrationType,
        credentials=body.data.credentials,
        config=wire_dict(body.data.config),
    )
    return Reply({"connected": True, "identity": result.identity})


async def get_sync_status(call: Call) -> Reply:
    return Reply(await call.engine.get_sync_status(call.integration_id))


async def resolve_conflict(call: Call) -> Reply:
    body: ResolveConflictRequest = call.body
    data = body.data
    if data.resolution == "value" and "value" not in data.model_fields_set:
        raise ValidationError("Invalid request", ["data.value: required when resolution is value"])
    resolved = await call.engine.resolve_conflict(
        call.integration_id, data.conflictId, data.resolution, data.value
    )
    return Reply(resolved)


ACTIONS: dict[str, Action] = {
    action.name: action
    for action in (
        Action("connect", "project", "admin", connect),
        Action("disconnect", "integration", "admin", disconnect),
        Action("sync", "integration", "member", sync),
        Action("webhook", "integration", "member", webhook),
        Action("get-integrations", "project", "viewer", get_integrations),
        Action("test-connection", "project", "admin", test_connection),
        Action("import-data", "either", "admin", bulk.import_data),
        Action("export-data", "either", "viewer", bulk.export_data),
        Action("get-sync-status", "integration", "viewer", get_sync_status),
        Action("resolve-conflict", "integration", "member", resolve_conflict),
    )
}


def setup(app: web.Application) -> None:
    app.router.add_post(ROUTE_PATH, integration_service, name="integration-service")
