"""Webhook handshakes, chosen in YAML by ``type`` in ``webhooks.handshakes``.

A handshake is a request the provider sends to prove the endpoint is ours (or to hand us a
secret) before any delivery. Each strategy says whether it ``applies`` to a request and
``respond``s with a ``HandshakeResult``; its ``verify_signature`` config says whether the
request must pass the signature check first (Slack signs its url_verification challenge;
Asana's X-Hook-Secret arrives before there is a secret to sign with).

- ``challenge``: a condition on the payload holds -> 200 with a challenge value, JSON or text
  (Slack ``url_verification``).
- ``echo_header``: the request carries a header -> 200 echoing it; the value is the secret
  to store (Asana ``X-Hook-Secret``).
- ``validation_token``: a query parameter -> 200 text/plain with its URL-decoded value
  (Microsoft Graph ``validationToken``).
- ``head_ok``: a HEAD (or another listed method) -> 200 (Trello checks its callback URL).
- ``verification_token``: a payload field carries a token -> store it as the secret, 200
  (Notion's one-time ``verification_token``).

A handshake that hands over a secret is refused while one is stored for the integration
(anyone can send an unsigned request; it must not replace a working secret) unless
``replace_stored_secret`` says otherwise.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import orjson

from engine.errors import WebhookRejected
from engine.registry import Registry, StrategyConfig
from engine.templating import Templates
from engine.webhooks.request import InboundRequest
from engine.webhooks.templates import as_text, compile_at, holds, render_soft

MAX_REFLECTED = 8192  # longest challenge/token we echo back


@dataclass(frozen=True, slots=True)
class HandshakeResult:
    """The answer to a handshake request, and a secret to store when it brought one."""

    status: int = 200
    body: bytes = b""
    content_type: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)  # may echo a secret
    secret_to_store: str | None = field(default=None, repr=False)
    handshake: str = ""  # the strategy type that answered


class Handshake(ABC):
    Config: ClassVar[type[StrategyConfig]]

    def __init__(self, config: Any, templates: Templates) -> None:
        self.config = config

    @property
    def verify_signature(self) -> bool:
        return bool(self.config.verify_signature)

    @property
    def captures_secret(self) -> bool:
        """The answer hands over the integration's signing secret."""
        return bool(getattr(self.config, "store_secret", False))

    @property
    def replaces_stored_secret(self) -> bool:
        return bool(getattr(self.config, "replace_stored_secret", False))

    @abstractmethod
    def applies(self, request: InboundRequest, context: Mapping[str, Any]) -> bool: ...

    @abstractmethod
    def respond(self, request: InboundRequest, context: Mapping[str, Any]) -> HandshakeResult: ...


class ChallengeHandshake(Handshake):
    class Config(StrategyConfig):
        type: Literal["challenge"] = "challenge"
        when: str = "{{ payload.type == 'url_verification' }}"  # condition (template)
        challenge: str = "{{ payload.challenge }}"  # the value to answer (template)
        respond_as: Literal["json", "text"] = "json"
        json_key: str = "challenge"
        verify_signature: bool = True

    def __init__(self, config: Config, templates: Templates) -> None:
        super().__init__(config, templates)
        self.when = compile_at(templates, config.when, "webhook", "when")
        self.challenge = compile_at(templates, config.challenge, "webhook", "challenge")

    def applies(self, request: InboundRequest, context: Mapping[str, Any]) -> bool:
        return request.method == "POST" and holds(self.when, context)

    def respond(self, request: InboundRequest, context: Mapping[str, Any]) -> HandshakeResult:
        value = _reflected(render_soft(self.challenge, context), "challenge")
        if self.config.respond_as == "text":
            return _text(value, "challenge")
        body = orjson.dumps({self.config.json_key: value})
        return HandshakeResult(body=body, content_type="application/json", handshake="challenge")


class EchoHeaderHandshake(Handshake):
    class Config(StrategyConfig):
        type: Literal["echo_header"] = "echo_header"
        header: str = "X-Hook-Secret"
        status: Literal[200, 204] = 200
        store_secret: bool = True  # the echoed value is the signing secret from now on
        replace_stored_secret: bool = False
        verify_signature: bool = False

    def applies(self, request: InboundRequest, context: Mapping[str, Any]) -> bool:
        return bool(request.headers.get(self.config.header))

    def respond(self, request: InboundRequest, context: Mapping[str, Any]) -> HandshakeResult:
        value = _reflected(request.headers[self.config.header], f"header {self.config.header}")
        return HandshakeResult(
            status=self.config.status,
            headers={self.config.header: value},
            secret_to_store=value if self.config.store_secret else None,
            handshake="echo_header",
        )


class ValidationTokenHandshake(Handshake):
    class Config(StrategyConfig):
        type: Literal["validation_token"] = "validation_token"
        param: str = "validationToken"  # query parameter carrying the token
        verify_signature: bool = False

    def applies(self, request: InboundRequest, context: Mapping[str, Any]) -> bool:
        return self.config.param in request.query

    def respond(self, request: InboundRequest, context: Mapping[str, Any]) -> HandshakeResult:
        token = _reflected(request.query[self.config.param], f"query {self.config.param}")
        return _text(token, "validation_token")


class HeadOkHandshake(Handshake):
    class Config(StrategyConfig):
        type: Literal["head_ok"] = "head_ok"
        methods: tuple[Literal["HEAD", "GET"], ...] = ("HEAD",)
        verify_signature: bool = False

    def applies(self, request: InboundRequest, context: Mapping[str, Any]) -> bool:
        return request.method in self.config.methods

    def respond(self, request: InboundRequest, context: Mapping[str, Any]) -> HandshakeResult:
        return HandshakeResult(handshake="head_ok")


class VerificationTokenHandshake(Handshake):
    class Config(StrategyConfig):
        type: Literal["verification_token"] = "verification_token"
        token: str = "{{ payload.verification_token }}"  # template; applies when it has a value
        store_secret: bool = True
        replace_stored_secret: bool = False
        verify_signature: bool = False

    def __init__(self, config: Config, templates: Templates) -> None:
        super().__init__(config, templates)
        self.token = compile_at(templates, config.token, "webhook", "token")

    def applies(self, request: InboundRequest, context: Mapping[str, Any]) -> bool:
        return request.method == "POST" and as_text(render_soft(self.token, context)) is not None

    def respond(self, request: InboundRequest, context: Mapping[str, Any]) -> HandshakeResult:
        token = _reflected(render_soft(self.token, context), "verification token")
        return HandshakeResult(
            secret_to_store=token if self.config.store_secret else None,
            handshake="verification_token",
        )


def _reflected(value: Any, what: str) -> str:
    text = as_text(value)
    if text is None:
        raise WebhookRejected(f"handshake {what} is empty", reason="bad_handshake")
    if len(text) > MAX_REFLECTED or not text.isprintable():
        raise WebhookRejected(f"handshake {what} is malformed", reason="bad_handshake")
    return text


def _text(value: str, name: str) -> HandshakeResult:
    return HandshakeResult(
        body=value.encode(),
        content_type="text/plain; charset=utf-8",
        headers={"X-Content-Type-Options": "nosniff"},
        handshake=name,
    )


def register(registry: Registry) -> None:
    for handshake in (
        ChallengeHandshake,
        EchoHeaderHandshake,
        ValidationTokenHandshake,
        HeadOkHandshake,
        VerificationTokenHandshake,
    ):
        registry.register("handshake", handshake)
