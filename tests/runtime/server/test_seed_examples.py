"""The seed's nine example requests, written as the seed writes them, against the GitHub
simulator: each gets its documented response, and each request and response validates
against the server's own /openapi.json."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.runtime.server.conftest import GITHUB_TOKEN, PROJECT, REPO, Api, connect_body
from tests.runtime.server.openapi_check import OpenApi


def seed_examples(base_url: str, integration_id: str) -> dict[str, dict[str, Any]]:
    """The nine requests of the seed (plus resolve-conflict), ids filled in."""
    credentials = {"token": GITHUB_TOKEN, "baseUrl": base_url}
    return {
        "connect": {
            "action": "connect",
            "integrationType": "github",
            "projectId": PROJECT,
            "data": {
                "credentials": credentials,
                "config": {
                    "syncDirection": "bidirectional",
                    "syncFrequency": "hourly",
                    "fieldMappings": {"title": "title", "body": "description"},
                    "filters": {"projects": [REPO], "labels": ["bug"]},
                    "webhookEvents": ["issues", "issue_comment"],
                },
            },
        },
        "test-connection": {
            "action": "test-connection",
            "integrationType": "github",
            "projectId": PROJECT,
            "data": {"credentials": credentials},
        },
        "get-integrations": {"action": "get-integrations", "projectId": PROJECT},
        "sync": {
            "action": "sync",
            "integrationId": integration_id,
            "data": {
                "syncOptions": {
                    "includeComments": True,
                    "includeAttachments": False,
                    "includeHistory": False,
                    "batchSize": 50,
                    "startDate": "2020-01-01",
                }
            },
        },
        "get-sync-status": {"action": "get-sync-status", "integrationId": integration_id},
        "webhook": {
            "action": "webhook",
            "integrationId": integration_id,
            "data": {"eventType": "issues", "payload": {"action": "opened"}},
        },
        "import-data": {
            "action": "import-data",
            "projectId": PROJECT,
            "data": {
                "importData": {
                    "workItems": [{"title": "Imported", "status": "To Do", "priority": "high"}],
                    "projects": [],
                    "users": [{"email": "ada@example.com", "name": "Ada"}],
                }
            },
        },
        "export-data": {
            "action": "export-data",
            "integrationId": integration_id,
            "data": {"exportFormat": "csv"},
        },
        "disconnect": {"action": "disconnect", "integrationId": integration_id},
        "resolve-conflict": {
            "action": "resolve-conflict",
            "integrationId": integration_id,
            "data": {"conflictId": "c-1", "resolution": "value", "value": "In Progress"},
        },
    }


@pytest.fixture
async def openapi(api: Api) -> OpenApi:
    response = await api.client.get("/openapi.json")
    assert response.status == 200
    return OpenApi(await response.json())


async def checked(api: Api, openapi: OpenApi, body: dict[str, Any], **kw: Any) -> tuple[int, Any]:
    assert openapi.request_errors(body) == []
    status, answer = await api.call(body, **kw)
    assert openapi.response_errors(status, answer) == [], answer
    return status, answer


def test_every_example_is_valid_for_the_openapi_document(api: Api, openapi: OpenApi) -> None:
    examples = seed_examples("https://api.github.com", "00000000-0000-0000-0000-000000000001")
    for name, body in examples.items():
        assert openapi.request_errors(body) == [], name
    bad = {"action": "connect", "integrationType": "github", "projectId": PROJECT, "data": {}}
    assert openapi.request_errors(bad)  # the document is not a rubber stamp


async def test_connect(api: Api, openapi: OpenApi, github_url: str) -> None:
    body = seed_examples(github_url, "")["connect"]
    status, answer = await checked(api, openapi, body)
    assert status == 200 and answer["success"] is True
    data = answer["data"]
    assert data["type"] == "github" and data["project_id"] == PROJECT
    assert data["is_active"] is True and data["identity"] == "octocat"
    assert data["config"]["syncFrequency"] == "hourly"
    assert data["webhook"]["url"] == f"http://kiro-sync.test/webhooks/{data['id']}"
    assert "credentials" not in data and GITHUB_TOKEN not in str(answer)


async def test_connect_with_refused_credentials(api: Api, openapi: OpenApi, github_url) -> None:
    body = seed_examples(github_url, "")["connect"]
    body["data"]["credentials"]["token"] = "sim-revoked-credential-0000"
    status, answer = await checked(api, openapi, body)
    assert status == 400
    assert answer["error"] == "Connection test failed"
    assert "Bad credentials" in answer["details"]
    status, listing = await api.call({"action": "get-integrations", "projectId": PROJECT})
    assert listing["data"] == []  # a failed test stores nothing


async def test_test_connection(api: Api, openapi: OpenApi, github_url: str) -> None:
    body = seed_examples(github_url, "")["test-connection"]
    status, answer = await checked(api, openapi, body)
    assert (status, answer) == (
        200,
        {"success": True, "data": {"connected": True, "identity": "octocat"}},
    )
    body["data"]["credentials"]["token"] = "sim-wrong-credential-0000"
    status, answer = await checked(api, openapi, body)
    assert status == 400 and answer["error"] == "Connection test failed"


async def test_get_integrations(api: Api, openapi: OpenApi, github_url: str) -> None:
    first = await _connect(api, github_url)
    status, answer = await checked(
        api, openapi, seed_examples(github_url, first)["get-integrations"]
    )
    assert status == 200
    assert [item["id"] for item in answer["data"]] == [first]
    assert answer["data"][0]["webhook_url"].endswith(first)
    assert "secret" not in str(answer["data"][0]).lower()


async def test_sync_then_status(api: Api, openapi: OpenApi, github_url: str, github) -> None:
    integration_id = await _connect(api, github_url)
    examples = seed_examples(github_url, integration_id)
    status, answer = await checked(api, openapi, examples["sync"])
    assert status == 202
    run_id = answer["data"]["runId"]
    assert answer["data"] == {"runId": run_id, "integrationId": integration_id, "status": "running"}
    again, busy = await checked(api, openapi, examples["sync"])
    if again == 409:  # the first run is still going: its id comes back
        assert busy["details"] == {"runId": run_id}
    else:  # it had already finished: a second run started
        assert again == 202
    await api.wait_idle(integration_id)
    status, answer = await checked(api, openapi, examples["get-sync-status"])
    assert status == 200
    data = answer["data"]
    assert data["sync_status"] == "success" and data["current_run"] is None
    assert {log["status"] for log in data["logs"]} == {"success"}
    created = sum(log["items_created"] for log in data["logs"])
    issues = len(github.issues_of(REPO))
    assert created == 2 * issues  # every issue and its one comment (pull requests left out)
    assert data["conflicts"] == []


async def test_webhook_relay_is_queued_and_applied(
    api: Api, openapi: OpenApi, github_url: str, github
) -> None:
    integration_id = await _connect(api, github_url)
    issue = github.create_issue(REPO, "Relayed by the backend", "body")
    delivery = github.webhook("issues", "opened", REPO, number=issue.number)
    body = seed_examples(github_url, integration_id)["webhook"]
    body["data"]["payload"] = delivery.payload
    status, answer = await checked(api, openapi, body)
    assert status == 202
    assert answer["data"]["queued"] is True and answer["data"]["webhook_id"]
    links = await _wait_for_link(api, integration_id, f"{REPO}#{issue.number}")
    assert len(links) == 1


async def test_import_data_then_export_data(api: Api, openapi: OpenApi, github_url: str) -> None:
    integration_id = await _connect(api, github_url)
    examples = seed_examples(github_url, integration_id)
    status, answer = await checked(api, openapi, examples["import-data"])
    assert status == 200, answer
    assert answer["data"]["workItems"]["created"] == 1 and answer["data"]["failed"] == 0
    status, answer = await checked(api, openapi, examples["export-data"])
    assert status == 200, answer
    exported = answer["data"]
    assert (exported["inline"], exported["format"], exported["rows"]) == (True, "csv", 1)
    assert "Imported" in exported["content"]


async def test_disconnect(api: Api, openapi: OpenApi, github_url: str) -> None:
    integration_id = await _connect(api, github_url)
    examples = seed_examples(github_url, integration_id)
    status, answer = await checked(api, openapi, examples["disconnect"])
    assert status == 200
    assert answer["data"]["id"] == integration_id and answer["data"]["is_active"] is False
    assert answer["data"]["warnings"] == []
    status, answer = await checked(api, openapi, examples["sync"])
    assert status == 400 and "disconnected" in answer["error"]
    status, listing = await checked(api, openapi, examples["get-integrations"])
    assert [item["is_active"] for item in listing["data"]] == [False]  # history is kept


async def test_resolve_conflict_unknown_conflict(api: Api, openapi: OpenApi, github_url) -> None:
    integration_id = await _connect(api, github_url)
    body = seed_examples(github_url, integration_id)["resolve-conflict"]
    status, answer = await checked(api, openapi, body)
    assert status == 404 and "c-1" in answer["error"]


async def _connect(api: Api, base_url: str) -> str:
    status, answer = await api.call(connect_body(base_url))
    assert status == 200, answer
    return str(answer["data"]["id"])


async def _wait_for_link(api: Api, integration_id: str, external_id: str) -> list[Any]:
    for _ in range(200):
        links = await api.engine.store.get_links(integration_id, "work_item", [external_id])
        if links:
            return list(links.values())
        await asyncio.sleep(0.02)
    raise AssertionError("the relayed webhook was not applied")
