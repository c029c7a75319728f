"""Storage: the ``Store`` protocol (base.py) and ``open_store`` to get one from a URL.

``open_store(None)`` uses ``$KIRO_SYNC_DATABASE_URL`` when set, else the embedded DuckDB file
``<data dir>/kiro-sync.duckdb`` (engine/paths.py). A URL is either ``postgresql://...`` (or
``postgres://...``) or a DuckDB file: ``duckdb:///abs/path.duckdb``, ``duckdb://rel/path``, a
plain path, or ``:memory:``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import ConfigError
from engine.paths import database_path, home_dir
from engine.store.base import (
    Batch,
    Comment,
    Conflict,
    Cursor,
    ExternalLink,
    Integration,
    Project,
    Store,
    SyncLog,
    SyncRun,
    User,
    WebhookLog,
    WorkItem,
    WorkItemFilter,
)

if TYPE_CHECKING:
    from engine.store.sqlstore import SqlStore

DATABASE_URL_ENV = "KIRO_SYNC_DATABASE_URL"
POSTGRES_SCHEMES = ("postgresql://", "postgres://")
DUCKDB_SCHEME = "duckdb://"

__all__ = [
    "DATABASE_URL_ENV",
    "Batch",
    "Comment",
    "Conflict",
    "Cursor",
    "ExternalLink",
    "Integration",
    "Project",
    "Store",
    "SyncLog",
    "SyncRun",
    "User",
    "WebhookLog",
    "WorkItem",
    "WorkItemFilter",
    "open_store",
    "resolve_database",
    "store_from_url",
]


def resolve_database(
    url_or_path: str | Path | None = None, env: Mapping[str, str] | None = None
) -> tuple[str, str]:
    """``("postgres", url)`` or ``("duckdb", path)`` for a URL, a path, or the defaults."""
    environ = os.environ if env is None else env
    value = str(url_or_path or environ.get(DATABASE_URL_ENV, "")).strip()
    if not value:
        return "duckdb", str(database_path(home_dir(environ)))
    if value.startswith(POSTGRES_SCHEMES):
        return "postgres", value
    if value.startswith(DUCKDB_SCHEME):
        value = value[len(DUCKDB_SCHEME) :]
        if not value:
            return "duckdb", str(database_path(home_dir(environ)))
    elif "://" in value:
        scheme = value.split("://", 1)[0]
        raise ConfigError(
            f"unsupported database URL scheme {scheme!r}: use postgresql://... or a DuckDB "
            "file path (duckdb:///path/to/file.duckdb)"
        )
    return "duckdb", value


def store_from_url(
    url_or_path: str | Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    **options: Any,
) -> SqlStore:
    """A store for the URL or path, not yet opened (``await store.open()`` or ``async with``).

    ``options`` go to the backend: ``clock`` and ``webhook_max_attempts`` for both,
    ``schema``, ``min_size``, ``max_size``, ``connect_timeout`` for Postgres.
    """
    kind, target = resolve_database(url_or_path, env)
    if kind == "postgres":
        from engine.store.postgres import PostgresStore

        return PostgresStore(target, **options)
    from engine.store.duckdb import DuckDBStore

    return DuckDBStore(target, **options)


async def open_store(
    url_or_path: str | Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    **options: Any,
) -> SqlStore:
    """An open store (migrations applied) for the URL or path; ``await store.close()`` it."""
    store = store_from_url(url_or_path, env=env, **options)
    await store.open()
    return store
