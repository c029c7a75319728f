"""``Engine``: the one Python API the Kiro backend, the server and the CLI all call.

Embedding (the Kiro backend), serving (runtime/server) and the terminal (runtime/cli) are
thin adapters over these methods, so they never diverge::

    engine = await Engine.open()                      # store + vault from settings
    result = await engine.connect(project_id="project-123", integration_type="github",
                                  credentials={"token": "..."}, config={...},
                                  create_project=True)
    run = await engine.sync(result.integration["id"])  # -> SyncResult
    await engine.close()

The work is done by one module per concern: ``engine.connect`` (validation, connection
tests, webhook secrets and registration), ``engine.intake`` (durable webhooks) and
``engine.sync`` (runs); this class wires them to one store, vault and provider catalog.

Errors are the ``engine.errors`` classes, grouped by what the caller should do:
``ValidationError`` (bad input; ``.problems`` lists ``path: message``), ``NotFoundError``
(unknown integration or project), ``ConflictError`` (a sync already runs; ``.run_id``),
``ConfigError`` (the connection test failed; ``.details`` is the provider's reason). No
returned dict and no exception ever carries a credential.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.catalog import ProviderCatalog
from engine.config import Filters, SyncOptions
from engine.connect import (
    Connector,
    ConnectResult,
    WebhookSetup,
    id_problem,
    integration_view,
    jsonable,
)
from engine.errors import ConfigError, ConflictError, NotFoundError, StoreError, ValidationError
from engine.http import Connection, ConnectionResult
from engine.intake import WebhookIntake, WebhookResponse
from engine.provider import Provider
from engine.registry import Registry
from engine.store.base import Integration, Role, Store
from engine.sync.models import ProgressCallback, SyncResult
from engine.sync.runner import RunHandle, SyncService
from engine.vault import Vault

if TYPE_CHECKING:
    from engine.bulk.exporter import Export
    from engine.bulk.results import ImportResult
    from engine.webhooks import InboundRequest

log = logging.getLogger(__name__)

ChangeListener = Callable[[str, str], Awaitable[None] | None]
"""Called with ``(integration_id, change)`` after ``connected``, ``disconnected``, ``config``."""

ROLES: tuple[Role, ...] = ("owner", "admin", "member", "viewer")
RESOLUTIONS = ("kiro", "external", "value")
STATUS_LOGS = 10
PUBLIC_URL_ENV = "KIRO_SYNC_PUBLIC_URL"
_UNSET: Any = object()

__all__ = [
    "ChangeListener",
    "ConnectResult",
    "Engine",
    "ProgressCallback",
    "SyncHandle",
    "WebhookSetup",
]


SyncHandle = RunHandle
"""A started sync: ``run_id`` is known at once; ``await handle.wait()`` gives the
``SyncResult``; ``handle.done()``, ``handle.cancel()``. The engine keeps its task:
``Engine.close`` waits for it (bounded), ``Engine.disconnect`` cancels it."""


class Engine:
    """kiro-sync's facade over the store, the vault, the provider catalog and the sync engine.

    ``public_url`` is the base of the webhook URLs handed to providers
    (``{public_url}/webhooks/{integration_id}``), e.g. ``http://127.0.0.1:8080``; without it
    webhook URLs are relative paths and cannot be registered by API. ``node`` names this
    process in run leases and webhook claims; ``clock`` returns aware UTC datetimes (tests
    pass a controllable one).
    """

    def __init__(
        self,
        store: Store,
        providers: ProviderCatalog | None = None,
        *,
        vault: Vault | None = None,
        registry: Registry | None = None,
        node: str | None = None,
        clock: Callable[[], datetime] | None = None,
        public_url: str | None = None,
    ) -> None:
        self.store = store
        self.providers = providers or ProviderCatalog.default(registry)
        self.registry = registry or self.providers.registry
        self.vault = vault or Vault.from_env()
        self.node = node or f"{socket.gethostname()}:{os.getpid()}"
        self.clock: Callable[[], datetime] = clock or _utcnow
        self.public_url = public_url.rstrip("/") if public_url else None
        self.sync_service = SyncService(
            store, self.providers, registry=self.registry, clock=self.clock, node=self.node
        )
        self.connector = Connector(self)
        self.intake = WebhookIntake(self)
        self._owns_store = False
        self._types_registered = False
        self._listeners: list[ChangeListener] = []
        self._runs: dict[str, SyncHandle] = {}

    @classmethod
    async def open(
        cls, database_url: str | None = None, home: Path | None = None, **kw: Any
    ) -> Engine:
        """Open the store named by ``database_url`` (default: KIRO_SYNC_DATABASE_URL, else
        the DuckDB file in the data directory ``home``, default KIRO_SYNC_HOME) and the vault
        (ENCRYPTION_KEY, else the generated key file in ``home``). ``kw`` goes to ``__init__``;
        ``public_url`` defaults to KIRO_SYNC_PUBLIC_URL. ``close()`` closes the store."""
        from engine.paths import HOME_ENV
        from engine.store import open_store

        env = dict(os.environ)
        if home is not None:
            env[HOME_ENV] = str(home)
        kw.setdefault("public_url", env.get(PUBLIC_URL_ENV) or None)
        if kw.get("vault") is None:
            kw["vault"] = Vault.from_env(env, home)
        try:
            store = await open_store(database_url, env=env)
        except OSError as exc:  # a DuckDB file in a directory that cannot be created or read
            where = f" {exc.filename}" if exc.filename else ""
            raise StoreError(f"cannot open the store{where}: {exc.strerror or exc}") from None
        try:
            engine = cls(store, **kw)
            await engine.register_provider_types()
        except BaseException:
            await store.close()
            raise
        engine._owns_store = True
        return engine

    async def close(self, timeout: float = 30.0) -> None:
        """Let running syncs finish (cancelled after ``timeout`` seconds), then close the
        store if ``Engine.open`` opened it."""
        tasks = [h.task for h in self._runs.values() if not h.done()]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=timeout)
            for task in pending:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._owns_store:
            self._owns_store = False
            await self.store.close()

    async def __aenter__(self) -> Engine:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def now(self) -> datetime:
        return self.clock()

    # --- providers and stored integrations -----------------------------------------------
    def provider(self, integration_type: str) -> Provider:
        """The loaded provider; ValidationError naming the valid types when unknown."""
        if not isinstance(integration_type, str) or integration_type not in self.providers:
            valid = ", ".join(self.providers.names())
            raise ValidationError(
                f"unknown integration type {integration_type!r}",
                [f"integrationType: unknown integration type {integration_type!r}; valid: {valid}"],
            )
        return self.providers.get(integration_type)

    async def register_provider_types(self) -> None:
        """Admit every installed provider as an integration type in the store (idempotent)."""
        if self._types_registered:
            return
        register = getattr(self.store, "register_provider_types", None)
        if register is not None:
            await register(self.providers.names())
        self._types_registered = True

    def connection(
        self, provider: Provider, credentials: Mapping[str, Any], config: Mapping[str, Any]
    ) -> Connection:
        """A provider connection (the caller closes it: ``async with``)."""
        return Connection(provider, credentials, config, registry=self.registry)

    async def integration(self, integration_id: str) -> Integration:
        """The stored row; NotFoundError when there is none."""
        found = await self.store.get_integration(integration_id)
        if found is None:
            raise NotFoundError(
                f"integration {integration_id} does not exist", integration_id=integration_id
            )
        return found

    def credentials_of(self, integration: Integration) -> dict[str, Any]:
        """The decrypted credentials of a stored integration (never returned to callers)."""
        if not integration.credentials:
            return {}
        return self.vault.decrypt(integration.credentials, integration.id)

    async def save_credentials(self, integration_id: str, credentials: Mapping[str, Any]) -> None:
        await self.store.update_integration(
            integration_id, credentials=self.vault.encrypt(credentials)
        )

    # --- integrations --------------------------------------------------------------------
    async def connect(
        self,
        *,
        project_id: str,
        integration_type: str,
        credentials: dict[str, Any],
        config: dict[str, Any] | None = None,
        name: str | None = None,
        created_by: str | None = None,
        create_project: bool = False,
    ) -> ConnectResult:
        """Validate, test the connection, store (credentials encrypted), set up webhooks.

        Raises ValidationError (unknown type, credential fields its auth mode lacks or does
        not know, unknown config keys: each with its path), NotFoundError (unknown project and
        not ``create_project``), ConfigError("Connection test failed", details=reason) or
        ConfigError("Webhook registration failed", details=reason). A failure stores nothing.
        """
        result = await self.connector.connect(
            project_id=project_id,
            integration_type=integration_type,
            credentials=credentials,
            config=config,
            name=name,
            created_by=created_by,
            create_project=create_project,
        )
        await self._notify(result.integration["id"], "connected")
        return result

    async def disconnect(self, integration_id: str) -> list[str]:
        """Deactivate the integration, stop its running sync on this node and delete the
        webhook registered by API; sync history, logs and external links are kept.

        Returns warnings, one line each: what could not be cleaned up at the provider (a
        registered webhook it refused to delete, credentials that no longer decrypt) and
        must be removed by hand. The integration is deactivated either way."""
        integration = await self.integration(integration_id)
        handle = self._runs.get(integration_id)
        if handle is not None and not handle.done():
            handle.task.cancel()
        warnings = await self.connector.disconnect(integration)
        await self._notify(integration_id, "disconnected")
        return warnings

    async def test_connection(
        self,
        *,
        integration_type: str,
        credentials: dict[str, Any],
        config: dict[str, Any] | None = None,
    ) -> ConnectionResult:
        """The same validation and connection test as ``connect``, storing nothing."""
        return await self.connector.test(integration_type, credentials, config)

    async def check_integration(self, integration_id: str) -> ConnectionResult:
        """Health check with the stored credentials. A failure other than a transient one
        marks the integration ``error`` with the provider's reason and raises
        ConfigError("Connection test failed", details=reason); a passing check clears an
        error status. Transient failures raise TransientError without marking."""
        return await self.connector.check(await self.integration(integration_id))

    async def update_config(self, integration_id: str, config: dict[str, Any]) -> dict[str, Any]:
        """Replace the integration's config (validated like connect's); returns the
        integration's public dict."""
        integration = await self.integration(integration_id)
        await self.connector.update_config(integration, config)
        await self._notify(integration_id, "config")
        return await self.get_integration(integration_id)

    async def list_integrations(
        self, project_id: str | None = None, *, active_only: bool = False
    ) -> list[dict[str, Any]]:
        """Public dicts of a project's integrations (all projects when ``project_id`` is
        None), oldest first: the seed's columns without credentials; ``webhook_url`` but
        never a secret."""
        rows = await self.store.list_integrations(project_id, active_only=active_only)
        return [integration_view(row) for row in rows]

    async def get_integration(self, integration_id: str) -> dict[str, Any]:
        """The integration's public dict; NotFoundError when unknown."""
        return integration_view(await self.integration(integration_id))

    def add_listener(self, listener: ChangeListener) -> None:
        """Call ``listener(integration_id, change)`` after connect ("connected"), disconnect
        ("disconnected") and update_config ("config"): the scheduler follows these. A
        failing listener is logged, never raised to the caller."""
        self._listeners.append(listener)

    async def _notify(self, integration_id: str, change: str) -> None:
        for listener in list(self._listeners):
            try:
                outcome = listener(integration_id, change)
                if inspect.isawaitable(outcome):
                    await outcome
            except Exception:
                log.exception("integration listener failed", extra={"change": change})

    # --- syncs ---------------------------------------------------------------------------
    async def begin_sync(
        self,
        integration_id: str,
        options: dict[str, Any] | SyncOptions | None = None,
        trigger: str = "manual",
        progress: ProgressCallback | None = None,
    ) -> SyncHandle:
        """Start a run in the background and return once its id is known.

        Raises ValidationError (bad syncOptions, with paths), NotFoundError, ConfigError (the
        integration is disconnected), ConflictError(run_id=<running run>) when a run of this
        integration is already live on any node.
        """
        integration = await self.integration(integration_id)
        if not integration.is_active:
            raise ConfigError(
                f"integration {integration_id} is disconnected", integration_id=integration_id
            )
        credentials = self.credentials_of(integration)
        handle = await self.sync_service.begin(integration, credentials, options, trigger, progress)
        self._runs[integration_id] = handle
        handle.task.add_done_callback(lambda _task: self._forget_run(handle))
        return handle

    def _forget_run(self, handle: SyncHandle) -> None:
        if self._runs.get(handle.integration_id) is handle:
            del self._runs[handle.integration_id]

    async def sync(
        self,
        integration_id: str,
        options: dict[str, Any] | SyncOptions | None = None,
        trigger: str = "manual",
        progress: ProgressCallback | None = None,
    ) -> SyncResult:
        """``begin_sync`` and wait for the result."""
        handle = await self.begin_sync(integration_id, options, trigger, progress)
        return await handle.wait()

    async def get_sync_status(self, integration_id: str) -> dict[str, Any]:
        """``{integration_id, sync_status, is_active, last_sync_at, error_message,
        current_run: {id, trigger, status, started_at, progress, counters, node} | None,
        logs: [...] (newest first), conflicts: [...] (open ones, for manual resolution)}``."""
        integration = await self.integration(integration_id)
        running = await self.store.get_running_run(integration_id)
        logs = await self.store.list_sync_logs(integration_id, limit=STATUS_LOGS)
        conflicts = await self.store.list_conflicts(integration_id, "open")
        return {
            "integration_id": integration.id,
            "sync_status": integration.sync_status,
            "is_active": integration.is_active,
            "last_sync_at": _iso(integration.last_sync_at),
            "error_message": integration.error_message,
            "current_run": run_view(running) if running else None,
            "logs": [row_view(entry) for entry in logs],
            "conflicts": [row_view(conflict) for conflict in conflicts],
        }

    async def resolve_conflict(
        self, integration_id: str, conflict_id: str, resolution: str, value: Any = _UNSET
    ) -> dict[str, Any]:
        """Record the choice for an open conflict: "kiro" (keep Kiro's value), "external"
        (keep the provider's) or "value" (``value``, required). The Kiro side takes it at
        once; the next export sends it to the provider. Returns the conflict's dict;
        NotFoundError when the conflict is not this integration's, ConflictError when it was
        already resolved."""
        integration = await self.integration(integration_id)
        problems = _resolution_problems(resolution, value)
        if problems:
            raise ValidationError("Invalid conflict resolution", problems)
        conflict = await self.store.get_conflict(conflict_id)
        if conflict is None or conflict.integration_id != integration_id:
            raise NotFoundError(f"conflict {conflict_id} does not exist", conflict_id=conflict_id)
        if conflict.status != "open":
            raise ConflictError(
                f"conflict {conflict_id} is already resolved ({conflict.resolution})",
                conflict_id=conflict_id,
            )
        chosen = None if value is _UNSET else value
        await self.sync_service.resolve_conflict(integration, conflict_id, resolution, chosen)
        resolved = await self.store.get_conflict(conflict_id)
        return row_view(resolved if resolved is not None else conflict)

    # --- webhooks ------------------------------------------------------------------------
    async def receive_webhook(
        self, integration_id: str, request: InboundRequest
    ) -> WebhookResponse:
        """An unauthenticated provider delivery (POST /webhooks/{integration_id}).

        Answers handshakes; verifies the signature over the raw bytes (401, nothing stored,
        when it fails); stores a verified delivery in webhook_logs (processed=false,
        de-duplicated by delivery id) and commits BEFORE returning the 2xx. Never raises for
        a bad delivery: the response says what to answer (404 unknown integration, 410
        disconnected, 401 not authentic, 400 unreadable body).
        """
        return await self.intake.receive(integration_id, request)

    handle_webhook = receive_webhook

    async def relay_webhook(
        self, integration_id: str, payload: Any, event_type: str | None = None
    ) -> dict[str, Any]:
        """The authenticated ``webhook`` action: queue an already-received payload as a
        delivery (no signature check; the caller is authenticated). Returns
        ``{webhook_id, event_type, delivery_id, duplicate, queued}``."""
        return await self.intake.relay(await self.integration(integration_id), payload, event_type)

    async def process_webhooks(self, limit: int = 100, worker: str | None = None) -> int:
        """Claim up to ``limit`` stored deliveries, apply them through the sync engine and
        mark them processed. A failing delivery keeps its error, is retried by a later call
        after a backoff, and stays unprocessed (out of the backlog) after the store's
        ``webhook_max_attempts``. Returns how many deliveries were marked processed."""
        return await self.intake.process(limit, worker or self.node)

    async def webhook_backlog(self) -> int:
        """How many deliveries wait to be processed (the queue-depth metric)."""
        return await self.store.webhook_backlog()

    async def ping(self) -> bool:
        """Whether the store answers (readiness)."""
        return await self.store.ping()

    # --- projects and members ------------------------------------------------------------
    async def ensure_project(self, project_id: str, name: str = "") -> None:
        """Mirror a Kiro project (the Kiro backend owns projects); no-op when it exists."""
        await self.store.ensure_project(project_id, name)

    async def project_exists(self, project_id: str) -> bool:
        return await self.store.get_project(project_id) is not None

    async def add_member(self, project_id: str, user_id: str, role: Role) -> None:
        """Add or change a member's role, creating the project when missing.
        ValidationError for an empty or unstorable id or an unknown role."""
        problems = [id_problem("project", project_id), id_problem("user", user_id)]
        if role not in ROLES:
            problems.append(f"role: unknown role {role!r}; valid: {', '.join(ROLES)}")
        found = [problem for problem in problems if problem]
        if found:
            raise ValidationError(f"Invalid member: {found[0]}", found)
        await self.store.ensure_project(project_id)
        await self.store.add_member(project_id, user_id, role)

    async def member_role(self, project_id: str, user_id: str) -> Role | None:
        """The user's role in the project, or None when they are not a member."""
        return await self.store.get_member_role(project_id, user_id)

    # --- bulk import and export (engine/bulk, docs/bulk.md) ------------------------------
    async def import_data(
        self,
        project_id: str,
        data: Mapping[str, Any],
        *,
        integration_id: str | None = None,
        create_project: bool = False,
        **options: Any,
    ) -> ImportResult:
        """Import ``{workItems, users, projects}`` row by row: bad rows are reported with their
        index and reason while good rows go in, batch by batch. ``options`` go to
        ``BulkImporter`` (batch_size, max_errors, progress). NotFoundError for an unknown
        project (unless ``create_project``) or an integration of another project."""
        from engine.bulk.importer import BulkImporter, import_arrays

        arrays = import_arrays(data)
        importer = BulkImporter(
            self.store,
            project_id,
            integration_id=integration_id,
            create_project=create_project,
            clock=self.clock,
            **options,
        )
        return await importer.run(*arrays)

    async def export_data(
        self,
        project_id: str,
        export_format: str = "json",
        filters: Filters | Mapping[str, Any] | None = None,
        *,
        integration_id: str | None = None,
    ) -> Export:
        """An export of the project's work items, checked and ready to stream:
        ``export.chunks()`` or ``await export.write_to(path)``. ValidationError for an unknown
        format or filter, NotFoundError for an unknown project or integration."""
        from engine.bulk.exporter import open_export
        from engine.bulk.query import ExportQuery

        query = ExportQuery.from_filters(project_id, integration_id, filters)
        return await open_export(self.store, query, export_format, now=self.now())


# --- views: the dicts callers see (never a credential) -------------------------------------


def run_view(run: Any) -> dict[str, Any]:
    return {
        "id": run.id,
        "trigger": run.trigger,
        "status": run.status,
        "started_at": _iso(run.started_at),
        "progress": dict(run.progress),
        "counters": dict(run.counters),
        "node": run.node,
    }


def row_view(row: Any) -> dict[str, Any]:
    """A stored row (dataclass) as a JSON-able dict."""
    return {f.name: jsonable(getattr(row, f.name)) for f in dataclasses.fields(row)}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _resolution_problems(resolution: Any, value: Any) -> list[str]:
    if resolution not in RESOLUTIONS:
        return [f"data.resolution: must be one of {', '.join(RESOLUTIONS)}"]
    if resolution == "value" and value is _UNSET:
        return ["data.value: required when resolution is 'value'"]
    return []


def _utcnow() -> datetime:
    return datetime.now(UTC)
