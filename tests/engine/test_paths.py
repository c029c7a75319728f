"""The data directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.paths import database_path, home_dir, key_path


def test_default_home_is_created_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    home = home_dir(env={})
    assert home == Path(".kiro-sync")
    assert (tmp_path / ".kiro-sync").is_dir()
    assert (tmp_path / ".kiro-sync").stat().st_mode & 0o777 == 0o700


def test_kiro_sync_home_overrides_and_nothing_is_made_when_asked_not_to(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b"
    assert home_dir(env={"KIRO_SYNC_HOME": str(target)}, create=False) == target
    assert not target.exists()
    assert home_dir(env={"KIRO_SYNC_HOME": str(target)}) == target and target.is_dir()
    assert database_path(target) == target / "kiro-sync.duckdb"
    assert key_path(target) == target / "encryption.key"
