"""Mapping files: validated with file:line:col problems, cross-checked against the provider."""

from __future__ import annotations

import pytest

from engine.catalog import ProviderCatalog
from engine.errors import SpecError
from engine.mapping import load_mapping, load_mapping_text


def github_spec():  # type: ignore[no-untyped-def]
    return ProviderCatalog.default().get("github").spec


def problems(text: str, provider=None) -> list[str]:  # type: ignore[no-untyped-def]
    with pytest.raises(SpecError) as caught:
        load_mapping_text(text, "mappings/x.yaml", provider)
    return caught.value.problems


@pytest.mark.parametrize("name", ["github", "jira"])
def test_bundled_mappings_load_against_their_providers(name: str) -> None:
    catalog = ProviderCatalog.default()
    path = catalog.mapping_path(name)
    assert path is not None
    mapping = load_mapping(path, catalog.get(name).spec)
    assert mapping.export_stream("work_item") is not None
    assert mapping.stream("comments") is not None


def test_unknown_kiro_field_is_named_with_its_line() -> None:
    text = """provider: github
streams:
  issues:
    entity: work_item
    fields:
      title: {path: title}
      titel: {path: body}
"""
    found = problems(text, github_spec())
    assert len(found) == 1
    assert found[0].startswith("mappings/x.yaml:7:")
    assert "streams.issues.fields.titel: unknown Kiro work_item field 'titel'" in found[0]
    assert "valid: title, description" in found[0]


def test_unparsable_path_and_wrong_template_name_are_both_reported() -> None:
    text = """provider: github
streams:
  issues:
    entity: work_item
    url: "labels[?(@.name =="
    fields:
      title: {path: title}
      description: {inbound: "{{ recrod.body }}", direction: inbound_only}
"""
    found = problems(text, github_spec())
    assert any(":5:" in p and "streams.issues.url: invalid JSONPath" in p for p in found)
    assert any(":8:" in p and "unknown name 'recrod'" in p and "record, root" in p for p in found)


def test_a_stream_the_provider_lacks_is_refused() -> None:
    text = """provider: github
streams:
  pulls:
    entity: work_item
    fields: {title: {path: title}}
"""
    found = problems(text, github_spec())
    assert found == [
        "mappings/x.yaml:3:3: streams.pulls: github has no stream 'pulls'; "
        "streams: comments, issues, repos, users"
    ]


def test_model_errors_point_at_the_key() -> None:
    text = """provider: github
streams:
  issues:
    entity: ticket
    fields:
      title: {path: title, direction: sideways, colour: red}
"""
    found = problems(text)
    assert any(":4:" in p and "streams.issues.entity" in p for p in found)
    assert any(":6:" in p and "direction" in p for p in found)
    assert any("unknown key 'colour'" in p for p in found)


def test_field_rules_that_cannot_work_are_refused() -> None:
    text = """provider: github
streams:
  issues:
    entity: work_item
    fields:
      title: {path: title}
      tags: {path: "labels[*].name", list: true}
      assignee_id: {path: assignee}
"""
    found = problems(text)
    assert any("streams.issues.fields.tags: goes out in item.body" in p for p in found)
    assert any("assignee_id is a user field: give `user`" in p for p in found)


def test_comments_need_their_work_item() -> None:
    text = """provider: github
streams:
  comments:
    entity: comment
    fields: {body: {path: body}}
"""
    found = problems(text)
    assert any("needs `work_item`" in p for p in found)


def test_yaml_syntax_errors_carry_the_position() -> None:
    found = problems("provider: github\nstreams: [\n")
    assert found[0].startswith("mappings/x.yaml:")
    assert "yaml:" in found[0]
