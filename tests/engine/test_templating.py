from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.errors import TemplateError
from engine.templating import TemplateProblem, Templates


@pytest.fixture
def templates() -> Templates:
    return Templates()


def test_single_expression_keeps_its_type(templates: Templates) -> None:
    assert templates.render("{{ n }}", {"n": 5}) == 5
    assert templates.render("{{ xs }}", {"xs": [1, 2]}) == [1, 2]
    assert templates.render("{{ v }}", {"v": None}) is None


def test_mixed_template_renders_a_string(templates: Templates) -> None:
    assert templates.render("/repos/{{ repo }}/issues", {"repo": "o/r"}) == "/repos/o/r/issues"
    assert templates.render("{{ a }}-{{ b }}", {"a": 1, "b": 2}) == "1-2"


def test_constants_do_not_need_a_context(templates: Templates) -> None:
    assert templates.render("plain", {}) == "plain"
    assert templates.render(42, {}) == 42


def test_unknown_name_is_rejected_at_compile(templates: Templates) -> None:
    with pytest.raises(TemplateProblem, match=r"unknown name 'recrod'.*available here: record"):
        templates.compile("{{ recrod.title }}", allowed={"record"})


def test_syntax_error_is_a_problem(templates: Templates) -> None:
    with pytest.raises(TemplateProblem, match="invalid template"):
        templates.compile("{{ a ", allowed={"a"})


def test_strict_undefined_raises_on_render(templates: Templates) -> None:
    with pytest.raises(TemplateError, match=r"where\.x"):
        templates.compile("{{ record.missing }}").render({"record": {}}, "where.x")


def test_sandbox_refuses_unsafe_access(templates: Templates) -> None:
    with pytest.raises(TemplateError):
        templates.render("{{ ''.__class__.__mro__ }}", {})
    with pytest.raises(TemplateError):
        templates.render("{{ d.update({'a': 1}) }}", {"d": {}})


def test_compiled_once(templates: Templates) -> None:
    first = templates.compile("{{ a }}")
    assert templates.compile("{{ a }}") is first


def test_render_tree_renders_nested_leaves(templates: Templates) -> None:
    tree = {"fields": {"summary": "{{ item.title }}", "labels": ["{{ item.tag }}", 3]}}
    out = templates.render_tree(tree, {"item": {"title": "T", "tag": "bug"}})
    assert out == {"fields": {"summary": "T", "labels": ["bug", 3]}}


def test_check_tree_reports_paths(templates: Templates) -> None:
    problems = templates.check_tree(
        {"q": {"since": "{{ cursr }}"}, "ok": "{{ cursor }}"}, {"cursor"}
    )
    assert [path for path, _ in problems] == ["q.since"]


def test_date_filters(templates: Templates) -> None:
    ctx = {"t": "2025-01-31T14:05:12.000+0000"}
    assert templates.render("{{ t | iso8601 }}", ctx) == "2025-01-31T14:05:12Z"
    assert templates.render("{{ t | strftime('%Y-%m-%d %H:%M') }}", ctx) == "2025-01-31 14:05"
    assert templates.render("{{ t | to_datetime }}", ctx) == datetime(
        2025, 1, 31, 14, 5, 12, tzinfo=UTC
    )
    assert templates.render("{{ 1700000000000 | iso8601 }}", {}) == "2023-11-14T22:13:20Z"


def test_strftime_in_a_time_zone(templates: Templates) -> None:
    ctx = {"t": "2025-01-31T14:05:12Z", "zone": "America/New_York"}
    assert templates.render("{{ t | strftime('%Y-%m-%d %H:%M', zone) }}", ctx) == "2025-01-31 09:05"
    assert templates.render("{{ t | strftime('%H:%M', 'Etc/GMT+12') }}", ctx) == "02:05"
    assert templates.render("{{ t | strftime('%H:%M', none) }}", ctx) == "14:05"
    with pytest.raises(TemplateError):
        templates.render("{{ t | strftime('%H:%M', 'Mars/Olympus') }}", ctx)


def test_b64_and_compact(templates: Templates) -> None:
    assert templates.render("{{ 'a:b' | b64encode }}", {}) == "YTpi"
    assert templates.render("{{ {'a': 1, 'b': none} | compact }}", {}) == {"a": 1}


@given(st.text(alphabet=st.characters(blacklist_characters="{}%#"), max_size=40))
def test_text_without_markers_is_constant(text: str) -> None:
    assert Templates().render(text, {}) == text
