"""Progress of a running run: the caller's callback, the run row, and the run's lease.

``RunReporter.report(phase, stream)`` is called after every committed batch. It hands the
callback (a CLI progress bar, the server's status) a ``Progress`` dict every time, and at
most every ``interval`` seconds writes the counts into the run row (what get-sync-status
shows) and renews the lease, so another node does not take a live run over.
"""

from __future__ import annotations

import inspect
import time
from typing import Any

from engine.store.base import Store
from engine.sync.models import Counts, Phase, Progress, ProgressCallback


class RunReporter:
    def __init__(
        self,
        store: Store,
        run_id: str,
        integration_id: str,
        callback: ProgressCallback | None,
        lease_seconds: int,
        interval: float = 1.0,
    ) -> None:
        self.store = store
        self.run_id = run_id
        self.integration_id = integration_id
        self.callback = callback
        self.lease_seconds = lease_seconds
        self.interval = interval
        self.counts: dict[Phase, Counts] = {}
        self._last_write = time.monotonic()

    def counts_for(self, phase: Phase) -> Counts:
        return self.counts.setdefault(phase, Counts())

    async def report(self, phase: Phase, stream: str | None) -> None:
        event = Progress(self.run_id, self.integration_id, phase, stream, self.counts_for(phase))
        if self.callback is not None:
            answer = self.callback(event.to_dict())
            if inspect.isawaitable(answer):
                await answer
        if time.monotonic() - self._last_write >= self.interval:
            await self.flush(event)

    async def flush(self, event: Progress | None = None) -> None:
        self._last_write = time.monotonic()
        await self.store.renew_lease(self.run_id, self.lease_seconds)
        progress: dict[str, Any] = event.to_dict() if event else {}
        await self.store.update_run(self.run_id, progress=progress, counters=self.totals())

    def totals(self) -> dict[str, int]:
        total = Counts()
        for counts in self.counts.values():
            total.add(counts)
        return total.to_dict()


__all__ = ["RunReporter"]
