"""Who may do what: the caller, the rate limits, and the project an action touches.

``authenticate`` turns the bearer token into a ``Principal`` (401 otherwise) and takes a
token from the caller's rate-limit bucket (429). ``resolve_target`` finds the project an
action acts on and checks the caller's role there:

- by ``integrationId``: an integration that does not exist, or whose project the caller is
  not a member of, is 404 "Integration not found" (the same answer either way); a
  ``projectId`` sent alongside must match it;
- by ``projectId``: a project the store does not know is 404 for a user; ``service_role``
  may name it (connect and import create it); a project the user is not a member of is 403;
- a role below the action's least role is 403.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web

from engine.errors import NotFoundError, ValidationError
from engine.facade import Engine
from runtime.auth import Forbidden, Principal, ProjectRole, allows, bearer_token
from runtime.ratelimit import retry_after_header
from runtime.server.responses import TooManyRequests
from runtime.server.state import SETTINGS, USER_LIMITER, VERIFIER

Target = Literal["project", "integration", "either"]


@dataclass(frozen=True, slots=True)
class Scope:
    """What an action call acts on, once the caller is known to be allowed."""

    project_id: str | None
    integration: dict[str, Any] | None


async def authenticate(request: web.Request) -> Principal:
    token = bearer_token(request.headers.get("Authorization"))
    principal = await request.app[VERIFIER].verify(token)
    wait = request.app[USER_LIMITER].take(principal.rate_key)
    if wait > 0:
        raise TooManyRequests("Too many requests", retry_after=retry_after_header(wait))
    return principal


def client_ip(request: web.Request) -> str:
    """The caller's address; the first X-Forwarded-For hop when behind a trusted proxy."""
    if request.app[SETTINGS].trust_proxy:
        forwarded = request.headers.get("X-Forwarded-For", "")
        first = forwarded.split(",", 1)[0].strip()
        if first:
            return first
    return request.remote or "unknown"


async def resolve_target(
    engine: Engine,
    principal: Principal,
    action: str,
    target: Target,
    needs: ProjectRole,
    project_id: str | None,
    integration_id: str | None,
) -> Scope:
    if integration_id is not None and target in ("integration", "either"):
        integration = await _visible_integration(engine, principal, integration_id, project_id)
        scope = Scope(integration["project_id"], integration)
    elif project_id is not None:
        await _check_project(engine, principal, project_id)
        scope = Scope(project_id, None)
    elif principal.is_service:
        return Scope(None, None)
    else:
        raise ValidationError("projectId is required", ["projectId: field required"])
    if not principal.is_service:
        await _check_role(engine, principal, action, needs, scope)
    return scope


async def _visible_integration(
    engine: Engine, principal: Principal, integration_id: str, project_id: str | None
) -> dict[str, Any]:
    missing = NotFoundError("Integration not found", integration_id=integration_id)
    try:
        integration = await engine.get_integration(integration_id)
    except NotFoundError:
        raise missing from None
    if project_id is not None and integration["project_id"] != project_id:
        raise missing
    if principal.is_service or principal.subject is None:
        return integration
    if await engine.member_role(integration["project_id"], principal.subject) is None:
        raise missing
    return integration


async def _check_project(engine: Engine, principal: Principal, project_id: str) -> None:
    if principal.is_service:
        return
    if not await engine.project_exists(project_id):
        raise NotFoundError("Project not found", project_id=project_id)


async def _check_role(
    engine: Engine, principal: Principal, action: str, needs: ProjectRole, scope: Scope
) -> None:
    assert scope.project_id is not None and principal.subject is not None
    role = await engine.member_role(scope.project_id, principal.subject)
    if role is None:
        raise Forbidden("You are not a member of this project")
    if not allows(role, needs):
        raise Forbidden(f"Role '{role}' may not {action}; it needs {needs} or above")
