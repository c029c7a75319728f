"""Event routing over real provider payloads (tests/engine/webhooks/data, see SOURCES.md)."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from engine.errors import RecordError
from engine.webhooks import VerifiedDelivery, WebhookOutcome
from tests.engine.webhooks.helpers import (
    ASANA,
    GITHUB,
    JIRA,
    LINEAR,
    MS_GRAPH,
    NOTION,
    TRELLO,
    data,
    hmac_b64,
    hmac_hex,
    json_of,
    processor,
    request,
)

SECRET = "whsec-test"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def github(fixture: str, event: str) -> WebhookOutcome:
    body = data(fixture)
    headers = {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        "X-Hub-Signature-256": "sha256=" + hmac_hex(SECRET.encode(), body),
    }
    return processor(GITHUB).verify_and_route(request(body, headers), SECRET, NOW)


def test_github_issue_opened_upserts_the_issue() -> None:
    outcome = github("github.issues.opened.json", "issues")
    assert outcome.kind == "accepted"
    [event] = outcome.events
    assert (event.name, event.stream, event.action) == ("issue_changed", "issues", "upsert")
    assert event.event_type == "issues"
    assert event.delivery_id == "72d3162e-cc78-11e3-81ab-4c9367dc0958"
    [issue] = event.records
    assert issue == orjson.loads(data("github.issues.opened.json"))["issue"]


def test_github_first_match_wins_for_deleted() -> None:
    [event] = github("github.issues.deleted.json", "issues").events
    assert (event.name, event.action) == ("issue_deleted", "delete")
    assert (
        event.records[0]["number"]
        == orjson.loads(data("github.issues.deleted.json"))["issue"]["number"]
    )


def test_github_comment_created() -> None:
    [event] = github("github.issue_comment.created.json", "issue_comment").events
    assert (event.name, event.stream) == ("comment_created", "comments")
    assert "body" in event.records[0]


def test_github_ping_is_acknowledged_with_nothing_to_apply() -> None:
    outcome = github("github.ping.json", "ping")
    assert outcome.kind == "ignored" and outcome.status == 200
    [event] = outcome.events
    assert (event.name, event.action, event.records, event.applies) == ("ping", "ack", (), False)
    assert outcome.reason == "nothing to apply: ping (ack)"


def test_github_push_matches_nothing_and_is_ignored() -> None:
    outcome = github("github.push.json", "push")
    assert outcome.kind == "ignored" and outcome.events == ()
    assert outcome.reason == "no webhook event matches (event type push)"
    assert outcome.delivery is not None and outcome.delivery.payload["ref"]


@pytest.mark.parametrize(
    ("fixture", "name", "stream", "action", "record_key"),
    [
        ("jira.issue_created.json", "issue_changed", "issues", "upsert", "key"),
        ("jira.issue_deleted.json", "issue_deleted", "issues", "delete", "key"),
        ("jira.comment_created.json", "comment_created", "comments", "upsert", "body"),
    ],
)
def test_jira_events(fixture: str, name: str, stream: str, action: str, record_key: str) -> None:
    body = data(fixture)
    headers = {"X-Hub-Signature": "sha256=" + hmac_hex(SECRET.encode(), body)}
    outcome = processor(JIRA).verify_and_route(request(body, headers), SECRET, NOW)
    [event] = outcome.events
    assert (event.name, event.stream, event.action) == (name, stream, action)
    assert record_key in event.records[0]
    assert event.event_type == orjson.loads(body)["webhookEvent"]
    assert event.delivery_id is None  # these deliveries carry no X-Atlassian-Webhook-Identifier


def linear(fixture: str) -> WebhookOutcome:
    body = data(fixture)
    sent_at = orjson.loads(body)["webhookTimestamp"] / 1000
    headers = {
        "Linear-Signature": hmac_hex(SECRET.encode(), body),
        "Linear-Delivery": "d2c5e3a4-0000-4000-8000-000000000001",
    }
    now = datetime.fromtimestamp(sent_at + 5, tz=UTC)
    return processor(LINEAR).verify_and_route(request(body, headers), SECRET, now)


@pytest.mark.parametrize(
    ("fixture", "name", "action", "event_type"),
    [
        ("linear.issue_create.json", "issue_changed", "upsert", "Issue.create"),
        ("linear.issue_remove.json", "issue_removed", "delete", "Issue.remove"),
        ("linear.comment_create.json", "comment_changed", "upsert", "Comment.create"),
    ],
)
def test_linear_events(fixture: str, name: str, action: str, event_type: str) -> None:
    outcome = linear(fixture)
    [event] = outcome.events
    assert (event.name, event.action, event.event_type) == (name, action, event_type)
    assert event.records[0]["id"] == orjson.loads(data(fixture))["data"]["id"]
    assert event.delivery_id == "d2c5e3a4-0000-4000-8000-000000000001"


def test_notion_page_created_refetches_the_page() -> None:
    body = data("notion.page_created.json")
    headers = {"X-Notion-Signature": "sha256=" + hmac_hex(SECRET.encode(), body)}
    outcome = processor(NOTION).verify_and_route(request(body, headers), SECRET, NOW)
    [event] = outcome.events
    assert (event.name, event.action, event.stream) == ("page_changed", "refetch", "pages")
    assert event.records == ({"id": "153104cd-477e-809d-8dc4-ff2d96ae3090", "type": "page"},)
    assert event.delivery_id == "367cba44-b6f3-4c92-81e7-6a2e9659efd4"


def test_trello_card_moved_refetches_the_card() -> None:
    body = data("trello.changing_cards_list.json")
    url = "https://kiro.test/webhooks/int-1"
    headers = {"X-Trello-Webhook": hmac_b64(SECRET.encode(), body + url.encode(), "sha1")}
    outcome = processor(TRELLO).verify_and_route(request(body, headers, url=url), SECRET, NOW)
    [event] = outcome.events
    assert (event.name, event.event_type, event.delivery_id) == (
        "card_changed",
        "updateCard",
        "572a340644ed9c7d8b6f9a30",
    )
    assert event.records[0]["id"] == "53582e2da0fac5676a71427f"


# Asana's delivery shape, from its developer docs (PROVIDERS.md, Asana "webhook delivery")
ASANA_BATCH = {
    "events": [
        {
            "user": {"gid": "1516", "resource_type": "user"},
            "created_at": "2025-01-31T14:05:12.147Z",
            "action": "changed",
            "resource": {
                "gid": "12345",
                "resource_type": "task",
                "resource_subtype": "default_task",
            },
            "parent": None,
            "change": {"field": "assignee", "action": "changed"},
        },
        {
            "action": "added",
            "resource": {
                "gid": "777",
                "resource_type": "story",
                "resource_subtype": "comment_added",
            },
            "parent": {"gid": "12345", "resource_type": "task"},
        },
        {"action": "deleted", "resource": {"gid": "999", "resource_type": "task"}},
        {"action": "changed", "resource": {"gid": "5", "resource_type": "project"}},
    ]
}


def test_asana_batch_routes_each_event_on_its_own() -> None:
    body = json_of(ASANA_BATCH)
    headers = {"X-Hook-Signature": hmac_hex(SECRET.encode(), body)}
    outcome = processor(ASANA).verify_and_route(request(body, headers), SECRET, NOW)
    assert outcome.kind == "accepted"
    routed = [(e.name, e.action, e.records[0]["gid"]) for e in outcome.events]
    assert routed == [
        ("task_changed", "refetch", "12345"),
        ("story_added", "refetch", "777"),
        ("task_deleted", "delete", "999"),
    ]  # the project event matches nothing and is left out
    import hashlib

    assert {e.delivery_id for e in outcome.events} == {hashlib.sha256(body).hexdigest()}


def test_graph_batch_routes_each_notification() -> None:
    notification = orjson.loads(data("msgraph.notification.json"))
    deleted = {**notification["value"][0], "changeType": "deleted", "id": "x2"}
    body = json_of({"value": [notification["value"][0], deleted]})
    outcome = processor(MS_GRAPH).verify_and_route(request(body), "secretClientValue", NOW)
    assert [(e.name, e.action) for e in outcome.events] == [
        ("message_changed", "refetch"),
        ("message_deleted", "delete"),
    ]
    assert outcome.events[0].records[0]["id"] == "{long_id_string}"


def test_records_missing_from_a_matched_payload_is_a_record_error() -> None:
    yaml = """
signature: {type: none}
events:
  - name: issue
    match: "{{ payload.kind == 'issue' }}"
    stream: issues
    records: "{{ payload.issue.fields }}"
"""
    with pytest.raises(RecordError, match="webhook event 'issue': the payload lacks its records"):
        processor(yaml).verify_and_route(request(b'{"kind": "issue"}'), None, NOW)


def test_a_stored_delivery_routes_the_same_later() -> None:
    """The worker routes from what webhook_logs keeps: payload, event type, delivery id."""
    first = github("github.issues.opened.json", "issues")
    assert first.delivery is not None
    stored = orjson.loads(orjson.dumps(first.delivery.to_dict()))
    again = processor(GITHUB).route(VerifiedDelivery.from_dict(stored))
    assert list(first.events) == again
    bare = VerifiedDelivery(payload=first.delivery.payload, event_type="issues")
    assert [e.name for e in processor(GITHUB).route(bare)] == ["issue_changed"]


def test_relay_reads_type_and_id_from_the_payload() -> None:
    payload = orjson.loads(data("jira.issue_created.json"))
    delivery = processor(JIRA).relay(payload, now=NOW)
    assert (delivery.event_type, delivery.received_at) == ("jira:issue_created", NOW)
    [event] = processor(JIRA).route(delivery)
    assert event.records[0]["key"] == payload["issue"]["key"]
    assert processor(JIRA).relay(payload, event_type="jira:issue_deleted").event_type == (
        "jira:issue_deleted"
    )
