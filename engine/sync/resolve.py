"""Applying a person's answer to a conflict left for manual resolution.

A resolution is ``kiro`` (keep Kiro's value), ``external`` (take the provider's) or
``value`` (a third value). Applying it sets the Kiro row and moves the link snapshot of the
field to the provider's value, so the ordinary machinery finishes the job: Kiro's (or the
chosen) value now differs from the snapshot and the next export sends it; the provider's
value equals the snapshot and the next import leaves it alone.

``resolve`` records and applies at once. A conflict resolved straight in the store
(``store.resolve_conflict``) is applied at the start of the next run by ``apply_resolved``.
Applied resolutions are marked ``<choice>:applied`` so they apply once.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from engine.errors import NotFoundError, ValidationError
from engine.mapping.fields import coerce, from_canonical, set_value
from engine.store.base import Batch, Conflict
from engine.sync.context import SyncContext, commit
from engine.sync.snapshot import snapshot_hash

CHOICES = ("kiro", "external", "value")
APPLIED = ":applied"


class ConflictResolver:
    def __init__(self, ctx: SyncContext) -> None:
        self.ctx = ctx

    async def resolve(self, conflict_id: str, resolution: str, value: Any = None) -> Conflict:
        if resolution not in CHOICES:
            problem = f"resolution: expected one of {', '.join(CHOICES)}"
            raise ValidationError(f"invalid resolution {resolution!r}", [problem])
        conflict = await self.ctx.store.get_conflict(conflict_id)
        if conflict is None or conflict.integration_id != self.ctx.integration_id:
            raise NotFoundError(f"conflict {conflict_id} does not exist", conflict_id=conflict_id)
        chosen = dataclasses.replace(conflict, resolution=resolution, resolved_value=value)
        await self._apply(chosen)
        return chosen

    async def apply_resolved(self) -> int:
        """Apply resolutions recorded since the last run; how many were applied."""
        resolved = await self.ctx.store.list_conflicts(self.ctx.integration_id, "resolved")
        waiting = [c for c in resolved if c.resolution in CHOICES]
        for conflict in waiting:
            await self._apply(conflict)
        return len(waiting)

    async def _apply(self, conflict: Conflict) -> None:
        ctx = self.ctx
        stream = ctx.mapping.export_stream(conflict.entity)
        links = await ctx.store.get_links_by_kiro(
            ctx.integration_id, conflict.entity, [conflict.kiro_id]
        )
        rows = await ctx.store.get_work_items([conflict.kiro_id])
        link, row = links.get(conflict.kiro_id), rows.get(conflict.kiro_id)
        batch = Batch()
        item_field = stream.fields.get(conflict.field) if stream else None
        if stream is not None and item_field is not None and link is not None and row is not None:
            chosen = _chosen_value(conflict, item_field, row)
            row = dataclasses.replace(row)
            if chosen is not _KEEP:
                set_value(item_field.kiro, row, chosen)
            # touched either way, so the next export finds it
            row.updated_at, row.version = ctx.now(), row.version + 1
            batch.work_items.append(row)
            snapshot = {**link.snapshot, conflict.field: conflict.external_value}
            fields = stream.field_set("in", ctx.enabled_options)
            batch.links.append(
                dataclasses.replace(
                    link,
                    snapshot=snapshot,
                    snapshot_hash=snapshot_hash(snapshot, fields),
                    synced_at=ctx.now(),
                )
            )
        batch.conflicts.append(
            dataclasses.replace(
                conflict,
                status="resolved",
                resolution=f"{conflict.resolution}{APPLIED}",
                resolved_at=conflict.resolved_at or ctx.now(),
            )
        )
        await commit(ctx.store, batch)
        ctx.open_conflicts.pop((conflict.kiro_id, conflict.field), None)


_KEEP = object()


def _chosen_value(conflict: Conflict, item_field: Any, row: Any) -> Any:
    if conflict.resolution == "kiro":
        return _KEEP
    if conflict.resolution == "external":
        return from_canonical(item_field.kiro, conflict.external_value)
    return coerce(item_field.kiro, conflict.resolved_value)


__all__ = ["APPLIED", "CHOICES", "ConflictResolver"]
