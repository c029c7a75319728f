"""Everything one sync (a run, or one webhook delivery) works with, gathered once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.config import IntegrationConfig, SyncOptions
from engine.mapping.compiled import Mapping
from engine.store.base import DEFAULT_STATUSES, Batch, Conflict, Integration, Store
from engine.sync.merge import Policy, policy_for
from engine.sync.models import ErrorList
from engine.sync.users import UserResolver

OPTION_NAMES = ("includeComments", "includeAttachments", "includeHistory")


@dataclass
class SyncContext:
    store: Store
    integration: Integration
    config: IntegrationConfig
    options: SyncOptions
    mapping: Mapping
    clock: Callable[[], datetime]
    policy: Policy = field(init=False)
    users: UserResolver = field(init=False)
    errors: ErrorList = field(default_factory=ErrorList)
    open_conflicts: dict[tuple[str, str], Conflict] = field(default_factory=dict)
    _statuses: list[str] | None = None
    _enabled: tuple[SyncOptions, frozenset[str]] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.policy: Policy = policy_for(self.config.conflict_resolution)
        self.users = UserResolver(self.store)

    @property
    def integration_id(self) -> str:
        return self.integration.id

    @property
    def project_id(self) -> str:
        return self.integration.project_id

    @property
    def enabled_options(self) -> frozenset[str]:
        """The include* options this run has on (computed once per options object)."""
        cached = self._enabled
        if cached is None or cached[0] is not self.options:
            enabled = frozenset(n for n in OPTION_NAMES if self.options.enabled(n))  # type: ignore[arg-type]
            cached = self._enabled = (self.options, enabled)
        return cached[1]

    def template_config(self) -> dict[str, Any]:
        """``config`` as templates see it: the wire config with defaults, plus the run's
        ``syncOptions`` (``config.syncOptions.includeHistory``)."""
        return {**self.config.wire(), "syncOptions": self.options.wire()}

    async def load_conflicts(self) -> None:
        for conflict in await self.store.list_conflicts(self.integration_id, "open"):
            self.open_conflicts[(conflict.kiro_id, conflict.field)] = conflict

    async def ensure_statuses(self, statuses: Iterable[str | None]) -> None:
        """Extend the project's statuses with any new one the provider uses."""
        if self._statuses is None:
            project = await self.store.get_project(self.project_id)
            self._statuses = list(project.statuses) if project else list(DEFAULT_STATUSES)
        new = [s for s in dict.fromkeys(statuses) if s and s not in self._statuses]
        if new:
            self._statuses = [*self._statuses, *new]
            await self.store.set_project_statuses(self.project_id, self._statuses)

    def now(self) -> datetime:
        return self.clock()


async def commit(store: Store, batch: Batch) -> None:
    """``store.apply_batch`` that a cancellation cannot cut in half: a batch already on its
    way finishes (or fails) as a whole; the caller still sees the cancellation."""
    task = asyncio.ensure_future(store.apply_batch(batch))
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        await asyncio.wait([task])
        raise


__all__ = ["OPTION_NAMES", "SyncContext", "commit"]
