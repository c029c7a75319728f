"""The Kiro entities a sync writes, behind one small interface per kind.

``ENTITY_KINDS["work_item"]`` and ``["comment"]`` load rows by id, build a new row from
mapped values, and put rows into a ``Batch``. Kiro ids of imported rows derive from the
integration and the external id (uuid5), so a crashed batch re-run writes the same rows
again instead of new ones.
"""

from __future__ import annotations

import dataclasses
import hashlib
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar

from engine.mapping.compiled import CompiledField
from engine.mapping.fields import get_value, set_value
from engine.store.base import Batch, Comment, Store, WorkItem

_NAMESPACE = uuid.UUID("0b7f9d3e-8a41-5c2f-b6e0-4d9a1c7e2f58")
_NAMESPACE_BYTES = _NAMESPACE.bytes


def kiro_id_for(integration_id: str, entity: str, external_id: str) -> str:
    """The Kiro id an imported entity gets: ``str(uuid.uuid5(namespace, name))``, computed
    without building a UUID object (one per imported record)."""
    name = f"{integration_id}:{entity}:{external_id}".encode()
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + name).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def assign(row: Any, fields: Mapping[str, CompiledField], values: Mapping[str, Any]) -> None:
    """Set mapped (Kiro-typed, users resolved) values on a row."""
    for name, value in values.items():
        item_field = fields.get(name)
        if item_field is not None:
            set_value(item_field.kiro, row, value)


def read(row: Any, item_field: CompiledField) -> Any:
    return get_value(item_field.kiro, row)


class EntityKind:
    entity: ClassVar[str]

    async def load(self, store: Store, ids: Sequence[str]) -> dict[str, Any]:
        raise NotImplementedError

    def new(self, kiro_id: str, project_id: str, parent_id: str | None, now: datetime) -> Any:
        raise NotImplementedError

    def add(self, batch: Batch, row: Any) -> None:
        raise NotImplementedError

    def copy(self, row: Any) -> Any:
        return dataclasses.replace(row)

    def touch(self, row: Any, now: datetime) -> None:
        row.updated_at = now
        if hasattr(row, "version"):
            row.version = (row.version or 0) + 1


class WorkItems(EntityKind):
    entity = "work_item"

    async def load(self, store: Store, ids: Sequence[str]) -> dict[str, Any]:
        return dict(await store.get_work_items(ids))

    def new(self, kiro_id: str, project_id: str, parent_id: str | None, now: datetime) -> Any:
        return WorkItem(id=kiro_id, project_id=project_id, title="", created_at=now, updated_at=now)

    def add(self, batch: Batch, row: Any) -> None:
        batch.work_items.append(row)


class Comments(EntityKind):
    entity = "comment"

    async def load(self, store: Store, ids: Sequence[str]) -> dict[str, Any]:
        return dict(await store.get_comments(ids))

    def new(self, kiro_id: str, project_id: str, parent_id: str | None, now: datetime) -> Any:
        assert parent_id is not None
        return Comment(id=kiro_id, work_item_id=parent_id, body="", created_at=now, updated_at=now)

    def add(self, batch: Batch, row: Any) -> None:
        batch.comments.append(row)


ENTITY_KINDS: dict[str, EntityKind] = {"work_item": WorkItems(), "comment": Comments()}

__all__ = ["ENTITY_KINDS", "EntityKind", "assign", "kiro_id_for", "read"]
