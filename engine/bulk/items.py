"""One batch of validated work item rows -> Kiro rows, users and links, in one transaction.

For each row: its target (identity.py), its assignee (``assigneeEmail`` wins over
``assigneeId``; an unknown email becomes a new user, as a sync does; an unknown id is an
error), its parent, then the change: a new item is *created*; a stored one is *updated* when
a column the row carries differs (or the item was deleted: importing restores it, or its
link changes), else *skipped*. Two rows of one batch for the same item: the last one wins,
the earlier ones are skipped. The batch commits with ``apply_batch``; when the store refuses
it, every row of the batch fails and nothing of it is kept.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.bulk.identity import Identities
from engine.bulk.results import Counts, ImportResult
from engine.bulk.validation import BULK_KEY, WorkItemRow
from engine.errors import RecordError, StoreError
from engine.store.base import Batch, ExternalLink, Store, User, WorkItem
from engine.sync.users import user_id_for

# row column -> WorkItem attribute, for the columns copied as they are
_PLAIN = {
    "title": "title",
    "description": "description",
    "priority": "priority",
    "type": "type",
    "tags": "tags",
    "dueDate": "due_date",
    "completedAt": "completed_at",
}
_EXTERNAL = ("externalId", "externalKey", "externalUrl")


@dataclass(slots=True)
class _Plan:
    """What the batch will write, and the counts it will report once committed."""

    batch: Batch = field(default_factory=Batch)
    rows: dict[str, tuple[int, str]] = field(default_factory=dict)  # kiro id -> (index, outcome)
    new_users: dict[str, User] = field(default_factory=dict)


@dataclass(slots=True)
class _Lookups:
    identities: Identities
    users_by_email: dict[str, User]
    users_by_id: dict[str, User]


class WorkItemBatch:
    def __init__(
        self,
        store: Store,
        project_id: str,
        integration_id: str | None,
        default_status: str,
        now: datetime,
    ) -> None:
        self.store = store
        self.project_id = project_id
        self.integration_id = integration_id
        self.default_status = default_status
        self.now = now

    async def apply(self, rows: Sequence[tuple[int, WorkItemRow]], result: ImportResult) -> None:
        """Write the rows (``(index, row)``) and count them into ``result``."""
        lookups = await self._lookups([row for _, row in rows])
        plan = _Plan()
        skipped = Counts()
        for index, row in rows:
            try:
                self._plan_row(index, row, lookups, plan, skipped)
            except RecordError as exc:
                result.fail("workItems", index, str(exc))
        await self._commit(plan, skipped, result)

    async def _lookups(self, rows: list[WorkItemRow]) -> _Lookups:
        wanted = [
            kiro_id
            for row in rows
            for kiro_id in Identities.candidates(self.project_id, self.integration_id, row)
        ]
        links: dict[str, ExternalLink] = {}
        external = [row.externalId for row in rows if row.externalId is not None]
        if self.integration_id is not None and external:
            links = await self.store.get_links(self.integration_id, "work_item", external)
            wanted.extend(link.kiro_id for link in links.values())
        existing = await self.store.get_work_items(wanted)
        emails = [row.assigneeEmail for row in rows if row.assigneeEmail]
        user_ids = [row.assigneeId for row in rows if row.assigneeId]
        return _Lookups(
            Identities(self.project_id, self.integration_id, existing, links),
            await self.store.get_users_by_email(emails),
            await self.store.get_users(user_ids),
        )

    def _plan_row(
        self, index: int, row: WorkItemRow, lookups: _Lookups, plan: _Plan, skipped: Counts
    ) -> None:
        identities = lookups.identities
        kiro_id, stored = identities.target(row)
        changes = self._changes(row, kiro_id, lookups, plan)
        link = self._link(row, kiro_id, identities)
        if kiro_id in plan.rows:  # an earlier row of this batch for the same item
            self._drop(plan, kiro_id)
            skipped.skipped += 1
        item: WorkItem | None
        if stored is None:
            item = self._new(kiro_id, row, changes)
            outcome = "created"
        else:
            item, outcome = self._updated(stored, row, changes, link is not None)
        if item is not None:
            plan.batch.work_items.append(item)
        if link is not None:
            plan.batch.links.append(link)
        plan.rows[kiro_id] = (index, outcome)

    def _changes(
        self, row: WorkItemRow, kiro_id: str, lookups: _Lookups, plan: _Plan
    ) -> dict[str, Any]:
        """The WorkItem attributes the row sets (the columns it carries)."""
        given = row.model_fields_set
        changes = {attr: getattr(row, col) for col, attr in _PLAIN.items() if col in given}
        if row.status is not None:
            changes["status"] = row.status
        if given & {"assigneeId", "assigneeEmail"}:
            changes["assignee_id"] = self._assignee(row, lookups, plan)
        if "parentId" in given:
            parent = lookups.identities.parent(row.parentId) if row.parentId else None
            if parent == kiro_id:
                raise RecordError("parentId: an item cannot be its own parent")
            changes["parent_id"] = parent
        if "custom" in given:
            changes["custom"] = dict(row.custom)
        return changes

    def _assignee(self, row: WorkItemRow, lookups: _Lookups, plan: _Plan) -> str | None:
        email = row.assigneeEmail
        if email:
            user = lookups.users_by_email.get(email) or plan.new_users.get(email)
            if user is None:
                user = User(id=user_id_for(email), email=email)
                plan.new_users[email] = user
            return user.id
        if row.assigneeId:
            if row.assigneeId not in lookups.users_by_id:
                raise RecordError(f"assigneeId: unknown user {row.assigneeId!r}")
            return row.assigneeId
        return None

    def _link(self, row: WorkItemRow, kiro_id: str, identities: Identities) -> ExternalLink | None:
        """The integration's link for the row, when it is new or changes; else None."""
        if self.integration_id is None or row.externalId is None:
            return None
        previous = identities.links.get(row.externalId)
        if previous is not None and previous.kiro_id == kiro_id:
            key = row.externalKey or previous.external_key
            url = row.externalUrl or previous.external_url
            if (key, url) == (previous.external_key, previous.external_url):
                return None
            return dataclasses.replace(previous, external_key=key, external_url=url)
        return ExternalLink(
            integration_id=self.integration_id,
            entity="work_item",
            kiro_id=kiro_id,
            external_id=row.externalId,
            external_key=row.externalKey,
            external_url=row.externalUrl,
        )

    def _new(self, kiro_id: str, row: WorkItemRow, changes: dict[str, Any]) -> WorkItem:
        item = WorkItem(
            id=kiro_id,
            project_id=self.project_id,
            title=row.title,
            status=self.default_status,
            created_at=row.createdAt or self.now,
            updated_at=self.now,
        )
        for attr, value in changes.items():
            setattr(item, attr, value)
        item.custom = self._custom(row, item.custom)
        return item

    def _updated(
        self, stored: WorkItem, row: WorkItemRow, changes: dict[str, Any], relinked: bool
    ) -> tuple[WorkItem | None, str]:
        """The updated item (None when unchanged) and the outcome to count."""
        changes["custom"] = self._custom(row, changes.get("custom", stored.custom), stored)
        differs = any(getattr(stored, attr) != value for attr, value in changes.items())
        if not differs and stored.deleted_at is None:
            return None, "updated" if relinked else "skipped"
        item = dataclasses.replace(stored, **changes)
        item.deleted_at = None
        item.updated_at = self.now
        item.version = stored.version + 1
        return item, "updated"

    def _custom(
        self, row: WorkItemRow, custom: dict[str, Any], stored: WorkItem | None = None
    ) -> dict[str, Any]:
        """Without an integration, the row's external columns live in custom[BULK_KEY]: set
        when the import creates the item, kept up to date on the items that have them (an
        item a sync linked shows its link's values and gets none)."""
        kept = stored.custom.get(BULK_KEY) if stored is not None else None
        given = {c: getattr(row, c) for c in _EXTERNAL if c in row.model_fields_set}
        if self.integration_id is not None or (stored is not None and kept is None):
            return custom
        if not (given or kept):
            return custom
        external = {**(kept or {}), **given}
        external = {k: v for k, v in external.items() if v is not None}
        merged = {k: v for k, v in custom.items() if k != BULK_KEY}
        return {**merged, BULK_KEY: external} if external else merged

    @staticmethod
    def _drop(plan: _Plan, kiro_id: str) -> None:
        batch = plan.batch
        batch.work_items = [w for w in batch.work_items if w.id != kiro_id]
        batch.links = [link for link in batch.links if link.kiro_id != kiro_id]
        del plan.rows[kiro_id]

    async def _commit(self, plan: _Plan, skipped: Counts, result: ImportResult) -> None:
        batch = plan.batch
        batch.users = [u for u in plan.new_users.values() if _uses(batch.work_items, u.id)]
        if len(batch):
            try:
                await self.store.apply_batch(batch)
            except StoreError as exc:
                for index, _ in plan.rows.values():
                    result.fail("workItems", index, f"not stored: {exc}")
                result.counts["workItems"].skipped += skipped.skipped
                return
        counts = result.counts["workItems"]
        counts.skipped += skipped.skipped
        for _, outcome in plan.rows.values():
            setattr(counts, outcome, getattr(counts, outcome) + 1)


def _uses(items: list[WorkItem], user_id: str) -> bool:
    return any(item.assignee_id == user_id for item in items)
