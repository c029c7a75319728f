"""The plain-Python renderers give Jinja2's values and errors, and take the simple templates."""

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.errors import TemplateError
from engine.templating import CompiledTemplate, Templates

# Templates of the shapes the bundled YAML uses, plus the edges of the subset.
FAST = [
    "{{ record.id }}",
    "  {{ record.id }}\n",
    "{{ record.fields.summary }}",
    "{{ record.repository_url.split('/repos/')[-1] }}#{{ record.number }}",
    "{{ record.issue_url.split('/repos/')[-1].replace('/issues/', '#') }}",
    "{{ 'pull_request' not in record }}",
    "{{ 'pull_request' in record }}",
    "{{ user.id }}+{{ user.login }}@users.noreply.github.com",
    "{{ record['id'] }}",
    "{{ record.labels[0] }}",
    "{{ record.title[0] }}",
    "{{ record.get('id') }}",
    "{{ record.state == 'closed' }}",
    "{{ record.number > 3 }}",
    "{{ not record.locked }}",
    "{{ record.locked and record.state }}",
    "{{ record.locked or record.state }}",
    "{{ record.state if record.locked else record.id }}",
    "{{ record.assignee is none }}",
    "{{ record.title.lower().strip() }}",
    "id-{{ record.id }}",
    "{{ -1 }}",
]
SLOW = [
    "{{ record.assignees | map(attribute='login') | list }}",
    "{% if record.id %}x{% endif %}",
    "{{ record.items }}",
    "{{ record.title.format(1) }}",
    "{{ record[record.key] }}",
    "{{ record.id ~ 'x' }}",
    "{{ record.id is defined }}",
    "{{ 1 < record.number < 5 }}",
]

values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=6,
)
KEYS = ["id", "fields", "summary", "repository_url", "number", "issue_url", "pull_request"]
KEYS += ["labels", "title", "state", "locked", "assignee", "login", "items", "key", "get"]
records = st.dictionaries(st.sampled_from(KEYS), values, max_size=8) | values


def outcome(render: Any, context: dict[str, Any]) -> tuple[str, Any]:
    try:
        return "value", render(context)
    except TemplateError as exc:
        return "error", str(exc)


def jinja_only(templates: Templates, source: str) -> CompiledTemplate:
    compiled = templates.compile(source)
    return CompiledTemplate(source, compiled._render, compiled.names)


@pytest.mark.parametrize("source", FAST)
def test_simple_templates_take_the_fast_path(source: str) -> None:
    assert Templates().compile(source).fast is not None


@pytest.mark.parametrize("source", SLOW)
def test_anything_else_stays_with_jinja(source: str) -> None:
    assert Templates().compile(source).fast is None


@settings(max_examples=300, deadline=None)
@given(source=st.sampled_from(FAST), record=records, user=records)
def test_fast_path_gives_jinjas_value_or_error(source: str, record: Any, user: Any) -> None:
    templates = Templates()
    context = {"record": record, "user": user}
    fast, slow = templates.compile(source), jinja_only(templates, source)
    assert outcome(fast.render, context) == outcome(slow.render, context)


def test_realistic_records_render_without_jinja() -> None:
    templates = Templates()
    issue = {
        "repository_url": "https://api.github.com/repos/octo/hello",
        "number": 7,
        "title": " Bug ",
        "assignee": None,
    }
    id_template = templates.compile(FAST[3])
    assert id_template.fast is not None
    assert id_template.fast({"record": issue}) == "octo/hello#7"
    assert templates.compile(FAST[5]).fast({"record": issue}) is True  # type: ignore[misc]
    assert templates.compile(FAST[19]).fast({"record": issue}) == "bug"  # type: ignore[misc]
    assert templates.compile(FAST[18]).fast({"record": issue}) is True  # type: ignore[misc]


def test_missing_key_is_jinjas_strict_undefined_error() -> None:
    compiled = Templates().compile("{{ record.missing }}")
    assert compiled.fast is not None
    with pytest.raises(TemplateError, match=r"where\.x: 'dict object' has no attribute 'missing'"):
        compiled.render({"record": {}}, "where.x")


def test_dict_methods_stay_sandboxed() -> None:
    templates = Templates()
    with pytest.raises(TemplateError):
        templates.render("{{ d.update({'a': 1}) }}", {"d": {}})
    with pytest.raises(TemplateError):
        templates.render("{{ d.pop('a') }}", {"d": {"a": 1}})
    assert templates.render("{{ d.get('a') }}", {"d": {"a": 1}}) == 1
