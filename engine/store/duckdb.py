"""The embedded DuckDB store: one database file, one connection, one dedicated thread.

DuckDB calls block, so every statement runs on a single worker thread
(``ThreadPoolExecutor(max_workers=1)``) that owns the one connection; the event loop only
awaits. One connection means one transaction at a time, so an ``asyncio.Lock`` is held for
each transaction.

Bulk upserts stage the rows in a temporary table and move them in with a few set-based
statements (engine/store/duckdb_bulk.py): the stored rows with the staged keys are deleted
and the rows inserted, keeping the stored values of insert-only columns (``created_at``).
DuckDB runs ``INSERT ... ON CONFLICT DO UPDATE`` as a MERGE that scans every column of the
whole table, so its cost grows with the table (~5x slower at 100,000 rows); the deletes use
key columns only (see docs/performance.md, "Storage").

The hot paths, ``apply_batch`` and ``query``, make one call to the DuckDB thread each: a
hand-off to that thread waits for the GIL while the event loop's thread is busy.

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

from engine.errors import StoreError
from engine.store.base import Batch
from engine.store.duckdb_bulk import apply_stage_sql, create_stages, stage_name, stage_rows
from engine.store.sql import ConstraintKind, Dialect, Step, dedupe, store_error
from engine.store.sqlstore import SqlStore
from engine.store.tables import Table, decode_json

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
        create_stages(conn, DIALECT)
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

    # Two hot paths in one call to the DuckDB thread each, instead of one per statement: a
    # hand-off to that thread waits for the GIL, for up to the interpreter's switch interval
    # (5 ms) while the event loop's thread is busy mapping records.
    async def query(
        self, table: Table, where: str, params: Sequence[Any] = (), suffix: str = ""
    ) -> list[Any]:
        """``select`` as one statement (its own transaction) in one call."""
        sql = _qmarks(f"SELECT {table.select_list()} FROM {table.name} WHERE {where} {suffix}")
        async with self._lock:
            conn = self._open()
            rows = await self.call(_fetchall, conn, sql, list(params))
        decode = self._decoders[table.name]
        return [decode(row) for row in rows]

    async def apply_batch(self, batch: Batch) -> None:
        """The shared ``apply_batch`` through a session that holds its writes back: BEGIN,
        every write and COMMIT go in one call (a read in between flushes what is held)."""
        async with self._lock:
            session = DeferredSession(self, self._open())
            try:
                await self._write_rows(session, batch)
                await self._write_cursors(session, batch.cursors)
            except BaseException:
                await session.abort()
                raise
            await session.commit()

    def _open(self) -> duckdb.DuckDBPyConnection:
        if self._conn is None:
            raise StoreError("duckdb store is not open", backend="duckdb")
        return self._conn


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
            await self._store.call(_upsert, self._conn, [(table, dedupe(table, columns))])


class DeferredSession:
    """A transaction whose writes wait: ``execute`` and ``upsert`` only record a step; the
    steps run (after BEGIN, the first time) together with the next read, or with COMMIT.
    A failing step surfaces at that read or at ``commit``, and rolls everything back."""

    def __init__(self, store: DuckDBStore, conn: duckdb.DuckDBPyConnection) -> None:
        self._store = store
        self._conn = conn
        self._steps: list[Step] = []
        self._begun = False

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._steps.append(Step(sql=_qmarks(sql), params=list(params)))

    async def upsert(self, table: Table, columns: Sequence[list[Any]]) -> None:
        if columns and columns[0]:
            self._steps.append(Step(table=table, columns=dedupe(table, columns)))

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return await self._run(functools.partial(_fetchall, sql=_qmarks(sql), params=params))

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        return await self._run(functools.partial(_fetchone, sql=_qmarks(sql), params=params))

    async def commit(self) -> None:
        steps, self._steps = self._steps, []
        begin, self._begun = not self._begun, True
        await self._store.call(_commit_steps, self._conn, begin, steps)

    async def abort(self) -> None:
        if self._begun:
            with contextlib.suppress(StoreError):  # DuckDB may have ended it already
                await self._store.call(self._conn.execute, "ROLLBACK")

    async def _run(self, then: Callable[[duckdb.DuckDBPyConnection], R]) -> R:
        steps, self._steps = self._steps, []
        begin, self._begun = not self._begun, True
        return await self._store.call(_run_steps, self._conn, begin, steps, then)


def _run_steps(
    conn: duckdb.DuckDBPyConnection,
    begin: bool,
    steps: list[Step],
    then: Callable[[duckdb.DuckDBPyConnection], R],
) -> R:
    """BEGIN (the first time), the held-back steps, then ``then``; ROLLBACK on failure."""
    if begin:
        conn.execute("BEGIN TRANSACTION")
    try:
        upserts: list[tuple[Table, list[list[Any]]]] = []
        for step in steps:
            if step.table is not None and all(t is not step.table for t, _ in upserts):
                upserts.append((step.table, list(step.columns)))
                continue
            _upsert(conn, upserts)
            upserts = []
            if step.table is not None:
                upserts.append((step.table, list(step.columns)))
            else:
                conn.execute(step.sql, list(step.params))
        _upsert(conn, upserts)
        return then(conn)
    except BaseException:
        with contextlib.suppress(duckdb.Error):  # DuckDB may have ended it already
            conn.execute("ROLLBACK")
        raise


def _commit_steps(conn: duckdb.DuckDBPyConnection, begin: bool, steps: list[Step]) -> None:
    """The held-back steps and COMMIT. A whole transaction of upserts (an import batch) is
    staged first, then BEGIN, the moves and COMMIT run as one script: each DuckDB call
    gives the GIL back and waits to take it again, so fewer calls finish sooner."""
    tables = [step.table for step in steps]
    if not begin or None in tables or len(set(tables)) != len(tables):
        _run_steps(conn, begin, steps, _commit)
        return
    upserts = [(step.table, list(step.columns)) for step in steps if step.table is not None]
    try:
        for table, columns in upserts:
            stage_rows(conn, table, columns)
        script = [apply_stage_sql(table) for table, _ in upserts]
        conn.execute("; ".join(["BEGIN TRANSACTION", *script, "COMMIT"]))
    except BaseException:
        with contextlib.suppress(duckdb.Error):  # DuckDB may have ended it already
            conn.execute("ROLLBACK")
        with contextlib.suppress(duckdb.Error):  # staged outside the transaction
            conn.execute("; ".join(f"DELETE FROM {stage_name(t)}" for t, _ in upserts))
        raise


def _upsert(conn: duckdb.DuckDBPyConnection, upserts: list[tuple[Table, list[list[Any]]]]) -> None:
    """Bulk upserts of different tables: every table's rows staged, then one call moving
    them all in (engine.store.duckdb_bulk)."""
    if not upserts:
        return
    for table, columns in upserts:
        stage_rows(conn, table, columns)
    conn.execute("; ".join(apply_stage_sql(table) for table, _ in upserts))


def _commit(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute("COMMIT")


def _execute(conn: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> None:
    conn.execute(sql, params)


def _fetchall(
    conn: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any]
) -> list[tuple[Any, ...]]:
    return conn.execute(sql, list(params)).fetchall()


def _fetchone(
    conn: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any]
) -> tuple[Any, ...] | None:
    return conn.execute(sql, list(params)).fetchone()


@functools.lru_cache(maxsize=512)
def _qmarks(sql: str) -> str:
    return sql.replace("%s", "?")


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
