"""The webhook worker: applies stored deliveries through the engine, in the background.

``POST /webhooks/{id}`` stores a verified delivery and answers at once; this loop calls
``Engine.process_webhooks`` until the queue is empty, then sleeps until the webhook route
wakes it (``wake()``) or ``idle_seconds`` pass (deliveries stored by other nodes, retries).
At start it drains whatever a previous process left behind. ``stop()`` lets the batch in
hand finish (bounded), then returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket

from engine.errors import error_class
from engine.facade import Engine
from runtime.metrics import Metrics

log = logging.getLogger(__name__)


class WebhookWorker:
    """One background task draining the webhook queue."""

    def __init__(
        self,
        engine: Engine,
        metrics: Metrics,
        *,
        batch: int = 50,
        idle_seconds: float = 2.0,
        name: str | None = None,
    ) -> None:
        self.engine = engine
        self.metrics = metrics
        self.batch = batch
        self.idle_seconds = idle_seconds
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="webhook-worker")

    def wake(self) -> None:
        self._wake.set()

    async def drain(self) -> int:
        """Process deliveries until none is left (or the worker stops); returns how many."""
        total = 0
        while not self._stopping:
            handled = await self.engine.process_webhooks(limit=self.batch, worker=self.name)
            if handled <= 0:
                break
            total += handled
            self.metrics.webhooks_processed.inc(handled)
        return total

    async def _loop(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                await self.drain()
                self.metrics.queue_depth.set(await self.engine.webhook_backlog())
            except Exception as exc:  # keep the loop alive; the rows stay queued
                log.warning("webhook processing failed", extra={"error_class": error_class(exc)})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.idle_seconds)

    async def stop(self, timeout: float) -> None:
        """Stop taking deliveries; give the batch in hand ``timeout`` seconds to commit."""
        self._stopping = True
        self._wake.set()
        if self._task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
