"""Bulk import: ``importData`` (or the rows of a file) -> Kiro, validated row by row.

    importer = BulkImporter(store, "project-1", integration_id=None)
    result = await importer.run(work_items=rows, users=[...], projects=[...])
    result.to_dict()  # {created, updated, skipped, failed, workItems: {...}, errors: [...]}

Order: ``projects`` rows (they may add statuses), ``users``, then ``workItems`` in batches of
``batch_size`` rows. Each row is validated on its own (validation.py); a bad row is counted
failed with its index and reason and the good rows go in. Each batch commits in one
transaction (``Store.apply_batch``): all of its rows or none. Rows are read from the
iterables as the batches need them, so a file streams through in constant memory.

With ``integration_id`` the rows belong to that integration's project and each row with an
``externalId`` is linked to it, with an empty snapshot: the next sync finds the item by its
link and reconciles it (no base to merge against, so what the provider holds wins where the
two differ, and the snapshot is recorded).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from itertools import islice
from typing import Any, TypeVar

from engine.bulk.items import WorkItemBatch
from engine.bulk.people import import_projects, import_users
from engine.bulk.results import DEFAULT_MAX_ERRORS, ImportResult
from engine.bulk.validation import WorkItemRow, parse_work_item
from engine.bulk.vocabulary import Vocabulary
from engine.errors import NotFoundError, RecordError, ValidationError
from engine.store.base import Store

DEFAULT_BATCH_SIZE = 500
IMPORT_KEYS = ("workItems", "users", "projects")
Progress = Callable[[int], None]  # called with the number of rows handled so far
T = TypeVar("T")


def _utcnow() -> datetime:
    return datetime.now(UTC)


class BulkImporter:
    def __init__(
        self,
        store: Store,
        project_id: str,
        *,
        integration_id: str | None = None,
        create_project: bool = False,
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_errors: int = DEFAULT_MAX_ERRORS,
        clock: Callable[[], datetime] | None = None,
        progress: Progress | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValidationError("batch size must be at least 1", ["batchSize: must be >= 1"])
        self.store = store
        self.project_id = project_id
        self.integration_id = integration_id
        self.create_project = create_project
        self.batch_size = batch_size
        self.max_errors = max_errors
        self.clock = clock or _utcnow
        self.progress = progress
        self.done = 0

    async def run(
        self,
        work_items: Iterable[Any] = (),
        users: Iterable[Any] = (),
        projects: Iterable[Any] = (),
    ) -> ImportResult:
        result = ImportResult(max_errors=self.max_errors)
        await self._check_target()
        for chunk in _chunks(enumerate(projects), self.batch_size):
            await import_projects(self.store, self.project_id, chunk, result)
            self._advance(len(chunk))
        for chunk in _chunks(enumerate(users), self.batch_size):
            await import_users(self.store, chunk, result)
            self._advance(len(chunk))
        await self._work_items(work_items, result)
        return result

    async def _check_target(self) -> None:
        if self.create_project:
            await self.store.ensure_project(self.project_id)
        elif await self.store.get_project(self.project_id) is None:
            raise NotFoundError("Project not found", project_id=self.project_id)
        if self.integration_id is None:
            return
        integration = await self.store.get_integration(self.integration_id)
        if integration is None or integration.project_id != self.project_id:
            raise NotFoundError("Integration not found", integration_id=self.integration_id)

    async def _work_items(self, rows: Iterable[Any], result: ImportResult) -> None:
        project = await self.store.get_project(self.project_id)
        assert project is not None
        vocabulary = Vocabulary(project.statuses)
        for chunk in _chunks(enumerate(rows), self.batch_size):
            valid: list[tuple[int, WorkItemRow]] = []
            for index, raw in chunk:
                try:
                    valid.append((index, parse_work_item(raw, vocabulary)))
                except RecordError as exc:
                    result.fail("workItems", index, str(exc))
            batch = WorkItemBatch(
                self.store,
                self.project_id,
                self.integration_id,
                vocabulary.default_status,
                self.clock(),
            )
            await batch.apply(valid, result)
            self._advance(len(chunk))

    def _advance(self, rows: int) -> None:
        self.done += rows
        if self.progress is not None:
            self.progress(self.done)


def import_arrays(data: Mapping[str, Any]) -> tuple[Iterable[Any], Iterable[Any], Iterable[Any]]:
    """``importData``'s ``(workItems, users, projects)``; ValidationError for another key or
    an array that is not one (a list, or any iterable of rows: a file streams)."""
    unknown = sorted(set(data) - set(IMPORT_KEYS))
    problems = [f"importData.{key}: unknown key" for key in unknown]
    for key in IMPORT_KEYS:
        value = data.get(key)
        if value is not None and (
            isinstance(value, str | bytes | Mapping) or not hasattr(value, "__iter__")
        ):
            problems.append(f"importData.{key}: must be an array of rows")
    if problems:
        raise ValidationError(f"invalid {problems[0]}", problems)
    work_items, users, projects = (data.get(key) or () for key in IMPORT_KEYS)
    return work_items, users, projects


def _chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk
