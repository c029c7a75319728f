"""Contract: projects (with their statuses), members and users."""

from __future__ import annotations

import pytest

from engine.errors import NotFoundError, ValidationError
from engine.store.base import DEFAULT_STATUSES
from engine.store.sqlstore import SqlStore


@pytest.mark.parametrize("project_id", ["project-123", "550e8400-e29b-41d4-a716-446655440000"])
async def test_projects_get_the_seed_statuses(store: SqlStore, project_id: str) -> None:
    project = await store.ensure_project(project_id, "Website")
    assert project.statuses == list(DEFAULT_STATUSES) == ["To Do", "In Progress", "Done"]
    assert project.name == "Website" and project.created_at is not None
    assert await store.get_project(project_id) == project
    assert await store.get_project("nope") is None


async def test_ensure_project_is_idempotent_and_names_an_unnamed_project(
    store: SqlStore,
) -> None:
    await store.ensure_project("p1")
    assert (await store.ensure_project("p1", "Named")).name == "Named"
    assert (await store.ensure_project("p1", "Renamed?")).name == "Named"


async def test_statuses_extend_per_project(store: SqlStore) -> None:
    await store.ensure_project("p1")
    await store.ensure_project("p2")
    await store.set_project_statuses("p1", ["To Do", "In Progress", "In Review", "Done"])
    p1, p2 = await store.get_project("p1"), await store.get_project("p2")
    assert p1 is not None and p1.statuses == ["To Do", "In Progress", "In Review", "Done"]
    assert p2 is not None and p2.statuses == list(DEFAULT_STATUSES)


@pytest.mark.parametrize(
    ("statuses", "message"),
    [([], "at least one"), (["Done", "Done"], "listed twice"), (["", "Done"], "non-empty")],
)
async def test_bad_status_lists_are_refused(
    store: SqlStore, statuses: list[str], message: str
) -> None:
    await store.ensure_project("p1")
    with pytest.raises(ValidationError, match=message):
        await store.set_project_statuses("p1", statuses)
    with pytest.raises(NotFoundError):
        await store.set_project_statuses("missing", ["A"])


async def test_member_roles(store: SqlStore) -> None:
    await store.ensure_project("p1")
    await store.add_member("p1", "u1", "viewer")
    await store.add_member("p1", "u1", "admin")
    await store.add_member("p1", "u2", "owner")
    assert await store.get_member_role("p1", "u1") == "admin"
    assert await store.get_member_role("p1", "u2") == "owner"
    assert await store.get_member_role("p1", "u3") is None
    assert await store.get_member_role("p2", "u1") is None
