"""Inbound webhooks: signature schemes, handshakes, replay windows, delivery ids, routing.

A provider declares its webhooks in YAML (``webhooks:`` in providers/<name>.yaml, modelled by
``engine.spec.models.WebhookSpec``); nothing here names a provider. Modules:

- ``request``: ``InboundRequest`` (raw body bytes, case-insensitive ``Headers``)
- ``signatures``: ``hmac``, ``shared_secret``, ``none``
- ``handshakes``: ``challenge``, ``echo_header``, ``validation_token``, ``head_ok``,
  ``verification_token``
- ``replay``: the replay window over epoch seconds or milliseconds
- ``routing``: ``webhooks.events`` -> ``WebhookEvent``
- ``inbound``: ``WebhookProcessor`` and ``verify_and_route`` tying them together

See docs/webhooks.md.
"""

from __future__ import annotations

from engine.webhooks.handshakes import HandshakeResult
from engine.webhooks.inbound import (
    VerifiedDelivery,
    WebhookOutcome,
    WebhookProcessor,
    parse_payload,
    processor_for,
    verify_and_route,
)
from engine.webhooks.request import Headers, InboundRequest
from engine.webhooks.routing import WebhookEvent

__all__ = [
    "HandshakeResult",
    "Headers",
    "InboundRequest",
    "VerifiedDelivery",
    "WebhookEvent",
    "WebhookOutcome",
    "WebhookProcessor",
    "parse_payload",
    "processor_for",
    "verify_and_route",
]
