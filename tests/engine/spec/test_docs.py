"""The spec reference documents every key, strategy type and template place that exists,
and the complete examples in the docs are valid providers."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, get_args

import pytest
from pydantic import BaseModel

from engine.registry import Registry
from engine.spec import PLACES, ProviderSpec, load_provider_text
from engine.spec.yamlsource import parse_yaml
from engine.strategies import default_registry

REPO = Path(__file__).resolve().parents[3]
SPEC_DOC = REPO / "docs" / "spec.md"
EXAMPLE_DOCS = [REPO / "README.md", REPO / "docs" / "authoring.md", SPEC_DOC]
YAML_BLOCK = re.compile(r"```yaml\n(.*?)```", re.S)


@pytest.fixture(scope="module")
def registry() -> Registry:
    return default_registry()


@pytest.fixture(scope="module")
def spec_doc() -> str:
    return SPEC_DOC.read_text()


def spec_models(model: type[BaseModel], seen: set[type[BaseModel]]) -> set[type[BaseModel]]:
    seen.add(model)
    for field in model.model_fields.values():
        for inner in _types(field.annotation):
            if isinstance(inner, type) and issubclass(inner, BaseModel) and inner not in seen:
                spec_models(inner, seen)
    return seen


def _types(annotation: Any) -> list[Any]:
    found = [annotation]
    for arg in get_args(annotation):
        found += _types(arg)
    return found


def test_every_spec_key_is_documented(spec_doc: str) -> None:
    missing = {
        f"{model.__name__}.{field.alias or name}"
        for model in spec_models(ProviderSpec, set())
        for name, field in model.model_fields.items()
        if f"`{field.alias or name}`" not in spec_doc
    }
    assert missing == set()


def test_every_strategy_type_and_key_is_documented(spec_doc: str, registry: Registry) -> None:
    missing = set()
    for kind in registry.kinds():
        for name in registry.names(kind):
            if f"| `{name}` |" not in spec_doc:
                missing.add(f"{kind} type {name}")
            config = registry.get(kind, name).Config
            for key, field in config.model_fields.items():
                if f"`{field.alias or key}`" not in spec_doc:
                    missing.add(f"{kind}.{name}.{field.alias or key}")
    assert missing == set()


def test_every_template_place_and_its_names_are_documented(spec_doc: str) -> None:
    for place, names in PLACES.items():
        row = next(
            (line for line in spec_doc.splitlines() if line.startswith(f"| `{place}` |")), ""
        )
        assert row, f"no row for place {place}"
        documented = set(re.findall(r"`(\w+)`", row.rsplit("|", 2)[1]))
        assert documented == set(names), place


@pytest.mark.parametrize("doc", EXAMPLE_DOCS, ids=lambda p: p.name)
def test_yaml_examples_parse(doc: Path) -> None:
    blocks = YAML_BLOCK.findall(doc.read_text())
    assert blocks
    for block in blocks:
        parse_yaml(block, doc.name)


@pytest.mark.parametrize("doc", EXAMPLE_DOCS[:2], ids=lambda p: p.name)
def test_complete_provider_examples_are_valid(doc: Path, registry: Registry) -> None:
    complete = [b for b in YAML_BLOCK.findall(doc.read_text()) if "\nname: " in b]
    assert complete
    for block in complete:
        provider = load_provider_text(block, doc.name, registry)
        assert provider.spec.streams
