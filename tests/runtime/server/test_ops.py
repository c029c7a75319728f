"""Health, readiness, metrics and the OpenAPI document."""

from __future__ import annotations

from jsonschema import Draft202012Validator

from runtime.server.actions import ACTIONS
from tests.runtime.server.conftest import PROJECT, Api, connected


async def test_health_and_readiness(api: Api) -> None:
    health = await api.client.get("/healthz")
    assert (health.status, await health.json()) == (200, {"status": "ok"})
    ready = await api.client.get("/readyz")
    assert (ready.status, await ready.json()) == (200, {"status": "ready", "store": True})
    assert health.headers["X-Request-Id"]


async def test_metrics_count_requests_runs_records_and_queue(api: Api, github_url) -> None:
    integration_id = await connected(api, github_url)
    await api.call({"action": "sync", "integrationId": integration_id})
    await api.wait_idle(integration_id)
    await api.call({"action": "explode"})
    for _ in range(50):  # the run's watcher records the outcome as the run ends
        text = await (await api.client.get("/metrics")).text()
        if 'kiro_sync_sync_runs_total{status="success",trigger="api"} 1.0' in text:
            break
    assert (
        'kiro_sync_requests_total{action="connect",route="integration-service",status="200"} 1.0'
        in text
    )
    assert (
        'kiro_sync_requests_total{action="",route="integration-service",status="400"} 1.0' in text
    )
    assert 'kiro_sync_sync_runs_total{status="success",trigger="api"} 1.0' in text
    assert 'kiro_sync_sync_duration_seconds_count{trigger="api"} 1.0' in text
    assert 'kiro_sync_records_synced_total{outcome="created"} 24.0' in text
    assert "kiro_sync_webhook_queue_depth 0.0" in text


async def test_each_app_has_its_own_registry(server) -> None:
    first, second = await server(), await server()
    await first.call({"action": "get-integrations", "projectId": PROJECT})
    text = await (await second.client.get("/metrics")).text()
    assert 'action="get-integrations"' not in text


async def test_openapi_describes_every_action_and_the_webhook_route(api: Api) -> None:
    document = await (await api.client.get("/openapi.json")).json()
    assert document["openapi"].startswith("3.1")
    schemas = document["components"]["schemas"]
    for schema in schemas.values():
        Draft202012Validator.check_schema(schema)
    mapping = schemas["ActionRequest"]["discriminator"]["mapping"]
    assert sorted(mapping) == sorted(ACTIONS)
    operation = document["paths"]["/functions/v1/integration-service"]["post"]
    assert sorted(operation["responses"]) == sorted(
        ["200", "202", "400", "401", "403", "404", "409", "413", "429", "500"]
    )
    webhook = document["paths"]["/webhooks/{integrationId}"]
    assert {"post", "head"} <= set(webhook)
    download = document["paths"]["/exports/{fileName}"]
    assert [p["name"] for p in download["parameters"]] == ["fileName", "token"]
    assert "text/csv" in download["get"]["responses"]["200"]["content"]
    connect = schemas["ConnectRequest"]
    assert connect["additionalProperties"] is False
    assert set(connect["required"]) == {"action", "integrationType", "projectId", "data"}
    assert document["servers"] == [{"url": "http://kiro-sync.test"}]
