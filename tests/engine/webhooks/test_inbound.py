"""The processor: order of checks, parsing after verification, what is kept for storage,
spec problems found when a declaration is compiled, and the module-level entry point."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

import pytest
from pydantic import ValidationError as PydanticValidationError

from engine.errors import (
    NotFoundError,
    RecordError,
    SpecError,
    ValidationError,
    WebhookRejected,
)
from engine.registry import Registry, StrategyConfig
from engine.spec.models import ProviderSpec, WebhookSpec
from engine.strategies import default_registry
from engine.templating import Templates
from engine.webhooks import (
    InboundRequest,
    VerifiedDelivery,
    WebhookProcessor,
    processor_for,
    verify_and_route,
)
from engine.webhooks.handshakes import Handshake, HandshakeResult
from tests.engine.webhooks.helpers import (
    GITHUB,
    SLACK,
    WebhookOnlyProvider,
    hmac_hex,
    json_of,
    processor,
    provider_from_yaml,
    request,
)

SECRET = "whsec-test"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
HEX = "secret_field: s\nsignature: {type: hmac, header: X-Sig}\n"


def signed(body: bytes, **headers: str) -> InboundRequest:
    return request(body, {"X-Sig": hmac_hex(SECRET.encode(), body), **headers})


def test_unparsable_json_after_a_valid_signature_is_a_validation_error() -> None:
    with pytest.raises(ValidationError, match="the webhook body is not valid JSON") as caught:
        processor(HEX).verify(signed(b'{"truncated": '), SECRET)
    assert caught.value.problems[0].startswith("body: ")


def test_unparsable_json_with_a_bad_signature_is_a_rejection() -> None:
    req = request(b'{"truncated": ', {"X-Sig": "00" * 32})
    with pytest.raises(WebhookRejected, match="signature mismatch"):
        processor(HEX).verify(req, SECRET)


def test_form_and_text_bodies() -> None:
    form = processor(HEX).verify(
        signed(b"a=1&b=&c=x%20y", **{"Content-Type": "application/x-www-form-urlencoded"}), SECRET
    )
    assert isinstance(form, VerifiedDelivery) and form.payload == {"a": "1", "b": "", "c": "x y"}
    text = processor(HEX).verify(signed(b"hello", **{"Content-Type": "text/plain"}), SECRET)
    assert isinstance(text, VerifiedDelivery) and text.payload == "hello"
    empty = processor(HEX).verify(signed(b""), SECRET)
    assert isinstance(empty, VerifiedDelivery) and empty.payload is None


def test_stored_headers_leave_out_signatures_credentials_and_the_secret() -> None:
    body = b'{"a": 1}'
    req = signed(
        body,
        Authorization="Bearer abc",
        Cookie="session=1",
        **{"X-Echo": f"prefix-{SECRET}", "X-GitHub-Event": "issues", "User-Agent": "Hookshot"},
    )
    checked = processor(HEX).verify(req, SECRET, NOW)
    assert isinstance(checked, VerifiedDelivery)
    assert set(checked.headers) == {"Content-Type", "X-GitHub-Event", "User-Agent"}
    assert checked.received_at == NOW


def test_delivery_id_and_event_type_absent_are_none() -> None:
    body = b'{"action": "opened"}'
    req = request(body, {"X-Hub-Signature-256": "sha256=" + hmac_hex(SECRET.encode(), body)})
    outcome = processor(GITHUB).verify_and_route(req, SECRET, NOW)
    assert outcome.delivery is not None
    assert (outcome.delivery.delivery_id, outcome.delivery.event_type) == (None, None)
    assert outcome.kind == "ignored"


def test_request_repr_and_headers_repr_hide_values() -> None:
    req = request(b'{"verification_token": "tok"}', {"X-Hook-Secret": "hidden"})
    assert "hidden" not in repr(req) and "tok" not in repr(req)
    assert "hidden" not in repr(req.headers)
    assert req.headers["x-hook-secret"] == "hidden" and "X-HOOK-SECRET" in req.headers


def test_module_entry_point_reuses_the_compiled_processor() -> None:
    provider = provider_from_yaml(HEX)
    assert processor_for(provider) is processor_for(provider)
    outcome = verify_and_route(provider, signed(b"{}"), SECRET, NOW)
    assert outcome.kind == "ignored"


def test_provider_without_webhooks() -> None:
    provider = provider_from_yaml(HEX)
    bare = WebhookOnlyProvider(
        spec=provider.spec.model_copy(update={"webhooks": None}), templates=Templates()
    )
    with pytest.raises(NotFoundError, match="declares no webhooks"):
        processor_for(bare)


@pytest.mark.parametrize(
    ("yaml", "problem"),
    [
        (
            "secret_field: s\nsignature: {type: hmac, header: X, message: '{{ bdy }}'}\n",
            "webhooks.signature.message: unknown name 'bdy'",
        ),
        (
            "signature: {type: hmac, header: X}\n",
            "webhooks.signature: the scheme needs a secret",
        ),
        (
            "signature: {type: none}\nhandshakes: [{type: echo_header}]\n",
            "webhooks.secret_from_handshake: a handshake stores the secret",
        ),
        (
            "signature: {type: none}\ndelivery_id: '{{ header.id }}'\n",
            "webhooks.delivery_id: unknown name 'header'",
        ),
        (
            "signature: {type: none}\nevents: [{name: a, match: '{{ body }}', action: ack}]\n",
            "webhooks.events[0].match: unknown name 'body'",
        ),
        (
            "signature: {type: none}\nhandshakes: [{type: challenge, when: '{{ paylod.x }}'}]\n",
            "webhooks.handshakes[0].when: unknown name 'paylod'",
        ),
    ],
)
def test_spec_problems_name_their_path(yaml: str, problem: str) -> None:
    with pytest.raises(SpecError) as caught:
        processor(yaml)
    assert any(p.startswith(problem) for p in caught.value.problems), caught.value.problems


def test_all_problems_are_collected() -> None:
    yaml = """
signature: {type: hmac, header: X, message: "{{ nope }}"}
event_type: "{{ nada }}"
events: [{name: a, match: "{{ zip }}", action: ack}]
"""
    with pytest.raises(SpecError) as caught:
        processor(yaml)
    assert len(caught.value.problems) == 4  # message, event_type, match, missing secret


@pytest.mark.parametrize(
    ("webhooks", "message"),
    [
        (
            {"signature": {"type": "hmca", "header": "X"}},
            "unknown signature type 'hmca'; valid: hmac",
        ),
        ({}, "Field required"),
        (
            {"signature": {"type": "none"}, "handshakes": [{"type": "echo"}]},
            "unknown handshake type",
        ),
        ({"signature": {"type": "hmac", "header": "X", "algorithm": "md5"}}, "sha256"),
        ({"signature": {"type": "none"}, "replay_tolerance_seconds": 60}, "go together"),
        (
            {
                "signature": {"type": "none"},
                "events": [{"name": "a", "match": "x", "action": "delete"}],
            },
            "action 'delete' needs stream and records",
        ),
    ],
)
def test_declarations_are_validated_when_loaded(webhooks: dict[str, object], message: str) -> None:
    with pytest.raises(PydanticValidationError, match=message.replace("(", r"\(")):
        WebhookSpec.model_validate(webhooks, context={"registry": default_registry()})


def test_a_registry_can_bring_its_own_handshake() -> None:
    """Strategies come from the registry handed in, never from a module global."""

    class PingPong(Handshake):
        class Config(StrategyConfig):
            type: Literal["ping_pong"] = "ping_pong"
            verify_signature: bool = False

        def applies(self, request: InboundRequest, context: Any) -> bool:
            return request.method == "GET"

        def respond(self, request: InboundRequest, context: Any) -> HandshakeResult:
            return HandshakeResult(body=b"pong", handshake="ping_pong")

    registry: Registry = default_registry()
    registry.register("handshake", PingPong)
    provider = provider_from_yaml(
        "signature: {type: none}\nhandshakes: [{type: ping_pong}]\n", registry=registry
    )
    result = WebhookProcessor(provider, registry=registry).verify(request(method="GET"), None)
    assert isinstance(result, HandshakeResult) and result.body == b"pong"


def test_replay_template_that_reads_nothing_is_rejected() -> None:
    body = b'{"type": "event_callback"}'
    headers = {"X-Slack-Signature": "v0=" + hmac_hex(SECRET.encode(), b"v0:None:" + body)}
    with pytest.raises(WebhookRejected):
        processor(SLACK).verify(request(body, headers), SECRET, NOW)


def test_provider_spec_round_trip_keeps_the_webhooks() -> None:
    spec = provider_from_yaml(SLACK).spec
    dumped = spec.model_dump(mode="json", by_alias=True, exclude_none=True)
    again = ProviderSpec.model_validate(dumped, context={"registry": default_registry()})
    assert again.webhooks == spec.webhooks


LOADED = """
name: tracker
title: Tracker
category: work_tracking
base_url: https://api.tracker.test
auth_modes:
  token:
    title: Token
    fields:
      - {name: accessToken, secret: true}
      - {name: webhookSecret, secret: true, required: false}
    auth: {type: bearer, token: "{{ credentials.accessToken }}"}
test_connection:
  request: {path: /me}
  identity_path: id
streams:
  tasks:
    request: {path: /tasks}
webhooks:
  secret_field: webhookSecret
  signature: {type: hmac, header: X-Sig, prefix: "sha256="}
  event_type: "{{ headers['X-Event'] }}"
  batch: "{{ payload['items'] }}"  # payload.items would be dict.items
  events:
    - name: task
      match: "{{ event_type == 'tasks' and event.kind == 'task' }}"
      stream: tasks
      records: "{{ event }}"
"""


def test_a_provider_from_the_spec_loader_feeds_the_processor() -> None:
    from engine.spec.loader import load_provider_text

    provider = load_provider_text(LOADED, "tracker.yaml")
    body = b'{"items": [{"kind": "task", "id": 1}, {"kind": "note", "id": 2}]}'
    req = request(body, {"X-Event": "tasks", "X-Sig": "sha256=" + hmac_hex(SECRET.encode(), body)})
    outcome = verify_and_route(provider, req, SECRET, NOW)
    assert [(e.name, e.records) for e in outcome.events] == [("task", ({"kind": "task", "id": 1},))]


def test_the_spec_loader_checks_batch_against_routing_names() -> None:
    from engine.spec.loader import load_provider_text

    broken = LOADED.replace("{{ payload['items'] }}", "{{ body['items'] }}")
    with pytest.raises(SpecError, match=r"webhooks\.batch: unknown name 'body'"):
        load_provider_text(broken, "tracker.yaml")


def test_a_batch_that_names_a_dict_method_is_reported() -> None:
    yaml = """
signature: {type: none}
batch: "{{ payload.items }}"
events: [{name: a, match: "{{ true }}", action: ack}]
"""
    with pytest.raises(RecordError, match=r"webhooks.batch yields a method, not data"):
        processor(yaml).verify_and_route(request(b'{"items": [1]}'), None, NOW)


def test_a_naive_now_is_utc() -> None:
    yaml = """
signature: {type: none}
replay_timestamp: "{{ payload.ts }}"
replay_tolerance_seconds: 10
"""
    body = json_of({"ts": int(NOW.timestamp())})
    naive = NOW.replace(tzinfo=None)
    checked = processor(yaml).verify(request(body), None, naive)
    assert isinstance(checked, VerifiedDelivery) and checked.received_at == NOW
