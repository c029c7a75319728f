"""The bundled providers and their mappings are valid: `kiro-sync providers validate` with no
arguments checks the whole catalog and exits 0; each loads with its mapping."""

from __future__ import annotations

import pytest

from engine.catalog import ProviderCatalog
from engine.mapping import load_mapping
from runtime.cli import main

PROVIDERS = ("github", "jira", "linear")


def test_validate_without_arguments_passes_on_the_bundled_catalog(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["providers", "validate"]) == 0
    out = capsys.readouterr().out
    for name in PROVIDERS:
        assert f"providers/{name}.yaml: ok" in out
        assert f"mappings/{name}.yaml: ok" in out


@pytest.mark.parametrize("name", PROVIDERS)
def test_each_provider_loads_with_a_mapping_for_every_entity_it_syncs(name: str) -> None:
    catalog = ProviderCatalog.default()
    provider = catalog.get(name)
    path = catalog.mapping_path(name)
    assert path is not None
    mapping = load_mapping(path, provider.spec)
    assert {s.entity for s in mapping.streams.values()} == {"work_item", "comment"}
    assert {"work_item", "comment"} <= set(provider.spec.writes)
    assert {"create", "update"} <= set(provider.spec.writes["work_item"])
    assert provider.spec.webhooks is not None and provider.spec.webhooks.registration is not None
    work_items = mapping.export_stream("work_item")
    assert work_items is not None
    # the default mapping covers what the issue asks of every provider
    wanted = {"title", "description", "status", "tags", "due_date", "assignee_id"}
    assert wanted <= set(work_items.fields)
    assert work_items.url is not None and work_items.created is not None
    assert work_items.updated is not None
    if name != "github":  # GitHub issues have no priority (docs/providers/github.md)
        assert "priority" in work_items.fields
