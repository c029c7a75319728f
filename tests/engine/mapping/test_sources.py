"""A Source's per-shape getter reads what the path itself reads."""

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.jsonpath import compile_path
from engine.mapping.sources import Source
from engine.templating import Templates

PATHS = ["title", "milestone.due_on", "a.b.c", "labels[0]", "$.fields.summary"]
SPREADS = ["labels[*].name", "fields.labels[*].name"]

leaves = st.none() | st.booleans() | st.integers(-3, 3) | st.text(max_size=3)
KEYS = ["title", "milestone", "due_on", "a", "b", "c", "labels", "name", "fields", "summary"]
documents = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner),
    max_leaves=10,
)


def source(text: str, many: bool = False) -> Source:
    return Source(text, Templates(), frozenset({"record"}), "test", many=many)


@pytest.mark.parametrize("text", PATHS)
@given(document=documents)
def test_plain_paths_read_the_first_match(text: str, document: Any) -> None:
    assert source(text).get(document, {}) == compile_path(text).first(document)


@pytest.mark.parametrize("text", SPREADS)
@given(document=documents)
def test_spread_paths_read_every_item_that_has_the_key(text: str, document: Any) -> None:
    assert source(text, many=True).get(document, {}) == compile_path(text).values(document)


def test_a_spread_over_a_mapping_reads_its_values_like_jsonpath_ng() -> None:
    # found by the property above: jsonpath-ng's `[*]` spreads a dict's values too
    document = {"labels": {"title": {"title": None, "name": None}}}
    assert source("labels[*].name", many=True).get(document, {}) == [None]


def test_many_can_be_switched_after_compiling() -> None:
    labels = source("labels[*].name")
    document = {"labels": [{"name": "bug"}, {"color": "red"}, {"name": "ui"}]}
    assert labels.get(document, {}) == "bug"
    labels.many = True
    assert labels.get(document, {}) == ["bug", "ui"]


def test_templates_render_over_the_context() -> None:
    rendered = source("{{ record.number }}-x")
    assert rendered.get({}, {"record": {"number": 7}}) == "7-x"
