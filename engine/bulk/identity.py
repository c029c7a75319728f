"""Where an imported work item row goes: which Kiro id it creates or updates.

A row is found again on re-import, so importing the same file twice updates instead of
duplicating:

- ``id`` of an item of this project: that item. An ``id`` of another project's item (a file
  exported there) is never touched: the row becomes a copy in this project, with an id
  derived from the project and the original id, so importing the file again updates the
  copy. An ``id`` nobody has yet is created as given.
- ``externalId`` with an integration: the item the integration's link names; else the id the
  sync itself would give that external id (engine.sync.entities.kiro_id_for), so the next
  sync finds the item and its link.
- ``externalId`` without an integration: an id derived from the project and the external id
  (the bulk-import namespace).
- neither: a new item every time.

``parentId`` follows the ``id`` rules, so parents and children copied together stay
together.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from engine.bulk.validation import WorkItemRow
from engine.errors import RecordError
from engine.store.base import ExternalLink, WorkItem
from engine.sync.entities import kiro_id_for

_NAMESPACE = uuid.UUID("3c5e9a10-7b2d-5f4e-8a61-92d0c4b7e1f3")


def copy_id(project_id: str, source_id: str) -> str:
    """The id a copy of another project's item gets in ``project_id``."""
    return str(uuid.uuid5(_NAMESPACE, f"copy:{project_id}:{source_id}"))


def external_item_id(project_id: str, external_id: str) -> str:
    """The id of the item an integration-less import gives ``external_id``."""
    return str(uuid.uuid5(_NAMESPACE, f"external:{project_id}:{external_id}"))


@dataclass(frozen=True, slots=True)
class Identities:
    """Resolves the rows of one batch, given the items and links looked up for it."""

    project_id: str
    integration_id: str | None
    existing: Mapping[str, WorkItem]
    links: Mapping[str, ExternalLink]

    @staticmethod
    def candidates(project_id: str, integration_id: str | None, row: WorkItemRow) -> Iterable[str]:
        """Every id the row may resolve to (to look up in one query per batch)."""
        for given in (row.id, row.parentId):
            if given is not None:
                yield given
                yield copy_id(project_id, given)
        if row.externalId is not None:
            if integration_id is not None:
                yield kiro_id_for(integration_id, "work_item", row.externalId)
            else:
                yield external_item_id(project_id, row.externalId)

    def target(self, row: WorkItemRow) -> tuple[str, WorkItem | None]:
        """The id the row writes and the stored item it updates (None: it creates)."""
        if row.id is not None:
            return self._by_id(row.id)
        if row.externalId is None:
            return str(uuid.uuid4()), None
        if self.integration_id is None:
            return self._mine(external_item_id(self.project_id, row.externalId))
        link = self.links.get(row.externalId)
        if link is not None and self._ours(link.kiro_id):
            return link.kiro_id, self.existing[link.kiro_id]
        return self._mine(kiro_id_for(self.integration_id, "work_item", row.externalId))

    def parent(self, parent_id: str) -> str:
        return self._by_id(parent_id)[0]

    def _by_id(self, given: str) -> tuple[str, WorkItem | None]:
        if self._ours(given):
            return given, self.existing[given]
        copy = copy_id(self.project_id, given)
        if self._ours(copy) or given in self.existing:
            return self._mine(copy)
        return given, None

    def _mine(self, kiro_id: str) -> tuple[str, WorkItem | None]:
        found = self.existing.get(kiro_id)
        if found is not None and found.project_id != self.project_id:
            raise RecordError(f"work item {kiro_id} belongs to another project")
        return kiro_id, found

    def _ours(self, kiro_id: str) -> bool:
        found = self.existing.get(kiro_id)
        return found is not None and found.project_id == self.project_id
