"""Settings of ``kiro-sync serve`` and the admin commands, from flags and the environment.

Every field reads one environment variable (named in its alias); command-line flags override
the environment (``Settings.load(db=..., host=..., port=...)``). Nothing is required: with no
configuration the server keeps its data in ``./.kiro-sync`` (the embedded DuckDB file, a
generated JWT secret and a generated encryption key), so ``make run`` just works.

    KIRO_SYNC_HOME              data directory (default ./.kiro-sync)
    KIRO_SYNC_DATABASE_URL      postgresql://... or a DuckDB path (default: HOME/kiro-sync.duckdb)
    KIRO_SYNC_HOST / _PORT      where to listen (127.0.0.1:8080)
    SUPABASE_JWT_SECRET         HS256 secret of the Supabase project
    SUPABASE_URL                the project URL; its JWKS verifies asymmetric tokens
    ENCRYPTION_KEY              credential key (engine/vault.py); generated when missing
    KIRO_SYNC_CORS_ORIGINS      comma-separated allowed origins (default *)
    KIRO_SYNC_PUBLIC_URL        the URL providers reach this server at (webhook URLs)
    KIRO_SYNC_MAX_BODY_BYTES, KIRO_SYNC_RATE_LIMIT_PER_MINUTE, KIRO_SYNC_SHUTDOWN_TIMEOUT, ...
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import pydantic
from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from engine import paths
from engine.errors import ConfigError

HOUR = 3600.0
DAY = 86400.0


def _env(name: str, default: Any = None, **constraints: Any) -> Any:
    """A field read from the environment variable ``name`` (also the key ``load`` uses)."""
    return Field(default, validation_alias=AliasChoices(name), **constraints)


class Settings(BaseSettings):
    """Runtime settings; secrets are ``SecretStr`` so they never appear in a repr or log."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    home: Path = _env("KIRO_SYNC_HOME", Path(paths.DEFAULT_HOME))
    database_url: SecretStr | None = _env("KIRO_SYNC_DATABASE_URL")
    host: str = _env("KIRO_SYNC_HOST", "127.0.0.1")
    port: int = _env("KIRO_SYNC_PORT", 8080, ge=0, le=65535)
    supabase_jwt_secret: SecretStr | None = _env("SUPABASE_JWT_SECRET")
    supabase_url: str | None = _env("SUPABASE_URL")
    encryption_key: SecretStr | None = _env("ENCRYPTION_KEY")
    cors_origins: Annotated[tuple[str, ...], NoDecode] = _env("KIRO_SYNC_CORS_ORIGINS", ("*",))
    public_url: str | None = _env("KIRO_SYNC_PUBLIC_URL")
    trust_proxy: bool = _env("KIRO_SYNC_TRUST_PROXY", False)  # rate-limit by X-Forwarded-For

    # --- limits ------------------------------------------------------------------------
    max_body_bytes: int = _env("KIRO_SYNC_MAX_BODY_BYTES", 10 * 1024 * 1024, gt=0)
    rate_limit_per_minute: int = _env("KIRO_SYNC_RATE_LIMIT_PER_MINUTE", 600, gt=0)
    rate_limit_burst: int = _env("KIRO_SYNC_RATE_LIMIT_BURST", 60, gt=0)
    shutdown_timeout: float = _env("KIRO_SYNC_SHUTDOWN_TIMEOUT", 30.0, gt=0)

    # --- background work ---------------------------------------------------------------
    scheduler_enabled: bool = _env("KIRO_SYNC_SCHEDULER", True)
    hourly_seconds: float = _env("KIRO_SYNC_HOURLY_SECONDS", HOUR, gt=0)
    daily_seconds: float = _env("KIRO_SYNC_DAILY_SECONDS", DAY, gt=0)
    reconcile_seconds: float = _env("KIRO_SYNC_RECONCILE_SECONDS", 900.0, gt=0)
    health_check_seconds: float = _env("KIRO_SYNC_HEALTH_CHECK_SECONDS", DAY, gt=0)
    schedule_refresh_seconds: float = _env("KIRO_SYNC_SCHEDULE_REFRESH_SECONDS", 60.0, gt=0)
    jitter_fraction: float = _env("KIRO_SYNC_JITTER", 0.1, ge=0, le=1)
    worker_enabled: bool = _env("KIRO_SYNC_WORKER", True)
    worker_batch: int = _env("KIRO_SYNC_WORKER_BATCH", 50, gt=0)
    worker_idle_seconds: float = _env("KIRO_SYNC_WORKER_IDLE_SECONDS", 2.0, gt=0)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip()) or ("*",)
        return value

    @field_validator("home", mode="before")
    @classmethod
    def _expand_home(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return Path(paths.DEFAULT_HOME)
        return Path(value).expanduser() if isinstance(value, str | Path) else value

    @classmethod
    def load(cls, **overrides: Any) -> Settings:
        """The environment, then every override (field name -> value) that is not None.

        ConfigError when a value is invalid; ``problems`` lists each one by its variable
        (``KIRO_SYNC_PORT: Input should be a valid integer``), never the value itself."""
        given = {cls._env_name(key): value for key, value in overrides.items() if value is not None}
        try:
            return cls(**given)
        except pydantic.ValidationError as exc:
            problems = [
                f"{'.'.join(str(part) for part in error['loc']) or 'settings'}: {error['msg']}"
                for error in exc.errors(include_input=False, include_url=False)
            ]
            raise ConfigError(f"invalid settings: {problems[0]}", problems=problems) from None

    @classmethod
    def _env_name(cls, field_name: str) -> str:
        alias = cls.model_fields[field_name].validation_alias
        assert isinstance(alias, AliasChoices)
        return str(alias.choices[0])

    @property
    def database(self) -> str:
        """The store URL: KIRO_SYNC_DATABASE_URL or the DuckDB file in the data directory."""
        if self.database_url is not None and self.database_url.get_secret_value():
            return self.database_url.get_secret_value()
        return str(paths.database_path(self.home))

    @property
    def base_url(self) -> str:
        """The URL providers reach this server at: KIRO_SYNC_PUBLIC_URL or http://host:port."""
        if self.public_url:
            return self.public_url.rstrip("/")
        return f"http://{self.host}:{self.port}"

    def secrets(self) -> list[str]:
        """Every secret value in these settings, for the log redaction filter."""
        values = [self.supabase_jwt_secret, self.encryption_key]
        found = [value.get_secret_value() for value in values if value is not None]
        try:
            password = urlsplit(self.database).password
        except ValueError:  # not a URL urllib can split ("postgresql://u:p@[::1")
            password = None
        return [*found, password] if password else found
