"""The ``users`` and ``projects`` rows of an import.

Users are shared by every project, so an import only *creates* the users it does not know
(matched by email, case-insensitively); a user that exists is never changed by a project's
import (counted skipped). A new user gets the row's ``id``, or the id a sync would give the
email (engine.sync.users.user_id_for), so people imported and people synced are one.

A ``projects`` row describes the project imported into (its ``id``, when given, must be that
project's): ``statuses`` are added to the project's statuses (never removed, so existing
items stay valid), and ``name`` names a project that has no name yet. Project rows are applied
first, so the statuses they add are valid for the work items of the same import.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from engine.bulk.results import ImportResult
from engine.bulk.validation import ProjectRow, UserRow, parse_project, parse_user
from engine.bulk.vocabulary import name_key
from engine.errors import RecordError, StoreError
from engine.store.base import Batch, Store, User
from engine.sync.users import user_id_for


async def import_users(store: Store, rows: Sequence[tuple[int, Any]], result: ImportResult) -> None:
    parsed: list[tuple[int, UserRow]] = []
    for index, raw in rows:
        try:
            parsed.append((index, parse_user(raw)))
        except RecordError as exc:
            result.fail("users", index, str(exc))
    by_email = await store.get_users_by_email([row.email for _, row in parsed])
    by_id = await store.get_users([row.id for _, row in parsed if row.id])
    new: dict[str, tuple[int, User]] = {}
    for index, row in parsed:
        try:
            user = _new_user(row, by_email, by_id)
        except RecordError as exc:
            result.fail("users", index, str(exc))
            continue
        if user is None or user.email in new:
            result.counts["users"].skipped += 1
        else:
            new[row.email] = (index, user)
    await _commit_users(store, list(new.values()), result)


def _new_user(row: UserRow, by_email: dict[str, User], by_id: dict[str, User]) -> User | None:
    known = by_email.get(row.email)
    if known is not None:
        if row.id is not None and row.id != known.id:
            raise RecordError(f"email: {row.email} belongs to another user ({known.id})")
        return None
    if row.id is not None and row.id in by_id:
        raise RecordError(f"id: user {row.id} exists with another email")
    return User(id=row.id or user_id_for(row.email), email=row.email, name=row.name)


async def _commit_users(store: Store, new: list[tuple[int, User]], result: ImportResult) -> None:
    if not new:
        return
    try:
        await store.apply_batch(Batch(users=[user for _, user in new]))
    except StoreError as exc:
        for index, _ in new:
            result.fail("users", index, f"not stored: {exc}")
        return
    result.counts["users"].created += len(new)


async def import_projects(
    store: Store, project_id: str, rows: Sequence[tuple[int, Any]], result: ImportResult
) -> None:
    for index, raw in rows:
        try:
            changed = await _apply_project(store, project_id, parse_project(raw))
        except RecordError as exc:
            result.fail("projects", index, str(exc))
            continue
        counts = result.counts["projects"]
        if changed:
            counts.updated += 1
        else:
            counts.skipped += 1


async def _apply_project(store: Store, project_id: str, row: ProjectRow) -> bool:
    if row.id is not None and row.id != project_id:
        raise RecordError(
            f"id: a projects row describes the project imported into ({project_id}), not {row.id}"
        )
    project = await store.get_project(project_id)
    if project is None:
        raise RecordError(f"project {project_id} does not exist")
    changed = False
    if row.name and not project.name:
        await store.ensure_project(project_id, row.name)
        changed = True
    known = {name_key(s) for s in project.statuses}
    added = [s for s in row.statuses if name_key(s) not in known]
    if added:
        await store.set_project_statuses(project_id, [*project.statuses, *added])
        changed = True
    return changed
