"""Runs started by the server (the ``sync`` action and the scheduler), watched to the end.

The engine owns each run's task (``Engine.begin_sync`` returns a ``SyncHandle`` once the
run's id is known; ``Engine.close`` waits for running ones). ``Runs`` keeps one small
watcher task per run so the outcome lands in the metrics and the log, and waits for the
watchers (bounded) at shutdown.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from engine.errors import error_class
from engine.facade import Engine, ProgressCallback, SyncHandle
from runtime.metrics import Metrics

log = logging.getLogger(__name__)


class Runs:
    """Starts syncs through the engine and records how they end."""

    def __init__(self, engine: Engine, metrics: Metrics) -> None:
        self.engine = engine
        self.metrics = metrics
        self._watchers: set[asyncio.Task[None]] = set()

    async def start(
        self,
        integration_id: str,
        options: dict[str, Any] | None = None,
        trigger: str = "api",
        progress: ProgressCallback | None = None,
    ) -> SyncHandle:
        """Begin a run; ConflictError (with the running run's id) when one is live."""
        handle = await self.engine.begin_sync(integration_id, options, trigger, progress)
        log.info(
            "sync started",
            extra={"integration_id": integration_id, "run_id": handle.run_id, "trigger": trigger},
        )
        task = asyncio.create_task(self._watch(handle), name=f"watch-run-{handle.run_id}")
        self._watchers.add(task)
        task.add_done_callback(self._watchers.discard)
        return handle

    @property
    def running(self) -> int:
        return len(self._watchers)

    async def _watch(self, handle: SyncHandle) -> None:
        started = time.monotonic()
        context = {"integration_id": handle.integration_id, "run_id": handle.run_id}
        try:
            result = await handle.wait()
        except asyncio.CancelledError:
            self.metrics.run_finished(handle.trigger, "cancelled", None, {})
            raise
        except Exception as exc:  # the run failed outside the engine's own accounting
            self.metrics.run_finished(handle.trigger, "error", time.monotonic() - started, {})
            log.warning("sync failed", extra={**context, "error_class": error_class(exc)})
            return
        seconds = result.duration_ms / 1000
        counters = result.totals.to_dict()
        self.metrics.run_finished(handle.trigger, result.status, seconds, counters)
        log.info(
            "sync finished",
            extra={**context, "status": result.status, "seconds": seconds, "counts": counters},
        )

    async def close(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for the watched runs; cancel the watchers after."""
        if not self._watchers:
            return
        _, pending = await asyncio.wait(set(self._watchers), timeout=timeout)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
