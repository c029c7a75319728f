import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.jsonpath import JsonPathProblem, compile_path

DOC = {
    "issues": [{"id": "1", "fields": {"summary": "a"}}, {"id": "2", "fields": {"summary": "b"}}],
    "@odata.nextLink": "https://next",
    "pageInfo": {"hasNextPage": False, "endCursor": None},
    "transitions": [{"id": "11", "to": {"name": "To Do"}}, {"id": "31", "to": {"name": "Done"}}],
}


@pytest.mark.parametrize("expr", ["pageInfo.hasNextPage", "$.pageInfo.hasNextPage"])
def test_plain_paths_take_the_fast_path(expr: str) -> None:
    path = compile_path(expr)
    assert path.is_simple
    assert path.values(DOC) == [False]


def test_bracketed_keys_and_indexes() -> None:
    assert compile_path("$['@odata.nextLink']").first(DOC) == "https://next"
    assert compile_path("issues[1].fields.summary").first(DOC) == "b"
    assert compile_path("issues[-1].id").first(DOC) == "2"


def test_missing_values_and_none_are_distinct() -> None:
    assert compile_path("pageInfo.endCursor").values(DOC) == [None]
    assert compile_path("pageInfo.nope").values(DOC) == []
    assert compile_path("issues[9].id").first(DOC, "dflt") == "dflt"


def test_root_is_the_document() -> None:
    assert compile_path("$").first(DOC) is DOC


def test_wildcards_and_filters_use_jsonpath_ng() -> None:
    assert compile_path("$.issues[*].id").values(DOC) == ["1", "2"]
    assert not compile_path("$.issues[*].id").is_simple
    done = compile_path("$.transitions[?(@.to.name == 'Done')].id")
    assert done.values(DOC) == ["31"]


def test_invalid_path_is_a_problem() -> None:
    with pytest.raises(JsonPathProblem, match="invalid JSONPath"):
        compile_path("$.issues[?(")


def test_set_creates_nested_dicts() -> None:
    doc: dict[str, object] = {}
    compile_path("fields.status.name").set(doc, "Done")
    assert doc == {"fields": {"status": {"name": "Done"}}}


@given(
    st.lists(st.from_regex(r"[a-z_][a-z0-9_]{0,6}", fullmatch=True), min_size=1, max_size=5),
    st.integers(),
)
def test_fast_path_agrees_with_jsonpath_ng(keys: list[str], value: int) -> None:
    doc: dict[str, object] = {}
    compile_path(".".join(keys)).set(doc, value)
    from jsonpath_ng.ext import parse

    assert [m.value for m in parse("$." + ".".join(keys)).find(doc)] == [value]
    assert compile_path(".".join(keys)).first(doc) == value
