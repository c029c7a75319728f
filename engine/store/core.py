"""The base every SQL query group builds on: transactions, the clock, row decoding.

Query groups (kiro.py, integrations.py, bookkeeping.py, runs.py, webhooks.py) are mixins of
``SqlCore``; ``SqlStore`` (sqlstore.py) combines them and a backend (duckdb.py, postgres.py)
supplies ``transaction()`` and the ``Dialect``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Any

from engine.store import tables as t
from engine.store.sql import Backend, Dialect, Session
from engine.store.tables import Table, to_utc

ALL_TABLES = (
    t.PROJECTS,
    t.USERS,
    t.WORK_ITEMS,
    t.COMMENTS,
    t.INTEGRATIONS,
    t.LINKS,
    t.CURSORS,
    t.RUNS,
    t.SYNC_LOGS,
    t.CONFLICTS,
    t.WEBHOOKS,
)


def utcnow() -> datetime:
    return datetime.now(UTC)


class SqlCore:
    """State and helpers shared by every query group."""

    url_kind: Backend
    dialect: Dialect

    def __init__(
        self,
        *,
        clock: Callable[[], datetime] | None = None,
        webhook_max_attempts: int = 5,
    ) -> None:
        self._clock = clock or utcnow
        self.webhook_max_attempts = webhook_max_attempts
        self._decoders = {table.name: table.decoder(self.dialect.load_json) for table in ALL_TABLES}

    def transaction(self) -> AbstractAsyncContextManager[Session]:
        """One transaction: commits when the block ends, rolls back when it raises."""
        raise NotImplementedError

    def now(self) -> datetime:
        now = to_utc(self._clock())
        assert now is not None
        return now

    def in_list(self, column: str) -> str:
        """SQL testing ``column`` against a list parameter (one ``%s``)."""
        return self.dialect.in_list.format(column=column)

    async def select(
        self,
        session: Session,
        table: Table,
        where: str,
        params: Sequence[Any] = (),
        suffix: str = "",
    ) -> list[Any]:
        sql = f"SELECT {table.select_list()} FROM {table.name} WHERE {where} {suffix}"
        decode = self._decoders[table.name]
        return [decode(row) for row in await session.fetchall(sql, params)]

    async def query(
        self, table: Table, where: str, params: Sequence[Any] = (), suffix: str = ""
    ) -> list[Any]:
        """``select`` in a transaction of its own."""
        async with self.transaction() as session:
            return await self.select(session, table, where, params, suffix)

    async def query_one(self, table: Table, where: str, params: Sequence[Any] = ()) -> Any:
        rows = await self.query(table, where, params, "LIMIT 1")
        return rows[0] if rows else None

    async def update_row(
        self,
        session: Session,
        table: Table,
        key: Sequence[Any],
        changes: Mapping[str, Any],
        extra: Mapping[str, Any] | None = None,
    ) -> bool:
        """Set encoded ``changes`` (+ raw ``extra``) on the row with ``key``; False if absent."""
        values = {c: table.encode_value(c, v) for c, v in changes.items()}
        values.update(extra or {})
        sets = ", ".join(f"{c} = %s" for c in values)
        where = " AND ".join(f"{k} = %s" for k in table.key)
        sql = f"UPDATE {table.name} SET {sets} WHERE {where} RETURNING {table.key[0]}"
        return await session.fetchone(sql, (*values.values(), *key)) is not None


def check_columns(what: str, changes: Mapping[str, Any], allowed: Sequence[str]) -> None:
    unknown = sorted(set(changes) - set(allowed))
    if unknown:
        raise ValueError(
            f"cannot change {what} column(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}"
        )
