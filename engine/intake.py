"""Durable webhook intake: verify, store, commit, then answer; apply later, once in effect.

``receive`` (``Engine.receive_webhook``) runs the provider's handshake and signature check
(engine.webhooks), writes the verified delivery to ``webhook_logs`` (processed=false,
de-duplicated by delivery id) and only returns the 2xx once that row is committed. A
delivery that routes to nothing to apply (a ping, an event the YAML ignores) is stored
already processed.

``process`` (``Engine.process_webhooks``) claims unprocessed rows (a claim counts an attempt
and expires, so a crashed worker's rows are claimed again), routes each stored payload again
(routing needs only payload, event type and delivery id), applies the events through the
sync engine and marks the row processed. A failure keeps the row unprocessed with its error;
the store retries it after a backoff and gives up after ``webhook_max_attempts``.

Crash safety: a delivery is either not acknowledged (the provider retries it) or committed
(the backlog is processed on restart). A crash between applying and marking re-applies the
delivery, which the sync engine absorbs (the same content hashes to the same snapshot and is
skipped), so each webhook takes effect once.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from engine.config import parse_config
from engine.connect import secret_field
from engine.errors import (
    ConfigError,
    KiroSyncError,
    RecordError,
    ValidationError,
    WebhookRejected,
)
from engine.provider import Provider
from engine.store.base import Integration, WebhookLog
from engine.sync.webhook_apply import WebhookEventLike
from engine.webhooks import (
    HandshakeResult,
    InboundRequest,
    VerifiedDelivery,
    WebhookProcessor,
)
from engine.wire import NUL, json_problem

if TYPE_CHECKING:
    from engine.facade import Engine

log = logging.getLogger(__name__)

NO_EVENT_TYPE = ""  # webhook_logs.event_type is NOT NULL; "" stands for "the delivery named none"
MAX_ERROR_LENGTH = 500


@dataclass(frozen=True, slots=True)
class WebhookResponse:
    """What to answer a provider's delivery.

    ``body`` is bytes, a str or a JSON-able value (``content_type`` says which);
    ``webhook_id`` is the stored webhook_logs row (None for handshakes and rejections);
    ``duplicate`` is True when the delivery id was already stored; ``reason`` is a one-line
    explanation of a rejection or of an ignored delivery (never a secret); ``kind`` is
    ``handshake``, ``accepted``, ``ignored`` or ``rejected``.
    """

    status: int
    body: Any = None
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict, repr=False)  # may echo a secret
    webhook_id: str | None = None
    duplicate: bool = False
    reason: str | None = None
    kind: str = "accepted"

    @property
    def accepted(self) -> bool:
        return 200 <= self.status < 300


def rejected(status: int, reason: str) -> WebhookResponse:
    return WebhookResponse(
        status, {"error": reason}, webhook_id=None, reason=reason, kind="rejected"
    )


class WebhookIntake:
    """The engine's webhook queue: receipt, relay and processing."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._processors: dict[str, WebhookProcessor] = {}

    def processor(self, provider: Provider) -> WebhookProcessor:
        """The provider's compiled webhook declaration, built once per provider."""
        found = self._processors.get(provider.name)
        if found is None or found.provider is not provider:
            found = WebhookProcessor(provider, self.engine.registry)
            self._processors[provider.name] = found
        return found

    # --- receipt ---------------------------------------------------------------------------
    async def receive(self, integration_id: str, request: InboundRequest) -> WebhookResponse:
        found = NUL not in integration_id  # no store keeps one: such an id never exists
        integration = await self.engine.store.get_integration(integration_id) if found else None
        if integration is None:
            return rejected(404, "unknown integration")
        if not integration.is_active:
            return rejected(410, "the integration is disconnected")
        if integration.type not in self.engine.providers:
            return rejected(404, f"provider {integration.type!r} is not installed")
        provider = self.engine.providers.get(integration.type)
        webhooks = provider.spec.webhooks
        if webhooks is None:
            return rejected(404, f"{provider.name} integrations take no webhooks")
        credentials = self.engine.credentials_of(integration)
        secret = credentials.get(secret_field(webhooks)) or None
        config = parse_config(integration.config).wire()
        processor = self.processor(provider)
        try:
            checked = processor.verify(
                request, secret, self.engine.now(), config=config, credentials=credentials
            )
        except WebhookRejected as exc:
            log.info("webhook rejected", extra={"integration_id": integration_id})
            return rejected(401, exc.message)
        except ValidationError as exc:
            return rejected(400, exc.message)
        if isinstance(checked, HandshakeResult):
            return await self._handshake(integration, credentials, checked)
        return await self._store(integration, processor, checked, config)

    async def _handshake(
        self, integration: Integration, credentials: dict[str, Any], answer: HandshakeResult
    ) -> WebhookResponse:
        if answer.secret_to_store:
            webhooks = self.engine.providers.get(integration.type).spec.webhooks
            assert webhooks is not None
            credentials[secret_field(webhooks)] = answer.secret_to_store
            await self.engine.save_credentials(integration.id, credentials)
        return WebhookResponse(
            answer.status,
            answer.body,
            content_type=answer.content_type or "text/plain",
            headers=dict(answer.headers),
            kind="handshake",
        )

    async def _store(
        self,
        integration: Integration,
        processor: WebhookProcessor,
        delivery: VerifiedDelivery,
        config: dict[str, Any],
    ) -> WebhookResponse:
        """Route (to know whether anything is to apply), then store and commit."""
        try:
            events = processor.route(delivery, config)
            outcome = processor.outcome(delivery, events)
            ignored, reason = outcome.kind == "ignored", outcome.reason
        except RecordError as exc:  # authentic but unreadable: the worker records why
            ignored, reason = False, exc.message
        row = self._row(integration.id, delivery, processed=ignored)
        stored = await self.engine.store.add_webhook(row)
        body = {"received": True, "duplicate": not stored}
        return WebhookResponse(
            200,
            body,
            webhook_id=row.id,
            duplicate=not stored,
            reason=reason,
            kind="ignored" if ignored else "accepted",
        )

    def _row(self, integration_id: str, delivery: VerifiedDelivery, processed: bool) -> WebhookLog:
        now = self.engine.now()
        return WebhookLog(
            id=str(uuid.uuid4()),
            integration_id=integration_id,
            event_type=delivery.event_type or NO_EVENT_TYPE,
            payload=delivery.payload if delivery.payload is not None else {},
            processed=processed,
            processed_at=now if processed else None,
            delivery_id=delivery.delivery_id,
            created_at=now,
        )

    # --- relay (the authenticated `webhook` action) -----------------------------------------
    async def relay(
        self, integration: Integration, payload: Any, event_type: str | None
    ) -> dict[str, Any]:
        if payload is None:
            raise ValidationError("Invalid webhook", ["data.payload: required"])
        problem = json_problem(payload)
        if problem is not None:
            raise ValidationError("Invalid webhook", [f"data.payload.{problem}"])
        if event_type is not None and not isinstance(event_type, str):
            raise ValidationError("Invalid webhook", ["data.eventType: must be a string"])
        if not integration.is_active:
            raise ConfigError(
                f"integration {integration.id} is disconnected", integration_id=integration.id
            )
        provider = self.engine.providers.get(integration.type)
        if provider.spec.webhooks is None:
            raise ValidationError(
                "Invalid webhook", [f"integrationId: {provider.name} integrations take no webhooks"]
            )
        config = parse_config(integration.config).wire()
        processor = self.processor(provider)
        delivery = processor.relay(payload, event_type, self.engine.now(), config=config)
        answer = await self._store(integration, processor, delivery, config)
        return {
            "webhook_id": answer.webhook_id,
            "event_type": delivery.event_type,
            "delivery_id": delivery.delivery_id,
            "duplicate": answer.duplicate,
            "queued": answer.kind == "accepted" and not answer.duplicate,
        }

    # --- processing ----------------------------------------------------------------------------
    async def process(self, limit: int, worker: str) -> int:
        """Apply up to ``limit`` claimed deliveries; how many were marked processed."""
        done = 0
        for row in await self.engine.store.claim_webhooks(limit, worker):
            try:
                note = await self._apply(row)
            except Exception as exc:
                await self.engine.store.mark_webhook(row.id, False, error=_describe(exc))
                continue
            await self.engine.store.mark_webhook(row.id, True, error=note)
            done += 1
        return done

    async def _apply(self, row: WebhookLog) -> str | None:
        """Apply one stored delivery; a note for the row when it was deliberately skipped."""
        integration = await self.engine.store.get_integration(row.integration_id)
        if integration is None or not integration.is_active:
            return "not applied: the integration is disconnected"
        provider = self.engine.providers.get(integration.type)
        if provider.spec.webhooks is None:
            return f"not applied: {provider.name} integrations take no webhooks"
        config = parse_config(integration.config).wire()
        delivery = VerifiedDelivery(
            payload=row.payload,
            event_type=row.event_type or None,
            delivery_id=row.delivery_id,
            received_at=row.created_at,
        )
        routed = self.processor(provider).route(delivery, config)
        events: list[WebhookEventLike] = [event for event in routed if event.applies]
        if not events:
            return None
        credentials = self.engine.credentials_of(integration)
        counts = await self.engine.sync_service.apply_webhook(integration, credentials, events)
        if counts.failed:
            return f"applied; {counts.failed} record(s) failed to map or write"
        return None


def _describe(exc: BaseException) -> str:
    """A one-line error for webhook_logs.error (engine errors are already scrubbed)."""
    if isinstance(exc, KiroSyncError):
        text = f"{exc.error_class}: {exc.message}"
    else:
        log.exception("webhook processing failed with an internal error")
        text = f"internal: {type(exc).__name__}"
    text = " ".join(text.split())
    return text[:MAX_ERROR_LENGTH]
