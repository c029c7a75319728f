"""open_store: which backend a URL or path names, and the defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import ConfigError
from engine.store import resolve_database, store_from_url
from engine.store.duckdb import DuckDBStore
from engine.store.postgres import PostgresStore


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u@h:5432/db", ("postgres", "postgresql://u@h:5432/db")),
        ("postgres://u@h/db", ("postgres", "postgres://u@h/db")),
        ("duckdb:///abs/file.duckdb", ("duckdb", "/abs/file.duckdb")),
        ("duckdb://rel/file.duckdb", ("duckdb", "rel/file.duckdb")),
        ("/var/lib/kiro.duckdb", ("duckdb", "/var/lib/kiro.duckdb")),
        (":memory:", ("duckdb", ":memory:")),
    ],
)
def test_urls_and_paths(url: str, expected: tuple[str, str]) -> None:
    assert resolve_database(url, env={}) == expected


def test_the_environment_names_the_database(tmp_path: Path) -> None:
    env = {"KIRO_SYNC_DATABASE_URL": "postgresql://x@y/z", "KIRO_SYNC_HOME": str(tmp_path)}
    assert resolve_database(None, env) == ("postgres", "postgresql://x@y/z")
    assert resolve_database(str(tmp_path / "a.duckdb"), env) == (
        "duckdb",
        str(tmp_path / "a.duckdb"),
    )


def test_the_default_is_the_duckdb_file_in_the_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert resolve_database(None, env={}) == ("duckdb", ".kiro-sync/kiro-sync.duckdb")
    assert (tmp_path / ".kiro-sync").is_dir()
    env = {"KIRO_SYNC_HOME": str(tmp_path / "h")}
    assert resolve_database("duckdb://", env) == (
        "duckdb",
        str(tmp_path / "h" / "kiro-sync.duckdb"),
    )


def test_an_unknown_scheme_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unsupported database URL scheme 'mysql'"):
        resolve_database("mysql://u@h/db", env={})


def test_store_from_url_picks_the_backend(tmp_path: Path) -> None:
    assert isinstance(store_from_url(str(tmp_path / "x.duckdb"), env={}), DuckDBStore)
    postgres = store_from_url("postgresql://u@h/db", env={}, schema="s1")
    assert isinstance(postgres, PostgresStore) and postgres.schema == "s1"
