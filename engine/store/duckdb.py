"""The embedded DuckDB store: one database file, one connection, one dedicated thread.

DuckDB calls block, so every statement runs on a single worker thread
(``ThreadPoolExecutor(max_workers=1)``) that owns the one connection; the event loop only
awaits. One connection means one transaction at a time, so an ``asyncio.Lock`` is held for
each transaction. Bulk writes pass each column as one list parameter and ``UNNEST`` them
(``INSERT ... SELECT UNNEST(?), ...``): thousands of rows per statement, one call into DuckDB
(``executemany`` is a round trip per row and ~100x slower).

An upsert deletes the batch's keys and inserts the rows again, inside the caller's
transaction, keeping the stored values of insert-only columns (``created_at``). DuckDB runs
``INSERT ... ON CONFLICT DO UPDATE`` as a MERGE that scans every column of the whole table, so
its cost grows with the table (~5x slower at 100,000 rows); the delete and the insert use the
primary key index and a key-only scan (see docs/performance.md, "Storage").

The WAL is checkpointed every 256MB instead of DuckDB's 16MB (``checkpoint_threshold``): each
checkpoint rewrites the key indexes whole, which dominated bulk updates.

DuckDB has no cascading foreign keys and cannot update a unique column of a row a foreign key
references, so this backend has no foreign keys; the store deletes dependents itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import pyarrow as pa

from engine.errors import StoreError
from engine.store.sql import ConstraintKind, Dialect, dedupe, store_error
from engine.store.sqlstore import SqlStore
from engine.store.tables import Kind, Table, decode_json

R = TypeVar("R")

DIALECT = Dialect(
    name="duckdb",
    types={
        "text": "VARCHAR",
        "int": "INTEGER",
        "bool": "BOOLEAN",
        "ts": "TIMESTAMPTZ",
        "json": "JSON",
        "list": "VARCHAR[]",
        "bytes": "BLOB",
    },
    load_json=decode_json,
    in_list="{column} IN (SELECT UNNEST(%s::VARCHAR[]))",
    overlaps="list_has_any({column}, %s::VARCHAR[])",
)

MEMORY = ":memory:"
# How much WAL DuckDB collects before folding it into the file. Every checkpoint rewrites the
# primary-key indexes whole, so DuckDB's default (16MB) makes a bulk update ~4x slower; a crash
# costs a longer WAL replay at the next open instead.
CHECKPOINT_THRESHOLD = "256MB"


class DuckDBStore(SqlStore):
    url_kind = "duckdb"
    dialect = DIALECT

    def __init__(
        self,
        path: str | Path = MEMORY,
        *,
        checkpoint_threshold: str = CHECKPOINT_THRESHOLD,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self.path = path if path == MEMORY else Path(path)
        self.checkpoint_threshold = checkpoint_threshold
        self._executor: ThreadPoolExecutor | None = None
        self._conn: duckdb.DuckDBPyConnection | None = None
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"DuckDBStore({str(self.path)!r})"

    async def _connect(self) -> None:
        if self._conn is not None:
            return
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kiro-sync-duckdb")
        try:
            self._conn = await self.call(self._open_connection)
        except BaseException:
            self._executor.shutdown(wait=False)
            self._executor = None
            raise

    def _open_connection(self) -> duckdb.DuckDBPyConnection:
        if isinstance(self.path, Path):
            self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = duckdb.connect(
            str(self.path), config={"checkpoint_threshold": self.checkpoint_threshold}
        )
        conn.execute("SET TimeZone = 'UTC'")
        return conn

    async def _disconnect(self) -> None:
        conn, executor = self._conn, self._executor
        self._conn = self._executor = None
        if executor is None:
            return
        if conn is not None:
            await asyncio.get_running_loop().run_in_executor(executor, conn.close)
        executor.shutdown(wait=True)

    async def call(self, fn: Callable[..., R], *args: Any) -> R:
        """Run ``fn(*args)`` on the DuckDB thread; DuckDB errors become StoreError."""
        if self._executor is None:
            raise StoreError("duckdb store is not open", backend="duckdb")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, functools.partial(fn, *args))
        except duckdb.Error as exc:
            raise translate(exc) from None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[DuckDBSession]:
        async with self._lock:
            conn = self._conn
            if conn is None:
                raise StoreError("duckdb store is not open", backend="duckdb")
            try:
                await self.call(conn.execute, "BEGIN TRANSACTION")
            except asyncio.CancelledError:  # the DuckDB thread still runs the BEGIN
                await self._rollback(conn)
                raise
            try:
                yield DuckDBSession(self, conn)
            except BaseException:
                await self._rollback(conn)
                raise
            try:
                await self.call(conn.execute, "COMMIT")
            except StoreError:
                await self._rollback(conn)
                raise

    async def _rollback(self, conn: duckdb.DuckDBPyConnection) -> None:
        with contextlib.suppress(StoreError):  # DuckDB may have ended it already
            await self.call(conn.execute, "ROLLBACK")


class DuckDBSession:
    def __init__(self, store: DuckDBStore, conn: duckdb.DuckDBPyConnection) -> None:
        self._store = store
        self._conn = conn

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        await self._store.call(_execute, self._conn, _qmarks(sql), list(params))

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return await self._store.call(_fetchall, self._conn, _qmarks(sql), list(params))

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        return await self._store.call(_fetchone, self._conn, _qmarks(sql), list(params))

    async def upsert(self, table: Table, columns: Sequence[list[Any]]) -> None:
        if columns and columns[0]:
            await self._store.call(_replace_rows, self._conn, table, dedupe(table, columns))


def _execute(conn: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> None:
    conn.execute(sql, params)


def _fetchall(
    conn: duckdb.DuckDBPyConnection, sql: str, params: list[Any]
) -> list[tuple[Any, ...]]:
    return conn.execute(sql, params).fetchall()


def _fetchone(
    conn: duckdb.DuckDBPyConnection, sql: str, params: list[Any]
) -> tuple[Any, ...] | None:
    return conn.execute(sql, params).fetchone()


@functools.lru_cache(maxsize=512)
def _qmarks(sql: str) -> str:
    return sql.replace("%s", "?")


def _replace_rows(conn: duckdb.DuckDBPyConnection, table: Table, columns: list[list[Any]]) -> None:
    """Stage the rows as an Arrow table; delete the stored rows they replace; insert them.

    Stored insert-only values win: the delete returns them and the insert keeps them.
    """
    conn.register(_STAGE, staged(table, columns))
    for unique in table.unique:
        conn.execute(_delete_sql(table, unique))
    if table.insert_only:
        kept = conn.execute(_delete_sql(table, table.key, returning=True)).fetchall()
        if kept:
            conn.register(_STAGE, staged(table, _keep_stored(table, columns, kept)))
    else:
        conn.execute(_delete_sql(table, table.key))
    conn.execute(_insert_sql(table))
    conn.unregister(_STAGE)  # after a failure the transaction's rollback drops it


_STAGE = "kiro_sync_stage"
_ARROW_TYPES: dict[Kind, Callable[[], pa.DataType]] = {
    "text": pa.string,
    "int": pa.int64,
    "bool": pa.bool_,
    "ts": lambda: pa.timestamp("us", tz="UTC"),
    "json": pa.string,
    "list": lambda: pa.list_(pa.string()),
    "bytes": pa.binary,
}


def staged(table: Table, columns: list[list[Any]]) -> pa.Table:
    """Encoded columns as an Arrow table DuckDB reads in bulk (no per-value round trips)."""
    arrays = [
        pa.array(values, type=_ARROW_TYPES[kind]())
        for values, kind in zip(columns, table.kinds, strict=True)
    ]
    return pa.Table.from_arrays(arrays, names=list(table.columns))


def _keep_stored(
    table: Table, columns: list[list[Any]], kept: list[tuple[Any, ...]]
) -> list[list[Any]]:
    """``columns`` with the insert-only values of the rows found stored (``kept``)."""
    width = len(table.key)
    stored = {tuple(found[:width]): found[width:] for found in kept}
    keys = list(zip(*(columns[table.columns.index(k)] for k in table.key), strict=True))
    merged = list(columns)
    for offset, name in enumerate(table.insert_only):
        at = table.columns.index(name)
        column = list(columns[at])
        for row, key in enumerate(keys):
            old = stored.get(key)
            if old is not None:
                column[row] = old[offset]
        merged[at] = column
    return merged


@functools.lru_cache(maxsize=64)
def _delete_sql(table: Table, key: tuple[str, ...], returning: bool = False) -> str:
    match = " AND ".join(f"t.{k} = b.{k}" for k in key)
    sql = f"DELETE FROM {table.name} AS t USING {_STAGE} AS b WHERE {match}"
    if returning:
        sql += " RETURNING " + ", ".join(f"t.{c}" for c in (*table.key, *table.insert_only))
    return sql


@functools.lru_cache(maxsize=64)
def _insert_sql(table: Table) -> str:
    names = ", ".join((*table.columns, *table.touch))
    values = ", ".join((*table.columns, *["now()"] * len(table.touch)))
    return f"INSERT INTO {table.name} ({names}) SELECT {values} FROM {_STAGE}"


def translate(exc: duckdb.Error) -> StoreError:
    return store_error("duckdb", str(exc), _constraint_kind(exc))


def _constraint_kind(exc: duckdb.Error) -> ConstraintKind | None:
    if not isinstance(exc, duckdb.ConstraintException):
        return None
    text = str(exc).lower()
    if "check constraint" in text:
        return "check"
    if "foreign key" in text:
        return "foreign_key"
    if "not null" in text:
        return "not_null"
    if "duplicate key" in text or "unique" in text or "primary key" in text:
        return "unique"
    return None
