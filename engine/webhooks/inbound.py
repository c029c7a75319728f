"""The inbound webhook processor: handshake, signature, replay window, ids, routing.

::

    processor = WebhookProcessor(provider)              # compiles once; SpecError if invalid
    outcome = processor.verify_and_route(request, secret, now)
    # or, for a durable queue: verify at receipt, route in the worker
    checked = processor.verify(request, secret, now)    # HandshakeResult | VerifiedDelivery
    events = processor.route(delivery)                   # list[WebhookEvent]

Order of checks, first failure wins:

1. handshakes, in declared order: the first that applies answers (after the signature check
   when it declares ``verify_signature``); one that hands over a secret is refused while a
   secret is stored, unless it declares ``replace_stored_secret``;
2. the signature (``WebhookRejected``: answer 401, store nothing); a scheme that needs a
   secret and gets none fails with "no webhook secret configured";
3. the replay window, when declared;
4. the body must parse (``parse_payload``: JSON unless the content type says form or text):
   ``ValidationError`` otherwise, only ever after the signature held;
5. delivery id and event type are read (absent values are None);
6. routing (``engine.webhooks.routing``): no event matched -> an ``ignored`` outcome.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol
from urllib.parse import parse_qsl

import orjson

from engine.errors import NotFoundError, SpecError, ValidationError, WebhookRejected
from engine.registry import Registry, StrategyConfig
from engine.spec.models import ProviderSpec, WebhookSpec
from engine.templating import CompiledTemplate, Templates
from engine.webhooks.handshakes import Handshake, HandshakeResult
from engine.webhooks.replay import check_replay_window
from engine.webhooks.request import Headers, InboundRequest, text_of
from engine.webhooks.routing import EventRouter, WebhookEvent
from engine.webhooks.signatures import SignatureScheme, require_secret
from engine.webhooks.templates import PlaceProblem, as_text, compile_optional, render_soft
from engine.wire import MAX_JSON_DEPTH, json_problem, without_nul

NEVER_STORED_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})


class WebhookProvider(Protocol):
    """What the processor needs of a loaded provider (``engine.provider.Provider``)."""

    @property
    def spec(self) -> ProviderSpec: ...

    @property
    def templates(self) -> Templates: ...


@dataclass(frozen=True, slots=True)
class VerifiedDelivery:
    """An authentic delivery, ready to store and route.

    ``headers`` are the request's headers minus any that carry a secret or a signature;
    ``to_dict``/``from_dict`` give a JSON-able form for a queue.
    """

    payload: Any
    event_type: str | None = None
    delivery_id: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    received_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        received = self.received_at.isoformat() if self.received_at else None
        return {
            "payload": self.payload,
            "event_type": self.event_type,
            "delivery_id": self.delivery_id,
            "headers": dict(self.headers),
            "received_at": received,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VerifiedDelivery:
        received = data.get("received_at")
        return cls(
            payload=data.get("payload"),
            event_type=data.get("event_type"),
            delivery_id=data.get("delivery_id"),
            headers=dict(data.get("headers") or {}),
            received_at=datetime.fromisoformat(received) if received else None,
        )


@dataclass(frozen=True, slots=True)
class WebhookOutcome:
    """What became of a request.

    ``kind`` is ``handshake`` (answer ``handshake``), ``accepted`` (some event has records to
    apply) or ``ignored`` (authentic, but nothing to apply: ``reason`` says why). Answer
    ``status`` with ``body``/``content_type``/``headers`` for a handshake, 200 otherwise.
    """

    kind: Literal["handshake", "accepted", "ignored"]
    handshake: HandshakeResult | None = None
    delivery: VerifiedDelivery | None = None
    events: tuple[WebhookEvent, ...] = ()
    reason: str | None = None

    @property
    def status(self) -> int:
        return self.handshake.status if self.handshake else 200

    @property
    def secret_to_store(self) -> str | None:
        return self.handshake.secret_to_store if self.handshake else None


class WebhookProcessor:
    """One provider's webhook declaration, compiled: strategies built, templates checked."""

    def __init__(self, provider: WebhookProvider, registry: Registry | None = None) -> None:
        spec = provider.spec.webhooks
        if spec is None:
            raise NotFoundError(f"provider {provider.spec.name!r} declares no webhooks")
        self.provider = provider
        self.spec: WebhookSpec = spec
        compiled = _Compiler(spec, provider.templates, registry or _default_registry())
        problems = compiled.problems
        if problems:
            raise SpecError(
                [f"webhooks.{path}: {message}" for path, message in problems],
                provider=provider.spec.name,
            )
        self.signature: SignatureScheme = compiled.signature
        self.handshakes: list[Handshake] = compiled.handshakes
        self.replay_timestamp = compiled.replay_timestamp
        self.delivery_id = compiled.delivery_id
        self.event_type = compiled.event_type
        self.router = compiled.router

    # --- receipt ---------------------------------------------------------------------------
    def verify(
        self,
        request: InboundRequest,
        secret: str | None,
        now: datetime | None = None,
        *,
        config: Mapping[str, Any] | None = None,
        credentials: Mapping[str, Any] | None = None,
    ) -> HandshakeResult | VerifiedDelivery:
        """Answer a handshake or verify a delivery; ``WebhookRejected`` when not authentic."""
        now = _aware(now)
        payload, parse_problem = parse_payload(request)
        context = request.template_context(
            payload, config=dict(config or {}), credentials=dict(credentials or {}), now=now
        )
        for handshake in self.handshakes:
            if handshake.applies(request, context):
                return self._handshake(handshake, request, context, secret, now)
        self._authenticate(request, context, secret, now)
        if parse_problem is not None:
            raise ValidationError(parse_problem, problems=[f"body: {parse_problem}"])
        return VerifiedDelivery(
            payload=payload,
            event_type=as_text(render_soft(self.event_type, context)),
            delivery_id=as_text(render_soft(self.delivery_id, context)),
            headers=self._storable_headers(request, secret),
            received_at=now,
        )

    def _handshake(
        self,
        handshake: Handshake,
        request: InboundRequest,
        context: Mapping[str, Any],
        secret: str | None,
        now: datetime,
    ) -> HandshakeResult:
        if handshake.verify_signature:
            self._authenticate(request, context, secret, now)
        if handshake.captures_secret and secret and not handshake.replaces_stored_secret:
            raise WebhookRejected(
                "handshake refused: this integration already has a webhook secret",
                reason="secret_already_set",
            )
        return handshake.respond(request, context)

    def _authenticate(
        self,
        request: InboundRequest,
        context: Mapping[str, Any],
        secret: str | None,
        now: datetime,
    ) -> None:
        if self.signature.needs_secret:
            require_secret(secret)
        self.signature.verify(request, context, secret)
        if self.replay_timestamp is not None and self.spec.replay_tolerance_seconds:
            stamp = render_soft(self.replay_timestamp, context)
            check_replay_window(stamp, now, self.spec.replay_tolerance_seconds)

    def _storable_headers(self, request: InboundRequest, secret: str | None) -> dict[str, str]:
        hidden = NEVER_STORED_HEADERS | self.signature.secret_headers()
        return {
            name: value
            for name, value in request.headers.items()
            if name.lower() not in hidden and not (secret and secret in value)
        }

    # --- routing ---------------------------------------------------------------------------
    def route(
        self, delivery: VerifiedDelivery, config: Mapping[str, Any] | None = None
    ) -> list[WebhookEvent]:
        """The events a verified (or stored, or relayed) delivery carries."""
        context = {
            "payload": delivery.payload,
            "headers": Headers(delivery.headers),
            "event_type": delivery.event_type,
            "config": dict(config or {}),
        }
        return self.router.route(context, delivery.delivery_id, delivery.event_type)

    def verify_and_route(
        self,
        request: InboundRequest,
        secret: str | None,
        now: datetime | None = None,
        *,
        config: Mapping[str, Any] | None = None,
        credentials: Mapping[str, Any] | None = None,
    ) -> WebhookOutcome:
        checked = self.verify(request, secret, now, config=config, credentials=credentials)
        if isinstance(checked, HandshakeResult):
            return WebhookOutcome(kind="handshake", handshake=checked)
        return self.outcome(checked, self.route(checked, config))

    @staticmethod
    def outcome(delivery: VerifiedDelivery, events: list[WebhookEvent]) -> WebhookOutcome:
        if any(event.applies for event in events):
            return WebhookOutcome(kind="accepted", delivery=delivery, events=tuple(events))
        if events:
            names = ", ".join(f"{e.name} ({e.action})" for e in events)
            reason = f"nothing to apply: {names}"
        else:
            kind = delivery.event_type or "unknown"
            reason = f"no webhook event matches (event type {kind})"
        return WebhookOutcome(
            kind="ignored", delivery=delivery, events=tuple(events), reason=reason
        )

    def relay(
        self,
        payload: Any,
        event_type: str | None = None,
        now: datetime | None = None,
        *,
        config: Mapping[str, Any] | None = None,
    ) -> VerifiedDelivery:
        """A delivery from an authenticated caller (the ``webhook`` action): no signature."""
        now = _aware(now)
        body = orjson.dumps(payload)
        request = InboundRequest("POST", {"Content-Type": "application/json"}, body=body)
        context = request.template_context(
            payload, config=dict(config or {}), credentials={}, now=now
        )
        return VerifiedDelivery(
            payload=payload,
            event_type=event_type or as_text(render_soft(self.event_type, context)),
            delivery_id=as_text(render_soft(self.delivery_id, context)),
            received_at=now,
        )


def parse_payload(request: InboundRequest) -> tuple[Any, str | None]:
    """The parsed body and, when it does not parse, why.

    Form bodies give a dict of their fields, ``text/*`` bodies their text, anything else must
    be JSON (whatever its declared type). An empty body is None. JSON nested deeper than
    ``MAX_JSON_DEPTH`` does not parse (it could not be stored); NUL characters, which no
    store keeps in text, are replaced by U+FFFD.
    """
    body = request.body
    if not body.strip():
        return None, None
    content_type = request.content_type
    if content_type == "application/x-www-form-urlencoded":
        payload: Any = dict(parse_qsl(text_of(body), keep_blank_values=True))
    elif content_type.startswith("text/"):
        payload = text_of(body)
    else:
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            return None, f"the webhook body is not valid JSON ({exc})"
    if _may_not_keep(body):
        payload = without_nul(payload)
        problem = json_problem(payload)
        if problem is not None:
            return None, f"the webhook body cannot be kept: {problem}"
    return payload, None


def _may_not_keep(body: bytes) -> bool:
    """A quick look: whether the body may hold a NUL character or nest too deep."""
    nul = b"\\u0000" in body or b"\x00" in body or b"%00" in body
    return nul or body.count(b"[") + body.count(b"{") > MAX_JSON_DEPTH


class _Compiler:
    """Builds the strategies and templates of a ``WebhookSpec``, collecting every problem."""

    def __init__(self, spec: WebhookSpec, templates: Templates, registry: Registry) -> None:
        self.templates = templates
        self.registry = registry
        self.problems: list[tuple[str, str]] = []
        self.signature = self._strategy("signature", spec.signature, "signature")
        self.handshakes = [
            self._strategy("handshake", config, f"handshakes[{index}]")
            for index, config in enumerate(spec.handshakes)
        ]
        self.replay_timestamp = self._template(spec.replay_timestamp, "replay_timestamp")
        self.delivery_id = self._template(spec.delivery_id, "delivery_id")
        self.event_type = self._template(spec.event_type, "event_type")
        self.router = EventRouter(spec, templates)
        self.problems += [(p.path, p.message) for p in self.router.problems]
        self._cross_check(spec)

    def _strategy(self, kind: str, config: StrategyConfig, path: str) -> Any:
        registry = self.registry
        try:
            return registry.create(kind, registry.parse(kind, config), templates=self.templates)
        except PlaceProblem as problem:
            self.problems.append((f"{path}.{problem.path}", problem.message))
        except (KeyError, ValueError) as exc:
            self.problems.append((path, str(exc).strip("'\"")))
        return None

    def _template(self, source: str | None, path: str) -> CompiledTemplate | None:
        try:
            return compile_optional(self.templates, source, "webhook", path)
        except PlaceProblem as problem:
            self.problems.append((problem.path, problem.message))
            return None

    def _cross_check(self, spec: WebhookSpec) -> None:
        capturing = [h for h in self.handshakes if h is not None and h.captures_secret]
        if capturing and not spec.secret_from_handshake:
            self.problems.append(
                ("secret_from_handshake", "a handshake stores the secret: set it to true")
            )
        try:
            scheme = self.registry.get("signature", spec.signature.type)
        except KeyError:
            return  # already reported by _strategy
        needs_secret = bool(getattr(scheme, "needs_secret", False))
        if needs_secret and not (spec.secret_field or spec.secret_from_handshake):
            message = "the scheme needs a secret: set secret_field or secret_from_handshake"
            self.problems.append(("signature", message))


def _aware(now: datetime | None) -> datetime:
    """``now`` as an aware datetime (naive means UTC); the current time when None."""
    if now is None:
        return datetime.now(UTC)
    return now if now.tzinfo else now.replace(tzinfo=UTC)


def _default_registry() -> Registry:
    from engine.strategies import shared_default_registry

    return shared_default_registry()


_processors: weakref.WeakKeyDictionary[Templates, WebhookProcessor] = weakref.WeakKeyDictionary()


def processor_for(provider: WebhookProvider) -> WebhookProcessor:
    """The provider's processor with the default registry, built once per loaded provider."""
    found = _processors.get(provider.templates)
    if found is None or found.spec is not provider.spec.webhooks:
        found = WebhookProcessor(provider)
        _processors[provider.templates] = found
    return found


def verify_and_route(
    provider: WebhookProvider,
    request: InboundRequest,
    secret: str | None,
    now: datetime | None = None,
    *,
    config: Mapping[str, Any] | None = None,
    credentials: Mapping[str, Any] | None = None,
) -> WebhookOutcome:
    """Handshake, verify, read ids and route one request (see the module docstring)."""
    return processor_for(provider).verify_and_route(
        request, secret, now, config=config, credentials=credentials
    )
