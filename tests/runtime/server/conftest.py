"""A real server on a real DuckDB file, a GitHub simulator on a real socket, real tokens.

``server(**settings)`` builds the app with ``create_app`` (the engine is opened by the app's
own cleanup context on ``tmp_path``) and returns an ``Api`` client; calling it again with the
same ``tmp_path`` restarts the server on the same data directory.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from runtime.auth import mint_token
from runtime.server.app import create_app
from runtime.server.state import ENGINE
from runtime.settings import Settings
from tests.runtime.conftest import JWT_SECRET
from tests.simulators.github import GitHubSim

ACTION_PATH = "/functions/v1/integration-service"
GITHUB_TOKEN = "sim-github-credential-runtime-0001"  # no token shape: only care hides it
REPO = "octo/hello"
PROJECT = "project-123"


class Api:
    """A test client speaking the action API."""

    def __init__(self, client: TestClient, secrets_seen: Any) -> None:
        self.client = client
        self.app: web.Application = client.app  # type: ignore[assignment]
        self.secrets_seen = secrets_seen

    @property
    def engine(self) -> Any:
        return self.app[ENGINE]

    def token(self, sub: str = "service", role: str = "authenticated", ttl: int = 600) -> str:
        role = "service_role" if sub == "service" else role
        token = mint_token(JWT_SECRET, sub, role, ttl)
        self.secrets_seen.add(token)
        return token

    async def call(
        self, body: Any, *, sub: str | None = "service", token: str | None = None, **kw: Any
    ) -> tuple[int, Any]:
        headers = dict(kw.pop("headers", {}))
        bearer = token or (self.token(sub) if sub is not None else None)
        if bearer is not None:
            headers["Authorization"] = f"Bearer {bearer}"
        response = await self.client.post(ACTION_PATH, json=body, headers=headers, **kw)
        return response.status, await response.json()

    async def wait_idle(self, integration_id: str, timeout: float = 15.0) -> dict[str, Any]:
        """Poll get-sync-status until no run is live; returns the last status."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            status, body = await self.call(
                {"action": "get-sync-status", "integrationId": integration_id}
            )
            assert status == 200, body
            data = body["data"]
            if data["current_run"] is None and data["sync_status"] != "syncing":
                return data
            assert asyncio.get_running_loop().time() < deadline, "sync did not finish"
            await asyncio.sleep(0.05)


@pytest.fixture
def github(secrets_seen) -> GitHubSim:
    sim = GitHubSim(token=GITHUB_TOKEN)
    sim.seed_issues(REPO, count=12)
    sim.seed_comments(REPO, per_issue=1)
    secrets_seen.add(GITHUB_TOKEN)
    return sim


@pytest.fixture
async def github_url(aiohttp_server, github: GitHubSim) -> str:
    server = await aiohttp_server(github.app())
    return str(server.make_url("")).rstrip("/")


def base_settings(home: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "home": home,
        "supabase_jwt_secret": JWT_SECRET,
        "scheduler_enabled": False,
        "worker_idle_seconds": 0.05,
        "shutdown_timeout": 5.0,
        "public_url": "http://kiro-sync.test",
        "rate_limit_per_minute": 100_000,  # test_edges sets its own small limits
        "rate_limit_burst": 100_000,
    }
    values.update(overrides)
    return Settings.load(**values)


@pytest.fixture
def server(aiohttp_client, tmp_path: Path, secrets_seen) -> Callable[..., Awaitable[Api]]:
    async def start(**overrides: Any) -> Api:
        app = create_app(base_settings(tmp_path, **overrides))
        return Api(await aiohttp_client(app), secrets_seen)

    return start


@pytest.fixture
async def api(server) -> Api:
    return await server()


def connect_body(base_url: str, **config: Any) -> dict[str, Any]:
    """The seed's connect request for the GitHub simulator."""
    return {
        "action": "connect",
        "integrationType": "github",
        "projectId": PROJECT,
        "data": {
            "credentials": {"token": GITHUB_TOKEN, "baseUrl": base_url},
            "config": {"syncDirection": "import", "filters": {"projects": [REPO]}, **config},
        },
    }


async def connected(api: Api, base_url: str, **config: Any) -> str:
    status, body = await api.call(connect_body(base_url, **config))
    assert status == 200, body
    return str(body["data"]["id"])
