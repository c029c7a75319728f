"""kiro-sync's engine: embed it with ``from engine import Engine``.

The public names below are imported lazily (PEP 562), so ``import engine.errors`` stays
cheap and free of import cycles; ``from engine import Engine`` loads the facade on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.errors import (
        ConfigError,
        ConflictError,
        KiroSyncError,
        NotFoundError,
        ValidationError,
    )
    from engine.facade import ConnectResult, Engine, SyncHandle, WebhookSetup
    from engine.intake import WebhookResponse

_EXPORTS: dict[str, str] = {
    "Engine": "engine.facade",
    "ConnectResult": "engine.facade",
    "SyncHandle": "engine.facade",
    "WebhookSetup": "engine.facade",
    "WebhookResponse": "engine.intake",
    "KiroSyncError": "engine.errors",
    "ConfigError": "engine.errors",
    "ValidationError": "engine.errors",
    "NotFoundError": "engine.errors",
    "ConflictError": "engine.errors",
}

__all__ = [
    "ConfigError",
    "ConflictError",
    "ConnectResult",
    "Engine",
    "KiroSyncError",
    "NotFoundError",
    "SyncHandle",
    "ValidationError",
    "WebhookResponse",
    "WebhookSetup",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'engine' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
