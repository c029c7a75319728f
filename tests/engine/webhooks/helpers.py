"""Webhook declarations as providers write them in YAML, and helpers to build requests.

The YAML blocks below follow docs/webhooks.md and /work/shared/PROVIDERS.md (signature
cheat-sheet); tests build a provider from them exactly as the loader would validate them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from ruamel.yaml import YAML

from engine.registry import Registry
from engine.spec.models import ProviderSpec
from engine.strategies import default_registry
from engine.templating import Templates
from engine.webhooks import InboundRequest, WebhookProcessor

DATA = Path(__file__).parent / "data"


def data(name: str) -> bytes:
    """A real provider payload, as raw bytes (copied into tests/engine/webhooks/data)."""
    return (DATA / name).read_bytes()


@dataclass(frozen=True)
class WebhookOnlyProvider:
    """The two attributes the processor reads of a loaded provider."""

    spec: ProviderSpec
    templates: Templates


def provider_from_yaml(webhooks_yaml: str, registry: Registry | None = None) -> WebhookOnlyProvider:
    webhooks = YAML(typ="safe").load(io.StringIO(webhooks_yaml))
    document = {
        "name": "acme",
        "title": "Acme",
        "category": "work_tracking",
        "base_url": "https://api.acme.test",
        "auth_modes": {},
        "test_connection": {"request": {"path": "/me"}, "identity_path": "id"},
        "streams": {},
        "webhooks": webhooks,
    }
    context = {"registry": registry or default_registry()}
    spec = ProviderSpec.model_validate(document, context=context)
    return WebhookOnlyProvider(spec=spec, templates=Templates())


def processor(webhooks_yaml: str) -> WebhookProcessor:
    return WebhookProcessor(provider_from_yaml(webhooks_yaml))


def request(
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    method: str = "POST",
    url: str = "https://kiro.test/webhooks/int-1",
) -> InboundRequest:
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    return InboundRequest.build(method, url, all_headers, body)


def hmac_hex(key: bytes, message: bytes, digest: str = "sha256") -> str:
    return hmac.new(key, message, getattr(hashlib, digest)).hexdigest()


def hmac_b64(key: bytes, message: bytes, digest: str = "sha256") -> str:
    return base64.b64encode(hmac.new(key, message, getattr(hashlib, digest)).digest()).decode()


def flip_byte(body: bytes, index: int = 0) -> bytes:
    """``body`` with one byte changed (and still the same length)."""
    changed = bytearray(body)
    changed[index] ^= 0x01
    return bytes(changed)


GITHUB = """
secret_field: webhookSecret
signature: {type: hmac, header: X-Hub-Signature-256, prefix: "sha256="}
delivery_id: "{{ headers['X-GitHub-Delivery'] }}"
event_type: "{{ headers['X-GitHub-Event'] }}"
events:
  - name: ping
    match: "{{ event_type == 'ping' }}"
    action: ack
  - name: issue_deleted
    match: "{{ event_type == 'issues' and payload.action == 'deleted' }}"
    stream: issues
    records: "{{ payload.issue }}"
    action: delete
  - name: issue_changed
    match: "{{ event_type == 'issues' }}"
    stream: issues
    records: "{{ payload.issue }}"
  - name: comment_created
    match: "{{ event_type == 'issue_comment' and payload.action == 'created' }}"
    stream: comments
    records: "{{ payload.comment }}"
"""

JIRA = """
secret_field: webhookSecret
signature: {type: hmac, header: X-Hub-Signature, prefix: "sha256="}
delivery_id: "{{ headers['X-Atlassian-Webhook-Identifier'] }}"
event_type: "{{ payload.webhookEvent }}"
events:
  - name: issue_deleted
    match: "{{ event_type == 'jira:issue_deleted' }}"
    stream: issues
    records: "{{ payload.issue }}"
    action: delete
  - name: issue_changed
    match: "{{ event_type in ['jira:issue_created', 'jira:issue_updated'] }}"
    stream: issues
    records: "{{ payload.issue }}"
  - name: comment_created
    match: "{{ event_type == 'comment_created' }}"
    stream: comments
    records: "{{ payload.comment }}"
"""

SLACK = """
secret_field: signingSecret
signature:
  type: hmac
  header: X-Slack-Signature
  prefix: "v0="
  message: "v0:{{ headers['X-Slack-Request-Timestamp'] }}:{{ body }}"
replay_timestamp: "{{ headers['X-Slack-Request-Timestamp'] }}"
replay_tolerance_seconds: 300
handshakes:
  - {type: challenge}
delivery_id: "{{ payload.event_id }}"
event_type: "{{ payload.event.type if payload.type == 'event_callback' else payload.type }}"
events:
  - name: message
    match: "{{ event_type == 'message' }}"
    stream: messages
    records: "{{ payload.event }}"
"""

TRELLO = """
secret_field: clientSecret
signature:
  type: hmac
  header: X-Trello-Webhook
  algorithm: sha1
  encoding: base64
  message: "{{ body }}{{ url }}"
handshakes:
  - {type: head_ok}
delivery_id: "{{ payload.action.id }}"
event_type: "{{ payload.action.type }}"
events:
  - name: card_changed
    match: "{{ event_type in ['createCard', 'updateCard'] }}"
    stream: cards
    records: "{{ payload.action.data.card }}"
    action: refetch
"""

ASANA = """
secret_from_handshake: true
signature: {type: hmac, header: X-Hook-Signature}
handshakes:
  - {type: echo_header, header: X-Hook-Secret}
delivery_id: "{{ body | sha256 }}"
batch: "{{ payload.events }}"
events:
  - name: task_deleted
    match: "{{ event.resource.resource_type == 'task' and event.action == 'deleted' }}"
    stream: tasks
    records: "{{ event.resource }}"
    action: delete
  - name: task_changed
    match: "{{ event.resource.resource_type == 'task' }}"
    stream: tasks
    records: "{{ event.resource }}"
    action: refetch
  - name: story_added
    match: "{{ event.resource.resource_type == 'story' and event.action == 'added' }}"
    stream: comments
    records: "{{ event.resource }}"
    action: refetch
"""

LINEAR = """
secret_field: webhookSecret
signature: {type: hmac, header: Linear-Signature}
replay_timestamp: "{{ payload.webhookTimestamp }}"
replay_tolerance_seconds: 60
delivery_id: "{{ headers['Linear-Delivery'] }}"
event_type: "{{ payload.type }}.{{ payload.action }}"
events:
  - name: issue_removed
    match: "{{ event_type == 'Issue.remove' }}"
    stream: issues
    records: "{{ payload.data }}"
    action: delete
  - name: issue_changed
    match: "{{ payload.type == 'Issue' }}"
    stream: issues
    records: "{{ payload.data }}"
  - name: comment_changed
    match: "{{ payload.type == 'Comment' and payload.action != 'remove' }}"
    stream: comments
    records: "{{ payload.data }}"
"""

NOTION = """
secret_from_handshake: true
signature: {type: hmac, header: X-Notion-Signature, prefix: "sha256="}
handshakes:
  - {type: verification_token}
delivery_id: "{{ payload.id }}"
event_type: "{{ payload.type }}"
events:
  - name: page_deleted
    match: "{{ event_type == 'page.deleted' }}"
    stream: pages
    records: "{{ payload.entity }}"
    action: delete
  - name: page_changed
    match: "{{ event_type.startswith('page.') }}"
    stream: pages
    records: "{{ payload.entity }}"
    action: refetch
"""

TEAMS_OUTGOING = """
secret_field: webhookSecret
signature:
  type: hmac
  header: Authorization
  prefix: "HMAC "
  encoding: base64
  key_encoding: base64
event_type: "{{ payload.type }}"
events:
  - name: mention
    match: "{{ event_type == 'message' }}"
    stream: messages
    records: "{{ payload }}"
"""

MS_GRAPH = """
secret_field: clientState
signature:
  type: shared_secret
  value: "{{ payload.value | map(attribute='clientState') | list }}"
handshakes:
  - {type: validation_token}
batch: "{{ payload.value }}"
events:
  - name: message_deleted
    match: "{{ event.changeType == 'deleted' }}"
    stream: messages
    records: "{{ event.resourceData }}"
    action: delete
  - name: message_changed
    match: "{{ event.changeType in ['created', 'updated'] }}"
    stream: messages
    records: "{{ event.resourceData }}"
    action: refetch
"""

PROVIDERS: dict[str, str] = {
    "github": GITHUB,
    "jira": JIRA,
    "slack": SLACK,
    "trello": TRELLO,
    "asana": ASANA,
    "linear": LINEAR,
    "notion": NOTION,
    "teams_outgoing": TEAMS_OUTGOING,
    "ms_graph": MS_GRAPH,
}


def json_of(value: Any) -> bytes:
    return orjson.dumps(value)
