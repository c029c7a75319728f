"""The Store protocol: everything kiro-sync remembers, behind one interface.

Two implementations pass one contract suite (tests/engine/store/test_contract_*.py):
``DuckDBStore`` (embedded default, engine/store/duckdb.py) and ``PostgresStore``
(psycopg 3 async pool, engine/store/postgres.py). ``open_store(url)`` picks one from a URL:
``postgresql://...`` or a DuckDB file path (``duckdb:///path`` or a plain path).

Rows are plain dataclasses. Timestamps are timezone-aware UTC datetimes. JSON columns are
Python dicts/lists. Ids are opaque strings (``project-123`` and UUIDs both work).

Writes that must land together go through ``apply_batch``: the upserts of one import batch
and the cursor advance that follows them commit in one transaction or not at all.
Credentials reach the store already encrypted (engine/vault.py); the store never sees
plaintext secrets.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

Role = Literal["owner", "admin", "member", "viewer"]
Priority = Literal["low", "medium", "high", "urgent"]
SyncStatus = Literal["idle", "syncing", "success", "error", "partial"]
RunStatus = Literal["running", "success", "partial", "error", "cancelled"]
LogStatus = Literal["success", "error", "partial"]
Entity = Literal["work_item", "comment", "project", "user"]

DEFAULT_STATUSES = ("To Do", "In Progress", "Done")


@dataclass(slots=True)
class Project:
    id: str
    name: str = ""
    statuses: list[str] = field(default_factory=lambda: list(DEFAULT_STATUSES))
    created_at: datetime | None = None


@dataclass(slots=True)
class User:
    id: str
    email: str | None = None
    name: str | None = None


@dataclass(slots=True)
class WorkItem:
    """A Kiro work item; field names follow the seed's Field Mapping section."""

    id: str
    project_id: str
    title: str
    description: str | None = None
    status: str = "To Do"
    priority: Priority | None = None
    assignee_id: str | None = None
    tags: list[str] = field(default_factory=list)
    type: str | None = None
    due_date: datetime | None = None
    completed_at: datetime | None = None
    parent_id: str | None = None
    custom: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    deleted_at: datetime | None = None
    version: int = 1


@dataclass(slots=True)
class Comment:
    id: str
    work_item_id: str
    body: str
    author_id: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    deleted_at: datetime | None = None


@dataclass(slots=True)
class Integration:
    """A row of the seed's ``integrations`` table. ``credentials`` is the encrypted blob."""

    id: str
    project_id: str
    type: str
    name: str
    config: dict[str, Any] = field(default_factory=dict)
    credentials: bytes | None = field(default=None, repr=False)
    is_active: bool = True
    sync_status: SyncStatus = "idle"
    last_sync_at: datetime | None = None
    error_message: str | None = None
    webhook_url: str | None = None
    created_by: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(slots=True)
class ExternalLink:
    integration_id: str
    entity: Entity
    kiro_id: str
    external_id: str
    external_key: str | None = None
    external_url: str | None = None
    remote_updated_at: datetime | None = None
    snapshot: dict[str, Any] = field(default_factory=dict)
    snapshot_hash: str | None = None
    synced_at: datetime | None = None


@dataclass(slots=True)
class Cursor:
    integration_id: str
    stream: str
    partition: str  # "" when the stream has no partitions
    value: str | None


@dataclass(slots=True)
class SyncRun:
    id: str
    integration_id: str
    trigger: str  # manual | schedule | webhook | api
    status: RunStatus = "running"
    counters: dict[str, int] = field(default_factory=dict)
    progress: dict[str, Any] = field(default_factory=dict)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error_class: str | None = None
    error_message: str | None = None
    node: str | None = None
    lease_expires_at: datetime | None = None


@dataclass(slots=True)
class SyncLog:
    """A row of the seed's ``integration_sync_logs`` table."""

    id: str
    integration_id: str
    sync_type: str
    status: LogStatus
    items_processed: int = 0
    items_created: int = 0
    items_updated: int = 0
    items_skipped: int = 0
    errors: list[str] = field(default_factory=list)
    started_at: datetime | None = None
    completed_at: datetime | None = None
    duration_ms: int | None = None


@dataclass(slots=True)
class Conflict:
    id: str
    integration_id: str
    entity: Entity
    kiro_id: str
    external_id: str
    field: str
    kiro_value: Any
    external_value: Any
    base_value: Any
    status: Literal["open", "resolved"] = "open"
    resolution: str | None = None
    resolved_value: Any = None
    created_at: datetime | None = None
    resolved_at: datetime | None = None


@dataclass(slots=True)
class WebhookLog:
    """A row of the seed's ``webhook_logs`` table (plus delivery id and attempt bookkeeping)."""

    id: str
    integration_id: str
    event_type: str
    payload: dict[str, Any]
    processed: bool = False
    processed_at: datetime | None = None
    delivery_id: str | None = None
    error: str | None = None
    attempts: int = 0
    created_at: datetime | None = None


@dataclass(slots=True)
class Batch:
    """One unit of work committed atomically by ``apply_batch``.

    Upserts go by primary key (users, work items, comments) and by (integration, entity,
    external_id) for links. ``unlink`` removes links (the Kiro rows stay; soft-delete them
    by upserting with ``deleted_at``). ``cursors`` advance after the rows, in the same
    transaction.
    """

    users: list[User] = field(default_factory=list)
    work_items: list[WorkItem] = field(default_factory=list)
    comments: list[Comment] = field(default_factory=list)
    links: list[ExternalLink] = field(default_factory=list)
    unlink: list[tuple[str, Entity, str]] = field(default_factory=list)  # (integ, entity, ext)
    cursors: list[Cursor] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.users) + len(self.work_items) + len(self.comments) + len(self.links)


@dataclass(slots=True)
class WorkItemFilter:
    project_id: str
    statuses: Sequence[str] = ()
    tags: Sequence[str] = ()
    assignee_ids: Sequence[str] = ()
    updated_from: datetime | None = None
    updated_to: datetime | None = None
    include_deleted: bool = False


class Store(Protocol):
    """What the engine needs from storage. All methods are coroutines."""

    url_kind: Literal["duckdb", "postgres"]

    async def open(self) -> None:
        """Connect and apply pending migrations (idempotent)."""

    async def close(self) -> None: ...

    async def ping(self) -> bool: ...

    # --- Kiro side -----------------------------------------------------------------------
    async def ensure_project(self, project_id: str, name: str = "") -> Project: ...
    async def get_project(self, project_id: str) -> Project | None: ...
    async def set_project_statuses(self, project_id: str, statuses: Sequence[str]) -> None: ...
    async def add_member(self, project_id: str, user_id: str, role: Role) -> None: ...
    async def get_member_role(self, project_id: str, user_id: str) -> Role | None: ...
    async def get_users_by_email(self, emails: Sequence[str]) -> dict[str, User]: ...
    async def get_work_items(self, ids: Sequence[str]) -> dict[str, WorkItem]: ...
    async def iter_work_items(
        self, query: WorkItemFilter, batch_size: int = 1000
    ) -> AsyncIterator[list[WorkItem]]:
        """Stream a project's work items in batches ordered by id, never all at once."""
        yield []

    async def get_comments(self, ids: Sequence[str]) -> dict[str, Comment]: ...
    async def get_users(self, ids: Sequence[str]) -> dict[str, User]: ...
    async def iter_comments(
        self, work_item_ids: Sequence[str], batch_size: int = 1000
    ) -> AsyncIterator[list[Comment]]:
        """Stream the comments of the given work items in batches ordered by id."""
        yield []

    # --- integrations --------------------------------------------------------------------
    async def create_integration(self, integration: Integration) -> Integration: ...
    async def get_integration(self, integration_id: str) -> Integration | None: ...
    async def list_integrations(
        self, project_id: str | None = None, active_only: bool = False
    ) -> list[Integration]: ...
    async def update_integration(self, integration_id: str, **changes: Any) -> None: ...
    async def delete_integration(self, integration_id: str) -> bool:
        """Delete it with its logs, webhooks, links, cursors, runs, conflicts; False if absent."""

    async def register_provider_types(self, names: Sequence[str]) -> None:
        """Admit installed provider names as integration types (the eight built in are there)."""

    async def provider_types(self) -> list[str]: ...

    # --- sync bookkeeping ----------------------------------------------------------------
    async def apply_batch(self, batch: Batch) -> None:
        """Commit every row of ``batch`` and its cursor advances together, or nothing."""

    async def get_links(
        self, integration_id: str, entity: Entity, external_ids: Sequence[str]
    ) -> dict[str, ExternalLink]: ...
    async def get_links_by_kiro(
        self, integration_id: str, entity: Entity, kiro_ids: Sequence[str]
    ) -> dict[str, ExternalLink]: ...
    async def iter_links(
        self, integration_id: str, entity: Entity, batch_size: int = 1000
    ) -> AsyncIterator[list[ExternalLink]]:
        yield []

    async def get_cursor(self, integration_id: str, stream: str, partition: str) -> str | None: ...
    async def list_cursors(self, integration_id: str) -> list[Cursor]: ...

    async def start_run(self, run: SyncRun, lease_seconds: int = 300) -> SyncRun:
        """Insert a running run, or raise ConflictError(run_id=...) when a live one exists."""

    async def renew_lease(self, run_id: str, lease_seconds: int = 300) -> None: ...
    async def update_run(self, run_id: str, **changes: Any) -> None: ...
    async def get_run(self, run_id: str) -> SyncRun | None: ...
    async def get_running_run(self, integration_id: str) -> SyncRun | None: ...
    async def list_runs(self, integration_id: str, limit: int = 20) -> list[SyncRun]: ...

    async def add_sync_log(self, log: SyncLog) -> None: ...
    async def list_sync_logs(self, integration_id: str, limit: int = 20) -> list[SyncLog]: ...

    async def list_conflicts(
        self, integration_id: str, status: str | None = "open"
    ) -> list[Conflict]: ...
    async def get_conflict(self, conflict_id: str) -> Conflict | None: ...
    async def resolve_conflict(
        self, conflict_id: str, resolution: str, value: Any = None
    ) -> None: ...

    # --- webhooks ------------------------------------------------------------------------
    async def add_webhook(self, log: WebhookLog) -> bool:
        """Store a verified delivery; False when its delivery id was already stored."""

    async def claim_webhooks(
        self, limit: int, worker: str, claim_seconds: int = 60
    ) -> list[WebhookLog]:
        """Unprocessed deliveries for this worker (FOR UPDATE SKIP LOCKED on Postgres)."""

    async def mark_webhook(
        self, webhook_id: str, processed: bool, error: str | None = None
    ) -> None: ...

    async def get_webhook(self, webhook_id: str) -> WebhookLog | None: ...
    async def webhook_backlog(self) -> int: ...

    # --- credential vault support ----------------------------------------------------------
    async def iter_credentials(self) -> list[tuple[str, bytes]]: ...
    async def set_credentials(self, integration_id: str, blob: bytes) -> None: ...
    async def set_credentials_many(self, items: Sequence[tuple[str, bytes]]) -> None: ...
