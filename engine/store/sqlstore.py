"""``SqlStore``: the Store protocol once, over any backend that supplies a Session.

The query groups live in their own modules (kiro.py, integrations.py, bookkeeping.py, runs.py,
webhooks.py); this class puts them together with opening, migrating and closing.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Self

from engine.errors import StoreError
from engine.store.base import Store
from engine.store.bookkeeping import BookkeepingQueries
from engine.store.integrations import IntegrationQueries
from engine.store.kiro import KiroQueries
from engine.store.migrate import applied_versions, apply_pending, load_migrations
from engine.store.runs import RunQueries
from engine.store.sql import Session
from engine.store.webhooks import WebhookQueries


class SqlStore(KiroQueries, IntegrationQueries, BookkeepingQueries, RunQueries, WebhookQueries):
    """Every Store method; a backend subclass adds connecting and ``transaction()``."""

    async def open(self) -> None:
        """Connect and apply pending migrations (idempotent)."""
        await self._connect()
        try:
            await self.migrate()
        except BaseException:
            await self._disconnect()
            raise

    async def close(self) -> None:
        await self._disconnect()

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def ping(self) -> bool:
        try:
            async with self.transaction() as s:
                row = await s.fetchone("SELECT 1")
        except StoreError:
            return False
        return row is not None and row[0] == 1

    async def migrate(self) -> list[int]:
        """Apply the migrations not yet recorded; returns the versions applied now."""
        migrations = load_migrations(self.dialect)
        async with self.migration_transaction() as s:
            return await apply_pending(s, migrations)

    async def schema_versions(self) -> list[int]:
        async with self.transaction() as s:
            return sorted(await applied_versions(s))

    def migration_transaction(self) -> AbstractAsyncContextManager[Session]:
        return self.transaction()

    async def _connect(self) -> None:
        raise NotImplementedError

    async def _disconnect(self) -> None:
        raise NotImplementedError


def _conforms(store: SqlStore) -> Store:
    """Static check (mypy): every SqlStore satisfies the Store protocol."""
    return store
