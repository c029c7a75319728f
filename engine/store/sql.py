"""What the shared SQL store needs from a backend: a dialect and a transactional session.

``SqlStore`` (engine/store/sqlstore.py) holds every query once. A backend contributes a
``Dialect`` (the few SQL spellings that differ) and a ``Session``: statements run inside one
transaction, with ``%s`` placeholders on both backends, and a bulk ``upsert`` that writes
thousands of rows per statement the fastest way the backend knows.

Driver exceptions are translated into ``StoreError`` at the session boundary (one line, the
driver's primary message only, never row values); ``constraint`` says which kind of
constraint failed (``unique``, ``check``, ``foreign_key``, ``not_null``) when one did.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from engine.errors import StoreError
from engine.store.tables import Kind, Table

ConstraintKind = Literal["unique", "check", "foreign_key", "not_null"]
Backend = Literal["duckdb", "postgres"]


@dataclass(frozen=True)
class Dialect:
    """The SQL spellings that differ between backends."""

    name: Backend
    types: dict[Kind, str]
    load_json: Callable[[Any], Any]
    # Appended to a SELECT that picks rows to change: row locks on Postgres, nothing on DuckDB
    # (one connection on one thread: statements never interleave).
    lock_rows: str = ""
    skip_locked: str = ""
    # `column` is one of the values of a list parameter.
    in_list: str = "{column} = ANY(%s)"
    # A list column shares at least one element with a list parameter.
    overlaps: str = "{column} && %s"

    def json_type(self) -> str:
        return self.types["json"]


class Session(Protocol):
    """Statements inside one open transaction."""

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None: ...

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None: ...

    async def upsert(self, table: Table, columns: Sequence[list[Any]]) -> None:
        """Insert-or-update encoded rows by the table's key, in bulk; the rows come column
        by column (``Table.encode_columns``: one list per column, all of one length)."""


@dataclass(frozen=True, slots=True)
class Step:
    """A write a backend holds back to run with others: a statement (``sql``, ``params``)
    or a bulk upsert (``table``, ``columns``)."""

    sql: str = ""
    params: Sequence[Any] = ()
    table: Table | None = None
    columns: Sequence[list[Any]] = ()


def store_error(backend: Backend, message: str, constraint: ConstraintKind | None) -> StoreError:
    first = message.strip().splitlines()[0] if message.strip() else "unknown error"
    return StoreError(f"{backend} store: {first}", backend=backend, constraint=constraint)


def conflict_clause(table: Table) -> str:
    """``ON CONFLICT (key) DO UPDATE SET ...`` for an upsert by the table's key."""
    key = ", ".join(table.key)
    sets = [f"{c} = excluded.{c}" for c in table.update_columns]
    sets += [f"{c} = now()" for c in table.touch]
    if not sets:
        return f"ON CONFLICT ({key}) DO NOTHING"
    return f"ON CONFLICT ({key}) DO UPDATE SET {', '.join(sets)}"


def dedupe(table: Table, columns: Sequence[list[Any]]) -> list[list[Any]]:
    """One row per key, the last one winning (one statement cannot update a row twice);
    the rows stay in the order each key first appears. Columns in, columns out."""
    keys = list(zip(*(columns[table.columns.index(k)] for k in table.key), strict=True))
    latest = {key: position for position, key in enumerate(keys)}
    if len(latest) == len(keys):
        return list(columns)
    kept = list(latest.values())
    return [[column[p] for p in kept] for column in columns]
