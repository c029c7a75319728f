"""Where kiro-sync keeps its files: the data directory and what lives in it.

The data directory is ``$KIRO_SYNC_HOME``, default ``./.kiro-sync`` (relative to the working
directory), created with mode 0700 the first time something needs it. It holds the embedded
DuckDB database (``kiro-sync.duckdb``) and, when ENCRYPTION_KEY is not set, the generated
credential key (``encryption.key``, mode 0600).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

HOME_ENV = "KIRO_SYNC_HOME"
DEFAULT_HOME = ".kiro-sync"
DATABASE_FILE = "kiro-sync.duckdb"
KEY_FILE = "encryption.key"


def home_dir(env: Mapping[str, str] | None = None, *, create: bool = True) -> Path:
    """The data directory from ``KIRO_SYNC_HOME`` (default ``./.kiro-sync``), made if missing."""
    environ = os.environ if env is None else env
    raw = environ.get(HOME_ENV, "").strip()
    path = Path(raw).expanduser() if raw else Path(DEFAULT_HOME)
    if create:
        ensure_dir(path)
    return path


def ensure_dir(path: Path) -> Path:
    """Create ``path`` (and parents) with mode 0700 when it does not exist yet."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def database_path(home: Path) -> Path:
    """The embedded DuckDB file inside the data directory."""
    return home / DATABASE_FILE


def key_path(home: Path) -> Path:
    """The generated credential key file inside the data directory."""
    return home / KEY_FILE
