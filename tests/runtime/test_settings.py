"""Settings from the environment and flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import ConfigError
from runtime.settings import Settings

ENV = (
    "KIRO_SYNC_HOME",
    "KIRO_SYNC_DATABASE_URL",
    "KIRO_SYNC_HOST",
    "KIRO_SYNC_PORT",
    "SUPABASE_JWT_SECRET",
    "SUPABASE_URL",
    "ENCRYPTION_KEY",
    "KIRO_SYNC_CORS_ORIGINS",
    "KIRO_SYNC_PUBLIC_URL",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


def test_defaults_need_no_configuration() -> None:
    settings = Settings.load()
    assert settings.home == Path(".kiro-sync")
    assert settings.database == str(Path(".kiro-sync") / "kiro-sync.duckdb")
    assert (settings.host, settings.port) == ("127.0.0.1", 8080)
    assert settings.cors_origins == ("*",)
    assert settings.base_url == "http://127.0.0.1:8080"
    assert settings.secrets() == []


def test_environment_and_flags(monkeypatch) -> None:
    monkeypatch.setenv("KIRO_SYNC_HOME", "/tmp/kiro-home")
    monkeypatch.setenv("KIRO_SYNC_DATABASE_URL", "postgresql://kiro:pw-secret@db:5432/kiro")
    monkeypatch.setenv("KIRO_SYNC_CORS_ORIGINS", "https://app.kiro.dev, https://admin.kiro.dev")
    monkeypatch.setenv("SUPABASE_JWT_SECRET", "jwt-secret-value")
    monkeypatch.setenv("KIRO_SYNC_PUBLIC_URL", "https://sync.kiro.dev/")
    monkeypatch.setenv("HOST", "not-this")  # generic names are never read
    settings = Settings.load(port=9090, host=None, database_url="/data/other.duckdb")
    assert settings.home == Path("/tmp/kiro-home")
    assert settings.database == "/data/other.duckdb"  # the flag wins
    assert (settings.host, settings.port) == ("127.0.0.1", 9090)
    assert settings.cors_origins == ("https://app.kiro.dev", "https://admin.kiro.dev")
    assert settings.base_url == "https://sync.kiro.dev"
    assert "jwt-secret-value" not in repr(settings)
    assert "jwt-secret-value" in settings.secrets()


def test_database_password_is_a_secret(monkeypatch) -> None:
    monkeypatch.setenv("KIRO_SYNC_DATABASE_URL", "postgresql://kiro:pw-secret@db:5432/kiro")
    settings = Settings.load()
    assert "pw-secret" not in repr(settings)
    assert settings.secrets() == ["pw-secret"]


def test_bad_values_are_a_config_error_naming_each_variable(monkeypatch) -> None:
    monkeypatch.setenv("KIRO_SYNC_PORT", "eighty")
    monkeypatch.setenv("KIRO_SYNC_MAX_BODY_BYTES", "-1")
    with pytest.raises(ConfigError) as caught:
        Settings.load()
    assert caught.value.message.startswith("invalid settings: KIRO_SYNC_PORT: ")
    assert [p.split(":")[0] for p in caught.value.problems] == [
        "KIRO_SYNC_PORT",
        "KIRO_SYNC_MAX_BODY_BYTES",
    ]
    assert "eighty" not in str(caught.value.problems)


def test_a_database_url_that_does_not_split_has_no_password_to_register(monkeypatch) -> None:
    monkeypatch.setenv("KIRO_SYNC_DATABASE_URL", "postgresql://kiro:pw-secret@[::1")
    assert Settings.load().secrets() == []
