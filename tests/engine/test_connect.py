"""connect, test-connection, health checks and disconnect, against the GitHub simulator and
both stores: credential validation per auth mode, config paths, the connection test, the
encrypted credentials, the webhook secret shown once, registration by API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from engine.auth import select_auth_mode
from engine.connect import (
    REGISTERED_KEY,
    validate_credentials,
    we_choose_secret,
)
from engine.errors import ConfigError, NotFoundError, ValidationError
from engine.facade import Engine
from engine.store.duckdb import DuckDBStore
from engine.store.sqlstore import SqlStore
from tests.engine.facade_helpers import (
    REPO,
    TOKEN,
    hub_config,
    hub_credentials,
    make_vault,
    write_catalog,
)
from tests.simulators.base import serve
from tests.simulators.github import GitHubSim

PUBLIC_URL = "http://kiro.test:8080"


@pytest.fixture
async def sim() -> AsyncIterator[tuple[GitHubSim, str]]:
    github = GitHubSim()
    github.add_repo(REPO)
    async with serve(github) as base_url:
        yield github, base_url


@pytest.fixture
def catalog(tmp_path: Path) -> Any:
    return write_catalog(tmp_path / "providers")


@pytest.fixture
def engine(store: SqlStore, catalog: Any) -> Engine:
    return Engine(store, catalog, vault=make_vault(), public_url=PUBLIC_URL, node="test")


def _dump(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


# --- credential validation per auth mode -------------------------------------------------


def test_credentials_pick_the_first_mode_with_its_fields(catalog: Any) -> None:
    spec = catalog.get("hub").spec
    checked = validate_credentials(spec, {"token": "t0ken-value"})
    assert checked.mode == "token"
    assert checked.values["authType"] == "token"
    checked = validate_credentials(spec, {"installationToken": "inst-token"})
    assert checked.mode == "app"
    assert "webhookSecret" not in checked.values


def test_auth_type_selects_the_mode_and_missing_fields_are_listed(catalog: Any) -> None:
    spec = catalog.get("hub").spec
    with pytest.raises(ValidationError) as caught:
        validate_credentials(spec, {"authType": "app", "token": "t0ken-value"})
    assert set(caught.value.problems) == {
        "credentials.installationToken: field required (auth mode 'app')",
        "credentials.token: unknown field (auth mode 'app'); valid: installationToken, "
        "authType, baseUrl, webhookSecret",
    }


def test_unknown_auth_type_names_the_valid_ones(catalog: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        validate_credentials(catalog.get("hub").spec, {"authType": "oauth"})
    assert caught.value.problems == [
        "credentials.authType: unknown auth mode 'oauth'; valid: token, app"
    ]


def test_base_url_is_always_allowed_but_must_be_a_url(catalog: Any) -> None:
    spec = catalog.get("hub").spec
    ok = validate_credentials(spec, {"token": "t0ken-value", "baseUrl": "http://127.0.0.1:9"})
    assert ok.values["baseUrl"] == "http://127.0.0.1:9"
    with pytest.raises(ValidationError) as caught:
        validate_credentials(spec, {"token": "t0ken-value", "baseUrl": "ftp:/nowhere", "x": 1})
    assert "credentials.baseUrl: must be an http(s) URL" in caught.value.problems
    assert any(p.startswith("credentials.x: unknown field") for p in caught.value.problems)


@pytest.mark.parametrize(
    "base_url", ["http://[::1", "http://127.0.0.1:99999", "http://host:port", "http://:80"]
)
def test_a_base_url_that_does_not_parse_is_a_problem_not_a_crash(
    catalog: Any, base_url: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        validate_credentials(catalog.get("hub").spec, {"token": "t0ken", "baseUrl": base_url})
    assert caught.value.problems == ["credentials.baseUrl: must be an http(s) URL"]


@pytest.mark.parametrize("auth_type", [["token"], {"mode": "token"}, 7])
def test_an_auth_type_that_is_not_a_string_is_a_problem(catalog: Any, auth_type: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        validate_credentials(catalog.get("hub").spec, {"authType": auth_type, "token": "t0ken"})
    [problem] = caught.value.problems
    assert problem.startswith("credentials.authType: unknown auth mode")
    assert problem.endswith("valid: token, app")


def test_empty_credentials_report_the_closest_mode(catalog: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        validate_credentials(catalog.get("hub").spec, {})
    assert caught.value.problems == ["credentials.token: field required (auth mode 'token')"]
    with pytest.raises(ValidationError) as caught:
        validate_credentials(catalog.get("hub").spec, ["token"])
    assert caught.value.problems == ["credentials: must be an object"]


def test_blank_text_is_a_missing_field_as_the_connection_sees_it(catalog: Any) -> None:
    spec = catalog.get("hub").spec
    with pytest.raises(ValidationError) as caught:
        validate_credentials(spec, {"token": "   "})  # was accepted, then sent as "Bearer    "
    assert caught.value.problems == ["credentials.token: field required (auth mode 'token')"]
    with pytest.raises(ConfigError, match="token needs token"):
        select_auth_mode(spec, {"token": "   "})  # the connection's own rule: the same one


@pytest.mark.parametrize("token", ["t0ken\r\nX-Injected: 1", "t0ken\n", "t0\x00ken", "t0\x7fken"])
def test_a_credential_with_a_line_break_or_control_character_is_refused(
    catalog: Any, token: str
) -> None:
    with pytest.raises(ValidationError) as caught:  # it would have gone into a header
        validate_credentials(catalog.get("hub").spec, {"token": token})
    assert caught.value.problems == [
        "credentials.token: contains a line break or control character"
    ]


def test_values_must_be_strings(catalog: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        validate_credentials(catalog.get("hub").spec, {"token": 12345})
    assert "credentials.token: must be a string" in caught.value.problems


def test_who_chooses_the_webhook_secret(catalog: Any) -> None:
    assert we_choose_secret(catalog.get("hub").spec)  # any string both sides share
    assert not we_choose_secret(catalog.get("chat").spec)  # issued by the provider
    assert not we_choose_secret(catalog.get("signal").spec)  # handed over in a handshake


# --- connect -------------------------------------------------------------------------------


async def test_connect_stores_encrypted_credentials_and_shows_the_secret_once(
    engine: Engine, store: SqlStore, sim: tuple[GitHubSim, str]
) -> None:
    _, base_url = sim
    result = await engine.connect(
        project_id="project-123",
        integration_type="hub",
        credentials=hub_credentials(base_url),
        config=hub_config(syncFrequency="hourly"),
        create_project=True,
        created_by="user-1",
    )
    integration = result.integration
    assert result.identity == "octocat"
    assert integration["name"] == "Hub (octocat)"
    assert integration["config"] == {"filters": {"projects": [REPO]}, "syncFrequency": "hourly"}
    assert integration["is_active"] is True and integration["created_by"] == "user-1"
    assert "credentials" not in integration

    webhook = result.webhook
    assert webhook is not None and webhook.registered is False
    assert webhook.url == f"{PUBLIC_URL}/webhooks/{integration['id']}"
    assert webhook.events == ["issues"]  # the provider's default events, to tick by hand
    assert webhook.secret and len(webhook.secret) >= 32
    assert integration["webhook_url"] == webhook.url

    row = await store.get_integration(integration["id"])
    assert row is not None and row.credentials is not None
    assert TOKEN.encode() not in bytes(row.credentials)
    assert webhook.secret.encode() not in bytes(row.credentials)
    stored = engine.credentials_of(row)
    assert stored["token"] == TOKEN and stored["webhookSecret"] == webhook.secret

    shown = [await engine.get_integration(integration["id"]), *await engine.list_integrations()]
    for view in shown:
        text = _dump(view)
        assert TOKEN not in text and webhook.secret not in text
        assert view["webhook_url"] == webhook.url


async def test_a_given_secret_is_kept_and_a_provider_issued_one_is_not_invented(
    engine: Engine, sim: tuple[GitHubSim, str]
) -> None:
    github, base_url = sim
    github.add_token("bot-token-1", "chatbot")
    mine = await engine.connect(
        project_id="p1",
        integration_type="hub",
        credentials=hub_credentials(base_url, webhookSecret="my own secret"),
        config=hub_config(),
        create_project=True,
    )
    assert mine.webhook is not None and mine.webhook.secret == "my own secret"
    issued = await engine.connect(
        project_id="p1",
        integration_type="chat",
        credentials={"token": "bot-token-1", "baseUrl": base_url},
    )
    assert issued.identity == "chatbot"
    assert issued.webhook is not None and issued.webhook.secret is None
    given = await engine.connect(
        project_id="p1",
        integration_type="chat",
        name="Chat with its signing secret",
        credentials={"token": "bot-token-1", "baseUrl": base_url, "signingSecret": "s1gn1ng"},
    )
    assert given.webhook is not None and given.webhook.secret == "s1gn1ng"


async def test_bad_input_lists_every_problem_with_its_path_and_stores_nothing(
    engine: Engine, store: SqlStore, sim: tuple[GitHubSim, str]
) -> None:
    _, base_url = sim
    with pytest.raises(ValidationError) as caught:
        await engine.connect(
            project_id="p1",
            integration_type="hub",
            credentials={"token": TOKEN, "baseUrl": base_url, "pasword": "x"},
            config={"filters": {"lables": ["bug"]}, "syncFrequency": "weekly"},
            create_project=True,
        )
    problems = caught.value.problems
    assert any(p.startswith("credentials.pasword: unknown field") for p in problems)
    assert "config.filters.lables: unknown key" in problems
    assert any(p.startswith("config.syncFrequency:") for p in problems)
    assert TOKEN not in str(caught.value) and TOKEN not in _dump(problems)

    with pytest.raises(ValidationError) as caught:
        await engine.connect(
            project_id="p1",
            integration_type="hub",
            credentials=hub_credentials(base_url),
            config={"fieldMappings": {"summary": "no_such_field"}},
            create_project=True,
        )
    assert caught.value.problems[0].startswith("config.fieldMappings.summary:")

    with pytest.raises(ValidationError) as caught:
        await engine.connect(
            project_id="p1", integration_type="jora", credentials={}, create_project=True
        )
    assert caught.value.problems == [
        "integrationType: unknown integration type 'jora'; valid: chat, hub, signal"
    ]
    assert await store.list_integrations() == []
    assert await store.get_project("p1") is None


async def test_a_failing_connection_test_carries_the_providers_reason_and_stores_nothing(
    engine: Engine, store: SqlStore, sim: tuple[GitHubSim, str]
) -> None:
    _, base_url = sim
    with pytest.raises(ConfigError) as caught:
        await engine.connect(
            project_id="p1",
            integration_type="hub",
            credentials={"token": "ghp_wrong_token_123", "baseUrl": base_url},
            config=hub_config(),
            create_project=True,
        )
    error = caught.value
    assert error.message == "Connection test failed"
    assert "Bad credentials" in error.details
    assert "ghp_wrong_token_123" not in str(error) + str(error.details)
    assert await store.list_integrations() == []


async def test_an_unreachable_provider_fails_the_test_too(catalog: Any, tmp_path: Path) -> None:
    engine = Engine(DuckDBStore(tmp_path / "unused.duckdb"), catalog, vault=make_vault())
    with pytest.raises(ConfigError) as caught:
        await engine.test_connection(
            integration_type="hub",
            credentials={"token": TOKEN, "baseUrl": "http://127.0.0.1:9"},
        )
    assert caught.value.message == "Connection test failed"
    assert caught.value.details


async def test_test_connection_stores_nothing(
    engine: Engine, store: SqlStore, sim: tuple[GitHubSim, str]
) -> None:
    _, base_url = sim
    found = await engine.test_connection(
        integration_type="hub", credentials=hub_credentials(base_url), config=hub_config()
    )
    assert found.identity == "octocat"
    assert await store.list_integrations() == []


async def test_an_unknown_project_is_not_found_unless_asked_to_create_it(
    engine: Engine, store: SqlStore, sim: tuple[GitHubSim, str]
) -> None:
    _, base_url = sim
    with pytest.raises(NotFoundError):
        await engine.connect(
            project_id="p-new", integration_type="hub", credentials=hub_credentials(base_url)
        )
    await engine.add_member("p-new", "user-7", "owner")  # creates the project
    assert await engine.member_role("p-new", "user-7") == "owner"
    result = await engine.connect(
        project_id="p-new", integration_type="hub", credentials=hub_credentials(base_url)
    )
    assert result.integration["project_id"] == "p-new"


# --- registration by API ------------------------------------------------------------------


async def test_webhook_events_register_a_hook_which_disconnect_deletes(
    engine: Engine, store: SqlStore, sim: tuple[GitHubSim, str]
) -> None:
    github, base_url = sim
    result = await engine.connect(
        project_id="p1",
        integration_type="hub",
        credentials=hub_credentials(base_url),
        config=hub_config(webhookEvents=["issues", "issue_comment"]),
        create_project=True,
    )
    webhook = result.webhook
    assert webhook is not None and webhook.registered is True
    hooks = list(github.repo(REPO).hooks.values())
    assert len(hooks) == 1
    assert hooks[0]["events"] == ["issues", "issue_comment"]
    assert hooks[0]["config"]["url"] == webhook.url
    assert hooks[0]["config"]["secret"] == webhook.secret

    integration_id = result.integration["id"]
    row = await store.get_integration(integration_id)
    assert row is not None
    assert engine.credentials_of(row)[REGISTERED_KEY]["id"] == str(hooks[0]["id"])

    await engine.disconnect(integration_id)
    assert github.repo(REPO).hooks == {}
    after = await engine.get_integration(integration_id)
    assert after["is_active"] is False
    row = await store.get_integration(integration_id)
    assert row is not None and REGISTERED_KEY not in engine.credentials_of(row)


async def test_names_no_store_can_hold_are_validation_errors(
    engine: Engine, store: SqlStore, sim: tuple[GitHubSim, str]
) -> None:
    _, base_url = sim
    with pytest.raises(ValidationError) as caught:  # Postgres: was a StoreError (a 500)
        await engine.connect(
            project_id="p\x00",
            integration_type="hub",
            credentials=hub_credentials(base_url),
            name="",
            create_project=True,
        )
    assert caught.value.problems == [
        "projectId: contains a NUL character (U+0000)",
        "data.name: must be a non-empty string",
    ]
    assert await store.list_integrations() == []


async def test_a_failed_connect_creates_no_project(
    engine: Engine, store: SqlStore, sim: tuple[GitHubSim, str]
) -> None:
    _, base_url = sim
    with pytest.raises(ConfigError):
        await engine.connect(
            project_id="p-fresh",
            integration_type="hub",
            credentials=hub_credentials(base_url, token="wrong-token"),
            create_project=True,
        )
    with pytest.raises(ConfigError):  # the test passes, the registration is refused
        await engine.connect(
            project_id="p-fresh",
            integration_type="hub",
            credentials=hub_credentials(base_url),
            config={"filters": {"projects": ["octo/missing"]}, "webhookEvents": ["issues"]},
            create_project=True,
        )
    assert await store.get_project("p-fresh") is None
    await engine.connect(
        project_id="p-fresh",
        integration_type="hub",
        credentials=hub_credentials(base_url),
        create_project=True,
    )
    assert await store.get_project("p-fresh") is not None


async def _registered(engine: Engine, base_url: str) -> str:
    result = await engine.connect(
        project_id="p1",
        integration_type="hub",
        credentials=hub_credentials(base_url),
        config=hub_config(webhookEvents=["issues"]),
        create_project=True,
    )
    return str(result.integration["id"])


async def test_disconnect_deactivates_even_when_the_provider_keeps_the_webhook(
    engine: Engine, store: SqlStore, sim: tuple[GitHubSim, str]
) -> None:
    github, base_url = sim
    integration_id = await _registered(engine, base_url)
    [hook_id] = github.repo(REPO).hooks
    github.inject_server_error(times=10, method="DELETE")
    warnings = await engine.disconnect(integration_id)
    assert (await engine.get_integration(integration_id))["is_active"] is False
    [warning] = warnings
    assert f"(id {hook_id})" in warning and "delete it in the provider's settings" in warning
    assert TOKEN not in warning
    row = await store.get_integration(integration_id)
    assert row is not None and REGISTERED_KEY in engine.credentials_of(row)  # not forgotten
    assert list(github.repo(REPO).hooks) == [hook_id]


async def test_disconnect_deactivates_when_the_credentials_no_longer_decrypt(
    engine: Engine, store: SqlStore, catalog: Any, sim: tuple[GitHubSim, str]
) -> None:
    _, base_url = sim
    integration_id = await _registered(engine, base_url)
    lost_key = Engine(store, catalog, vault=make_vault(), public_url=PUBLIC_URL)
    [warning] = await lost_key.disconnect(integration_id)
    assert "cannot be decrypted" in warning and "was not deleted" in warning
    assert (await lost_key.get_integration(integration_id))["is_active"] is False


async def test_a_clean_disconnect_has_no_warnings(
    engine: Engine, sim: tuple[GitHubSim, str]
) -> None:
    github, base_url = sim
    integration_id = await _registered(engine, base_url)
    assert await engine.disconnect(integration_id) == []
    assert github.repo(REPO).hooks == {}


async def test_registration_needs_a_public_url(
    store: SqlStore, catalog: Any, sim: tuple[GitHubSim, str]
) -> None:
    github, base_url = sim
    engine = Engine(store, catalog, vault=make_vault(), public_url=None)
    with pytest.raises(ConfigError) as caught:
        await engine.connect(
            project_id="p1",
            integration_type="hub",
            credentials=hub_credentials(base_url),
            config=hub_config(webhookEvents=["issues"]),
            create_project=True,
        )
    assert caught.value.message == "Webhook registration failed"
    assert "public URL" in caught.value.details
    assert github.repo(REPO).hooks == {}
    assert await store.list_integrations() == []


async def test_a_refused_registration_stores_nothing(
    engine: Engine, store: SqlStore, sim: tuple[GitHubSim, str]
) -> None:
    _, base_url = sim
    with pytest.raises(ConfigError) as caught:
        await engine.connect(
            project_id="p1",
            integration_type="hub",
            credentials=hub_credentials(base_url),
            config={"filters": {"projects": ["octo/missing"]}, "webhookEvents": ["issues"]},
            create_project=True,
        )
    assert caught.value.message == "Webhook registration failed"
    assert "Not Found" in caught.value.details
    assert await store.list_integrations() == []


# --- health checks and config changes -------------------------------------------------------


async def test_a_failing_health_check_marks_the_integration_and_a_passing_one_clears_it(
    engine: Engine, sim: tuple[GitHubSim, str]
) -> None:
    github, base_url = sim
    result = await engine.connect(
        project_id="p1",
        integration_type="hub",
        credentials=hub_credentials(base_url),
        config=hub_config(),
        create_project=True,
    )
    integration_id = result.integration["id"]
    login = github.tokens.pop(TOKEN)  # the token is revoked at the provider
    with pytest.raises(ConfigError) as caught:
        await engine.check_integration(integration_id)
    assert "Bad credentials" in caught.value.details
    marked = await engine.get_integration(integration_id)
    assert marked["sync_status"] == "error"
    assert "Bad credentials" in marked["error_message"]
    assert TOKEN not in marked["error_message"]

    github.tokens[TOKEN] = login
    found = await engine.check_integration(integration_id)
    assert found.identity == "octocat"
    cleared = await engine.get_integration(integration_id)
    assert cleared["sync_status"] == "idle" and cleared["error_message"] is None


async def test_update_config_validates_and_notifies(
    engine: Engine, sim: tuple[GitHubSim, str]
) -> None:
    _, base_url = sim
    changes: list[tuple[str, str]] = []
    engine.add_listener(lambda integration_id, change: changes.append((integration_id, change)))
    result = await engine.connect(
        project_id="p1",
        integration_type="hub",
        credentials=hub_credentials(base_url),
        config=hub_config(),
        create_project=True,
    )
    integration_id = result.integration["id"]
    with pytest.raises(ValidationError) as caught:
        await engine.update_config(integration_id, {"syncFrequncy": "daily"})
    assert caught.value.problems == ["config.syncFrequncy: unknown key"]
    updated = await engine.update_config(integration_id, hub_config(syncFrequency="daily"))
    assert updated["config"]["syncFrequency"] == "daily"
    await engine.disconnect(integration_id)
    assert changes == [
        (integration_id, "connected"),
        (integration_id, "config"),
        (integration_id, "disconnected"),
    ]
    with pytest.raises(NotFoundError):
        await engine.disconnect("no-such-integration")


def test_webhook_setup_repr_hides_the_secret() -> None:
    from engine.connect import WebhookSetup

    setup = WebhookSetup(url="http://x/webhooks/1", secret="whsec-do-not-print", events=["issues"])
    assert "whsec-do-not-print" not in repr(setup)
    assert setup.secret == "whsec-do-not-print"


def test_checked_credentials_repr_hides_the_values(catalog: Any) -> None:
    checked = validate_credentials(catalog.get("hub").spec, {"token": "ghp-do-not-print"})
    assert "ghp-do-not-print" not in repr(checked)
    assert checked.values["token"] == "ghp-do-not-print"


def test_the_readme_embedding_example_gives_credentials_its_provider_accepts() -> None:
    import ast
    import re

    from engine.catalog import ProviderCatalog

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    [code] = re.findall(r"```python\n(.*?)```", readme, re.S)
    calls = [
        node
        for node in ast.walk(ast.parse(code))
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "connect"
    ]
    arguments = {kw.arg: ast.literal_eval(kw.value) for kw in calls[0].keywords}
    spec = ProviderCatalog.default().get(arguments["integration_type"]).spec
    validate_credentials(spec, arguments["credentials"])  # raises on a wrong field name
