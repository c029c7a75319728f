"""DuckDB bulk upserts: rows staged in a temporary table, then a few set-based statements.

Each bulk table has a temporary staging table (``kiro_sync_stage_<table>``, made when the
connection opens, like Postgres's). An upsert of a batch:

1. loads the rows into the staging table: many rows as an Arrow table DuckDB reads in bulk
   (``from_arrow(...).insert_into``), a few as one ``INSERT ... VALUES`` with parameters;
2. runs, as one multi-statement call: the staged rows take the stored values of insert-only
   columns (``UPDATE stage ... FROM table``); the stored rows sharing a staged row's key or
   one of its other unique keys are deleted (one scan); the staged rows are inserted; the
   stage is emptied.

Why not ``INSERT ... ON CONFLICT``: DuckDB runs it as a MERGE scanning every column of the
table, so it slows down as the table grows; the deletes use key columns only. Why so few
calls: every statement gives the GIL back and takes it again, and taking it waits for the
event loop's thread when that thread is busy (see docs/performance.md, "Storage").
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import duckdb
import pyarrow as pa

from engine.store.sql import Dialect
from engine.store.tables import BULK_TABLES, Kind, Table

# Up to this many rows go in as parameters (no Arrow table to build and scan).
SMALL_BATCH = 32

_ARROW_TYPES: dict[Kind, Callable[[], pa.DataType]] = {
    "text": pa.string,
    "int": pa.int64,
    "bool": pa.bool_,
    "ts": lambda: pa.timestamp("us", tz="UTC"),
    "json": pa.string,
    "list": lambda: pa.list_(pa.string()),
    "bytes": pa.binary,
}


def stage_name(table: Table) -> str:
    return f"kiro_sync_stage_{table.name}"


def create_stages(conn: duckdb.DuckDBPyConnection, dialect: Dialect) -> None:
    """The connection's temporary staging tables (they live as long as the connection)."""
    for table in BULK_TABLES:
        columns = ", ".join(
            f"{c} {dialect.types[k]}" for c, k in zip(table.columns, table.kinds, strict=True)
        )
        conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS {stage_name(table)} ({columns})")


def stage_rows(conn: duckdb.DuckDBPyConnection, table: Table, columns: list[list[Any]]) -> None:
    """Put the (deduplicated, encoded) rows into the table's staging table."""
    count = len(columns[0])
    if count <= SMALL_BATCH:
        params = [value for row in zip(*columns, strict=True) for value in row]
        conn.execute(_values_sql(table, count), params)
    else:
        conn.from_arrow(arrow_table(table, columns)).insert_into(stage_name(table))


def arrow_table(table: Table, columns: Sequence[list[Any]]) -> pa.Table:
    """Encoded columns as an Arrow table with the stage's column names and types."""
    arrays = [
        pa.array(values, type=_ARROW_TYPES[kind]())
        for values, kind in zip(columns, table.kinds, strict=True)
    ]
    return pa.Table.from_arrays(arrays, names=list(table.columns))


@functools.lru_cache(maxsize=256)
def _values_sql(table: Table, count: int) -> str:
    row = "(" + ", ".join(["?"] * len(table.columns)) + ")"
    return f"INSERT INTO {stage_name(table)} VALUES " + ", ".join([row] * count)


@functools.lru_cache(maxsize=64)
def apply_stage_sql(table: Table) -> str:
    """The statements that move a table's staged rows in (``;``-separated)."""
    stage = stage_name(table)
    statements = []
    if table.insert_only:
        kept = ", ".join(f"{c} = t.{c}" for c in table.insert_only)
        statements.append(
            f"UPDATE {stage} AS b SET {kept} FROM {table.name} AS t WHERE {_match(table.key)}"
        )
    if table.unique:  # one scan for every key (two joined deletes take twice as long)
        keys = (table.key, *table.unique)
        found = " OR ".join(
            f"({', '.join(k)}) IN (SELECT {', '.join(k)} FROM {stage})" for k in keys
        )
        statements.append(f"DELETE FROM {table.name} WHERE {found}")
    else:
        statements.append(
            f"DELETE FROM {table.name} AS t USING {stage} AS b WHERE {_match(table.key)}"
        )
    names = ", ".join((*table.columns, *table.touch))
    values = ", ".join((*table.columns, *["now()"] * len(table.touch)))
    statements.append(f"INSERT INTO {table.name} ({names}) SELECT {values} FROM {stage}")
    statements.append(f"DELETE FROM {stage}")
    return "; ".join(statements)


def _match(key: Sequence[str]) -> str:
    return " AND ".join(f"t.{k} = b.{k}" for k in key)


__all__ = ["SMALL_BATCH", "apply_stage_sql", "arrow_table", "create_stages", "stage_rows"]
