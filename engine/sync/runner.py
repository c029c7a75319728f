"""``SyncService``: one sync run of one integration, from lease to log row.

    service = SyncService(store, ProviderCatalog.default())
    handle = await service.begin(integration, credentials, {"includeComments": True})
    handle.run_id                      # known before any work: the API answers 202 with it
    result = await handle.wait()       # SyncResult
    result = await service.run(integration, credentials, options)   # both in one

A run: ``store.start_run`` takes the lease (ConflictError(run_id=...) while another run of
the integration is live on any node); the integration shows ``syncing``; the import and/or
export phases run as ``config.syncDirection`` says; then the run row, an
``integration_sync_logs`` row and the integration's ``sync_status``/``last_sync_at``/
``error_message`` record the outcome:

- success: nothing failed; partial: some records failed (their errors are listed), the run
  went on; error: the run stopped. A config-class error (bad credentials, a missing project,
  an invalid config or mapping) stops it with a message saying what to fix; transient errors
  (429, 5xx, network) were already retried by the interpreter before they stop a run.
- cancelled: the task was cancelled. Every batch committed before stays, with its cursor:
  the next run resumes from the last checkpoint.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from engine.catalog import ProviderCatalog
from engine.config import (
    IntegrationConfig,
    SyncOptions,
    check_extra,
    parse_config,
    parse_sync_options,
)
from engine.errors import (
    AuthError,
    ConfigError,
    KiroSyncError,
    SpecError,
    TransientError,
    ValidationError,
    error_class,
)
from engine.http import Connection
from engine.mapping.compiled import Mapping
from engine.mapping.loader import load_mapping
from engine.provider import Provider
from engine.registry import Registry
from engine.store.base import Integration, Store, SyncLog, SyncRun
from engine.sync.comment_export import CommentExporter
from engine.sync.context import SyncContext
from engine.sync.exporter import Exporter
from engine.sync.importer import Importer
from engine.sync.models import Counts, ProgressCallback, RunOutcome, SyncResult
from engine.sync.progress import RunReporter
from engine.sync.resolve import ConflictResolver
from engine.sync.webhook_apply import WebhookApplier, WebhookEventLike

Clock = Callable[[], datetime]
_LOG_STATUS: dict[str, str] = {"success": "success", "partial": "partial"}


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class RunHandle:
    """A started run: its id is known, its work goes on in ``task``."""

    run_id: str
    integration_id: str
    trigger: str
    task: asyncio.Task[SyncResult] = field(repr=False)

    async def wait(self) -> SyncResult:
        return await asyncio.shield(self.task)

    def done(self) -> bool:
        return self.task.done()

    def cancel(self) -> None:
        self.task.cancel()


class SyncService:
    def __init__(
        self,
        store: Store,
        catalog: ProviderCatalog,
        *,
        registry: Registry | None = None,
        clock: Clock | None = None,
        node: str | None = None,
        lease_seconds: int = 300,
        progress_interval: float = 1.0,
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.registry = registry
        self.clock: Clock = clock or _utcnow
        self.node = node
        self.lease_seconds = lease_seconds
        self.progress_interval = progress_interval
        self._mappings: dict[str, Mapping] = {}

    # --- validation (connect time) -----------------------------------------------------------
    def mapping_for(self, provider_name: str) -> Mapping:
        """The provider's default mapping, loaded and checked once (SpecError if invalid)."""
        mapping = self._mappings.get(provider_name)
        if mapping is None:
            provider = self.catalog.get(provider_name)
            path = self.catalog.mapping_path(provider_name)
            if path is None:
                raise ConfigError(
                    f"provider {provider_name!r} has no mapping (mappings/{provider_name}.yaml)"
                )
            mapping = load_mapping(path, provider.spec)
            self._mappings[provider_name] = mapping
        return mapping

    def validate_mapping(
        self, provider_name: str, field_mappings: MappingABC[str, str] | None
    ) -> Mapping:
        """The mapping with ``fieldMappings`` applied; ValidationError naming a bad key."""
        return self.mapping_for(provider_name).with_field_mappings(field_mappings or {})

    def validate_config(
        self, provider_name: str, config: MappingABC[str, Any] | None
    ) -> IntegrationConfig:
        """``config`` checked as connect must: keys, values, ``extra`` against the
        provider's config_schema, fieldMappings against its mapping."""
        parsed = parse_config(config)
        provider = self.catalog.get(provider_name)
        if parsed.extra or provider.spec.config_schema.get("required"):
            check_extra(parsed.extra, provider.spec.config_schema, provider_name)
        self.validate_mapping(provider_name, parsed.field_mappings)
        return parsed

    def context(self, integration: Integration, options: SyncOptions) -> SyncContext:
        """Everything a run or a webhook needs; ConfigError/ValidationError when the
        integration's config or mapping is unusable."""
        config = parse_config(integration.config)
        mapping = self.validate_mapping(integration.type, config.field_mappings)
        return SyncContext(self.store, integration, config, options, mapping, self.clock)

    # --- runs --------------------------------------------------------------------------------
    async def begin(
        self,
        integration: Integration,
        credentials: MappingABC[str, Any],
        options: MappingABC[str, Any] | SyncOptions | None = None,
        trigger: str = "manual",
        progress: ProgressCallback | None = None,
    ) -> RunHandle:
        """Take the lease and start the run in the background; returns once the run id is
        known. ValidationError for bad syncOptions, ConflictError(run_id=...) when a run of
        this integration is live."""
        parsed = parse_sync_options(options)
        now = self.clock()
        run = SyncRun(
            id=str(uuid.uuid4()),
            integration_id=integration.id,
            trigger=trigger,
            started_at=now,
            node=self.node,
        )
        run = await self.store.start_run(run, self.lease_seconds)
        await self.store.update_integration(integration.id, sync_status="syncing")
        reporter = RunReporter(
            self.store, run.id, integration.id, progress, self.lease_seconds, self.progress_interval
        )
        work = self._execute(run, integration, dict(credentials), parsed, reporter)
        task = asyncio.create_task(work, name=f"kiro-sync run {run.id}")
        return RunHandle(run.id, integration.id, trigger, task)

    async def run(
        self,
        integration: Integration,
        credentials: MappingABC[str, Any],
        options: MappingABC[str, Any] | SyncOptions | None = None,
        trigger: str = "manual",
        progress: ProgressCallback | None = None,
    ) -> SyncResult:
        """``begin`` and wait for the result."""
        handle = await self.begin(integration, credentials, options, trigger, progress)
        return await handle.wait()

    async def _execute(
        self,
        run: SyncRun,
        integration: Integration,
        credentials: dict[str, Any],
        options: SyncOptions,
        reporter: RunReporter,
    ) -> SyncResult:
        started = run.started_at or self.clock()
        direction = str(integration.config.get("syncDirection", "import"))
        result = SyncResult(
            run.id, integration.id, "success", direction, run.trigger, started, started
        )
        ctx: SyncContext | None = None
        try:
            ctx = self.context(integration, options)
            result.direction = ctx.config.sync_direction
            await self._phases(ctx, credentials, started, reporter)
        except asyncio.CancelledError:
            result.status = "cancelled"
            await self._finish(result, ctx, reporter, integration)
            raise
        except Exception as exc:  # every failure ends the run with a recorded reason
            result.status = "error"
            result.error_class = error_class(exc)
            result.error_message = explain(exc, integration.type)
        await self._finish(result, ctx, reporter, integration)
        return result

    async def _phases(
        self,
        ctx: SyncContext,
        credentials: dict[str, Any],
        started: datetime,
        reporter: RunReporter,
    ) -> None:
        provider = sized(self.catalog.get(ctx.integration.type), ctx.options.batch_size)
        direction = ctx.config.sync_direction
        async with Connection(
            provider, credentials, ctx.template_config(), registry=self.registry
        ) as conn:
            await ctx.load_conflicts()
            await ConflictResolver(ctx).apply_resolved()
            if direction in ("import", "bidirectional"):
                counts = reporter.counts_for("import")

                async def on_import(stream: str | None) -> None:
                    await reporter.report("import", stream)

                await Importer(ctx, conn, counts, started, on_import).run()
            if direction in ("export", "bidirectional"):
                counts = reporter.counts_for("export")

                async def on_export(stream: str | None) -> None:
                    await reporter.report("export", stream)

                await Exporter(ctx, conn, counts, started, on_export).run()
                await CommentExporter(ctx, conn, counts, started, on_export).run()

    async def _finish(
        self,
        result: SyncResult,
        ctx: SyncContext | None,
        reporter: RunReporter,
        integration: Integration,
    ) -> None:
        result.finished_at = self.clock()
        result.imported = reporter.counts_for("import")
        result.exported = reporter.counts_for("export")
        if ctx is not None:
            result.errors = ctx.errors.listed()
        if result.status == "success" and result.totals.failed:
            result.status = "partial"
            result.error_message = f"{result.totals.failed} record(s) failed; see the errors"
        if result.error_message and result.status == "error":
            result.errors = [*result.errors, result.error_message][-20:]
        await self._record(result, reporter, integration)

    async def _record(
        self, result: SyncResult, reporter: RunReporter, integration: Integration
    ) -> None:
        totals = result.totals
        await self.store.update_run(
            result.run_id,
            status=result.status,
            counters=totals.to_dict(),
            progress={"phase": "done", **totals.to_dict()},
            finished_at=result.finished_at,
            error_class=result.error_class,
            error_message=result.error_message,
        )
        await self.store.add_sync_log(_log_row(result))
        await self.store.update_integration(
            integration.id,
            sync_status=_integration_status(result.status),
            last_sync_at=result.finished_at,
            error_message=result.error_message if result.status != "success" else None,
        )

    # --- webhooks and conflicts ----------------------------------------------------------
    async def apply_webhook(
        self,
        integration: Integration,
        credentials: MappingABC[str, Any],
        events: list[WebhookEventLike],
    ) -> Counts:
        """Apply the records verified webhook deliveries carry (see webhook_apply)."""
        ctx = self.context(integration, SyncOptions())
        applier = WebhookApplier(ctx, self.catalog, self.registry)
        return await applier.apply(dict(credentials), events)

    async def resolve_conflict(
        self, integration: Integration, conflict_id: str, resolution: str, value: Any = None
    ) -> None:
        """Record a person's choice for an open conflict and apply it on the Kiro side and
        to the link snapshot; the next export sends it to the provider."""
        ctx = self.context(integration, SyncOptions())
        await ConflictResolver(ctx).resolve(conflict_id, resolution, value)


def sized(provider: Provider, batch_size: int) -> Provider:
    """The provider with every stream's page size capped at the run's batch size."""
    streams = {
        name: spec.model_copy(update={"page_size": min(spec.page_size, batch_size)})
        for name, spec in provider.spec.streams.items()
    }
    spec = provider.spec.model_copy(update={"streams": streams})
    return Provider(spec=spec, templates=provider.templates, path=provider.path)


def explain(exc: BaseException, provider: str) -> str:
    """One line for the integration's error_message: what happened and what to do."""
    text = str(exc) or type(exc).__name__
    if isinstance(exc, AuthError):
        return f"{text} -- reconnect the integration with valid {provider} credentials"
    if isinstance(exc, ValidationError):
        return f"{text} -- fix the integration's config"
    if isinstance(exc, ConfigError):
        return f"{text} -- fix the integration's credentials or config"
    if isinstance(exc, SpecError):
        return f"the {provider} provider or mapping file is invalid: {text}"
    if isinstance(exc, TransientError):
        return f"{text} -- a temporary failure; the next run resumes from the last checkpoint"
    if isinstance(exc, KiroSyncError):
        return text
    return f"internal error ({type(exc).__name__}); the next run resumes from the last checkpoint"


def _integration_status(status: RunOutcome) -> str:
    return {"success": "success", "partial": "partial"}.get(status, "error")


def _log_row(result: SyncResult) -> SyncLog:
    totals = result.totals
    return SyncLog(
        id=str(uuid.uuid4()),
        integration_id=result.integration_id,
        sync_type=result.direction if result.direction in ("import", "export") else "bidirectional",
        status=_LOG_STATUS.get(result.status, "error"),  # type: ignore[arg-type]
        items_processed=totals.processed,
        items_created=totals.created,
        items_updated=totals.updated,
        items_skipped=totals.skipped,
        errors=list(result.errors),
        started_at=result.started_at,
        completed_at=result.finished_at,
        duration_ms=result.duration_ms,
    )


__all__ = ["RunHandle", "SyncService", "explain", "sized"]
