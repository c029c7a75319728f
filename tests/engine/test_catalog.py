"""ProviderCatalog: names from directories, loading once, mappings beside providers."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from engine.catalog import PROVIDERS_PATH_ENV, ProviderCatalog, bundled_sources
from engine.errors import NotFoundError, SpecError
from engine.strategies import default_registry

EXAMPLE = Path(__file__).parent / "spec" / "data" / "acme.yaml"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def extra(tmp_path: Path) -> Path:
    directory = tmp_path / "extra"
    (directory / "mappings").mkdir(parents=True)
    shutil.copy(EXAMPLE, directory / "acme.yaml")
    (directory / "mappings" / "acme.yaml").write_text("entities: {}\n")
    (directory / "notes.txt").write_text("not a provider")
    return directory


def catalog_of(*directories: Path, env: dict[str, str] | None = None) -> ProviderCatalog:
    return ProviderCatalog(
        directories, include_bundled=False, env=env or {}, registry=default_registry()
    )


def test_names_are_the_yaml_files(extra: Path) -> None:
    (extra / "zeta.yaml").write_text("name: zeta\n")
    assert catalog_of(extra).names() == ["acme", "zeta"]
    assert "acme" in catalog_of(extra)
    assert "notes" not in catalog_of(extra)


def test_get_loads_once_and_caches(extra: Path) -> None:
    catalog = catalog_of(extra)
    provider = catalog.get("acme")
    assert provider.name == "acme"
    assert provider.path == extra / "acme.yaml"
    (extra / "acme.yaml").write_text("broken: [\n")  # a cached provider is not re-read
    assert catalog.get("acme") is provider


def test_paths_of_provider_and_mapping(extra: Path) -> None:
    catalog = catalog_of(extra)
    assert catalog.path("acme") == extra / "acme.yaml"
    assert catalog.mapping_path("acme") == extra / "mappings" / "acme.yaml"
    (extra / "mappings" / "acme.yaml").unlink()
    assert catalog.mapping_path("acme") is None


def test_unknown_provider_names_the_known_ones(extra: Path) -> None:
    catalog = catalog_of(extra)
    for call in (catalog.get, catalog.path, catalog.mapping_path):
        with pytest.raises(NotFoundError, match=r"unknown provider 'jira'; known providers: acme"):
            call("jira")


def test_invalid_provider_is_a_spec_error_with_locations(extra: Path) -> None:
    (extra / "broken.yaml").write_text("name: broken\ntitle: Broken\ncategory: chat\n")
    catalog = catalog_of(extra)
    with pytest.raises(SpecError) as caught:
        catalog.get("broken")
    shown = str(extra / "broken.yaml")
    tails = [p.removeprefix(shown) for p in caught.value.problems]
    assert tails == [
        ":1:1: (top level): field required: base_url",
        ":1:1: (top level): field required: auth_modes",
        ":1:1: (top level): field required: test_connection",
        ":1:1: (top level): field required: streams",
        ":3:11: category: input should be 'work_tracking' or 'messaging'",
    ]
    assert catalog.problems("broken") == caught.value.problems
    assert catalog.problems("acme") == []


def test_file_name_and_provider_name_must_agree(extra: Path) -> None:
    shutil.copy(EXAMPLE, extra / "other.yaml")
    problems = catalog_of(extra).problems("other")
    assert len(problems) == 1
    assert problems[0].endswith("other.yaml:4:7: name: 'acme' does not match the file name 'other'")


def test_environment_directories_and_precedence(extra: Path, tmp_path: Path) -> None:
    second = tmp_path / "second"
    second.mkdir()
    shutil.copy(EXAMPLE, second / "acme.yaml")
    (second / "solo.yaml").write_text("name: solo\n")
    env = {PROVIDERS_PATH_ENV: os.pathsep.join([str(second), str(tmp_path / "absent")])}
    catalog = catalog_of(extra, env=env)
    assert catalog.names() == ["acme", "solo"]
    assert catalog.path("acme") == extra / "acme.yaml"  # constructor dirs come first
    assert catalog.path("solo") == second / "solo.yaml"
    assert catalog.mapping_path("acme") == extra / "mappings" / "acme.yaml"


def test_default_reads_the_environment(extra: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PROVIDERS_PATH_ENV, str(extra))
    catalog = ProviderCatalog.default()
    assert catalog.path("acme") == extra / "acme.yaml"
    assert set(catalog.names()) >= {"acme"}


def test_bundled_providers_in_a_checkout_are_the_repository_folders() -> None:
    [source] = bundled_sources()
    assert source.bundled
    assert Path(str(source.providers)) == REPO / "providers"
    assert source.mappings is not None and Path(str(source.mappings)) == REPO / "mappings"
    names = ProviderCatalog(env={}).names()
    assert names == sorted(p.stem for p in (REPO / "providers").glob("*.yaml"))


def test_every_bundled_provider_and_mapping_is_valid() -> None:
    catalog = ProviderCatalog(env={})
    problems = {name: catalog.problems(name) for name in catalog.names()}
    assert {name: found for name, found in problems.items() if found} == {}
    mappings = {name: catalog.mapping_problems(name) for name in catalog.names()}
    assert {name: found for name, found in mappings.items() if found} == {}


def test_mapping_problems_are_checked_against_the_provider(extra: Path) -> None:
    catalog = catalog_of(extra)
    mapping = extra / "mappings" / "acme.yaml"
    mapping.write_text(
        "provider: acme\nstreams:\n  pulls:\n    entity: work_item\n"
        "    fields:\n      title: {path: title}\n"
    )
    [problem] = catalog.mapping_problems("acme")
    assert problem == f"{mapping}:3:3: streams.pulls: acme has no stream 'pulls'; streams: " + (
        "boards, comments, events, issues, messages, projects, users"
    )
    mapping.write_text(mapping.read_text().replace("pulls:", "issues:"))
    assert catalog.mapping_problems("acme") == []
    mapping.unlink()
    assert catalog.mapping_problems("acme") == []
