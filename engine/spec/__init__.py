"""The provider spec language: models, the YAML loader with positions, the JSON Schema.

    from engine.spec import load_provider, provider_problems, spec_json_schema

Names are imported lazily (PEP 562): ``engine.provider`` imports ``engine.spec.models``, and
the loader imports ``engine.provider``, so nothing here may be imported eagerly.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.spec.loader import load_provider, load_provider_text, provider_problems
    from engine.spec.models import PLACES, ProviderSpec
    from engine.spec.schema import spec_json_schema

_EXPORTS: dict[str, str] = {
    "load_provider": "engine.spec.loader",
    "load_provider_text": "engine.spec.loader",
    "provider_problems": "engine.spec.loader",
    "PLACES": "engine.spec.models",
    "ProviderSpec": "engine.spec.models",
    "spec_json_schema": "engine.spec.schema",
}

__all__ = [
    "PLACES",
    "ProviderSpec",
    "load_provider",
    "load_provider_text",
    "provider_problems",
    "spec_json_schema",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'engine.spec' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
