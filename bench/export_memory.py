"""Benchmark: export 1,000,000 work items in each format: time and peak memory.

The items (titles, descriptions, statuses, priorities, tags, assignees, dates, custom fields,
and an external link for every other item) are written with the store's bulk upsert
(``Store.apply_batch``, 10,000 per batch) into a DuckDB file (or a Postgres schema). Then each
format is exported in a fresh process (so each peak is its own) that streams the export to a
file while sampling its resident memory every 20 ms; it reports the time, the file size, and
the RSS before the export, after 10 %, 50 % and 100 % of the items, and at its peak.

    .venv/bin/python bench/export_memory.py                      # 1,000,000 items, DuckDB
    .venv/bin/python bench/export_memory.py --items 100000 --formats csv
    .venv/bin/python bench/export_memory.py --backend postgres

Results go to docs/performance.md by hand (section "Bulk export").
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.bulk.exporter import open_export
from engine.bulk.query import ExportQuery
from engine.store import store_from_url
from engine.store.base import Batch, ExternalLink, Integration, User, WorkItem
from engine.store.duckdb import DuckDBStore
from engine.store.postgres import PostgresStore
from engine.store.sqlstore import SqlStore

PROJECT = "bench-export"
INTEGRATION = "bench-export-integration"
BASE = datetime(2024, 1, 1, tzinfo=UTC)
STATUSES = ("To Do", "In Progress", "Done")
PRIORITIES = (None, "low", "medium", "high", "urgent")
TAGS = ("bug", "feature", "docs", "ui", "api", "backend", "needs, triage")
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
MB = 1024 * 1024


def work_item(n: int) -> WorkItem:
    created = BASE + timedelta(minutes=n)
    return WorkItem(
        id=str(uuid.UUID(int=(n * 0x9E3779B97F4A7C15) % (1 << 128))),  # uuid-like, unordered
        project_id=PROJECT,
        title=f"Work item number {n}: something to do",
        description=f"A description of item {n}, long enough to look like one.\nSecond line.",
        status=STATUSES[n % 3],
        priority=PRIORITIES[n % 5],  # type: ignore[arg-type]
        assignee_id=f"user-{n % 100}" if n % 4 else None,
        tags=[TAGS[n % 7], TAGS[(n + 3) % 7]],
        type="task",
        due_date=created + timedelta(days=14) if n % 2 else None,
        custom={"points": n % 13, "sprint": f"S{n % 20}"},
        created_at=created,
        updated_at=created + timedelta(hours=1),
    )


async def seed(store: SqlStore, items: int, batch: int = 10_000) -> float:
    started = time.perf_counter()
    await store.ensure_project(PROJECT)
    await store.create_integration(
        Integration(id=INTEGRATION, project_id=PROJECT, type="github", name="bench")
    )
    users = [User(id=f"user-{k}", email=f"user{k}@example.com") for k in range(100)]
    await store.apply_batch(Batch(users=users))
    for start in range(0, items, batch):
        rows = [work_item(n) for n in range(start, min(start + batch, items))]
        links = [
            ExternalLink(INTEGRATION, "work_item", w.id, f"o/r#{n}", f"o/r#{n}", f"https://x/{n}")
            for n, w in zip(range(start, start + batch), rows, strict=False)
            if n % 2 == 0
        ]
        await store.apply_batch(Batch(work_items=rows, links=links))
        print(f"\rseeded {start + len(rows):,} items", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return time.perf_counter() - started


class RssSampler(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process()
        self.peak = self.process.memory_info().rss
        self.running = True

    def run(self) -> None:
        while self.running:
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.02)

    def now(self) -> int:
        return int(self.process.memory_info().rss)


async def export_worker(target: str, schema: str | None, fmt: str, out: Path, items: int) -> None:
    options = {"schema": schema} if schema else {}
    store = store_from_url(target, **options)
    await store.open()
    sampler = RssSampler()
    sampler.start()
    marks: dict[str, int] = {"before": sampler.now()}
    started = time.perf_counter()
    export = await open_export(store, ExportQuery(PROJECT), fmt)
    with out.open("wb") as handle:
        async for chunk in export.chunks():
            handle.write(chunk)
            for label, share in (("at 10%", 0.1), ("at 50%", 0.5), ("at 100%", 1.0)):
                if label not in marks and export.rows >= share * items:
                    marks[label] = sampler.now()
    seconds = time.perf_counter() - started
    sampler.running = False
    sampler.join()
    await store.close()
    result = {
        "format": fmt,
        "rows": export.rows,
        "seconds": round(seconds, 1),
        "rows_per_second": round(export.rows / seconds),
        "file_mb": round(out.stat().st_size / MB, 1),
        "rss_mb": {k: round(v / MB) for k, v in marks.items()},
        "peak_rss_mb": round(sampler.peak / MB),
    }
    print(json.dumps(result))


def run_format(target: str, schema: str | None, fmt: str, workdir: Path, items: int) -> Any:
    out = workdir / f"export.{fmt}"
    command = [sys.executable, __file__, "--worker", fmt, "--target", target, "--items", str(items)]
    command += ["--out", str(out)] + (["--schema", schema] if schema else [])
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{fmt} export failed:\n{done.stderr}")
    out.unlink(missing_ok=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


async def prepare(backend: str, workdir: Path, items: int) -> tuple[str, str | None, float]:
    if backend == "postgres":
        url = os.environ.get("KIRO_SYNC_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL
        schema = f"bench_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        store: SqlStore = PostgresStore(url, schema=schema)
        target: str = url
    else:
        schema, target = None, str(workdir / "bench.duckdb")
        store = DuckDBStore(target)
    await store.open()
    try:
        seconds = await seed(store, items)
    finally:
        await store.close()
    if schema:  # planner statistics, as a live database has them (autovacuum may lag a load)
        with psycopg.connect(target, autocommit=True) as conn:
            conn.execute(f'ANALYZE "{schema}".work_items, "{schema}".external_links')
    return target, schema, seconds


def drop_schema(target: str, schema: str | None) -> None:
    if schema:
        with psycopg.connect(target, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--formats", default="json,csv,xlsx")
    parser.add_argument("--backend", choices=("duckdb", "postgres"), default="duckdb")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--target", help=argparse.SUPPRESS)
    parser.add_argument("--schema", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        asyncio.run(export_worker(args.target, args.schema, args.worker, args.out, args.items))
        return
    with tempfile.TemporaryDirectory(prefix="kiro-bench-export-") as tmp:
        workdir = Path(tmp)
        target, schema, seeded = asyncio.run(prepare(args.backend, workdir, args.items))
        print(f"{args.backend}: seeded {args.items:,} items in {seeded:.1f} s")
        try:
            for fmt in args.formats.split(","):
                print(json.dumps(run_format(target, schema, fmt, workdir, args.items)), flush=True)
        finally:
            drop_schema(target, schema)


if __name__ == "__main__":
    main()
