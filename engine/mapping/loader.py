"""Mapping YAML -> a compiled ``Mapping``, with ``file:line:col: path: message`` errors.

    mapping = load_mapping("mappings/github.yaml", provider.spec)

The YAML is read with positions by the provider loader's ``engine.spec.yamlsource``; the
``MappingSpec`` models validate it; ``compile_mapping`` checks it against the provider
(streams, Kiro fields, JSONPaths, template names). Every problem of the last two passes is
collected before ``SpecError`` is raised.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError as PydanticValidationError

from engine.errors import SpecError
from engine.mapping.compiled import Mapping, MappingProblems, compile_mapping
from engine.mapping.spec import MappingSpec
from engine.spec.models import ProviderSpec
from engine.spec.problems import Problem, render
from engine.spec.yamlsource import Anchor, KeyPath, parse_yaml


def load_mapping(
    path: str | Path, provider: ProviderSpec | None = None, *, display_name: str | None = None
) -> Mapping:
    """Load, validate and compile a mapping file; SpecError lists every problem."""
    filename = display_name or str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"{filename}:1:1: file: cannot read: {exc}", file=filename) from None
    return load_mapping_text(text, filename, provider)


def load_mapping_text(
    text: str, filename: str = "<string>", provider: ProviderSpec | None = None
) -> Mapping:
    """Like ``load_mapping`` for YAML given as text."""
    data, source = parse_yaml(text, filename)
    if not isinstance(data, dict):
        raise SpecError(f"{filename}:1:1: (top level): expected a mapping document")
    try:
        spec = MappingSpec.model_validate(data)
    except PydanticValidationError as exc:
        problems = [_problem(error, data) for error in exc.errors(include_url=False)]
        raise SpecError(render(problems, source), file=filename) from None
    try:
        return compile_mapping(spec, provider)
    except MappingProblems as exc:
        problems = [Problem(path, message, _anchor(path, data)) for path, message in exc.problems]
        raise SpecError(render(problems, source), file=filename) from None


def _problem(error: Any, data: Any) -> Problem:
    path = _present(error["loc"], data)
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "missing":
        return Problem(path, f"field required: {error['loc'][-1]}", "key")
    if error["type"] == "extra_forbidden":
        return Problem(path, f"unknown key '{error['loc'][-1]}'", "key")
    return Problem(path, message[:1].lower() + message[1:])


def _anchor(path: KeyPath, data: Any) -> Anchor:
    """Point at a key whose value is a mapping or list, at the value of a scalar."""
    node: Any = data
    for key in path:
        if isinstance(node, dict):
            node = node.get(key)
        elif isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node):
            node = node[key]
        else:
            node = None
    return "key" if isinstance(node, dict | list) else "value"


def _present(loc: tuple[Any, ...], data: Any) -> KeyPath:
    """The longest prefix of ``loc`` that exists in the data (pydantic adds union tags)."""
    path: list[str | int] = []
    node = data
    for key in loc:
        in_dict = isinstance(node, dict) and key in node
        in_list = isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node)
        if not (in_dict or in_list):
            continue
        node = node[key]
        path.append(key)
    return tuple(path)


__all__ = ["load_mapping", "load_mapping_text"]
