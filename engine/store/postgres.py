"""The Postgres store: psycopg 3 async with a connection pool, for several processes.

Every connection gets ``timezone=UTC`` (and ``search_path`` when a ``schema`` is given) via
the connection options, orjson for JSONB, and per-connection temporary staging tables. A bulk
upsert COPYs rows into the staging table and then runs one ``INSERT ... SELECT ... ON
CONFLICT DO UPDATE``: the fastest path psycopg offers, thousands of rows per statement.
Migrations run on a dedicated connection under an advisory lock before the pool opens, so a
wrong URL fails at once with the server's reason.
"""

from __future__ import annotations

import functools
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import orjson
import psycopg
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.types.json import set_json_loads
from psycopg_pool import AsyncConnectionPool

from engine.errors import StoreError
from engine.store.sql import ConstraintKind, Dialect, conflict_clause, dedupe, store_error
from engine.store.sqlstore import SqlStore
from engine.store.tables import BULK_TABLES, Table

DIALECT = Dialect(
    name="postgres",
    types={
        "text": "text",
        "int": "integer",
        "bool": "boolean",
        "ts": "timestamptz",
        "json": "jsonb",
        "list": "text[]",
        "bytes": "bytea",
    },
    load_json=lambda value: value,  # psycopg already decoded it (with orjson)
    lock_rows=" FOR UPDATE",
    skip_locked=" FOR UPDATE SKIP LOCKED",
    in_list="{column} = ANY(%s::text[])",
    overlaps="{column} && %s::text[]",
)

SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
AConn = psycopg.AsyncConnection[Any]


class PostgresStore(SqlStore):
    url_kind = "postgres"
    dialect = DIALECT

    def __init__(
        self,
        url: str,
        *,
        schema: str | None = None,
        min_size: int = 1,
        max_size: int = 10,
        connect_timeout: int = 10,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        if schema is not None and not SCHEMA_NAME.match(schema):
            raise ValueError(f"invalid schema name {schema!r}")
        self.schema = schema
        self._conninfo = _conninfo(url, schema, connect_timeout)
        self._sizes = (min_size, max_size)
        self._timeout = float(connect_timeout)
        self._pool: AsyncConnectionPool[AConn] | None = None

    def __repr__(self) -> str:
        info = conninfo_to_dict(self._conninfo)
        where = f"{info.get('host', '')}:{info.get('port', '')}/{info.get('dbname', '')}"
        return f"PostgresStore({where!r}, schema={self.schema!r})"

    async def _connect(self) -> None:
        if self._pool is not None:
            return
        pool: AsyncConnectionPool[AConn] = AsyncConnectionPool(
            self._conninfo,
            min_size=self._sizes[0],
            max_size=self._sizes[1],
            open=False,
            configure=_configure,
            check=AsyncConnectionPool.check_connection,
            timeout=self._timeout,
            name="kiro-sync",
        )
        self._pool = pool

    async def _disconnect(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def migrate(self) -> list[int]:
        """Migrate on a dedicated connection, then open the pool."""
        applied = await super().migrate()
        if self._pool is not None and self._pool.closed:
            try:
                await self._pool.open(wait=True, timeout=self._timeout)
            except psycopg.Error as exc:
                raise translate(exc) from None
        return applied

    @asynccontextmanager
    async def migration_transaction(self) -> AsyncIterator[PostgresSession]:
        try:
            conn = await psycopg.AsyncConnection.connect(self._conninfo)
        except psycopg.Error as exc:
            raise translate(exc) from None
        async with conn:
            session = PostgresSession(conn)
            async with conn.transaction():
                if self.schema:
                    await session.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
                await session.execute(
                    "SELECT pg_advisory_xact_lock(7433, hashtext(coalesce(current_schema(), '')))"
                )
                yield session

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PostgresSession]:
        pool = self._pool
        if pool is None or pool.closed:
            raise StoreError("postgres store is not open", backend="postgres")
        try:
            async with pool.connection() as conn, conn.transaction():
                yield PostgresSession(conn)
        except psycopg.Error as exc:
            raise translate(exc) from None


class PostgresSession:
    def __init__(self, conn: AConn) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        try:
            await self._conn.execute(sql, params or None)
        except psycopg.Error as exc:
            raise translate(exc) from None

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            cursor = await self._conn.execute(sql, params or None)
            return await cursor.fetchall()
        except psycopg.Error as exc:
            raise translate(exc) from None

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        try:
            cursor = await self._conn.execute(sql, params or None)
            return await cursor.fetchone()
        except psycopg.Error as exc:
            raise translate(exc) from None

    async def upsert(self, table: Table, columns: Sequence[list[Any]]) -> None:
        """COPY the rows into the staging table, then one INSERT ... ON CONFLICT."""
        if not columns or not columns[0]:
            return
        copy_sql, insert_sql, clear_sql = _upsert_sql(table)
        try:
            async with self._conn.cursor().copy(copy_sql) as copy:
                for row in zip(*dedupe(table, columns), strict=True):
                    await copy.write_row(row)
            for unique in table.unique:
                await self._conn.execute(_replaced_sql(table, unique))
            await self._conn.execute(insert_sql)
            await self._conn.execute(clear_sql)
        except psycopg.Error as exc:
            raise translate(exc) from None


def _stage(table: Table) -> str:
    return f"kiro_stage_{table.name}"


@functools.lru_cache(maxsize=64)
def _upsert_sql(table: Table) -> tuple[str, str, str]:
    columns = ", ".join(table.columns)
    touch = "".join(f", {c}" for c in table.touch)
    now = ", now()" * len(table.touch)
    return (
        f"COPY {_stage(table)} ({columns}) FROM STDIN",
        f"INSERT INTO {table.name} ({columns}{touch}) SELECT {columns}{now} FROM {_stage(table)} "
        + conflict_clause(table),
        f"DELETE FROM {_stage(table)}",
    )


@functools.lru_cache(maxsize=64)
def _replaced_sql(table: Table, unique: tuple[str, ...]) -> str:
    """Delete stored rows sharing a staged row's other unique key but not its key (a join
    on the unique index, one probe per staged row)."""
    match = " AND ".join(f"t.{c} = b.{c}" for c in unique)
    same = " AND ".join(f"t.{c} = b.{c}" for c in table.key)
    return (
        f"DELETE FROM {table.name} AS t USING {_stage(table)} AS b WHERE {match} AND NOT ({same})"
    )


def _staging_ddl(table: Table) -> str:
    columns = ", ".join(
        f"{c} {DIALECT.types[k]}" for c, k in zip(table.columns, table.kinds, strict=True)
    )
    return f"CREATE TEMP TABLE {_stage(table)} ({columns}) ON COMMIT DELETE ROWS"


async def _configure(conn: AConn) -> None:
    """Per pooled connection: orjson for JSONB and the temporary staging tables."""
    set_json_loads(orjson.loads, conn)
    for table in BULK_TABLES:
        await conn.execute(_staging_ddl(table))
    await conn.commit()


# "scheme://user:password@" in psycopg's own messages, which quote the URL they refuse.
_URL_PASSWORD = re.compile(r"(://[^:/@\s\"]*:)[^@\s\"]*@")


def _conninfo(url: str, schema: str | None, connect_timeout: int) -> str:
    try:
        params: dict[str, Any] = conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        reason = _URL_PASSWORD.sub(r"\1****@", str(exc).splitlines()[0])
        raise StoreError(f"invalid Postgres URL: {reason}") from None
    options = [str(params.get("options", "")), "-c timezone=UTC"]
    if schema:
        options.append(f"-c search_path={schema}")
    params["options"] = " ".join(o for o in options if o)
    params.setdefault("connect_timeout", connect_timeout)
    params.setdefault("application_name", "kiro-sync")
    return make_conninfo("", **params)


_CONSTRAINTS: dict[type[psycopg.Error], ConstraintKind] = {
    pg_errors.UniqueViolation: "unique",
    pg_errors.CheckViolation: "check",
    pg_errors.ForeignKeyViolation: "foreign_key",
    pg_errors.NotNullViolation: "not_null",
}


def translate(exc: psycopg.Error) -> StoreError:
    """One line from the server's primary message: never DETAIL, which shows row values."""
    message = exc.diag.message_primary if exc.diag else None
    kind = next((k for cls, k in _CONSTRAINTS.items() if isinstance(exc, cls)), None)
    return store_error("postgres", message or str(exc), kind)
