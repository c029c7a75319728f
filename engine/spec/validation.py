"""Validate plain spec data with pydantic and turn every error into a located ``Problem``.

Pydantic reports a ``loc`` tuple per error. It is walked against the data to find what the
file holds there: a missing field points at the mapping that lacks it, an unknown key at
that key (with the keys that would fit, and the likeliest one), a wrong strategy ``type`` at
the type's value (the registry's message lists the valid names), anything else at the value.
"""

from __future__ import annotations

import difflib
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from engine.registry import Registry, StrategyConfig
from engine.spec.models import ProviderSpec
from engine.spec.problems import Problem
from engine.spec.yamlsource import KeyPath

_STRATEGY_ERRORS = ("strategy_type_unknown", "strategy_type_missing")


def validate_spec(data: Any, registry: Registry) -> tuple[ProviderSpec | None, list[Problem]]:
    """The validated spec, or None and one problem per pydantic error."""
    with registry.active():
        try:
            spec = ProviderSpec.model_validate(data, context={"registry": registry})
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
            return None, [_problem(error, data, registry) for error in errors]
    return spec, []


def _problem(error: ErrorDetails, data: Any, registry: Registry) -> Problem:
    path, value = _resolve(error["loc"], data)
    kind = error["type"]
    if kind == "missing":
        return Problem(path, f"field required: {error['loc'][-1]}", "key")
    if kind == "extra_forbidden" and path:
        return Problem(path, _unknown_key(path, data, registry), "key")
    if kind in _STRATEGY_ERRORS and isinstance(value, dict) and "type" in value:
        return Problem((*path, "type"), _message(error))
    scalar = not isinstance(value, dict | list)
    return Problem(path, _message(error), "value" if scalar else "key")


def _resolve(loc: tuple[int | str, ...], data: Any) -> tuple[KeyPath, Any]:
    """The part of ``loc`` present in the data (union tags and absent keys dropped)."""
    path: list[str | int] = []
    current = data
    for key in loc:
        child = _child(current, key)
        if child is not _ABSENT:
            current = child
            path.append(key)
    return tuple(path), current


_ABSENT = object()


def _child(node: Any, key: Any) -> Any:
    if isinstance(node, dict) and key in node:
        return node[key]
    if isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node):
        return node[key]
    return _ABSENT


def _message(error: ErrorDetails) -> str:
    text = str(error["msg"]).removeprefix("Value error, ")
    return text[:1].lower() + text[1:]


def _unknown_key(path: KeyPath, data: Any, registry: Registry) -> str:
    key = str(path[-1])
    valid = keys_at(path[:-1], data, registry)
    if not valid:
        return f"unknown key '{key}'"
    close = difflib.get_close_matches(key, valid, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return f"unknown key '{key}'; {hint}valid keys: {', '.join(valid)}"


def keys_at(path: KeyPath, data: Any, registry: Registry) -> list[str]:
    """The keys the spec allows in the mapping at ``path`` (empty when free-form)."""
    annotation: Any = ProviderSpec
    node = data
    for key in path:
        model = _model(annotation, node, registry)
        if model is not None:
            field = _field(model, str(key))
            if field is None:
                return []
            annotation = field.annotation
            if field.metadata:
                annotation = Annotated[(field.annotation, *field.metadata)]
        else:
            annotation = _item_type(annotation)
        node = _child(node, key)
    model = _model(annotation, node, registry)
    if model is None:
        return []
    return sorted(field.alias or name for name, field in model.model_fields.items())


def _field(model: type[BaseModel], key: str) -> Any:
    for name, field in model.model_fields.items():
        if key in (name, field.alias):
            return field
    return None


def _model(annotation: Any, node: Any, registry: Registry) -> type[BaseModel] | None:
    """The model an annotation stands for at this node (strategies resolved by ``type``)."""
    kind = None
    if get_origin(annotation) is Annotated:
        annotation, *metadata = get_args(annotation)
        kind = next((getattr(m, "kind", None) for m in metadata if hasattr(m, "kind")), None)
    if get_origin(annotation) is Union or type(annotation).__name__ == "UnionType":
        options = [a for a in get_args(annotation) if a is not type(None)]
        annotation = options[0] if len(options) == 1 else None
    if isinstance(annotation, type) and issubclass(annotation, StrategyConfig) and kind:
        name = node.get("type") if isinstance(node, dict) else None
        try:
            return registry.get(kind, str(name)).Config  # type: ignore[no-any-return]
        except KeyError:
            return None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _item_type(annotation: Any) -> Any:
    """The value type of a dict or the item type of a list (through Optional)."""
    if get_origin(annotation) is Union or type(annotation).__name__ == "UnionType":
        options = [a for a in get_args(annotation) if a is not type(None)]
        annotation = options[0] if len(options) == 1 else None
    origin = get_origin(annotation)
    args = get_args(annotation)
    if origin is dict and len(args) == 2:
        return args[1]
    if origin is list and args:
        return args[0]
    return None


__all__ = ["keys_at", "validate_spec"]
