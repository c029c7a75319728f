"""Inbound and outbound mapping with the bundled GitHub and Jira mappings, on real payloads."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from engine.catalog import ProviderCatalog
from engine.config import parse_config
from engine.errors import RecordError, ValidationError
from engine.mapping import Mapping, UserRef, build_item, load_mapping, load_mapping_text, map_record
from engine.mapping.fields import canonical
from tests.simulators.base import load_fixture

CONFIG = parse_config({"filters": {"projects": ["KAN"]}}).wire()


def bundled(name: str) -> Mapping:
    catalog = ProviderCatalog.default()
    path = catalog.mapping_path(name)
    assert path is not None
    return load_mapping(path, catalog.get(name).spec)


def test_github_issue_maps_to_a_work_item() -> None:
    issue = load_fixture("github/rest/issue.json")
    mapped = map_record(bundled("github").streams["issues"], issue, config=CONFIG)
    assert mapped.external_id == "viictoo/api-playground2#1"
    assert mapped.url == "https://github.com/viictoo/api-playground2/issues/1"
    assert mapped.remote_updated_at == datetime(2026, 4, 29, 10, 20, 19, tzinfo=UTC)
    assert mapped.values == {
        "title": "Test update from Nango action",
        "description": "Calling greet('') raises ValueError. Tracking for hardening.",
        "status": "To Do",
        "tags": ["bug"],
        "due_date": None,  # the milestone's due date (this issue has no milestone)
        "assignee_id": None,
    }


def test_github_webhook_issues_map_the_same_way_and_users_fall_back() -> None:
    stream = bundled("github").streams["issues"]
    closed = load_fixture("github/webhooks/issues.closed.json")
    mapped = map_record(stream, closed["issue"], config=CONFIG)
    assert mapped.external_id == f"Pritesh-30/test-repo#{closed['issue']['number']}"
    assert mapped.values["status"] == "Done"
    assert mapped.values["assignee_id"] is None
    opened = load_fixture("github/webhooks/issues.opened.json")
    assignee = opened["issue"]["assignee"]
    mapped = map_record(stream, opened["issue"], config=CONFIG)
    expected = f"{assignee['id']}+codertocat@users.noreply.github.com"
    assert mapped.values["assignee_id"] == UserRef(expected, "Codertocat")


def test_github_comment_points_at_its_issue() -> None:
    comment = load_fixture("github/rest/issue-comment.json")
    mapped = map_record(bundled("github").streams["comments"], comment, config=CONFIG)
    owner_repo, number = comment["issue_url"].split("/repos/")[1].split("/issues/")
    assert mapped.work_item_external_id == f"{owner_repo}#{number}"
    assert mapped.values["body"] == comment["body"]


def test_jira_issue_reads_under_its_field_root_with_value_maps() -> None:
    issue = load_fixture("jira/rest/issue.json")
    issue["fields"]["priority"] = {"name": "Highest"}
    issue["fields"]["labels"] = ["backend", "urgent-fix"]
    issue["fields"]["duedate"] = "2026-05-01"
    issue["fields"]["description"] = {
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Steps"}]}],
    }
    mapped = map_record(bundled("jira").streams["issues"], issue, config=CONFIG)
    assert mapped.external_id == "10006"
    assert mapped.key == "KAN-5"
    assert mapped.values["priority"] == "urgent"
    assert mapped.values["tags"] == ["backend", "urgent-fix"]
    assert mapped.values["description"] == "Steps"
    assert mapped.values["due_date"] == datetime(2026, 5, 1, tzinfo=UTC)
    assert mapped.values["type"] == "Task"
    assert mapped.url is not None and mapped.url.endswith("/browse/KAN-5")


def test_unknown_status_keeps_its_name_and_unmapped_priority_uses_the_default() -> None:
    text = """provider: acme
streams:
  issues:
    entity: work_item
    fields:
      title: {path: title}
      status: {path: state}
      priority: {path: prio, values: {P1: urgent, P2: high}, default: medium}
"""
    stream = load_mapping_text(text).streams["issues"]
    mapped = map_record(stream, {"id": 7, "title": "x", "state": "Review", "prio": "P9"}, config={})
    assert mapped.values["status"] == "Review"
    assert mapped.values["priority"] == "medium"
    nothing = map_record(stream, {"id": 8, "title": "y"}, config={})
    assert nothing.values["status"] == "To Do"
    assert nothing.values["priority"] == "medium"


def test_a_record_that_cannot_be_mapped_is_a_record_error() -> None:
    stream = bundled("github").streams["issues"]
    issue = load_fixture("github/rest/issue.json")
    with pytest.raises(RecordError, match=r"issues viictoo/api-playground2#1: title is empty"):
        map_record(stream, {**issue, "title": ""}, config=CONFIG)
    with pytest.raises(RecordError, match="issues: no id"):
        map_record(stream, {"title": "x"}, config=CONFIG)
    text = """provider: acme
streams:
  issues:
    entity: work_item
    fields:
      title: {path: title}
      priority: {path: prio}
"""
    acme = load_mapping_text(text).streams["issues"]
    with pytest.raises(RecordError, match="priority 'P9' is not one of low, medium"):
        map_record(acme, {"id": 1, "title": "x", "prio": "P9"}, config={})


def test_option_gated_fields_are_read_only_when_the_option_is_on() -> None:
    text = """provider: acme
streams:
  issues:
    entity: work_item
    fields:
      title: {path: title}
      custom.attachments: {path: files, direction: inbound_only, option: includeAttachments}
"""
    stream = load_mapping_text(text).streams["issues"]
    record = {"id": 1, "title": "x", "files": [{"name": "a.png", "size": 3}]}
    off = map_record(stream, record, config={}, options=set())
    on = map_record(stream, record, config={}, options={"includeAttachments"})
    assert "custom.attachments" not in off.values
    assert on.values["custom.attachments"] == [{"name": "a.png", "size": 3}]


def item_for(mapping: Mapping, values: dict[str, Any], changed: list[str] | None) -> dict[str, Any]:
    stream = mapping.export_stream("work_item")
    assert stream is not None
    full = {f.name: canonical(f.kiro, values.get(f.name)) for f in stream.fields.values()}
    return build_item(
        stream,
        kiro_id="w-1",
        project_id="p-1",
        values=full,
        changed=changed,
        emails={"u-1": "ada@example.com"},
        config=CONFIG,
    )


def test_github_create_body_holds_every_outbound_field() -> None:
    values = {"title": "Crash", "description": "Boom", "status": "In Progress", "tags": ["b", "a"]}
    item = item_for(bundled("github"), values, None)
    assert item["operation"] == "create"
    assert item["body"] == {"title": "Crash", "body": "Boom", "state": "open", "labels": ["a", "b"]}
    assert "assignee_id" not in item["changed"]  # inbound only


def test_github_update_body_holds_only_the_changed_fields() -> None:
    item = item_for(bundled("github"), {"title": "T", "status": "Done"}, ["status"])
    assert item["body"] == {"state": "closed"}
    assert item["changed"] == ["status"]
    assert item["external"]["title"] == "T"


def test_jira_body_is_adf_and_status_travels_outside_it() -> None:
    values = {
        "title": "Crash",
        "description": "Line one\nline two\n\nSecond",
        "status": "In Progress",
        "priority": None,
        "due_date": datetime(2026, 5, 1, tzinfo=UTC),
    }
    item = item_for(bundled("jira"), values, None)
    body = item["body"]
    assert body["project"] == {"key": "KAN"}
    assert body["summary"] == "Crash"
    assert body["priority"] == {"name": "Medium"}  # outbound_default for none
    assert body["issuetype"] == {"name": "Task"}
    assert body["duedate"] == "2026-05-01"
    assert "status" not in body
    assert item["external"]["status"] == "In Progress"
    assert body["description"]["type"] == "doc"
    assert len(body["description"]["content"]) == 2
    update = item_for(bundled("jira"), values, ["status"])
    assert update["body"] == {}


def test_round_trips_follow_the_value_maps() -> None:
    github = bundled("github").streams["issues"].fields
    assert github["status"].roundtrip("In Progress") == "To Do"
    assert github["status"].roundtrip("Done") == "Done"
    assert github["title"].roundtrip("Same") == "Same"
    jira = bundled("jira").streams["issues"].fields
    assert jira["priority"].roundtrip(None) == "medium"
    assert jira["priority"].roundtrip("urgent") == "urgent"
    assert jira["type"].roundtrip(None) == "Task"


def test_field_mappings_override_and_extend_the_defaults() -> None:
    mapping = bundled("jira").with_field_mappings(
        {"customfield_10016": "custom.story_points", "environment": "description"}
    )
    stream = mapping.streams["issues"]
    issue = load_fixture("jira/rest/issue.json")
    issue["fields"].update(customfield_10016=5, environment="prod only")
    mapped = map_record(stream, issue, config=CONFIG)
    assert mapped.values["custom.story_points"] == 5
    assert mapped.values["description"] == "prod only"  # overridden: no longer ADF
    values = {"title": "x", "custom.story_points": 8, "description": "staging"}
    item = item_for(mapping, values, ["custom.story_points", "description"])
    assert item["body"] == {"customfield_10016": 8, "environment": "staging"}
    # the default mapping is untouched
    assert "custom.story_points" not in bundled("jira").streams["issues"].fields


def test_bad_field_mappings_name_the_offending_key() -> None:
    with pytest.raises(ValidationError) as caught:
        bundled("jira").with_field_mappings(
            {"summary": "titel", "labels[?(@ ==": "tags", "priority.name": "priority"}
        )
    problems = caught.value.problems
    assert any(p.startswith("config.fieldMappings.summary: unknown Kiro") for p in problems)
    assert any(
        p.startswith("config.fieldMappings.labels[?(@ ==: invalid JSONPath") for p in problems
    )
    assert len(problems) == 2


def test_outbound_only_fields_go_out_but_are_never_read() -> None:
    text = """provider: acme
streams:
  issues:
    entity: work_item
    deleted_when: "{{ record.archived }}"
    fields:
      title: {path: title}
      custom.kiro_url: {path: meta.kiro_url, direction: outbound_only}
"""
    stream = load_mapping_text(text).streams["issues"]
    mapped = map_record(
        stream, {"id": 1, "title": "x", "archived": False, "meta": {"kiro_url": "u"}}, config={}
    )
    assert "custom.kiro_url" not in mapped.values
    assert mapped.deleted is False
    assert map_record(stream, {"id": 2, "title": "y", "archived": True}, config={}).deleted
    item = build_item(
        stream,
        kiro_id="w",
        project_id="p",
        values={"title": "x", "custom.kiro_url": "https://kiro/w"},
        changed=["custom.kiro_url"],
        emails={},
        config={},
    )
    assert item["body"] == {"meta": {"kiro_url": "https://kiro/w"}}
