"""The limits of bulk import and export over the API, from the environment.

KIRO_SYNC_IMPORT_MAX_ROWS      rows one import-data request may carry, all arrays
                               together (10000); more is 413
KIRO_SYNC_EXPORT_INLINE_BYTES  an export file up to this size is answered inline in
                               ``data`` (1048576, 1 MiB, measured before base64);
                               larger ones as a download link
KIRO_SYNC_EXPORT_LINK_SECONDS  how long a download link works (900)
KIRO_SYNC_IMPORT_MAX_ERRORS    row errors listed in an import's answer (50)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields

from engine.errors import ConfigError

_ENV = {
    "import_max_rows": "KIRO_SYNC_IMPORT_MAX_ROWS",
    "inline_max_bytes": "KIRO_SYNC_EXPORT_INLINE_BYTES",
    "inline_max_rows": "KIRO_SYNC_EXPORT_INLINE_ROWS",
    "link_seconds": "KIRO_SYNC_EXPORT_LINK_SECONDS",
    "max_errors": "KIRO_SYNC_IMPORT_MAX_ERRORS",
}


@dataclass(frozen=True, slots=True)
class BulkLimits:
    import_max_rows: int = 10_000
    inline_max_bytes: int = 1 << 20
    inline_max_rows: int = 10_000
    link_seconds: int = 900
    max_errors: int = 50

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> BulkLimits:
        environ = os.environ if env is None else env
        values = {}
        for item in fields(cls):
            name = _ENV[item.name]
            text = environ.get(name, "").strip()
            if text:
                values[item.name] = _positive(name, text)
        return cls(**values)


def _positive(name: str, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(f"{name} must be a positive whole number, not {text[:20]!r}")
    return value
