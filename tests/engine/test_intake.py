"""Durable webhook intake: verify, store and commit before the 2xx; process once in effect.

Deliveries are the GitHub simulator's own (signed exactly as GitHub signs them). The crash
test receives with one Engine, drops it without processing, and processes with a new Engine
(new store connection, same database file) as a restarted process would.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from engine.errors import ValidationError
from engine.facade import Engine
from engine.store.duckdb import DuckDBStore
from engine.store.sqlstore import SqlStore
from engine.vault import Vault, encode_key
from tests.conftest import ManualClock, StoreTarget
from tests.engine.facade_helpers import (
    REPO,
    hub_config,
    hub_credentials,
    inbound,
    make_vault,
    serve_app,
    webhook_app,
    write_catalog,
)
from tests.simulators.base import serve
from tests.simulators.github import GitHubSim

PUBLIC_URL = "http://kiro.test"


@pytest.fixture
async def sim() -> AsyncIterator[tuple[GitHubSim, str]]:
    github = GitHubSim()
    github.seed_issues(REPO, count=3, pull_requests=0)
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
    return Engine(store, catalog, vault=vault, public_url=PUBLIC_URL, node="node-a")


async def connect_hub(engine: Engine, base_url: str) -> tuple[str, str]:
    """A connected hub integration: (its id, its webhook secret)."""
    result = await engine.connect(
        project_id="p1",
        integration_type="hub",
        credentials=hub_credentials(base_url),
        config=hub_config(),
        create_project=True,
    )
    assert result.webhook is not None and result.webhook.secret is not None
    return result.integration["id"], result.webhook.secret


def delivered(github: GitHubSim, secret: str | None, **kwargs: Any) -> Any:
    """A GitHub delivery as an InboundRequest (``kwargs`` go to ``GitHubSim.webhook``)."""
    event = kwargs.pop("event", "issues")
    action = kwargs.pop("action", "opened")
    delivery = github.webhook(event, action, REPO, secret=secret, **kwargs)
    return delivery, inbound(f"{PUBLIC_URL}/webhooks/x", delivery.headers, delivery.body)


async def webhook_rows(store: SqlStore, integration_id: str) -> list[tuple[Any, ...]]:
    async with store.transaction() as session:
        return await session.fetchall(
            "SELECT delivery_id, processed, error, attempts, event_type FROM webhook_logs "
            "WHERE integration_id = %s ORDER BY created_at",
            (integration_id,),
        )


async def work_items(store: SqlStore, project_id: str = "p1") -> list[Any]:
    async with store.transaction() as session:
        return await session.fetchall(
            "SELECT id, title FROM work_items WHERE project_id = %s ORDER BY title", (project_id,)
        )


# --- receipt -------------------------------------------------------------------------------


async def test_an_invalid_signature_is_rejected_and_nothing_is_stored(
    engine: Engine, store: SqlStore, sim: tuple[GitHubSim, str]
) -> None:
    github, base_url = sim
    integration_id, secret = await connect_hub(engine, base_url)
    _, wrong = delivered(github, "not the secret", number=1)
    answer = await engine.receive_webhook(integration_id, wrong)
    assert answer.status == 401 and answer.webhook_id is None
    assert "signature" in (answer.reason or "")
    assert secret not in orjson.dumps(answer.body).decode()
    _, unsigned = delivered(github, None, number=1)
    assert (await engine.receive_webhook(integration_id, unsigned)).status == 401
    assert await webhook_rows(store, integration_id) == []
    assert await engine.webhook_backlog() == 0


async def test_a_verified_delivery_is_committed_before_the_answer(
    engine: Engine, store_target: StoreTarget, sim: tuple[GitHubSim, str]
) -> None:
    github, base_url = sim
    integration_id, secret = await connect_hub(engine, base_url)
    delivery, request = delivered(github, secret, number=1)
    answer = await engine.receive_webhook(integration_id, request)
    assert answer.status == 200 and answer.kind == "accepted" and not answer.duplicate
    # Another connection (another process) sees the row the moment the answer exists.
    other = await store_target.open()
    rows = await webhook_rows(other, integration_id)
    assert rows == [(delivery.delivery_id, False, None, 0, "issues")]
    assert await other.webhook_backlog() == 1


async def test_a_duplicate_delivery_is_stored_once_and_applied_once(
    engine: Engine, store: SqlStore, sim: tuple[GitHubSim, str]
) -> None:
    github, base_url = sim
    integration_id, secret = await connect_hub(engine, base_url)
    _, request = delivered(github, secret, number=2)
    first = await engine.receive_webhook(integration_id, request)
    again = await engine.receive_webhook(integration_id, request)  # the provider retried
    assert first.status == again.status == 200
    assert not first.duplicate and again.duplicate
    assert len(await webhook_rows(store, integration_id)) == 1

    assert await engine.process_webhooks() == 1
    assert [title for _, title in await work_items(store)] == ["Seeded item 2"]
    assert await engine.process_webhooks() == 0
    third = await engine.receive_webhook(integration_id, request)
    assert third.duplicate
    assert await engine.process_webhooks() == 0
    assert len(await work_items(store)) == 1
    [(_, processed, error, attempts, _)] = await webhook_rows(store, integration_id)
    assert processed is True and error is None and attempts == 1


async def test_processing_applies_edits_and_deletes_through_the_sync_engine(
    engine: Engine, store: SqlStore, sim: tuple[GitHubSim, str]
) -> None:
    github, base_url = sim
    integration_id, secret = await connect_hub(engine, base_url)
    await engine.receive_webhook(integration_id, delivered(github, secret, number=1)[1])
    github.edit_issue(REPO, 1, title="Renamed at the provider")
    await engine.receive_webhook(
        integration_id, delivered(github, secret, action="edited", number=1)[1]
    )
    assert await engine.process_webhooks(limit=10) == 2
    [(kiro_id, title)] = await work_items(store)
    assert title == "Renamed at the provider"

    github.delete_issue(REPO, 1)
    await engine.receive_webhook(
        integration_id, delivered(github, secret, action="deleted", number=1)[1]
    )
    assert await engine.process_webhooks() == 1
    deleted = await store.get_work_items([kiro_id])
    assert deleted[kiro_id].deleted_at is not None


async def test_a_ping_is_authentic_but_has_nothing_to_apply(
    engine: Engine, store: SqlStore, sim: tuple[GitHubSim, str]
) -> None:
    github, base_url = sim
    integration_id, secret = await connect_hub(engine, base_url)
    answer = await engine.receive_webhook(
        integration_id, delivered(github, secret, event="ping")[1]
    )
    assert answer.status == 200 and answer.kind == "ignored"
    [(_, processed, _, _, event_type)] = await webhook_rows(store, integration_id)
    assert processed is True and event_type == "ping"
    assert await engine.webhook_backlog() == 0
    assert await engine.process_webhooks() == 0


async def test_unknown_and_disconnected_integrations_are_refused(
    engine: Engine, store: SqlStore, sim: tuple[GitHubSim, str]
) -> None:
    github, base_url = sim
    integration_id, secret = await connect_hub(engine, base_url)
    request = delivered(github, secret, number=1)[1]
    assert (await engine.receive_webhook("no-such-id", request)).status == 404
    await engine.disconnect(integration_id)
    answer = await engine.receive_webhook(integration_id, request)
    assert answer.status == 410
    assert await webhook_rows(store, integration_id) == []


async def test_a_body_that_is_not_json_is_a_400_after_the_signature_holds(
    engine: Engine, store: SqlStore, sim: tuple[GitHubSim, str]
) -> None:
    _, base_url = sim
    integration_id, secret = await connect_hub(engine, base_url)
    body = b"{not json"
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "issues",
        "X-Hub-Signature-256": signature,
    }
    answer = await engine.receive_webhook(integration_id, inbound(PUBLIC_URL, headers, body))
    assert answer.status == 400
    assert await webhook_rows(store, integration_id) == []


def signed(secret: str, body: bytes, event: str = "issues") -> dict[str, str]:
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-Hub-Signature-256": signature,
        "X-GitHub-Delivery": f"d-{len(body)}",
    }


async def test_a_nul_character_from_the_provider_is_stored_as_a_replacement(
    engine: Engine, store: SqlStore, sim: tuple[GitHubSim, str]
) -> None:
    github, base_url = sim
    integration_id, secret = await connect_hub(engine, base_url)
    delivery = github.webhook("issues", "opened", REPO, number=1)
    body = delivery.body.replace(b'"Seeded item 1"', b'"Seeded\\u0000item 1"')
    assert b"\\u0000" in body
    request = inbound(PUBLIC_URL, signed(secret, body), body)
    answer = await engine.receive_webhook(integration_id, request)
    assert answer.status == 200 and answer.kind == "accepted", answer  # Postgres: was a 500
    assert await engine.process_webhooks() == 1
    assert [title for _, title in await work_items(store)] == ["Seeded\ufffditem 1"]


async def test_a_body_nested_past_what_can_be_stored_is_a_400(
    engine: Engine, store: SqlStore, sim: tuple[GitHubSim, str]
) -> None:
    _, base_url = sim
    integration_id, secret = await connect_hub(engine, base_url)
    body = b'{"action": "opened", "deep": ' + b"[" * 300 + b"]" * 300 + b"}"
    answer = await engine.receive_webhook(
        integration_id, inbound(PUBLIC_URL, signed(secret, body), body)
    )
    assert answer.status == 400 and "nested deeper than 100 levels" in (answer.reason or "")
    assert await webhook_rows(store, integration_id) == []
    with pytest.raises(ValidationError) as caught:  # the authenticated relay says the same
        await engine.relay_webhook(integration_id, orjson.loads(body), "issues")
    assert caught.value.problems[0].startswith("data.payload.deep[0][0]")


async def test_an_id_no_store_can_hold_is_an_unknown_integration(
    engine: Engine, sim: tuple[GitHubSim, str]
) -> None:
    github, base_url = sim
    _, secret = await connect_hub(engine, base_url)
    request = delivered(github, secret, number=1)[1]
    assert (await engine.receive_webhook("bad\x00id", request)).status == 404


# --- processing failures -------------------------------------------------------------------


async def test_a_delivery_that_cannot_be_applied_keeps_its_error_and_is_given_up(
    store_target: StoreTarget, catalog: Any, vault: Vault, sim: tuple[GitHubSim, str]
) -> None:
    _, base_url = sim
    clock = ManualClock()
    store = await store_target.open(clock=clock, webhook_max_attempts=2)
    engine = Engine(store, catalog, vault=vault, public_url=PUBLIC_URL, clock=clock)
    integration_id, secret = await connect_hub(engine, base_url)
    # An authentic "issues" delivery that carries no issue: its records cannot be read.
    body = orjson.dumps({"action": "opened", "repository": {"full_name": REPO}})
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "issues",
        "X-GitHub-Delivery": "d-broken",
        "X-Hub-Signature-256": signature,
    }
    answer = await engine.receive_webhook(integration_id, inbound(PUBLIC_URL, headers, body))
    assert answer.status == 200 and answer.kind == "accepted"

    assert await engine.process_webhooks() == 0
    [(_, processed, error, attempts, _)] = await webhook_rows(store, integration_id)
    assert processed is False and attempts == 1
    assert error.startswith("record: ") and "lacks its records" in error
    assert await engine.process_webhooks() == 0  # waiting for its retry time
    clock.advance(60)
    assert await engine.process_webhooks() == 0
    [(_, processed, _, attempts, _)] = await webhook_rows(store, integration_id)
    assert processed is False and attempts == 2
    clock.advance(600)
    assert await engine.webhook_backlog() == 0  # given up: out of the backlog, error kept
    assert await engine.process_webhooks() == 0


# --- crash safety ---------------------------------------------------------------------------


async def test_a_crash_between_receipt_and_processing_loses_nothing(
    tmp_path: Path, catalog: Any, vault: Vault, sim: tuple[GitHubSim, str]
) -> None:
    github, base_url = sim
    database = tmp_path / "kiro-sync.duckdb"
    first_store = DuckDBStore(database)
    await first_store.open()
    first = Engine(first_store, catalog, vault=vault, public_url=PUBLIC_URL, node="node-a")
    integration_id, secret = await connect_hub(first, base_url)
    async with serve_app(webhook_app(first)) as receiver:
        hook = github.repo(REPO).hooks
        hook[1] = {
            "id": 1,
            "active": True,
            "events": ["issues"],
            "config": {"url": f"{receiver}/webhooks/{integration_id}", "secret": secret},
        }
        results = [await github.emit(REPO, "issues", "opened", number=n) for n in (1, 2, 3)]
    assert [r.status for batch in results for r in batch] == [200, 200, 200]
    # The process dies here: nothing was processed, the store connection is simply dropped.
    await first_store.close()

    second_store = DuckDBStore(database)
    await second_store.open()
    try:
        second = Engine(second_store, catalog, vault=vault, public_url=PUBLIC_URL, node="node-b")
        assert await second.webhook_backlog() == 3
        assert await second.process_webhooks() == 3
        assert await second.process_webhooks() == 0
        titles = [title for _, title in await work_items(second_store)]
        assert titles == ["Seeded item 1", "Seeded item 2", "Seeded item 3"]
        rows = await webhook_rows(second_store, integration_id)
        assert [(processed, attempts) for _, processed, _, attempts, _ in rows] == [(True, 1)] * 3
    finally:
        await second_store.close()


RECEIVER = """
import asyncio, sys, time
from pathlib import Path
import orjson
from engine.catalog import ProviderCatalog
from engine.facade import Engine
from engine.store.duckdb import DuckDBStore
from engine.vault import Vault, encode_key
from engine.webhooks import InboundRequest

async def main():
    database, providers, integration_id, delivery = sys.argv[1:5]
    data = orjson.loads(Path(delivery).read_bytes())
    store = DuckDBStore(database)
    await store.open()
    catalog = ProviderCatalog([providers], include_bundled=False, env={})
    engine = Engine(store, catalog, vault=Vault.from_env())
    request = InboundRequest.build("POST", data["url"], data["headers"], data["body"].encode())
    answer = await engine.receive_webhook(integration_id, request)
    print(answer.status, flush=True)
    time.sleep(60)  # SIGKILLed here, store still open, nothing processed

asyncio.run(main())
"""


async def test_a_receiver_killed_after_answering_loses_nothing(
    tmp_path: Path, catalog: Any, vault: Vault, sim: tuple[GitHubSim, str]
) -> None:
    github, base_url = sim
    database = tmp_path / "kiro-sync.duckdb"
    store = DuckDBStore(database)
    await store.open()
    engine = Engine(store, catalog, vault=vault, public_url=PUBLIC_URL)
    integration_id, secret = await connect_hub(engine, base_url)
    await store.close()
    delivery = github.webhook("issues", "opened", REPO, secret=secret, number=2)
    url = f"{PUBLIC_URL}/webhooks/{integration_id}"
    saved = tmp_path / "delivery.json"
    saved.write_bytes(
        orjson.dumps({"url": url, "headers": delivery.headers, "body": delivery.body.decode()})
    )
    env = {**os.environ, "ENCRYPTION_KEY": encode_key(vault.keys[0])}
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        RECEIVER,
        str(database),
        str(tmp_path / "providers"),
        integration_id,
        str(saved),
        stdout=asyncio.subprocess.PIPE,
        env=env,
    )
    assert child.stdout is not None
    line = await asyncio.wait_for(child.stdout.readline(), 60)
    child.kill()  # SIGKILL: no close, no checkpoint
    await child.wait()
    assert line.strip() == b"200"

    restarted = DuckDBStore(database)
    await restarted.open()
    try:
        engine = Engine(restarted, catalog, vault=vault, public_url=PUBLIC_URL)
        assert await engine.webhook_backlog() == 1
        assert await engine.process_webhooks() == 1
        assert await engine.process_webhooks() == 0
        assert [title for _, title in await work_items(restarted)] == ["Seeded item 2"]
    finally:
        await restarted.close()


class _DiesBeforeMarking:
    """A store whose process dies after a delivery was applied but before it was marked."""

    def __init__(self, store: SqlStore) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def mark_webhook(self, *args: Any, **kwargs: Any) -> None:
        raise SystemExit("killed")


async def test_a_crash_after_applying_reapplies_without_a_second_effect(
    store_target: StoreTarget, catalog: Any, vault: Vault, sim: tuple[GitHubSim, str]
) -> None:
    github, base_url = sim
    clock = ManualClock()
    store = await store_target.open(clock=clock)
    engine = Engine(store, catalog, vault=vault, public_url=PUBLIC_URL, clock=clock)
    integration_id, secret = await connect_hub(engine, base_url)
    await engine.receive_webhook(integration_id, delivered(github, secret, number=1)[1])

    dying = Engine(_DiesBeforeMarking(store), catalog, vault=vault, clock=clock)  # type: ignore[arg-type]
    with pytest.raises(SystemExit):
        await dying.process_webhooks(worker="doomed")
    assert len(await work_items(store)) == 1  # applied, not marked
    assert await engine.process_webhooks() == 0  # the dead worker's claim holds a while
    clock.advance(120)  # ... until it expires
    assert await engine.process_webhooks() == 1
    assert [title for _, title in await work_items(store)] == ["Seeded item 1"]
    [(_, processed, _, attempts, _)] = await webhook_rows(store, integration_id)
    assert processed is True and attempts == 2


# --- handshakes and relays ------------------------------------------------------------------


async def test_a_handshake_secret_is_stored_and_then_verifies_deliveries(
    engine: Engine, store: SqlStore
) -> None:
    await store.ensure_project("p1")
    integration_id = await _stored_signal_integration(engine, store)
    handshake = inbound(PUBLIC_URL, {"X-Hook-Secret": "handshake-secret-42"}, b"")
    answer = await engine.receive_webhook(integration_id, handshake)
    assert answer.status == 200 and answer.kind == "handshake"
    assert answer.headers == {"X-Hook-Secret": "handshake-secret-42"}
    assert "handshake-secret-42" not in repr(answer)
    row = await store.get_integration(integration_id)
    assert row is not None
    assert engine.credentials_of(row)["webhookSecret"] == "handshake-secret-42"
    again = await engine.receive_webhook(integration_id, handshake)  # not a second time
    assert again.status == 401

    body = orjson.dumps({"issue": {"id": "s-1", "title": "From a signal"}})
    signature = hmac.new(b"handshake-secret-42", body, hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json", "X-Hook-Signature": signature}
    stored = await engine.receive_webhook(integration_id, inbound(PUBLIC_URL, headers, body))
    assert stored.status == 200 and stored.kind == "accepted"
    assert await engine.process_webhooks() == 1
    assert [title for _, title in await work_items(store)] == ["From a signal"]


async def _stored_signal_integration(engine: Engine, store: SqlStore) -> str:
    """A signal integration as connect would store it (its provider has no simulator)."""
    from engine.store.base import Integration

    await engine.register_provider_types()
    row = Integration(
        id="signal-1",
        project_id="p1",
        type="signal",
        name="Signal",
        config={},
        credentials=engine.vault.encrypt({"token": "sig-token", "authType": "token"}),
    )
    await store.create_integration(row)
    return row.id


async def test_a_relayed_payload_is_queued_and_applied(
    engine: Engine, store: SqlStore, sim: tuple[GitHubSim, str]
) -> None:
    github, base_url = sim
    integration_id, _ = await connect_hub(engine, base_url)
    payload = github.webhook("issues", "opened", REPO, number=3).payload
    queued = await engine.relay_webhook(integration_id, payload, "issues")
    assert queued["queued"] is True and queued["event_type"] == "issues"
    assert await engine.process_webhooks() == 1
    assert [title for _, title in await work_items(store)] == ["Seeded item 3"]
