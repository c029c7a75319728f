"""The JQL subset: parsing, precedence, dates at minute resolution, Jira's error wording."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.simulators.jql import JqlError, Node, Term, parse, parse_jql_date, tokenize

NOW = datetime(2025, 1, 31, 14, 5, 30, tzinfo=UTC)


@dataclass
class Item:
    project: str
    status: str
    updated: datetime
    labels: list[str] = field(default_factory=list)
    assignee: str | None = None


class Ctx:
    now = NOW

    def values(self, item: Item, name: str) -> list[Any]:
        return {
            "project": [item.project],
            "status": [item.status],
            "updated": [item.updated],
            "labels": item.labels,
            "assignee": [item.assignee],
        }[name]

    def known(self, name: str) -> set[str] | None:
        return {"proj", "ops"} if name == "project" else None

    def function(self, name: str) -> list[str]:
        if name.lower() == "currentuser":
            return ["me"]
        raise JqlError(f"Unable to find JQL function '{name}()'.")


def matching(jql: str, items: list[Item]) -> list[Item]:
    query = parse(jql, Ctx())
    return [i for i in items if query.matches(Ctx(), i)]


def test_tokenize_strings_words_and_operators() -> None:
    tokens = tokenize('project = "My Project" AND updated >= -15m')
    assert [(t.kind, t.text) for t in tokens] == [
        ("word", "project"),
        ("op", "="),
        ("string", "My Project"),
        ("word", "AND"),
        ("word", "updated"),
        ("op", ">="),
        ("word", "-15m"),
    ]


def test_and_binds_tighter_than_or() -> None:
    query = parse("project = PROJ OR project = OPS AND status = Done", Ctx())
    assert isinstance(query.where, Node) and query.where.kind == "or"
    assert isinstance(query.where.children[1], Node) and query.where.children[1].kind == "and"


def test_order_by_fields_and_directions() -> None:
    query = parse("project = PROJ ORDER BY updated ASC, key DESC", Ctx())
    assert query.order == [("updated", False), ("key", True)]
    assert parse("ORDER BY updated", Ctx()).where is None


def test_minute_resolution_dates() -> None:
    items = [
        Item("PROJ", "To Do", datetime(2025, 1, 31, 14, 4, 59, tzinfo=UTC)),
        Item("PROJ", "To Do", datetime(2025, 1, 31, 14, 5, 0, tzinfo=UTC)),
        Item("PROJ", "To Do", datetime(2025, 1, 31, 14, 5, 42, tzinfo=UTC)),
    ]
    hits = matching('project = PROJ AND updated >= "2025-01-31 14:05"', items)
    assert hits == items[1:]
    assert matching('updated >= "2025/01/31 14:05"', items) == items[1:]
    assert matching('updated < "2025-01-31"', items) == []


def test_relative_and_invalid_dates() -> None:
    assert parse_jql_date("-15m", "updated", NOW) == datetime(2025, 1, 31, 13, 50, 30, tzinfo=UTC)
    assert parse_jql_date("-1w 2d", "updated", NOW) == datetime(2025, 1, 22, 14, 5, 30, tzinfo=UTC)
    with pytest.raises(
        JqlError,
        match=re.escape(
            "Date value '2025-01-31 14:05:12' for field 'updated' is invalid. Valid formats"
        ),
    ):
        parse('updated >= "2025-01-31 14:05:12"', Ctx())


def test_in_not_in_empty_and_functions() -> None:
    items = [
        Item("PROJ", "To Do", NOW, ["bug", "ui"], "me"),
        Item("OPS", "Done", NOW, [], None),
        Item("PROJ", "In Progress", NOW, ["docs"], "you"),
    ]
    assert matching("project in (PROJ, OPS) AND status in ('To Do', Done)", items) == items[:2]
    assert matching("labels in (ui, docs)", items) == [items[0], items[2]]
    assert matching("labels = bug", items) == [items[0]]
    assert matching("labels not in (bug)", items) == [items[2]]
    assert matching("labels is EMPTY", items) == [items[1]]
    assert matching("assignee is not EMPTY", items) == [items[0], items[2]]
    assert matching("assignee = currentUser()", items) == [items[0]]
    assert matching("NOT project = PROJ", items) == [items[1]]
    assert matching("(project = OPS OR labels = docs) AND status != Done", items) == [items[2]]


@pytest.mark.parametrize(
    ("jql", "message"),
    [
        ("nosuch = 1", "Field 'nosuch' does not exist or you do not have permission to view it."),
        ("project = NOPE", "The value 'NOPE' does not exist for the field 'project'."),
        ("project PROJ", "Error in the JQL Query: Expecting operator"),
        ("project = PROJ AND", "Error in the JQL Query:"),
        ("project in (PROJ", "Error in the JQL Query:"),
        ("project = PROJ ORDER BY nosuch", "Field 'nosuch' does not exist"),
        ("assignee = nobody()", "Unable to find JQL function 'nobody()'."),
    ],
)
def test_errors_carry_jiras_wording(jql: str, message: str) -> None:
    with pytest.raises(JqlError) as caught:
        parse(jql, Ctx())
    assert str(caught.value).startswith(message)


def test_terms_keep_values() -> None:
    query = parse('status = "In Progress"', Ctx())
    assert query.where == Term("status", "=", ["In Progress"])
