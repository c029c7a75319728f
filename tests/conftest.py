"""Shared fixtures: stores on both backends.

``store`` is an open store, parametrized over DuckDB (a file in tmp_path) and Postgres (a
fresh schema per test, dropped afterwards). ``store_target`` makes more stores on the same
database (a second process, a reopen) and closes whatever is left open at teardown.

The Postgres URL comes from KIRO_SYNC_TEST_POSTGRES_URL (default
postgresql://postgres@127.0.0.1:5432/test). When it is unreachable the Postgres cases skip with
the reason, unless REQUIRE_POSTGRES=1 (set by .ci/run), where they fail.
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import settings

from engine.store.duckdb import DuckDBStore
from engine.store.postgres import PostgresStore
from engine.store.sqlstore import SqlStore

# CI replays a fixed set of examples per property (a landing is never decided by the draw);
# local runs keep exploring new ones and remember failures in .hypothesis/.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI") == "true":
    settings.load_profile("ci")

POSTGRES_URL_ENV = "KIRO_SYNC_TEST_POSTGRES_URL"
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
BACKENDS = ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)]


def postgres_url() -> str:
    return os.environ.get(POSTGRES_URL_ENV) or DEFAULT_POSTGRES_URL


@functools.cache
def _postgres_problem(url: str) -> str | None:
    try:
        psycopg.connect(url, connect_timeout=3).close()
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return None


def require_postgres() -> str:
    """The test Postgres URL; skips (or fails under REQUIRE_POSTGRES=1) when unreachable."""
    url = postgres_url()
    problem = _postgres_problem(url)
    if problem is not None:
        message = f"Postgres unreachable at {POSTGRES_URL_ENV} ({problem})"
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{message}; REQUIRE_POSTGRES=1 makes this a failure")
        pytest.skip(f"{message}; set {POSTGRES_URL_ENV} to run the Postgres cases")
    return url


@pytest.fixture
def postgres_schema() -> Iterator[str]:
    """A fresh, empty schema in the test database, dropped with everything in it afterwards."""
    url = require_postgres()
    name = f"test_{uuid.uuid4().hex}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
    yield name
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{name}" CASCADE')


@dataclass
class StoreTarget:
    """Where a test's stores live: a DuckDB file or a Postgres schema."""

    backend: str
    location: str  # DuckDB file path or Postgres URL
    schema: str | None = None
    made: list[SqlStore] = field(default_factory=list)

    def make(self, **options: Any) -> SqlStore:
        """A new, unopened store on this target (a second process, a reopen)."""
        store: SqlStore
        if self.backend == "postgres":
            store = PostgresStore(self.location, schema=self.schema, **options)
        else:
            store = DuckDBStore(self.location, **options)
        self.made.append(store)
        return store

    async def open(self, **options: Any) -> SqlStore:
        store = self.make(**options)
        await store.open()
        return store


@pytest.fixture(params=BACKENDS)
async def store_target(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[StoreTarget]:
    if request.param == "postgres":
        schema = request.getfixturevalue("postgres_schema")
        target = StoreTarget("postgres", postgres_url(), schema)
    else:
        target = StoreTarget("duckdb", str(tmp_path / "kiro-sync.duckdb"))
    yield target
    for store in target.made:
        await store.close()


@pytest.fixture
async def store(store_target: StoreTarget) -> SqlStore:
    """An open store (migrations applied) on each backend."""
    return await store_target.open()


class ManualClock:
    """A clock tests move by hand: ``clock()`` is the time, ``advance(seconds)`` moves it."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2025, 1, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()
