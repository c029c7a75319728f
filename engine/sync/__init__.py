"""The sync engine: import, export, bidirectional merge, conflicts, echo suppression.

The Engine facade (engine/facade.py) drives it through ``SyncService``::

    service = SyncService(store, catalog, registry=registry, clock=clock, node="node-1")
    service.validate_config("github", config_dict)          # connect time: keys, extra, mapping
    handle = await service.begin(integration, credentials, {"batchSize": 200}, "api", progress)
    handle.run_id                                           # for the 202 answer
    result = await handle.wait()                            # SyncResult
    counts = await service.apply_webhook(integration, credentials, events)
    await service.resolve_conflict(integration, conflict_id, "kiro")

See docs/sync.md.
"""

from engine.config import SyncOptions
from engine.sync.models import Counts, Progress, ProgressCallback, SyncResult
from engine.sync.runner import RunHandle, SyncService
from engine.sync.webhook_apply import WebhookEventLike

__all__ = [
    "Counts",
    "Progress",
    "ProgressCallback",
    "RunHandle",
    "SyncOptions",
    "SyncResult",
    "SyncService",
    "WebhookEventLike",
]
