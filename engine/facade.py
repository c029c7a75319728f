"""``Engine``: the one Python API the Kiro backend, the server and the CLI all call.

Embedding (the Kiro backend), serving (runtime/server) and the terminal (runtime/cli) are
thin adapters over these methods, so they never diverge::

    engine = await Engine.open()                      # store + vault from settings
    result = await engine.connect(project_id="project-123", integration_type="github",
                                  credentials={"token": "..."}, config={...},
                                  create_project=True)
    run = await engine.sync(result.integration["id"])  # -> SyncResult
    await engine.close()

Errors are the ``engine.errors`` classes, grouped by what the caller should do:
``ValidationError`` (bad input; ``.problems`` lists ``path: message``), ``NotFoundError``
(unknown integration or project), ``ConflictError`` (a sync already runs; ``.run_id``),
``ConfigError`` (the connection test failed; ``.details`` is the provider's reason). No
returned dict and no exception ever carries a credential.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.catalog import ProviderCatalog
    from engine.config import SyncOptions
    from engine.http import ConnectionResult
    from engine.intake import WebhookResponse
    from engine.registry import Registry
    from engine.store.base import Role, Store
    from engine.sync import SyncResult
    from engine.vault import Vault
    from engine.webhooks import InboundRequest

ProgressCallback = Callable[[dict[str, Any]], Any]
"""Called with the running run's progress (pages, records, created/updated/skipped/failed)."""

ChangeListener = Callable[[str, str], Awaitable[None] | None]
"""Called with ``(integration_id, change)`` after ``connected``, ``disconnected``, ``config``."""


@dataclass(frozen=True, slots=True)
class WebhookSetup:
    """Where the provider must send webhooks for an integration.

    ``secret`` is only set in the answer to ``connect`` (it is shown once); ``registered`` is
    True when the engine registered the webhook by API, False when the user must paste
    ``url`` and ``secret`` into the provider's settings.
    """

    url: str
    secret: str | None
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
class SyncHandle:
    """A sync that has started: its run id is known; the run goes on in the background.

    ``await handle.wait()`` returns the ``SyncResult``; ``handle.done()`` says whether it
    finished. The engine owns the task: ``Engine.close`` waits for it (bounded).
    """

    run_id: str
    integration_id: str
    trigger: str
    _task: Any = field(repr=False, default=None)

    async def wait(self) -> SyncResult:
        raise NotImplementedError

    def done(self) -> bool:
        raise NotImplementedError


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
        raise NotImplementedError

    @classmethod
    async def open(
        cls, database_url: str | None = None, home: Path | None = None, **kw: Any
    ) -> Engine:
        """Open the store named by ``database_url`` (default: KIRO_SYNC_DATABASE_URL, else
        the DuckDB file in the data directory ``home``, default KIRO_SYNC_HOME) and the vault
        (ENCRYPTION_KEY, else the generated key file in ``home``). ``kw`` goes to ``__init__``;
        ``public_url`` defaults to KIRO_SYNC_PUBLIC_URL."""
        raise NotImplementedError

    async def close(self, timeout: float = 30.0) -> None:
        """Let running syncs finish (cancelled after ``timeout`` seconds), then close the
        store if the engine opened it."""
        raise NotImplementedError

    async def __aenter__(self) -> Engine:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

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
        not ``create_project``), ConfigError("Connection test failed", details=reason). A
        failed test stores nothing.
        """
        raise NotImplementedError

    async def disconnect(self, integration_id: str) -> None:
        """Deactivate the integration and delete the webhooks registered by API; sync
        history, logs and external links are kept."""
        raise NotImplementedError

    async def test_connection(
        self,
        *,
        integration_type: str,
        credentials: dict[str, Any],
        config: dict[str, Any] | None = None,
    ) -> ConnectionResult:
        """The same validation and connection test as ``connect``, storing nothing."""
        raise NotImplementedError

    async def check_integration(self, integration_id: str) -> ConnectionResult:
        """Health check with the stored credentials. A config-class failure marks the
        integration ``error`` with the provider's reason and raises ConfigError; a passing
        check clears an error status. Transient failures raise without marking."""
        raise NotImplementedError

    async def update_config(self, integration_id: str, config: dict[str, Any]) -> dict[str, Any]:
        """Replace the integration's config (validated like connect's); returns the
        integration's public dict."""
        raise NotImplementedError

    async def list_integrations(
        self, project_id: str | None = None, *, active_only: bool = False
    ) -> list[dict[str, Any]]:
        """Public dicts of a project's integrations (all projects when ``project_id`` is
        None): the seed's columns without credentials; ``webhook_url`` but never a secret."""
        raise NotImplementedError

    async def get_integration(self, integration_id: str) -> dict[str, Any]:
        """The integration's public dict; NotFoundError when unknown."""
        raise NotImplementedError

    def add_listener(self, listener: ChangeListener) -> None:
        """Call ``listener(integration_id, change)`` after connect ("connected"), disconnect
        ("disconnected") and update_config ("config"): the scheduler follows these."""
        raise NotImplementedError

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
        raise NotImplementedError

    async def sync(
        self,
        integration_id: str,
        options: dict[str, Any] | SyncOptions | None = None,
        trigger: str = "manual",
        progress: ProgressCallback | None = None,
    ) -> SyncResult:
        """``begin_sync`` and wait for the result."""
        raise NotImplementedError

    async def get_sync_status(self, integration_id: str) -> dict[str, Any]:
        """``{integration_id, sync_status, is_active, last_sync_at, error_message,
        current_run: {id, trigger, started_at, progress, counters} | None, logs: [...],
        conflicts: [...]}`` (logs newest first; conflicts waiting for manual resolution)."""
        raise NotImplementedError

    async def resolve_conflict(
        self, integration_id: str, conflict_id: str, resolution: str, value: Any = None
    ) -> dict[str, Any]:
        """Record the choice ("kiro" | "external" | "value" with ``value``) for a conflict;
        the next sync applies it to both sides. Returns the conflict's dict."""
        raise NotImplementedError

    # --- webhooks ------------------------------------------------------------------------
    async def receive_webhook(
        self, integration_id: str, request: InboundRequest
    ) -> WebhookResponse:
        """An unauthenticated provider delivery (POST /webhooks/{integration_id}).

        Answers handshakes; verifies the signature over the raw bytes (401, nothing stored,
        when it fails); stores a verified delivery in webhook_logs (processed=false,
        de-duplicated by delivery id) and commits BEFORE returning the 2xx. Never raises for
        a bad delivery: the response says what to answer.
        """
        raise NotImplementedError

    handle_webhook = receive_webhook

    async def relay_webhook(
        self, integration_id: str, payload: dict[str, Any], event_type: str | None = None
    ) -> dict[str, Any]:
        """The authenticated ``webhook`` action: queue an already-received payload as a
        delivery (no signature check; the caller is authenticated). Returns
        ``{webhook_id, event_type, queued}``."""
        raise NotImplementedError

    async def process_webhooks(self, limit: int = 100, worker: str | None = None) -> int:
        """Claim up to ``limit`` unprocessed deliveries, apply them through the sync engine,
        mark them processed. A failing delivery is retried on later calls and given up
        (marked processed with its error) after ``max_webhook_attempts``. Returns how many
        deliveries were handled (applied or given up)."""
        raise NotImplementedError

    async def webhook_backlog(self) -> int:
        """How many deliveries wait to be processed (the queue-depth metric)."""
        raise NotImplementedError

    # --- projects and members ------------------------------------------------------------
    async def ensure_project(self, project_id: str, name: str = "") -> None:
        """Mirror a Kiro project (the Kiro backend owns projects)."""
        raise NotImplementedError

    async def project_exists(self, project_id: str) -> bool:
        raise NotImplementedError

    async def add_member(self, project_id: str, user_id: str, role: Role) -> None:
        """Add or change a member's role, creating the project when missing."""
        raise NotImplementedError

    async def member_role(self, project_id: str, user_id: str) -> Role | None:
        raise NotImplementedError
