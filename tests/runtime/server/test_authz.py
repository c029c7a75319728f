"""Authentication (401) and the role x action authorization matrix (403 / 404)."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest

from tests.runtime.conftest import JWT_SECRET
from tests.runtime.server.conftest import PROJECT, Api, connect_body, connected

ALL_ACTIONS = (
    "get-integrations",
    "get-sync-status",
    "export-data",
    "sync",
    "webhook",
    "resolve-conflict",
    "test-connection",
    "import-data",
    "connect",
    "disconnect",  # last: it deactivates the integration
)
VIEWER = {"get-integrations", "get-sync-status", "export-data"}
MEMBER = VIEWER | {"sync", "webhook", "resolve-conflict"}
ADMIN = set(ALL_ACTIONS)
ALLOWED = {
    "service": ADMIN,
    "owner": ADMIN,
    "admin": ADMIN,
    "member": MEMBER,
    "viewer": VIEWER,
    "stranger": set(),
}
PROJECT_ACTIONS = {"get-integrations", "test-connection", "import-data", "connect"}
HIDDEN = ("Integration not found", "Project not found")


def request_for(action: str, base_url: str, integration_id: str) -> dict[str, Any]:
    connect = connect_body(base_url)
    bodies: dict[str, dict[str, Any]] = {
        "connect": connect,
        "test-connection": {**connect, "action": "test-connection"},
        "get-integrations": {"action": "get-integrations", "projectId": PROJECT},
        "import-data": {
            "action": "import-data",
            "projectId": PROJECT,
            "data": {"importData": {"workItems": [{"title": "x"}]}},
        },
        "export-data": {"action": "export-data", "integrationId": integration_id},
        "sync": {"action": "sync", "integrationId": integration_id},
        "webhook": {
            "action": "webhook",
            "integrationId": integration_id,
            "data": {"eventType": "ping", "payload": {"zen": "Keep it logically awesome."}},
        },
        "resolve-conflict": {
            "action": "resolve-conflict",
            "integrationId": integration_id,
            "data": {"conflictId": "no-such-conflict", "resolution": "kiro"},
        },
        "get-sync-status": {"action": "get-sync-status", "integrationId": integration_id},
        "disconnect": {"action": "disconnect", "integrationId": integration_id},
    }
    return bodies[action]


@pytest.mark.parametrize("role", list(ALLOWED))
async def test_role_action_matrix(api: Api, github_url: str, role: str) -> None:
    integration_id = await connected(api, github_url)
    user = "service" if role == "service" else f"user-{role}"
    if role not in ("service", "stranger"):
        await api.engine.add_member(PROJECT, user, role)
    outcomes = {}
    for action in ALL_ACTIONS:
        status, body = await api.call(request_for(action, github_url, integration_id), sub=user)
        outcomes[action] = (status, body.get("error"))
        if action == "sync" and status == 202:
            await api.wait_idle(integration_id)
    for action, (status, error) in outcomes.items():
        if action in ALLOWED[role]:
            assert status not in (401, 403) and error not in HIDDEN, (action, status, error)
        elif role == "stranger" and action not in PROJECT_ACTIONS:
            assert (status, error) == (404, "Integration not found"), action  # cannot see it
        else:
            assert status == 403, (action, status, error)


async def test_viewer_reads_but_cannot_sync(api: Api, github_url: str) -> None:
    integration_id = await connected(api, github_url)
    await api.engine.add_member(PROJECT, "vera", "viewer")
    status, body = await api.call({"action": "sync", "integrationId": integration_id}, sub="vera")
    assert status == 403 and body == {
        "success": False,
        "error": "Role 'viewer' may not sync; it needs member or above",
    }
    status, body = await api.call({"action": "get-integrations", "projectId": PROJECT}, sub="vera")
    assert status == 200 and [item["id"] for item in body["data"]] == [integration_id]


async def test_other_projects_are_invisible(api: Api, github_url: str) -> None:
    integration_id = await connected(api, github_url)
    await api.engine.add_member("project-other", "olga", "owner")
    status, body = await api.call(
        {"action": "get-sync-status", "integrationId": integration_id}, sub="olga"
    )
    assert (status, body["error"]) == (404, "Integration not found")
    status, body = await api.call(
        {"action": "get-sync-status", "integrationId": "does-not-exist"}, sub="olga"
    )
    assert (status, body["error"]) == (404, "Integration not found")  # the same answer
    status, body = await api.call(
        {"action": "get-sync-status", "integrationId": integration_id, "projectId": "project-other"}
    )
    assert status == 404  # a projectId that does not hold the integration


async def test_unknown_project_user_404_service_creates(api: Api, github_url: str) -> None:
    body = connect_body(github_url)
    body["projectId"] = "project-new"
    await api.engine.add_member(PROJECT, "ursula", "owner")
    status, answer = await api.call(body, sub="ursula")
    assert (status, answer["error"]) == (404, "Project not found")
    status, answer = await api.call(body)  # service_role mirrors the project
    assert status == 200 and answer["data"]["project_id"] == "project-new"
    assert await api.engine.project_exists("project-new")


@pytest.mark.parametrize(
    ("header", "error"),
    [
        (None, "Missing authorization header"),
        ("Basic dXNlcjpwdw==", "Authorization header must be 'Bearer <token>'"),
        ("Bearer not-a-jwt", "Invalid token"),
        ("expired", "Token expired"),
        ("forged", "Invalid token"),
    ],
)
async def test_unauthenticated_is_401(api: Api, header: str | None, error: str) -> None:
    now = int(time.time())
    if header == "expired":
        header = "Bearer " + jwt.encode({"sub": "u", "exp": now - 300}, JWT_SECRET, "HS256")
    elif header == "forged":
        header = "Bearer " + jwt.encode({"sub": "u", "exp": now + 60}, "x" * 40, "HS256")
    headers = {"Authorization": header} if header else {}
    body = {"action": "get-integrations", "projectId": PROJECT}
    status, answer = await api.call(body, sub=None, headers=headers)
    assert (status, answer) == (401, {"success": False, "error": error})
