"""The JSON Schema of provider YAML, for editors (docs/provider.schema.json).

Strategy blocks (auth, pagination, signature, handshake) are ``oneOf`` the configs registered
in the registry given, so the schema lists exactly the types that registry accepts. Each
option is titled by its ``type`` and requires its ``type``, which lets editors pick the
option from the ``type`` key. Definitions nested inside a strategy's schema are hoisted to
the top-level ``$defs`` (``$ref`` only resolves from the root).
"""

from __future__ import annotations

from typing import Any

from engine.registry import Registry
from engine.spec.models import ProviderSpec

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def spec_json_schema(registry: Registry | None = None) -> dict[str, Any]:
    """The JSON Schema of a provider file, with the strategy types of ``registry``."""
    if registry is None:
        from engine.strategies import shared_default_registry

        registry = shared_default_registry()
    with registry.active():
        schema = ProviderSpec.model_json_schema(by_alias=True, mode="validation")
    definitions: dict[str, Any] = dict(schema.pop("$defs", {}))
    body = _hoist(schema, definitions)
    for name in list(definitions):
        definitions[name] = _hoist(definitions[name], definitions)
    _name_strategy_options(body)
    for definition in definitions.values():
        _name_strategy_options(definition)
    body.pop("title", None)
    return {
        "$schema": SCHEMA_DIALECT,
        "title": "kiro-sync provider",
        "description": "A provider file: providers/<name>.yaml (see docs/spec.md).",
        **body,
        "$defs": dict(sorted(definitions.items())),
    }


def _hoist(node: Any, definitions: dict[str, Any]) -> Any:
    """Move nested ``$defs`` into ``definitions``, renaming on a clash and fixing refs."""
    if isinstance(node, list):
        return [_hoist(item, definitions) for item in node]
    if not isinstance(node, dict):
        return node
    nested = node.get("$defs")
    if nested:
        renames = {}
        for name, definition in nested.items():
            target = name
            suffix = 2
            while target in definitions and definitions[target] != definition:
                target, suffix = f"{name}{suffix}", suffix + 1
            renames[name] = target
        node = _rename_refs({k: v for k, v in node.items() if k != "$defs"}, renames)
        for name, definition in nested.items():
            definitions[renames[name]] = _hoist(_rename_refs(definition, renames), definitions)
    return {key: _hoist(value, definitions) for key, value in node.items()}


def _rename_refs(node: Any, renames: dict[str, str]) -> Any:
    if isinstance(node, list):
        return [_rename_refs(item, renames) for item in node]
    if not isinstance(node, dict):
        return node
    result = {key: _rename_refs(value, renames) for key, value in node.items()}
    ref = result.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        result["$ref"] = "#/$defs/" + renames.get(ref.removeprefix("#/$defs/"), ref[8:])
    return result


def _name_strategy_options(node: Any) -> None:
    """Title each strategy option by its type and make ``type`` required in it."""
    if isinstance(node, list):
        for item in node:
            _name_strategy_options(item)
        return
    if not isinstance(node, dict):
        return
    for option in node.get("oneOf", []):
        kind_type = option.get("properties", {}).get("type", {}).get("const")
        if isinstance(kind_type, str):
            option["title"] = kind_type
            required = option.setdefault("required", [])
            if "type" not in required:
                required.insert(0, "type")
    for value in node.values():
        _name_strategy_options(value)


__all__ = ["SCHEMA_DIALECT", "spec_json_schema"]
