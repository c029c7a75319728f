"""The Kiro side: projects and their statuses, members, users, work items, comments."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Sequence
from typing import Any, get_args

from engine.errors import NotFoundError, ValidationError
from engine.store import tables as t
from engine.store.base import Comment, Project, Role, User, WorkItem, WorkItemFilter
from engine.store.core import SqlCore

ROLES: tuple[str, ...] = get_args(Role)


def normalize_email(email: str | None) -> str | None:
    """Emails are matched case-insensitively: stored and looked up trimmed and lower-cased."""
    if email is None:
        return None
    cleaned = email.strip().lower()
    return cleaned or None


def normalize_user(user: User) -> User:
    email = normalize_email(user.email)
    return user if email == user.email else dataclasses.replace(user, email=email)


class KiroQueries(SqlCore):
    async def ensure_project(self, project_id: str, name: str = "") -> Project:
        """The project, created (with the default statuses) when it does not exist yet."""
        async with self.transaction() as s:
            await s.execute(
                "INSERT INTO projects (id, name, statuses, created_at) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (id) DO NOTHING",
                t.PROJECTS.encode(Project(id=project_id, name=name, created_at=self.now())),
            )
            if name:
                await s.execute(
                    "UPDATE projects SET name = %s WHERE id = %s AND name = ''", (name, project_id)
                )
            rows = await self.select(s, t.PROJECTS, "id = %s", (project_id,))
        project: Project = rows[0]
        return project

    async def get_project(self, project_id: str) -> Project | None:
        found: Project | None = await self.query_one(t.PROJECTS, "id = %s", (project_id,))
        return found

    async def set_project_statuses(self, project_id: str, statuses: Sequence[str]) -> None:
        cleaned = _check_statuses(statuses)
        async with self.transaction() as s:
            found = await self.update_row(s, t.PROJECTS, (project_id,), {"statuses": cleaned})
        if not found:
            raise NotFoundError(f"project {project_id} does not exist", project_id=project_id)

    async def add_member(self, project_id: str, user_id: str, role: Role) -> None:
        if role not in ROLES:
            raise ValidationError(
                f"unknown role {role!r}; valid: {', '.join(ROLES)}", problems=[f"role: {role}"]
            )
        async with self.transaction() as s:
            await s.execute(
                "INSERT INTO project_members (project_id, user_id, role) VALUES (%s, %s, %s) "
                "ON CONFLICT (project_id, user_id) DO UPDATE SET role = excluded.role",
                (project_id, user_id, role),
            )

    async def get_member_role(self, project_id: str, user_id: str) -> Role | None:
        async with self.transaction() as s:
            row = await s.fetchone(
                "SELECT role FROM project_members WHERE project_id = %s AND user_id = %s",
                (project_id, user_id),
            )
        role: Role | None = row[0] if row else None
        return role

    async def get_users_by_email(self, emails: Sequence[str]) -> dict[str, User]:
        """Users whose email matches one of ``emails``, keyed by the lower-cased email."""
        wanted = sorted({e for e in map(normalize_email, emails) if e})
        if not wanted:
            return {}
        users: list[User] = await self.query(t.USERS, self.in_list("email"), (wanted,))
        return {u.email: u for u in users if u.email}

    async def get_users(self, ids: Sequence[str]) -> dict[str, User]:
        return await self._by_ids(t.USERS, ids)

    async def get_work_items(self, ids: Sequence[str]) -> dict[str, WorkItem]:
        return await self._by_ids(t.WORK_ITEMS, ids)

    async def get_comments(self, ids: Sequence[str]) -> dict[str, Comment]:
        return await self._by_ids(t.COMMENTS, ids)

    async def _by_ids(self, table: t.Table, ids: Sequence[str]) -> dict[str, Any]:
        if not ids:
            return {}
        rows = await self.query(table, self.in_list("id"), (list(dict.fromkeys(ids)),))
        return {row.id: row for row in rows}

    async def iter_work_items(
        self, query: WorkItemFilter, batch_size: int = 1000
    ) -> AsyncIterator[list[WorkItem]]:
        """A project's work items in batches ordered by id (keyset pages, one query each)."""
        where, params = self._work_item_filter(query)
        after = ""
        while True:
            batch: list[WorkItem] = await self.query(
                t.WORK_ITEMS,
                f"{where} AND id > %s",
                (*params, after),
                f"ORDER BY id LIMIT {batch_size:d}",
            )
            if not batch:
                return
            yield batch
            if len(batch) < batch_size:
                return
            after = batch[-1].id

    async def iter_comments(
        self, work_item_ids: Sequence[str], batch_size: int = 1000
    ) -> AsyncIterator[list[Comment]]:
        """Comments of the given work items in batches ordered by id."""
        after = ""
        while work_item_ids:
            batch: list[Comment] = await self.query(
                t.COMMENTS,
                f"{self.in_list('work_item_id')} AND id > %s",
                (list(work_item_ids), after),
                f"ORDER BY id LIMIT {batch_size:d}",
            )
            if batch:
                yield batch
            if len(batch) < batch_size:
                return
            after = batch[-1].id

    def _work_item_filter(self, query: WorkItemFilter) -> tuple[str, list[Any]]:
        clauses: list[str] = ["project_id = %s"]
        params: list[Any] = [query.project_id]
        if query.statuses:
            clauses.append(self.in_list("status"))
            params.append(list(query.statuses))
        if query.assignee_ids:
            clauses.append(self.in_list("assignee_id"))
            params.append(list(query.assignee_ids))
        if query.tags:
            clauses.append(self.dialect.overlaps.format(column="tags"))
            params.append(list(query.tags))
        if query.updated_from is not None:
            clauses.append("updated_at >= %s")
            params.append(t.to_utc(query.updated_from))
        if query.updated_to is not None:
            clauses.append("updated_at <= %s")
            params.append(t.to_utc(query.updated_to))
        if not query.include_deleted:
            clauses.append("deleted_at IS NULL")
        return " AND ".join(clauses), params


def _check_statuses(statuses: Sequence[str]) -> list[str]:
    cleaned = [s.strip() for s in statuses if isinstance(s, str)]
    problems = []
    if len(cleaned) != len(statuses) or not all(cleaned):
        problems.append("statuses: every status must be a non-empty string")
    if not cleaned:
        problems.append("statuses: at least one status is needed")
    if len(set(cleaned)) != len(cleaned):
        problems.append("statuses: a status is listed twice")
    if problems:
        raise ValidationError(problems[0], problems=problems)
    return cleaned
