"""Handshakes: Slack's challenge (signed), Asana's X-Hook-Secret echo, Graph's validationToken,
Trello's HEAD and Notion's verification_token, through the same processor as deliveries."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from engine.errors import WebhookRejected
from engine.webhooks import HandshakeResult, VerifiedDelivery
from tests.engine.webhooks.helpers import (
    ASANA,
    MS_GRAPH,
    NOTION,
    SLACK,
    TRELLO,
    data,
    hmac_hex,
    processor,
    request,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def slack_headers(secret: str, body: bytes, timestamp: int) -> dict[str, str]:
    base = f"v0:{timestamp}:".encode() + body
    return {
        "X-Slack-Request-Timestamp": str(timestamp),
        "X-Slack-Signature": "v0=" + hmac_hex(secret.encode(), base),
    }


def test_slack_challenge_answers_the_challenge_as_json() -> None:
    body = data("slack.url_verification.json")
    headers = slack_headers("signing", body, int(NOW.timestamp()))
    outcome = processor(SLACK).verify_and_route(request(body, headers), "signing", NOW)
    assert outcome.kind == "handshake" and outcome.status == 200
    assert outcome.handshake is not None
    assert outcome.handshake.content_type == "application/json"
    challenge = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    assert orjson.loads(outcome.handshake.body) == {"challenge": challenge}
    assert outcome.secret_to_store is None


def test_slack_challenge_is_signed() -> None:
    body = data("slack.url_verification.json")
    forged = slack_headers("not-the-secret", body, int(NOW.timestamp()))
    with pytest.raises(WebhookRejected, match="signature mismatch"):
        processor(SLACK).verify(request(body, forged), "signing", NOW)
    stale = slack_headers("signing", body, int(NOW.timestamp()) - 600)
    with pytest.raises(WebhookRejected, match="tolerance 300 s"):
        processor(SLACK).verify(request(body, stale), "signing", NOW)


def test_challenge_as_text() -> None:
    yaml = """
signature: {type: none}
handshakes:
  - {type: challenge, respond_as: text, verify_signature: false}
"""
    body = b'{"type": "url_verification", "challenge": "abc123"}'
    result = processor(yaml).verify(request(body), None)
    assert isinstance(result, HandshakeResult)
    assert (result.body, result.content_type) == (b"abc123", "text/plain; charset=utf-8")
    assert result.headers["X-Content-Type-Options"] == "nosniff"


def test_slack_event_callback_is_not_a_handshake() -> None:
    body = data("slack.event_callback.message.json")
    headers = slack_headers("signing", body, int(NOW.timestamp()))
    outcome = processor(SLACK).verify_and_route(request(body, headers), "signing", NOW)
    assert outcome.kind == "accepted"
    assert outcome.delivery is not None and outcome.delivery.delivery_id == "Ev079SP4TP1P"
    [event] = outcome.events
    assert (event.name, event.event_type, event.records[0]["type"]) == (
        "message",
        "message",
        "message",
    )


ASANA_SECRET = "b537207f20cbfa02357cf448134da559e8bd39d61597dcd5631b8012eae53e81"


def test_asana_handshake_echoes_the_secret_and_hands_it_over() -> None:
    outcome = processor(ASANA).verify_and_route(
        request(b"", {"X-Hook-Secret": ASANA_SECRET}), None, NOW
    )
    assert outcome.kind == "handshake" and outcome.status == 200
    assert outcome.handshake is not None
    assert outcome.handshake.headers == {"X-Hook-Secret": ASANA_SECRET}
    assert outcome.secret_to_store == ASANA_SECRET
    assert ASANA_SECRET not in repr(outcome)


def test_asana_first_delivery_is_signed_with_the_handshake_secret() -> None:
    asana = processor(ASANA)
    result = asana.verify(request(b"", {"X-Hook-Secret": ASANA_SECRET}), None, NOW)
    assert isinstance(result, HandshakeResult)
    heartbeat = b'{"events":[]}'
    signed = {"X-Hook-Signature": hmac_hex(ASANA_SECRET.encode(), heartbeat)}
    outcome = asana.verify_and_route(request(heartbeat, signed), result.secret_to_store, NOW)
    assert outcome.kind == "ignored" and outcome.events == ()


def test_asana_handshake_cannot_replace_a_stored_secret() -> None:
    attacker = request(b"", {"X-Hook-Secret": "attacker-chosen"})
    with pytest.raises(WebhookRejected, match="already has a webhook secret"):
        processor(ASANA).verify(attacker, ASANA_SECRET, NOW)
    replacing = ASANA.replace(
        "{type: echo_header, header: X-Hook-Secret}",
        "{type: echo_header, header: X-Hook-Secret, replace_stored_secret: true}",
    )
    result = processor(replacing).verify(attacker, ASANA_SECRET, NOW)
    assert isinstance(result, HandshakeResult) and result.secret_to_store == "attacker-chosen"


def test_graph_validation_token_is_echoed_url_decoded_as_text() -> None:
    token = "Validation: Testing client application reachability for subscription Request-Id: 8f1c"
    url = (
        "https://kiro.test/webhooks/int-1?validationToken=Validation%3A+Testing+client+application"
        "+reachability+for+subscription+Request-Id%3A+8f1c"
    )
    req = request(b"", {"Content-Type": "text/plain; charset=utf-8"}, url=url)
    outcome = processor(MS_GRAPH).verify_and_route(req, "client-state", NOW)
    assert outcome.kind == "handshake" and outcome.handshake is not None
    assert outcome.handshake.body == token.encode()
    assert outcome.handshake.content_type == "text/plain; charset=utf-8"


def test_graph_validation_token_with_control_characters_is_refused() -> None:
    req = request(
        b"", url="https://kiro.test/webhooks/int-1?validationToken=a%0D%0ASet-Cookie%3A+x"
    )
    with pytest.raises(WebhookRejected, match="handshake query validationToken is malformed"):
        processor(MS_GRAPH).verify(req, "client-state", NOW)


def test_trello_head_is_answered_and_a_head_is_not_a_delivery_elsewhere() -> None:
    outcome = processor(TRELLO).verify_and_route(request(method="HEAD"), "secret", NOW)
    assert outcome.kind == "handshake" and outcome.status == 200
    assert outcome.handshake is not None and outcome.handshake.body == b""
    github_like = "secret_field: s\nsignature: {type: hmac, header: X-Sig}\n"
    with pytest.raises(WebhookRejected, match="missing signature header"):
        processor(github_like).verify(request(method="HEAD"), "secret", NOW)


def test_notion_verification_token_becomes_the_secret() -> None:
    body = data("notion.verification.json")
    token = "secret_tMrlL1qK5vuQAh1b6cZGhFChZTSYJlce98V0pYn7yBl"
    notion = processor(NOTION)
    outcome = notion.verify_and_route(request(body), None, NOW)
    assert outcome.kind == "handshake" and outcome.secret_to_store == token
    with pytest.raises(WebhookRejected, match="already has a webhook secret"):
        notion.verify(request(body), token, NOW)
    # from now on deliveries are signed with it
    event = data("notion.page_created.json")
    signed = {"X-Notion-Signature": "sha256=" + hmac_hex(token.encode(), event)}
    checked = notion.verify(request(event, signed), token, NOW)
    assert isinstance(checked, VerifiedDelivery) and checked.event_type == "page.created"


def test_handshakes_run_in_declared_order() -> None:
    yaml = """
secret_from_handshake: true
signature: {type: hmac, header: X-Sig}
handshakes:
  - {type: validation_token}
  - {type: echo_header}
"""
    req = request(b"", {"X-Hook-Secret": "h"}, url="https://kiro.test/w?validationToken=v")
    result = processor(yaml).verify(req, None, NOW)
    assert isinstance(result, HandshakeResult) and result.handshake == "validation_token"
