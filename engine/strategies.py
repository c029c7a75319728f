"""The built-in strategies, gathered into a fresh ``Registry``.

Each module below defines its strategy classes (each owning its ``Config`` model) and a
``register(registry)`` function. Adding a strategy means adding a class there; nothing here
changes unless a whole new module of strategies appears.
"""

from __future__ import annotations

import importlib
from functools import lru_cache

from engine.registry import Registry

BUILTIN_MODULES = (
    "engine.auth",
    "engine.pagination",
    "engine.webhooks.signatures",
    "engine.webhooks.handshakes",
)


def default_registry() -> Registry:
    """A new registry holding every built-in strategy."""
    registry = Registry()
    for name in BUILTIN_MODULES:
        importlib.import_module(name).register(registry)
    return registry


@lru_cache(maxsize=1)
def shared_default_registry() -> Registry:
    """The default registry, built once: the fallback when no registry is given."""
    return default_registry()
