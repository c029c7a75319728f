"""What ``connect`` checks and sets up before an integration is stored.

Credentials: a provider declares auth modes (``ProviderSpec.auth_modes``), each with its form
fields. ``authType`` selects a mode; without it, the first mode whose required fields are
all present is used. ``baseUrl`` (a self-hosted instance or a simulator) is always allowed,
and so is the webhook secret field the provider's YAML names (``webhooks.secret_field``).
Every missing or unknown field is reported with its path (``credentials.apiToken: field
required``), all at once.

Webhook secrets: the provider's YAML names the credential field holding the secret
(``webhooks.secret_field``). Where any string shared by both sides works (GitHub, Jira,
Linear), connect generates one when the user gives none; where the provider issues it
(``webhooks.secret_issued_by_provider``: Slack's signing secret, Trello's app secret, a Teams
outgoing-webhook token) the user must supply it and nothing is generated;
``secret_from_handshake`` providers (Asana, Notion) receive it in their first delivery.

Registration: when the provider's YAML has ``webhooks.register`` and the integration's
``webhookEvents`` is set, the webhook is created by API; otherwise connect returns the URL
and secret for the user to paste.
"""

from __future__ import annotations

import logging
import re
import secrets
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from engine.auth import missing_fields
from engine.config import IntegrationConfig, parse_config
from engine.errors import (
    ConfigError,
    DecryptError,
    KiroSyncError,
    NotFoundError,
    ProviderError,
    RecordError,
    TemplateError,
    TransientError,
    ValidationError,
    error_class,
)
from engine.http import Connection, ConnectionResult
from engine.provider import Provider
from engine.spec.models import AuthMode, ProviderSpec, WebhookSpec
from engine.store.base import Integration
from engine.wire import NUL
from engine.writer import Writer

if TYPE_CHECKING:
    from engine.facade import Engine

log = logging.getLogger(__name__)

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # never in a token; a line break would inject headers
AUTH_TYPE_KEY = "authType"
BASE_URL_KEY = "baseUrl"
HANDSHAKE_SECRET_KEY = "webhookSecret"  # where a handshake-issued secret is kept
REGISTERED_KEY = "_registeredWebhook"  # engine-kept: the id of a webhook registered by API
ALWAYS_ALLOWED = (AUTH_TYPE_KEY, BASE_URL_KEY)


@dataclass(frozen=True, slots=True)
class CheckedCredentials:
    """Credentials that passed validation: the chosen mode and the normalized values
    (``authType`` set to that mode, declared defaults filled in)."""

    mode: str
    values: dict[str, Any] = field(repr=False)  # the secrets themselves


def validate_credentials(spec: ProviderSpec, credentials: Any) -> CheckedCredentials:
    """Check ``credentials`` against the provider's auth modes; ValidationError lists every
    problem by path."""
    if not isinstance(credentials, Mapping):
        raise ValidationError("Invalid credentials", ["credentials: must be an object"])
    name = select_auth_mode(spec, credentials)
    mode = spec.auth_modes[name]
    problems = _field_problems(spec, mode, name, credentials)
    if problems:
        raise ValidationError("Invalid credentials", problems)
    values = {k: v for k, v in credentials.items() if v is not None}
    for item in mode.fields:
        if item.default is not None and not values.get(item.name):
            values[item.name] = item.default
    values[AUTH_TYPE_KEY] = name
    return CheckedCredentials(mode=name, values=values)


def select_auth_mode(spec: ProviderSpec, credentials: Mapping[str, Any]) -> str:
    """The mode ``authType`` names, else the first whose required fields are all present,
    else (so its missing fields get reported) the one missing the fewest."""
    wanted = credentials.get(AUTH_TYPE_KEY)
    if wanted is not None:
        if not isinstance(wanted, str) or wanted not in spec.auth_modes:
            valid = ", ".join(spec.auth_modes)
            raise ValidationError(
                "Invalid credentials",
                [f"credentials.{AUTH_TYPE_KEY}: unknown auth mode {wanted!r}; valid: {valid}"],
            )
        return str(wanted)
    missing = {
        name: len(missing_fields(mode, credentials)) for name, mode in spec.auth_modes.items()
    }
    for name, count in missing.items():
        if count == 0:
            return name
    return min(missing, key=lambda name: missing[name])


def allowed_fields(spec: ProviderSpec, mode: AuthMode) -> list[str]:
    names = [item.name for item in mode.fields]
    extra = [*ALWAYS_ALLOWED, *_webhook_secret_fields(spec.webhooks)]
    return names + [name for name in extra if name not in names]


def _field_problems(
    spec: ProviderSpec, mode: AuthMode, name: str, credentials: Mapping[str, Any]
) -> list[str]:
    where = f" (auth mode {name!r})" if len(spec.auth_modes) > 1 else ""
    problems = [
        f"credentials.{field}: field required{where}" for field in missing_fields(mode, credentials)
    ]
    allowed = allowed_fields(spec, mode)
    for key, value in credentials.items():
        if key not in allowed:
            valid = ", ".join(allowed)
            problems.append(f"credentials.{key}: unknown field{where}; valid: {valid}")
        elif value is not None and not isinstance(value, str):
            problems.append(f"credentials.{key}: must be a string")
        elif isinstance(value, str) and _CONTROL.search(value):
            problems.append(f"credentials.{key}: contains a line break or control character")
    base_url = credentials.get(BASE_URL_KEY)
    if isinstance(base_url, str) and not _is_http_url(base_url):
        problems.append(f"credentials.{BASE_URL_KEY}: must be an http(s) URL")
    return problems


def _is_http_url(value: str) -> bool:
    """An absolute http(s) URL with a host and, when given, a valid port."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port out of range or not a number
    except ValueError:  # "http://[::1" (unclosed IPv6 bracket), "http://host:99999"
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _webhook_secret_fields(webhooks: WebhookSpec | None) -> list[str]:
    if webhooks is None:
        return []
    if webhooks.secret_field:
        return [webhooks.secret_field]
    return []


# --- webhook secrets -------------------------------------------------------------------


def secret_field(webhooks: WebhookSpec) -> str:
    """The credential field that holds (or will hold) the integration's webhook secret."""
    return webhooks.secret_field or HANDSHAKE_SECRET_KEY


def we_choose_secret(spec: ProviderSpec) -> bool:
    """True when the webhook secret is any string we pick: the provider neither issues it
    (``webhooks.secret_issued_by_provider``) nor hands it over in a handshake."""
    webhooks = spec.webhooks
    if webhooks is None or not webhooks.secret_field:
        return False
    return not (webhooks.secret_from_handshake or webhooks.secret_issued_by_provider)


def ensure_webhook_secret(spec: ProviderSpec, checked: CheckedCredentials) -> str | None:
    """The webhook secret for these credentials, generating (and adding) one when it is ours
    to choose and the user gave none. None when the provider issues it later (handshake) or
    the user has not supplied the provider-issued one."""
    webhooks = spec.webhooks
    if webhooks is None:
        return None
    field = secret_field(webhooks)
    given = checked.values.get(field)
    if isinstance(given, str) and given:
        return given
    if not we_choose_secret(spec):
        return None
    generated = new_webhook_secret()
    checked.values[field] = generated
    return generated


def new_webhook_secret() -> str:
    """A fresh webhook signing secret: 32 random bytes, URL-safe text."""
    return secrets.token_urlsafe(32)


def webhook_url(public_url: str | None, integration_id: str) -> str:
    """``{public_url}/webhooks/{id}``; a relative path when no public URL is configured."""
    base = (public_url or "").rstrip("/")
    return f"{base}/webhooks/{integration_id}"


# --- the connection test ---------------------------------------------------------------

TEST_FAILED = "Connection test failed"


async def run_connection_test(connection: Connection) -> ConnectionResult:
    """The provider's test request. Any failure but a transient one becomes
    ``ConfigError("Connection test failed", details=<the provider's reason>)``; transient
    failures (network, 5xx, 429 after retries) stay TransientError for the caller to judge."""
    try:
        return await connection.test_connection()
    except (TransientError, ValidationError):
        raise
    except KiroSyncError as exc:
        raise connection_test_failed(exc, connection.name) from None


def connection_test_failed(exc: KiroSyncError, provider: str) -> ConfigError:
    details = getattr(exc, "details", None) or exc.message
    return ConfigError(TEST_FAILED, details=str(details), provider=provider, cause=error_class(exc))


# --- registration by API ----------------------------------------------------------------


def registration_item(
    url: str, secret: str | None, events: Sequence[str], spec: WebhookSpec
) -> dict[str, Any]:
    """What a ``webhooks.register`` write sees as ``item``: ``url``, ``secret``, ``events``
    (also under ``events_param`` when the YAML names one)."""
    item: dict[str, Any] = {"url": url, "secret": secret, "events": list(events)}
    registration = spec.registration
    if registration is not None and registration.events_param:
        item[registration.events_param] = list(events)
    return item


def can_register(spec: ProviderSpec, events: Sequence[str]) -> bool:
    """Registration by API happens when the YAML declares it and events were asked for."""
    return spec.webhooks is not None and spec.webhooks.registration is not None and bool(events)


async def register_webhook(
    connection: Connection, url: str, secret: str | None, events: Sequence[str]
) -> dict[str, Any]:
    """Create the webhook at the provider; the record to keep for deleting it later."""
    webhooks = connection.spec.webhooks
    if webhooks is None or webhooks.registration is None:
        raise ConfigError(f"{connection.name} cannot register webhooks by API")
    if not _is_http_url(url):
        raise ConfigError(
            "Webhook registration failed",
            details="the engine has no public URL (set KIRO_SYNC_PUBLIC_URL / public_url)",
        )
    if secret:
        connection.secrets.add(secret)
    item = registration_item(url, secret, events, webhooks)
    where = "webhooks.register.create"
    try:
        result = await Writer(connection).run(webhooks.registration.create, where, item=item)
    except (ConfigError, RecordError, ProviderError, TemplateError, TransientError) as exc:
        # TemplateError: the YAML's request needs config the integration lacks (a repository
        # in config.filters.projects); TransientError: the provider is down or limiting us
        raise ConfigError(
            "Webhook registration failed",
            details=str(getattr(exc, "details", None) or exc.message),
            provider=connection.name,
            cause=error_class(exc),
        ) from None
    return {"id": result.id, "url": url, "events": list(events)}


async def unregister_webhook(connection: Connection, registered: Mapping[str, Any]) -> bool:
    """Delete a webhook registered by API; False when the YAML declares no delete."""
    webhooks = connection.spec.webhooks
    if webhooks is None or webhooks.registration is None:
        return False
    delete = webhooks.registration.delete
    if delete is None:
        return False
    item = registration_item(
        str(registered.get("url", "")), None, registered.get("events") or [], webhooks
    )
    link = {"external_id": registered.get("id"), "id": registered.get("id")}
    await Writer(connection).run(delete, "webhooks.register.delete", item=item, link=link)
    return True


# --- results ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WebhookSetup:
    """Where the provider must send webhooks for an integration.

    ``secret`` is only set in the answer to ``connect`` (it is shown once; None when the
    provider hands it over in a handshake or issues it and the user has not given it);
    ``registered`` is True when the engine registered the webhook by API, False when the
    user must paste ``url`` (and ``secret``) into the provider's settings.
    """

    url: str
    secret: str | None = field(repr=False)
    events: list[str]
    registered: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "secret": self.secret,
            "events": list(self.events),
            "registered": self.registered,
        }


@dataclass(frozen=True, slots=True)
class ConnectResult:
    """The answer to ``connect``: the integration (never its credentials), the webhook
    setup (with its secret, this once) and the account the credentials belong to."""

    integration: dict[str, Any]
    webhook: WebhookSetup | None
    identity: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "integration": self.integration,
            "webhook": self.webhook.to_dict() if self.webhook else None,
            "identity": self.identity,
        }


@dataclass(slots=True)
class Plan:
    """A connect request that passed validation."""

    provider: Provider
    credentials: CheckedCredentials
    config: IntegrationConfig

    @property
    def template_config(self) -> dict[str, Any]:
        return self.config.wire()


# --- views: the dicts callers see (never a credential) ------------------------------------

INTEGRATION_FIELDS = (
    "id",
    "project_id",
    "type",
    "name",
    "config",
    "is_active",
    "sync_status",
    "last_sync_at",
    "error_message",
    "webhook_url",
    "created_by",
    "created_at",
    "updated_at",
)


def integration_view(row: Integration) -> dict[str, Any]:
    """The seed's integration columns without ``credentials``; times as ISO-8601."""
    return {name: jsonable(getattr(row, name)) for name in INTEGRATION_FIELDS}


def jsonable(value: Any) -> Any:
    """Datetimes as ISO-8601 text, recursively."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {key: jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    return value


def stored_config(config: IntegrationConfig) -> dict[str, Any]:
    """The config as stored and shown: the keys the user set, in wire form."""
    return config.model_dump(mode="json", by_alias=True, exclude_unset=True)


class Connector:
    """connect, test-connection, health checks, config changes and disconnect."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def plan(self, integration_type: str, credentials: Any, config: Any) -> Plan:
        """Credentials and config checked together: one ValidationError lists every
        problem (config keys, ``extra`` against the provider's schema, fieldMappings)."""
        provider = self.engine.provider(integration_type)
        problems: list[str] = []
        checked: CheckedCredentials | None = None
        parsed: IntegrationConfig | None = None
        try:
            checked = validate_credentials(provider.spec, credentials)
        except ValidationError as exc:
            problems += exc.problems
        try:
            parsed = self.engine.sync_service.validate_config(provider.name, config)
        except ValidationError as exc:
            problems += exc.problems
        if problems or checked is None or parsed is None:
            raise ValidationError(f"Invalid request: {problems[0]}", problems)
        return Plan(provider, checked, parsed)

    async def test(
        self, integration_type: str, credentials: Any, config: Mapping[str, Any] | None
    ) -> ConnectionResult:
        plan = self.plan(integration_type, credentials, config)
        return await self._test(plan.provider, plan.credentials.values, plan.template_config)

    async def _test(
        self, provider: Provider, credentials: Mapping[str, Any], config: Mapping[str, Any]
    ) -> ConnectionResult:
        async with self.engine.connection(provider, credentials, config) as connection:
            try:
                return await run_connection_test(connection)
            except TransientError as exc:
                raise connection_test_failed(exc, provider.name) from None

    async def connect(
        self,
        *,
        project_id: str,
        integration_type: str,
        credentials: Any,
        config: Mapping[str, Any] | None,
        name: str | None,
        created_by: str | None,
        create_project: bool,
    ) -> ConnectResult:
        """Nothing is written (not even a new project) until the connection test and the
        webhook registration have passed."""
        _check_names(project_id, name)
        plan = self.plan(integration_type, credentials, config)
        missing = await self._missing_project(project_id, create_project)
        found = await self._test(plan.provider, plan.credentials.values, plan.template_config)
        row = Integration(
            id=str(uuid.uuid4()),
            project_id=project_id,
            type=plan.provider.name,
            name=name or f"{plan.provider.spec.title} ({found.identity})",
            config=stored_config(plan.config),
            created_by=created_by,
        )
        webhook = await self._webhook(plan, row)
        await self._store(plan, row, create_project=missing)
        stored = await self.engine.integration(row.id)
        return ConnectResult(integration_view(stored), webhook, found.identity)

    async def _missing_project(self, project_id: str, create: bool) -> bool:
        """True when the project must be created; NotFoundError when it may not be."""
        if await self.engine.store.get_project(project_id) is not None:
            return False
        if not create:
            raise NotFoundError(f"project {project_id} does not exist", project_id=project_id)
        return True

    async def _webhook(self, plan: Plan, row: Integration) -> WebhookSetup | None:
        """Choose the secret, register by API when asked; sets ``row.webhook_url``."""
        webhooks = plan.provider.spec.webhooks
        if webhooks is None:
            return None
        secret = ensure_webhook_secret(plan.provider.spec, plan.credentials)
        url = webhook_url(self.engine.public_url, row.id)
        row.webhook_url = url
        events = list(plan.config.webhook_events)
        if not can_register(plan.provider.spec, events):
            return WebhookSetup(url, secret, events or list(webhooks.default_events))
        values = plan.credentials.values
        async with self.engine.connection(plan.provider, values, plan.template_config) as conn:
            values[REGISTERED_KEY] = await register_webhook(conn, url, secret, events)
        return WebhookSetup(url, secret, events, registered=True)

    async def _store(self, plan: Plan, row: Integration, *, create_project: bool) -> None:
        """Store the row (and the project it needs); a webhook registered for it is deleted
        again if that fails."""
        try:
            await self.engine.register_provider_types()
            row.credentials = self.engine.vault.encrypt(plan.credentials.values)
            if create_project:
                await self.engine.store.ensure_project(row.project_id)
            await self.engine.store.create_integration(row)
        except BaseException:
            registered = plan.credentials.values.get(REGISTERED_KEY)
            if registered:
                await self._unregister(plan.provider, plan.credentials.values, row, registered)
            raise

    async def _unregister(
        self,
        provider: Provider,
        credentials: Mapping[str, Any],
        row: Integration,
        registered: Mapping[str, Any],
    ) -> str | None:
        """Delete a registered webhook; the reason it could not be (logged, never raised:
        the user may delete it by hand), None when it is gone."""
        config = parse_config(row.config).wire()
        try:
            async with self.engine.connection(provider, credentials, config) as conn:
                await unregister_webhook(conn, registered)
        except KiroSyncError as exc:
            reason = str(getattr(exc, "details", None) or exc.message)
            log.warning(
                "could not delete the webhook registered for integration %s: %s", row.id, reason
            )
            return reason
        return None

    async def disconnect(self, row: Integration) -> list[str]:
        """Deactivate the integration and delete the webhook registered for it by API.

        Deactivating never waits on the provider: what could not be cleaned up there (the
        provider refused or is unreachable, the credentials no longer decrypt, the provider is
        no longer installed) comes back as warnings saying what to delete by hand.
        """
        warning = await self._drop_registration(row)
        await self.engine.store.update_integration(row.id, is_active=False)
        return [warning] if warning else []

    async def _drop_registration(self, row: Integration) -> str | None:
        """Delete the webhook registered by API, if any; a warning when it could not be (the
        registration then stays in the credentials)."""
        try:
            credentials = self.engine.credentials_of(row)
        except DecryptError as exc:
            return (
                f"{exc.message}; a webhook registered at the provider by API, if any, was not "
                "deleted: delete it in the provider's settings"
            )
        registered = credentials.get(REGISTERED_KEY)
        if not registered:
            return None
        try:
            provider = self.engine.provider(row.type)
            reason = await self._unregister(provider, credentials, row, registered)
        except KiroSyncError as exc:  # the provider is no longer installed, or its YAML broke
            reason = exc.message
        if reason is not None:
            return (
                f"the webhook registered at {row.type} (id {registered.get('id')}) could not be "
                f"deleted: {reason}; delete it in the provider's settings"
            )
        credentials.pop(REGISTERED_KEY)
        await self.engine.save_credentials(row.id, credentials)
        return None

    async def check(self, row: Integration) -> ConnectionResult:
        if not row.is_active:
            raise ConfigError(f"integration {row.id} is disconnected", integration_id=row.id)
        provider = self.engine.provider(row.type)
        credentials = self.engine.credentials_of(row)
        config = parse_config(row.config).wire()
        try:
            async with self.engine.connection(provider, credentials, config) as conn:
                found = await run_connection_test(conn)
        except ConfigError as exc:
            reason = str(getattr(exc, "details", None) or exc.message)
            await self.engine.store.update_integration(
                row.id, sync_status="error", error_message=f"{TEST_FAILED}: {reason}"
            )
            raise
        if row.sync_status == "error":
            await self.engine.store.update_integration(
                row.id, sync_status="idle", error_message=None
            )
        return found

    async def update_config(self, row: Integration, config: Mapping[str, Any]) -> None:
        parsed = self.engine.sync_service.validate_config(row.type, config)
        await self.engine.store.update_integration(row.id, config=stored_config(parsed))


def _check_names(project_id: Any, name: Any) -> None:
    problems = [id_problem("projectId", project_id)]
    if name is not None:
        problems.append(id_problem("data.name", name))
    found = [problem for problem in problems if problem]
    if found:
        raise ValidationError(f"Invalid request: {found[0]}", found)


def id_problem(path: str, value: Any) -> str | None:
    """Why ``value`` cannot name a project, user or integration: not a non-empty string, or
    holding a NUL character (which no store keeps); None when it can."""
    if not isinstance(value, str) or not value.strip():
        return f"{path}: must be a non-empty string"
    if NUL in value:
        return f"{path}: contains a NUL character (U+0000)"
    return None
