"""Webhook signature schemes, chosen in YAML by ``webhooks.signature.type``.

- ``hmac``: an HMAC of the raw body (or of a message template over it) arrives in a header.
  GitHub ``X-Hub-Signature-256: sha256=<hex>``; Slack ``v0=<hex>`` over
  ``v0:{timestamp}:{body}``; Trello base64 HMAC-SHA1 over body + callback URL; Teams
  outgoing ``Authorization: HMAC <base64>`` keyed with the base64-decoded token.
- ``shared_secret``: a value the delivery carries equals the secret (Microsoft Graph's
  ``clientState`` in every notification of a batch; a token header).
- ``none``: no check at all; a provider that signs nothing must say so explicitly.

Every comparison is constant-time (``hmac.compare_digest``). A failure raises
``WebhookRejected`` with a one-line reason that names the header or the scheme, never the
secret nor the signature we expected.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Literal

from engine.errors import TemplateError, WebhookRejected
from engine.registry import Registry, StrategyConfig
from engine.templating import CompiledTemplate, Templates
from engine.webhooks.request import InboundRequest, body_bytes
from engine.webhooks.templates import compile_at

_DIGESTS: dict[str, Callable[[], Any]] = {
    "sha1": hashlib.sha1,
    "sha256": hashlib.sha256,
    "sha512": hashlib.sha512,
}


class SignatureScheme(ABC):
    """Checks that a request comes from the provider; raises ``WebhookRejected`` if not."""

    Config: ClassVar[type[StrategyConfig]]
    needs_secret: ClassVar[bool] = True

    @abstractmethod
    def verify(
        self, request: InboundRequest, context: Mapping[str, Any], secret: str | None
    ) -> None:
        """``context`` holds the names of the ``webhook`` template place for this request."""

    def secret_headers(self) -> frozenset[str]:
        """Lower-cased names of headers carrying signature material (kept out of storage)."""
        return frozenset()


class HmacSignature(SignatureScheme):
    """An HMAC of the raw body (or of ``message``) in ``header``, after an optional prefix."""

    class Config(StrategyConfig):
        type: Literal["hmac"] = "hmac"
        header: str  # where the signature arrives, e.g. X-Hub-Signature-256
        algorithm: Literal["sha256", "sha1", "sha512"] = "sha256"
        encoding: Literal["hex", "base64"] = "hex"
        prefix: str = ""  # before the digest in the header: "sha256=", "v0=", "HMAC "
        message: str | None = None  # template of the signed text; default: the raw body
        key_encoding: Literal["raw", "base64"] = "raw"  # base64: the secret is decoded first

    def __init__(self, config: Config, templates: Templates) -> None:
        self.config = config
        self.message: CompiledTemplate | None = None
        if config.message is not None and config.message.strip() != "{{ body }}":
            self.message = compile_at(templates, config.message, "webhook", "message")

    def verify(
        self, request: InboundRequest, context: Mapping[str, Any], secret: str | None
    ) -> None:
        received = self._received(request)
        key = self._key(require_secret(secret))
        mac = hmac.new(key, self._signed_bytes(request, context), _DIGESTS[self.config.algorithm])
        if not hmac.compare_digest(mac.digest(), received):
            raise WebhookRejected(
                f"webhook signature mismatch (header {self.config.header})",
                reason="signature_mismatch",
            )

    def secret_headers(self) -> frozenset[str]:
        return frozenset({self.config.header.lower()})

    def _received(self, request: InboundRequest) -> bytes:
        header = self.config.header
        value = request.headers.get(header)
        if not value:
            raise WebhookRejected(f"missing signature header {header}", reason="no_signature")
        value = value.strip()
        prefix = self.config.prefix
        if prefix and not value[: len(prefix)].lower() == prefix.lower():
            raise WebhookRejected(
                f"signature header {header} does not start with {prefix.strip()!r}",
                reason="bad_signature_format",
            )
        return _decode(value[len(prefix) :].strip(), self.config.encoding, header)

    def _key(self, secret: str) -> bytes:
        if self.config.key_encoding == "raw":
            return _utf8(secret)
        try:
            return base64.b64decode(secret, validate=True)
        except (binascii.Error, ValueError):
            raise WebhookRejected(
                "the webhook secret is not valid base64 (key_encoding: base64)",
                reason="bad_secret",
            ) from None

    def _signed_bytes(self, request: InboundRequest, context: Mapping[str, Any]) -> bytes:
        if self.message is None:
            return request.body
        try:
            rendered = self.message.render(context, "webhooks.signature.message")
        except TemplateError as exc:
            raise WebhookRejected(
                f"cannot build the signed message: {exc}", reason="bad_signature_format"
            ) from None
        if isinstance(rendered, bytes):
            return rendered
        return body_bytes(str(rendered))


def _decode(text: str, encoding: str, header: str) -> bytes:
    try:
        if encoding == "hex":
            return bytes.fromhex(text)
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise WebhookRejected(
            f"signature header {header} is not valid {encoding}", reason="bad_signature_format"
        ) from None


class SharedSecretSignature(SignatureScheme):
    """A value from the delivery equals the secret.

    ``value`` is a template over the request; when it yields a list (one value per
    notification of a batch, e.g. ``{{ payload.value | map(attribute='clientState') | list }}``)
    every item must equal the secret, and an empty list is rejected.
    """

    class Config(StrategyConfig):
        type: Literal["shared_secret"] = "shared_secret"
        value: str  # template, e.g. "{{ headers['X-Gitlab-Token'] }}"

    def __init__(self, config: Config, templates: Templates) -> None:
        self.config = config
        self.value = compile_at(templates, config.value, "webhook", "value")

    def verify(
        self, request: InboundRequest, context: Mapping[str, Any], secret: str | None
    ) -> None:
        expected = _utf8(require_secret(secret))
        try:
            rendered = self.value.render(context, "webhooks.signature.value")
        except TemplateError:
            rendered = None
        values = rendered if isinstance(rendered, list | tuple) else [rendered]
        if not values or any(v is None or v == "" for v in values):
            raise WebhookRejected("the delivery carries no shared secret", reason="no_signature")
        # every comparison runs, so the time taken does not tell which item differed
        matches = [
            isinstance(v, str) and hmac.compare_digest(v.encode("utf-8", "surrogatepass"), expected)
            for v in values
        ]
        if not all(matches):
            raise WebhookRejected("shared secret mismatch", reason="signature_mismatch")


class NoSignature(SignatureScheme):
    """Accept without checking: only for providers that sign nothing (declared explicitly)."""

    class Config(StrategyConfig):
        type: Literal["none"] = "none"

    needs_secret: ClassVar[bool] = False

    def __init__(self, config: Config, templates: Templates) -> None:
        self.config = config

    def verify(
        self, request: InboundRequest, context: Mapping[str, Any], secret: str | None
    ) -> None:
        return None


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")  # never fails, even on odd code points


def require_secret(secret: str | None) -> str:
    if not secret:
        raise WebhookRejected("no webhook secret configured", reason="no_secret")
    return secret


def register(registry: Registry) -> None:
    for scheme in (HmacSignature, SharedSecretSignature, NoSignature):
        registry.register("signature", scheme)
