"""The Engine facade end to end: open from settings, connect, sync against the GitHub
simulator, status, conflicts, disconnect (history and links kept), members, shutdown."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from engine import ConfigError, ConflictError, Engine, NotFoundError, ValidationError
from engine.catalog import ProviderCatalog
from engine.store.base import Batch, Conflict
from engine.store.sqlstore import SqlStore
from engine.vault import Vault
from tests.engine.facade_helpers import (
    REPO,
    TOKEN,
    hub_config,
    hub_credentials,
    make_vault,
    serve_app,
    webhook_app,
    write_catalog,
)
from tests.simulators.base import serve
from tests.simulators.github import GitHubSim

ISSUES = 12


@pytest.fixture
async def sim() -> AsyncIterator[tuple[GitHubSim, str]]:
    github = GitHubSim()
    github.seed_issues(REPO, count=ISSUES, pull_requests=2)
    async with serve(github) as base_url:
        yield github, base_url


@pytest.fixture
def catalog(tmp_path: Path) -> Any:
    return write_catalog(tmp_path / "providers")


@pytest.fixture
def vault() -> Vault:
    return make_vault()


@pytest.fixture
def engine(store: SqlStore, catalog: Any, vault: Vault) -> Engine:
    return Engine(store, catalog, vault=vault, public_url="http://kiro.test", node="node-a")


async def connected(engine: Engine, base_url: str, name: str | None = None, **config: Any) -> str:
    result = await engine.connect(
        project_id="p1",
        integration_type="hub",
        name=name,
        credentials=hub_credentials(base_url),
        config=hub_config(**config),
        create_project=True,
    )
    return str(result.integration["id"])


async def links_of(store: SqlStore, integration_id: str) -> list[Any]:
    found = []
    async for batch in store.iter_links(integration_id, "work_item"):
        found.extend(batch)
    return found


# --- opening from settings -------------------------------------------------------------------


async def test_open_keeps_data_and_keys_in_the_data_directory(
    tmp_path: Path, catalog: Any, sim: tuple[GitHubSim, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, base_url = sim
    for name in ("ENCRYPTION_KEY", "KIRO_SYNC_DATABASE_URL", "KIRO_SYNC_PUBLIC_URL"):
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    engine = await Engine.open(home=home, providers=catalog, public_url="http://kiro.test")
    try:
        integration_id = await connected(engine, base_url)
    finally:
        await engine.close()
    assert (home / "kiro-sync.duckdb").is_file()
    assert (home / "encryption.key").stat().st_mode & 0o777 == 0o600
    assert TOKEN.encode() not in (home / "kiro-sync.duckdb").read_bytes()

    async with await Engine.open(home=home, providers=catalog) as reopened:
        view = await reopened.get_integration(integration_id)
        assert view["type"] == "hub" and view["is_active"] is True
        found = await reopened.check_integration(integration_id)  # credentials decrypt
        assert found.identity == "octocat"


# --- syncs ---------------------------------------------------------------------------------------


async def test_sync_imports_and_reports_status(
    engine: Engine, store: SqlStore, sim: tuple[GitHubSim, str]
) -> None:
    _, base_url = sim
    integration_id = await connected(engine, base_url)
    seen: list[dict[str, Any]] = []
    result = await engine.sync(integration_id, {"batchSize": 5}, progress=seen.append)
    assert result.status == "success"
    assert result.imported.created == ISSUES  # pull requests are filtered by the YAML
    assert seen and seen[-1]["created"] == ISSUES

    again = await engine.sync(integration_id, trigger="schedule")
    assert again.imported.created == 0

    status = await engine.get_sync_status(integration_id)
    assert status["sync_status"] == "success" and status["current_run"] is None
    assert [log["items_created"] for log in status["logs"]] == [0, ISSUES]
    assert status["conflicts"] == []
    assert status["last_sync_at"] is not None
    assert TOKEN not in orjson.dumps(status).decode()


async def test_a_second_sync_while_one_runs_is_a_conflict_naming_the_running_run(
    engine: Engine, sim: tuple[GitHubSim, str]
) -> None:
    github, base_url = sim
    integration_id = await connected(engine, base_url)
    github.inject_delay(0.3, path=f"/repos/{REPO}/issues")
    handle = await engine.begin_sync(integration_id, trigger="api")
    assert handle.run_id and not handle.done()
    with pytest.raises(ConflictError) as caught:
        await engine.begin_sync(integration_id)
    assert caught.value.run_id == handle.run_id
    running = await engine.get_sync_status(integration_id)
    assert running["sync_status"] == "syncing"
    assert running["current_run"]["id"] == handle.run_id
    result = await handle.wait()
    assert result.status == "success" and result.run_id == handle.run_id


async def test_bad_sync_options_are_rejected_with_their_path(
    engine: Engine, sim: tuple[GitHubSim, str]
) -> None:
    _, base_url = sim
    integration_id = await connected(engine, base_url)
    with pytest.raises(ValidationError) as caught:
        await engine.begin_sync(integration_id, {"batchSize": 0, "includeComents": True})
    assert "syncOptions.includeComents: unknown key" in caught.value.problems
    assert any(p.startswith("syncOptions.batchSize:") for p in caught.value.problems)
    with pytest.raises(NotFoundError):
        await engine.begin_sync("no-such-integration")


async def test_close_lets_a_running_sync_finish(
    store: SqlStore, catalog: Any, vault: Vault, sim: tuple[GitHubSim, str]
) -> None:
    github, base_url = sim
    engine = Engine(store, catalog, vault=vault)
    integration_id = await connected(engine, base_url)
    github.inject_delay(0.2, path=f"/repos/{REPO}/issues")
    handle = await engine.begin_sync(integration_id)
    await engine.close(timeout=30)
    assert handle.done()
    run = await store.get_run(handle.run_id)
    assert run is not None and run.status == "success"


async def test_close_cancels_a_run_past_its_timeout(
    store: SqlStore, catalog: Any, vault: Vault, sim: tuple[GitHubSim, str]
) -> None:
    github, base_url = sim
    engine = Engine(store, catalog, vault=vault)
    integration_id = await connected(engine, base_url)
    github.inject_delay(1, path=f"/repos/{REPO}/issues")
    handle = await engine.begin_sync(integration_id)
    await asyncio.sleep(0.05)
    await engine.close(timeout=0.1)
    assert handle.done()
    run = await store.get_run(handle.run_id)
    assert run is not None and run.status == "cancelled"


# --- disconnect -----------------------------------------------------------------------------


async def test_disconnect_keeps_history_and_links(
    engine: Engine, store: SqlStore, sim: tuple[GitHubSim, str]
) -> None:
    _, base_url = sim
    integration_id = await connected(engine, base_url)
    await engine.sync(integration_id)
    links = await links_of(store, integration_id)
    assert len(links) == ISSUES

    await engine.disconnect(integration_id)
    view = await engine.get_integration(integration_id)
    assert view["is_active"] is False
    assert [i["id"] for i in await engine.list_integrations("p1")] == [integration_id]
    assert await engine.list_integrations("p1", active_only=True) == []
    assert len(await links_of(store, integration_id)) == ISSUES
    kiro_ids = [link.kiro_id for link in links]
    assert len(await store.get_work_items(kiro_ids)) == ISSUES
    status = await engine.get_sync_status(integration_id)
    assert len(status["logs"]) == 1 and status["is_active"] is False
    with pytest.raises(ConfigError):
        await engine.begin_sync(integration_id)
    with pytest.raises(ConfigError):
        await engine.relay_webhook(integration_id, {"action": "opened"}, "issues")


# --- conflicts -------------------------------------------------------------------------------


async def test_resolve_conflict_applies_the_choice_once(
    engine: Engine, store: SqlStore, sim: tuple[GitHubSim, str]
) -> None:
    _, base_url = sim
    integration_id = await connected(engine, base_url, conflictResolution="manual")
    await engine.sync(integration_id)
    link = (await links_of(store, integration_id))[0]
    item = (await store.get_work_items([link.kiro_id]))[link.kiro_id]
    conflict = Conflict(
        id="c-1",
        integration_id=integration_id,
        entity="work_item",
        kiro_id=link.kiro_id,
        external_id=link.external_id,
        field="title",
        kiro_value="Kiro title",
        external_value="Provider title",
        base_value=item.title,
    )
    await store.apply_batch(Batch(conflicts=[conflict]))
    status = await engine.get_sync_status(integration_id)
    assert [c["id"] for c in status["conflicts"]] == ["c-1"]

    with pytest.raises(ValidationError) as caught:
        await engine.resolve_conflict(integration_id, "c-1", "mine")
    assert caught.value.problems == ["data.resolution: must be one of kiro, external, value"]
    with pytest.raises(ValidationError):
        await engine.resolve_conflict(integration_id, "c-1", "value")
    with pytest.raises(NotFoundError):
        await engine.resolve_conflict(integration_id, "c-404", "kiro")

    resolved = await engine.resolve_conflict(integration_id, "c-1", "value", "Chosen title")
    assert resolved["status"] == "resolved" and resolved["id"] == "c-1"
    after = (await store.get_work_items([link.kiro_id]))[link.kiro_id]
    assert after.title == "Chosen title"
    assert (await engine.get_sync_status(integration_id))["conflicts"] == []
    with pytest.raises(ConflictError):
        await engine.resolve_conflict(integration_id, "c-1", "kiro")

    other = await connected(engine, base_url, name="Second hub")
    with pytest.raises(NotFoundError):  # another integration's conflict is not found
        await engine.resolve_conflict(other, "c-1", "kiro")


# --- the bundled GitHub provider, end to end -------------------------------------------------


async def test_bundled_github_registers_its_webhook_and_applies_deliveries(
    store: SqlStore, vault: Vault, sim: tuple[GitHubSim, str]
) -> None:
    github, base_url = sim
    engine = Engine(store, ProviderCatalog([], env={}), vault=vault, node="node-a")
    async with serve_app(webhook_app(engine)) as receiver:
        engine.public_url = receiver  # where the simulator delivers
        result = await engine.connect(
            project_id="p1",
            integration_type="github",
            credentials={"token": TOKEN, "baseUrl": base_url},
            config={"filters": {"projects": [REPO]}, "webhookEvents": ["issues"]},
            create_project=True,
        )
        integration_id = result.integration["id"]
        assert result.webhook is not None and result.webhook.registered
        [hook] = github.repo(REPO).hooks.values()
        assert hook["config"]["url"] == f"{receiver}/webhooks/{integration_id}"
        assert hook["config"]["secret"] == result.webhook.secret

        await engine.sync(integration_id, {"includeComments": False})
        github.edit_issue(REPO, 3, title="Edited on GitHub")
        [answer] = await github.emit(REPO, "issues", "edited", number=3)
        assert answer.status == 200
        assert await engine.process_webhooks() == 1
        titles = {item.title for item in await _items(store)}
        assert "Edited on GitHub" in titles and len(titles) == ISSUES

        await engine.disconnect(integration_id)
        assert github.repo(REPO).hooks == {}
        assert await github.emit(REPO, "issues", "edited", number=3) == []


async def _items(store: SqlStore) -> list[Any]:
    async with store.transaction() as session:
        ids = [row[0] for row in await session.fetchall("SELECT id FROM work_items", ())]
    return list((await store.get_work_items(ids)).values())


# --- the embedding guide -------------------------------------------------------------------

DOCS = Path(__file__).resolve().parents[2] / "docs" / "embedding.md"


async def test_the_embedding_guide_example_runs(tmp_path: Path) -> None:
    text = DOCS.read_text(encoding="utf-8")
    example = re.search(r"```python\n(\"\"\"Embed kiro-sync.*?)```", text, re.S)
    assert example is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KIRO_SYNC_", "ENCRYPTION"))}
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        example.group(1),
        cwd=DOCS.parents[1],
        env={**env, "KIRO_SYNC_HOME": str(tmp_path)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(child.communicate(), 120)
    assert child.returncode == 0, err.decode()[-2000:]
    lines = out.decode().splitlines()
    assert lines[0] == "connected as octocat"
    assert lines[1].startswith("GitHub webhook: https://sync.kiro.example/webhooks/")
    assert lines[2:] == [
        "sync: success 25 created",
        "answer GitHub: 200",
        "applied: 1",
        "status: success 1 sync log(s)",
    ]


# --- projects and members ---------------------------------------------------------------------


async def test_members_and_projects(engine: Engine) -> None:
    assert not await engine.project_exists("p9")
    await engine.add_member("p9", "user-1", "admin")
    assert await engine.project_exists("p9")
    assert await engine.member_role("p9", "user-1") == "admin"
    assert await engine.member_role("p9", "user-2") is None
    await engine.add_member("p9", "user-1", "viewer")
    assert await engine.member_role("p9", "user-1") == "viewer"
    with pytest.raises(ValidationError) as caught:
        await engine.add_member("p9", "user-1", "superuser")  # type: ignore[arg-type]
    assert caught.value.problems == [
        "role: unknown role 'superuser'; valid: owner, admin, member, viewer"
    ]
    with pytest.raises(ValidationError) as caught:
        await engine.add_member(" ", "", "owner")
    assert caught.value.problems == [
        "project: must be a non-empty string",
        "user: must be a non-empty string",
    ]
    with pytest.raises(ValidationError) as caught:  # Postgres text cannot hold it: was a 500
        await engine.add_member("p\x00", "user-1", "owner")
    assert caught.value.problems == ["project: contains a NUL character (U+0000)"]
    assert not await engine.project_exists(" ")
    await engine.ensure_project("p10", "Project ten")
    assert await engine.project_exists("p10")
    assert await engine.list_integrations("p10") == []
    with pytest.raises(NotFoundError):
        await engine.get_integration("nope")
