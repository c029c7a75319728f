"""Which work items an export covers: the request's filters, resolved against the project.

``filters`` are the seed's (engine.config.Filters) read in Kiro terms:

- ``statuses``: the project's statuses (synonyms and case as on import), any of;
- ``labels``: the item's tags; every listed label must be on the item;
- ``assignees``: Kiro user ids or emails, any of;
- ``dateRange``: the item's creation time, ``start`` and ``end`` inclusive, either open.

``projects`` names provider containers and has no meaning for a Kiro export: it is refused.
Deleted items are never exported.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pydantic

from engine.bulk.vocabulary import Vocabulary
from engine.config import DateRange, Filters
from engine.errors import NotFoundError, ValidationError
from engine.store.base import Store, WorkItem, WorkItemFilter


@dataclass(frozen=True, slots=True)
class ExportQuery:
    project_id: str
    integration_id: str | None = None
    statuses: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    assignees: tuple[str, ...] = ()
    created_from: datetime | None = None
    created_to: datetime | None = None

    @classmethod
    def from_filters(
        cls,
        project_id: str,
        integration_id: str | None = None,
        filters: Filters | Mapping[str, Any] | None = None,
    ) -> ExportQuery:
        parsed = _filters(filters)
        if parsed.projects:
            raise ValidationError(
                "filters.projects does not apply to an export",
                ["filters.projects: names provider containers; a Kiro export has none"],
            )
        dates = parsed.date_range
        return cls(
            project_id=project_id,
            integration_id=integration_id,
            statuses=tuple(parsed.statuses),
            labels=tuple(parsed.labels),
            assignees=tuple(parsed.assignees),
            created_from=dates.start if dates else None,
            created_to=dates.end if dates else None,
        )

    def filters(self) -> dict[str, Any]:
        """The wire ``filters`` this query was made from."""
        wire = Filters(
            statuses=list(self.statuses),
            labels=list(self.labels),
            assignees=list(self.assignees),
            date_range=DateRange(start=self.created_from, end=self.created_to),
        ).wire()
        wire.pop("projects", None)
        return wire


def _filters(filters: Filters | Mapping[str, Any] | None) -> Filters:
    if filters is None or isinstance(filters, Filters):
        return filters or Filters()
    try:
        return Filters.model_validate(dict(filters))
    except pydantic.ValidationError as exc:
        problems = [
            f"filters.{'.'.join(str(p) for p in error['loc'])}: "
            + ("unknown key" if error["type"] == "extra_forbidden" else error["msg"])
            for error in exc.errors(include_url=False, include_input=False)
        ]
        raise ValidationError(f"invalid {problems[0]}", problems) from None


@dataclass(frozen=True, slots=True)
class ResolvedQuery:
    """An ExportQuery checked against the store: what to ask it, what to check after."""

    store_filter: WorkItemFilter
    integration_ids: list[str]
    labels: frozenset[str] = field(default_factory=frozenset)
    created_from: datetime | None = None
    created_to: datetime | None = None
    matches_nothing: bool = False

    def keep(self, item: WorkItem) -> bool:
        if self.labels and not self.labels.issubset(item.tags):
            return False
        created = item.created_at
        if self.created_from is not None and (created is None or created < self.created_from):
            return False
        return self.created_to is None or (created is not None and created <= self.created_to)


async def resolve(store: Store, query: ExportQuery) -> ResolvedQuery:
    """NotFoundError for an unknown project or integration; ValidationError for a status
    the project does not have."""
    project = await store.get_project(query.project_id)
    if project is None:
        raise NotFoundError("Project not found", project_id=query.project_id)
    statuses = _statuses(Vocabulary(project.statuses), query.statuses)
    assignee_ids = await _assignee_ids(store, query.assignees)
    return ResolvedQuery(
        store_filter=WorkItemFilter(
            project_id=query.project_id,
            statuses=statuses,
            tags=query.labels,
            assignee_ids=assignee_ids,
        ),
        integration_ids=await _integrations(store, query),
        labels=frozenset(query.labels),
        created_from=query.created_from,
        created_to=query.created_to,
        matches_nothing=bool(query.assignees) and not assignee_ids,
    )


def _statuses(vocabulary: Vocabulary, wanted: Sequence[str]) -> list[str]:
    found, problems = [], []
    for name in wanted:
        try:
            found.append(vocabulary.status(name))
        except ValueError as exc:
            problems.append(f"filters.statuses: {exc}")
    if problems:
        raise ValidationError(problems[0], problems)
    return found


async def _assignee_ids(store: Store, assignees: Sequence[str]) -> list[str]:
    emails = [a for a in assignees if "@" in a]
    by_email = await store.get_users_by_email(emails) if emails else {}
    ids = [a for a in assignees if "@" not in a]
    return list(dict.fromkeys([*ids, *(u.id for u in by_email.values())]))


async def _integrations(store: Store, query: ExportQuery) -> list[str]:
    """Whose links give the external columns: the one named, else the project's (oldest
    first; the first that links an item wins)."""
    if query.integration_id is not None:
        integration = await store.get_integration(query.integration_id)
        if integration is None or integration.project_id != query.project_id:
            raise NotFoundError("Integration not found", integration_id=query.integration_id)
        return [integration.id]
    found = await store.list_integrations(query.project_id)
    ordered = sorted(found, key=lambda i: (i.created_at is None, i.created_at, i.id))
    return [i.id for i in ordered]
