"""Benchmark: upsert 100,000 work items in batches, on DuckDB and on Postgres.

Each batch is what an import commits: N work items, their N external links and a cursor
advance, through ``Store.apply_batch`` (one transaction, one bulk upsert per table). The
benchmark runs three passes per backend: insert (all rows new), update (all rows exist, new
titles and snapshots), and a streamed read of every item (``iter_work_items``).

    .venv/bin/python bench/store_upsert.py                    # both backends, 100k, batch 1000
    .venv/bin/python bench/store_upsert.py --backend duckdb --count 20000 --batch-size 5000

Postgres comes from KIRO_SYNC_TEST_POSTGRES_URL (default
postgresql://postgres@127.0.0.1:5432/test) and runs in a throwaway schema. Results go to
docs/performance.md by hand (section "Storage").
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.store.base import (
    Batch,
    Cursor,
    ExternalLink,
    Integration,
    WorkItem,
    WorkItemFilter,
)
from engine.store.duckdb import DuckDBStore
from engine.store.postgres import PostgresStore
from engine.store.sqlstore import SqlStore

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
PROJECT = "bench-project"
INTEGRATION = "bench-integration"
BASE = datetime(2025, 1, 1, tzinfo=UTC)


def make_batch(start: int, size: int, revision: int) -> Batch:
    work_items, links = [], []
    for n in range(start, start + size):
        kiro_id = f"wi-{n:07d}"
        stamp = BASE + timedelta(seconds=n + revision)
        work_items.append(
            WorkItem(
                id=kiro_id,
                project_id=PROJECT,
                title=f"Item {n} rev {revision}",
                description="A realistic description of a work item. " * 4,
                status=("To Do", "In Progress", "Done")[n % 3],
                priority=("low", "medium", "high", "urgent", None)[n % 5],
                assignee_id=f"user-{n % 50}",
                tags=["bench", f"tag-{n % 7}"],
                type="task",
                custom={"points": n % 13, "sprint": f"S{n % 20}"},
                created_at=BASE,
                updated_at=stamp,
                version=revision + 1,
            )
        )
        links.append(
            ExternalLink(
                integration_id=INTEGRATION,
                entity="work_item",
                kiro_id=kiro_id,
                external_id=str(100000 + n),
                external_key=f"BENCH-{n}",
                external_url=f"https://example.atlassian.net/browse/BENCH-{n}",
                remote_updated_at=stamp,
                snapshot={"title": f"Item {n} rev {revision}", "status": "To Do"},
                snapshot_hash=f"{n:064x}",
            )
        )
    cursor = Cursor(INTEGRATION, "issues", "", (BASE + timedelta(seconds=start + size)).isoformat())
    return Batch(work_items=work_items, links=links, cursors=[cursor])


async def write_all(store: SqlStore, count: int, batch_size: int, revision: int) -> float:
    batches = [
        make_batch(s, min(batch_size, count - s), revision) for s in range(0, count, batch_size)
    ]
    started = time.perf_counter()
    for batch in batches:
        await store.apply_batch(batch)
    return time.perf_counter() - started


async def read_all(store: SqlStore, batch_size: int) -> tuple[float, int]:
    started = time.perf_counter()
    seen = 0
    async for batch in store.iter_work_items(WorkItemFilter(PROJECT), batch_size=batch_size):
        seen += len(batch)
    return time.perf_counter() - started, seen


@asynccontextmanager
async def duckdb_store() -> AsyncIterator[SqlStore]:
    with tempfile.TemporaryDirectory() as folder:
        async with DuckDBStore(Path(folder) / "bench.duckdb") as store:
            yield store


@asynccontextmanager
async def postgres_store(url: str) -> AsyncIterator[SqlStore]:
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    try:
        async with PostgresStore(url, schema=schema) as store:
            yield store
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


async def bench(name: str, store: SqlStore, count: int, batch_size: int) -> None:
    await store.ensure_project(PROJECT)
    await store.create_integration(
        Integration(id=INTEGRATION, project_id=PROJECT, type="jira", name="bench")
    )
    inserted = await write_all(store, count, batch_size, revision=0)
    updated = await write_all(store, count, batch_size, revision=1)
    read, seen = await read_all(store, 1000)
    assert seen == count, f"read {seen} of {count}"
    for label, seconds in (("insert", inserted), ("update", updated), ("read", read)):
        print(
            f"| {name} | {label} | {count:,} | {batch_size:,} | {seconds:.2f} s "
            f"| {count / seconds:,.0f} items/s |",
            flush=True,
        )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["duckdb", "postgres", "all"], default="all")
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    args = parser.parse_args()
    url = os.environ.get("KIRO_SYNC_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL

    print("| backend | pass | items | batch | time | throughput |")
    print("|---|---|---|---|---|---|")
    if args.backend in ("duckdb", "all"):
        async with duckdb_store() as store:
            await bench("DuckDB", store, args.count, args.batch_size)
    if args.backend in ("postgres", "all"):
        async with postgres_store(url) as store:
            await bench("Postgres", store, args.count, args.batch_size)


if __name__ == "__main__":
    asyncio.run(main())
