"""Durable webhook processing on the seed's ``webhook_logs`` table.

A verified delivery is stored once (``delivery_id`` is unique per integration). Workers claim
unprocessed deliveries: a claim stamps ``claimed_by``/``claimed_until`` and counts an attempt;
on Postgres the pick uses ``FOR UPDATE SKIP LOCKED`` so concurrent workers never wait for each
other nor take the same row. A worker that crashes leaves its claim to expire, and the delivery
is claimed again. A failed attempt is retried after a backoff (2^attempts seconds, at most
5 minutes) until ``webhook_max_attempts`` attempts were made; then it stays unprocessed with
its last error, out of the backlog.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from engine.errors import NotFoundError
from engine.store import tables as t
from engine.store.base import WebhookLog
from engine.store.core import SqlCore

MAX_BACKOFF_SECONDS = 300


def retry_delay(attempts: int) -> timedelta:
    """How long a delivery that failed ``attempts`` times waits before the next attempt."""
    return timedelta(seconds=min(2 ** max(attempts, 0), MAX_BACKOFF_SECONDS))


class WebhookQueries(SqlCore):
    async def add_webhook(self, log: WebhookLog) -> bool:
        """Store a verified delivery; False when its delivery id was already stored."""
        row = log if log.created_at else dataclasses.replace(log, created_at=self.now())
        marks = ", ".join(["%s"] * len(t.WEBHOOKS.columns))
        async with self.transaction() as s:
            inserted = await s.fetchone(
                f"INSERT INTO webhook_logs ({t.WEBHOOKS.select_list()}) VALUES ({marks}) "
                "ON CONFLICT DO NOTHING RETURNING id",
                t.WEBHOOKS.encode(row),
            )
        return inserted is not None

    async def claim_webhooks(
        self, limit: int, worker: str, claim_seconds: int = 60
    ) -> list[WebhookLog]:
        """Claim up to ``limit`` unprocessed deliveries for ``worker``, oldest first."""
        now = self.now()
        sql = (
            "UPDATE webhook_logs SET claimed_by = %s, claimed_until = %s, attempts = attempts + 1 "
            "WHERE id IN (SELECT id FROM webhook_logs WHERE NOT processed AND attempts < %s "
            "AND (claimed_until IS NULL OR claimed_until <= %s) "
            f"ORDER BY created_at, id LIMIT {limit:d}{self.dialect.skip_locked}) "
            f"RETURNING {t.WEBHOOKS.select_list()}"
        )
        params = (worker, now + timedelta(seconds=claim_seconds), self.webhook_max_attempts, now)
        decode = self._decoders[t.WEBHOOKS.name]
        async with self.transaction() as s:
            rows = [decode(r) for r in await s.fetchall(sql, params)]
        return sorted(rows, key=lambda w: (w.created_at, w.id))

    async def mark_webhook(
        self, webhook_id: str, processed: bool, error: str | None = None
    ) -> None:
        """Record an attempt's outcome; a failure releases the claim until its retry time."""
        now = self.now()
        async with self.transaction() as s:
            row = await s.fetchone("SELECT attempts FROM webhook_logs WHERE id = %s", (webhook_id,))
            if row is None:
                raise NotFoundError(f"webhook {webhook_id} does not exist", webhook_id=webhook_id)
            retry_at = None if processed else now + retry_delay(int(row[0]))
            await s.execute(
                "UPDATE webhook_logs SET processed = %s, processed_at = %s, error = %s, "
                "claimed_by = NULL, claimed_until = %s WHERE id = %s",
                (processed, now if processed else None, error, retry_at, webhook_id),
            )

    async def get_webhook(self, webhook_id: str) -> WebhookLog | None:
        found: WebhookLog | None = await self.query_one(t.WEBHOOKS, "id = %s", (webhook_id,))
        return found

    async def webhook_backlog(self) -> int:
        """Deliveries still to process (not processed, attempts left)."""
        async with self.transaction() as s:
            row = await s.fetchone(
                "SELECT count(*) FROM webhook_logs WHERE NOT processed AND attempts < %s",
                (self.webhook_max_attempts,),
            )
        return int(row[0]) if row else 0
