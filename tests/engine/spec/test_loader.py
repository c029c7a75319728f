"""The loader: every problem of a provider file, each at its file:line:col."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent
from typing import Literal

import pytest

from engine.errors import SpecError
from engine.registry import Registry, StrategyConfig
from engine.spec import load_provider, load_provider_text, provider_problems
from engine.strategies import default_registry

DATA = Path(__file__).parent / "data"

MINIMAL = """\
name: mini
title: Mini
category: work_tracking
base_url: https://api.mini.example
auth_modes:
  token:
    title: Token
    fields:
      - {name: accessToken, secret: true}
    auth: {type: bearer}
test_connection:
  request: {path: /me}
  identity_path: $.id
streams:
  items:
    request:
      path: /items
    records_path: $.items[*]
"""


@pytest.fixture(scope="module")
def registry() -> Registry:
    return default_registry()


def problems_of(tmp_path: Path, text: str, registry: Registry) -> list[str]:
    file = tmp_path / "mini.yaml"
    file.write_text(dedent(text))
    with pytest.raises(SpecError) as caught:
        load_provider(file, registry)
    prefix = f"{file}:"
    assert all(p.startswith(prefix) for p in caught.value.problems), caught.value.problems
    return [p.removeprefix(prefix) for p in caught.value.problems]


def test_minimal_provider_loads_with_defaults(tmp_path: Path, registry: Registry) -> None:
    file = tmp_path / "mini.yaml"
    file.write_text(MINIMAL)
    provider = load_provider(file, registry)
    assert provider.name == "mini"
    assert provider.path == file
    stream = provider.spec.streams["items"]
    assert stream.pagination.type == "none"
    assert stream.primary_key == "id"
    assert provider.spec.auth_modes["token"].auth.type == "bearer"


def test_complete_example_loads_every_section(registry: Registry) -> None:
    provider = load_provider(DATA / "acme.yaml", registry)
    spec = provider.spec
    assert {m.auth.type for m in spec.auth_modes.values()} == set(registry.names("auth"))
    assert {s.pagination.type for s in spec.streams.values()} == set(registry.names("pagination"))
    assert spec.streams["issues"].partitions is not None
    assert spec.streams["comments"].parent is not None
    assert spec.webhooks is not None and spec.webhooks.signature.type == "hmac"
    assert [e.name for e in spec.webhooks.events] == ["issue_changed", "issue_deleted", "ping"]
    assert list(spec.writes) == ["work_item", "comment"]


def test_templates_are_compiled_at_load(registry: Registry) -> None:
    provider = load_provider(DATA / "acme.yaml", registry)
    source = "/issues/{{ parent.key }}/comments"
    cached = provider.templates._cache  # compiled while loading, not on first use
    assert source in cached
    assert cached[source].names == frozenset({"parent"})
    assert provider.templates.compile(source) is cached[source]
    assert provider.render(source, {"parent": {"key": "ACME-1"}}) == "/issues/ACME-1/comments"


def test_missing_required_field_points_at_the_parent_mapping(
    tmp_path: Path, registry: Registry
) -> None:
    text = MINIMAL.replace("  identity_path: $.id\n", "")
    assert problems_of(tmp_path, text, registry) == [
        "11:1: test_connection: field required: identity_path",
    ]


def test_missing_top_level_field(tmp_path: Path, registry: Registry) -> None:
    text = MINIMAL.replace("title: Mini\n", "")
    assert problems_of(tmp_path, text, registry) == ["1:1: (top level): field required: title"]


def test_wrong_type_lists_the_valid_names(tmp_path: Path, registry: Registry) -> None:
    text = MINIMAL + "    pagination:\n      type: linkheader\n"
    valid = ", ".join(registry.names("pagination"))
    assert problems_of(tmp_path, text, registry) == [
        f"20:13: streams.items.pagination.type: unknown pagination type 'linkheader'; "
        f"valid: {valid}",
    ]


def test_valid_names_come_from_the_registry_in_use(tmp_path: Path) -> None:
    class Token:
        class Config(StrategyConfig):
            type: Literal["token"] = "token"

    class Single:
        class Config(StrategyConfig):
            type: Literal["none"] = "none"

    registry = Registry()
    registry.register("auth", Token)
    registry.register("pagination", Single)
    assert problems_of(tmp_path, MINIMAL, registry) == [
        "10:18: auth_modes.token.auth.type: unknown auth type 'bearer'; valid: token",
    ]


def test_missing_strategy_type(tmp_path: Path, registry: Registry) -> None:
    text = MINIMAL.replace("auth: {type: bearer}", "auth: {token: x}")
    valid = ", ".join(registry.names("auth"))
    assert problems_of(tmp_path, text, registry) == [
        f"10:5: auth_modes.token.auth: auth needs a 'type'; valid: {valid}",
    ]


def test_unknown_key_suggests_the_likely_one(tmp_path: Path, registry: Registry) -> None:
    text = MINIMAL + "    pagintion: {type: none}\n"
    [problem] = problems_of(tmp_path, text, registry)
    assert problem.startswith(
        "19:5: streams.items.pagintion: unknown key 'pagintion'; did you mean 'pagination'? "
        "valid keys: concurrency, cursor,"
    )


def test_unknown_key_inside_a_strategy_block(tmp_path: Path, registry: Registry) -> None:
    text = MINIMAL + "    pagination:\n      type: link_header\n      rels: next\n"
    [problem] = problems_of(tmp_path, text, registry)
    assert problem.startswith(
        "21:7: streams.items.pagination.rels: unknown key 'rels'; did you mean 'rel'? "
    )


def test_wrong_value_points_at_the_value(tmp_path: Path, registry: Registry) -> None:
    text = MINIMAL.replace("category: work_tracking", "category: chat") + ("    page_size: lots\n")
    assert problems_of(tmp_path, text, registry) == [
        "3:11: category: input should be 'work_tracking' or 'messaging'",
        "19:16: streams.items.page_size: input should be a valid integer, "
        "unable to parse string as an integer",
    ]


def test_model_rule_points_at_the_mapping(tmp_path: Path, registry: Registry) -> None:
    text = MINIMAL.replace(
        "      path: /items\n", "      path: /items\n      body: {a: 1}\n      form: {b: 2}\n"
    )
    assert problems_of(tmp_path, text, registry) == [
        "16:5: streams.items.request: give at most one of body, form, graphql (got body, form)",
    ]


def test_unknown_template_name_fails_at_load(tmp_path: Path, registry: Registry) -> None:
    text = MINIMAL.replace("path: /items", 'path: "/items/{{ partiton }}"')
    assert problems_of(tmp_path, text, registry) == [
        "17:13: streams.items.request.path: unknown name 'partiton' in template "
        "'/items/{{ partiton }}'; names available here: config, credentials, cursor, now, "
        "page, parent, partition, window",
    ]


def test_template_names_depend_on_the_place(tmp_path: Path, registry: Registry) -> None:
    # `record` is offered to a record filter, not to a request or the base URL.
    text = MINIMAL.replace(
        "base_url: https://api.mini.example", 'base_url: "https://{{ config.site }}.example"'
    ) + ('    record_filter: "{{ record.open }}"\n    record_filtr: 1\n')
    text = text.replace("path: /items", 'path: "/items?open={{ record.open }}"')
    assert problems_of(tmp_path, text, registry) == [
        "17:13: streams.items.request.path: unknown name 'record' in template "
        "'/items?open={{ record.open }}'; names available here: config, credentials, cursor, "
        "now, page, parent, partition, window",
        "20:5: streams.items.record_filtr: unknown key 'record_filtr'; "
        "did you mean 'record_filter'? valid keys: concurrency, cursor, max_pages, page_size, "
        "pagination, parent, partitions, primary_key, pushed_filters, record_filter, "
        "records_path, request, title, updated_path",
    ]


def test_template_syntax_error(tmp_path: Path, registry: Registry) -> None:
    text = MINIMAL.replace("path: /items", 'path: "/items/{{ partition }"')
    [problem] = problems_of(tmp_path, text, registry)
    assert problem.startswith("17:13: streams.items.request.path: invalid template ")


def test_bad_jsonpath(tmp_path: Path, registry: Registry) -> None:
    text = MINIMAL.replace("records_path: $.items[*]", 'records_path: "$.items[?(@.x =="')
    [problem] = problems_of(tmp_path, text, registry)
    assert problem.startswith(
        "18:19: streams.items.records_path: invalid JSONPath '$.items[?(@.x =='"
    )


def test_strategy_path_fields_are_jsonpaths(tmp_path: Path, registry: Registry) -> None:
    text = MINIMAL + "    pagination:\n      type: next_url\n      next_url_path: $.next[(\n"
    [problem] = problems_of(tmp_path, text, registry)
    assert problem.startswith(
        "21:22: streams.items.pagination.next_url_path: invalid JSONPath '$.next[('"
    )


def test_duplicate_key(tmp_path: Path, registry: Registry) -> None:
    text = MINIMAL.replace("title: Mini\n", "title: Mini\ntitle: Maxi\n")
    assert problems_of(tmp_path, text, registry) == [
        "3:1: yaml: duplicate key 'title' (first at line 2)",
    ]


def test_every_duplicate_key_is_reported(tmp_path: Path, registry: Registry) -> None:
    text = MINIMAL.replace("title: Mini\n", "title: Mini\nname: again\n").replace(
        "request: {path: /me}", "request: {path: /me, path: /you}"
    )
    assert problems_of(tmp_path, text, registry) == [
        "3:1: yaml: duplicate key 'name' (first at line 1)",
        "13:24: yaml: duplicate key 'path' (first at line 13)",
    ]


def test_merge_keys_and_anchors(tmp_path: Path, registry: Registry) -> None:
    text = MINIMAL.replace(
        "    request:\n      path: /items\n",
        "    request: &get_items\n      path: /items\n",
    ) + (
        "  again:\n"
        "    request:\n"
        "      <<: *get_items\n"
        "      method: HEAD\n"
        "    records_path: $.items[*]\n"
    )
    file = tmp_path / "mini.yaml"
    file.write_text(text)
    provider = load_provider(file, registry)
    again = provider.spec.streams["again"].request
    assert (again.path, again.method) == ("/items", "HEAD")


def test_unknown_yaml_tag(tmp_path: Path, registry: Registry) -> None:
    text = MINIMAL.replace("title: Mini", "title: !upper Mini")
    [problem] = problems_of(tmp_path, text, registry)
    assert problem.startswith("2:8: yaml: could not determine a constructor for the tag '!upper'")


@pytest.mark.parametrize("depth", [70, 3000, 100_000])
def test_absurd_nesting_is_a_problem_not_a_recursion_error(
    tmp_path: Path, registry: Registry, depth: int
) -> None:
    text = MINIMAL + "x-junk: " + "[" * depth + "]" * depth + "\n"
    [problem] = problems_of(tmp_path, text, registry)
    assert problem.endswith("yaml: nested deeper than 64 levels"), problem


def test_yaml_syntax_error(tmp_path: Path, registry: Registry) -> None:
    text = MINIMAL.replace("path: /items", "path: /items: all")
    [problem] = problems_of(tmp_path, text, registry)
    assert problem.startswith("17:19: yaml: ")
    assert "mapping values are not allowed" in problem


def test_empty_file(tmp_path: Path, registry: Registry) -> None:
    assert problems_of(tmp_path, "# nothing yet\n", registry) == [
        "1:1: (top level): the file is empty"
    ]


def test_not_a_mapping(tmp_path: Path, registry: Registry) -> None:
    assert problems_of(tmp_path, "- a\n- b\n", registry) == [
        "1:1: (top level): input should be a valid dictionary or instance of ProviderSpec"
    ]


def test_references_must_resolve(tmp_path: Path, registry: Registry) -> None:
    text = MINIMAL + (
        "  comments:\n"
        '    request: {path: "/items/{{ parent.id }}/comments"}\n'
        "    parent: {stream: itemz}\n"
        "  children:\n"
        '    request: {path: "/c/{{ partition }}"}\n'
        '    partitions: {stream: nested, value: "{{ record.id }}"}\n'
        "  nested:\n"
        '    request: {path: "/n/{{ parent.id }}"}\n'
        "    parent: {stream: children}\n"
        "writes:\n"
        "  ticket:\n"
        "    create:\n"
        "      steps:\n"
        "        - name: create\n"
        "          request: {method: POST, path: /items}\n"
        '          extract: {id: "{{ response.id }}"}\n'
        "          require: [id, key]\n"
        "webhooks:\n"
        "  secret_field: signingSecret\n"
        "  signature: {type: hmac, header: X-Sig}\n"
        "  events:\n"
        '    - {name: x, match: "{{ true }}", stream: item, records: "{{ payload }}"}\n'
    )
    assert problems_of(tmp_path, text, registry) == [
        "21:22: streams.comments.parent.stream: unknown stream 'itemz'; "
        "did you mean 'items'? valid: children, comments, items, nested",
        "24:26: streams.children.partitions.stream: streams depend on each other in a cycle: "
        "children -> nested -> children",
        "29:3: writes.ticket: unknown write entity 'ticket'; valid: comment, project, user, "
        "work_item",
        "35:25: writes.ticket.create.steps[0].require[1]: unknown extracted name 'key'; valid: id",
        "37:17: webhooks.secret_field: unknown credential field 'signingSecret'; "
        "valid: accessToken",
        "40:46: webhooks.events[0].stream: unknown stream 'item'; did you mean 'items'? "
        "valid: children, comments, items, nested",
    ]


def test_a_stream_cannot_be_its_own_parent(tmp_path: Path, registry: Registry) -> None:
    text = MINIMAL + "    parent: {stream: items}\n"
    assert problems_of(tmp_path, text, registry) == [
        "19:22: streams.items.parent.stream: streams depend on each other in a cycle: "
        "items -> items",
    ]


def test_every_problem_is_collected_in_file_order(tmp_path: Path, registry: Registry) -> None:
    text = (
        MINIMAL.replace("category: work_tracking", "category: chat")
        .replace("auth: {type: bearer}", "auth: {type: bearer, token: '{{ credentials.x }'}")
        .replace("identity_path: $.id", "identity_path: $.id[(")
    ) + '    record_filter: "{{ recrd.open }}"\n    pagination: {type: offset, limit: 5}\n'
    lines = problems_of(tmp_path, text, registry)
    assert [line.split(": ")[0:2] for line in lines] == [
        ["3:11", "category"],
        ["10:33", "auth_modes.token.auth.token"],
        ["13:18", "test_connection.identity_path"],
        ["19:20", "streams.items.record_filter"],
        ["20:32", "streams.items.pagination.limit"],
    ]


def test_file_name_must_match_when_expected(tmp_path: Path, registry: Registry) -> None:
    with pytest.raises(SpecError) as caught:
        load_provider_text(MINIMAL, "providers/other.yaml", registry, expected_name="other")
    assert caught.value.problems == [
        "providers/other.yaml:1:7: name: 'mini' does not match the file name 'other'"
    ]


def test_unreadable_file_is_a_spec_error(tmp_path: Path, registry: Registry) -> None:
    missing = tmp_path / "absent.yaml"
    assert provider_problems(missing, registry) == [
        f"{missing}:1:1: file: cannot read: No such file or directory"
    ]


def test_error_message_is_one_line_with_a_count(tmp_path: Path, registry: Registry) -> None:
    text = MINIMAL.replace("title: Mini\n", "").replace("category: work_tracking\n", "")
    file = tmp_path / "mini.yaml"
    file.write_text(text)
    with pytest.raises(SpecError) as caught:
        load_provider(file, registry)
    assert str(caught.value) == f"{file}:1:1: (top level): field required: title (and 1 more)"
    assert caught.value.render().count("\n") == 1


def test_extract_names_may_not_shadow_what_the_writer_records(
    tmp_path: Path, registry: Registry
) -> None:
    text = MINIMAL + dedent(
        """\
        writes:
          work_item:
            update:
              steps:
                - name: current
                  request: {path: /items/x}
                  extract: {status: "{{ response.state }}"}
        """
    )
    [problem] = problems_of(tmp_path, text, registry)
    assert problem.startswith("25:11: "), problem
    assert "writes.work_item.update.steps[0].extract" in problem
    assert "extract name 'status' is reserved" in problem
