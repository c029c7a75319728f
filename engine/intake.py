"""Durable webhook intake: verify, store, commit, then answer; apply later, once in effect.

``receive_webhook`` runs the provider's handshake and signature check (engine.webhooks),
writes the verified delivery to ``webhook_logs`` (processed=false, de-duplicated by delivery
id) and only then returns the 2xx. ``process_webhooks`` claims unprocessed rows, applies
them through the sync engine and marks them processed. A crash between the two loses
nothing: the backlog is processed on restart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class WebhookResponse:
    """What to answer a provider's delivery.

    ``body`` is bytes, a str or a JSON-able value (``content_type`` says which);
    ``webhook_id`` is the stored webhook_logs row (None for handshakes and rejections);
    ``duplicate`` is True when the delivery id was already stored; ``reason`` is a one-line
    explanation of a rejection (never a secret).
    """

    status: int
    body: Any = None
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    webhook_id: str | None = None
    duplicate: bool = False
    reason: str | None = None

    @property
    def accepted(self) -> bool:
        return 200 <= self.status < 300
