"""Row validation: every rule of an imported row, and every problem of a row reported at once."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from engine.bulk.validation import parse_project, parse_user, parse_work_item
from engine.bulk.vocabulary import Vocabulary
from engine.errors import RecordError

DEFAULT = Vocabulary(["To Do", "In Progress", "Done"])


def reason(raw: object, vocabulary: Vocabulary = DEFAULT) -> str:
    with pytest.raises(RecordError) as caught:
        parse_work_item(raw, vocabulary)
    return str(caught.value)


def test_a_title_is_required() -> None:
    assert reason({"status": "Done"}) == "title: required"
    assert "title: a title is required" in reason({"title": "   "})
    assert "title: a title is required" in reason({"title": None})


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("Done", "Done"),
        ("done", "Done"),
        ("DONE", "Done"),
        ("closed", "Done"),
        ("Resolved", "Done"),
        ("todo", "To Do"),
        ("to-do", "To Do"),
        ("TO_DO", "To Do"),
        ("open", "To Do"),
        ("in progress", "In Progress"),
        ("In-Progress", "In Progress"),
        ("doing", "In Progress"),
    ],
)
def test_statuses_match_case_insensitively_and_by_synonym(given: str, stored: str) -> None:
    assert parse_work_item({"title": "t", "status": given}, DEFAULT).status == stored


def test_an_unknown_status_is_refused_with_the_projects_statuses() -> None:
    assert reason({"title": "t", "status": "Blocked"}) == (
        "status: unknown status 'Blocked' (the project's statuses: To Do, In Progress, Done)"
    )


def test_a_project_with_its_own_statuses_accepts_them_and_synonyms_only_of_those() -> None:
    custom = Vocabulary(["Backlog", "Blocked", "Shipped"])
    assert parse_work_item({"title": "t", "status": "blocked"}, custom).status == "Blocked"
    # "closed" means Done, which this project does not have
    assert "unknown status 'closed'" in reason({"title": "t", "status": "closed"}, custom)
    # a status a project has takes precedence over a synonym of another
    assert parse_work_item({"title": "t", "status": "backlog"}, custom).status == "Backlog"


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("High", "high"),
        ("P0", "urgent"),
        ("critical", "urgent"),
        ("minor", "low"),
        ("normal", "medium"),
    ],
)
def test_priorities_are_mapped(given: str, stored: str) -> None:
    assert parse_work_item({"title": "t", "priority": given}, DEFAULT).priority == stored


def test_an_unknown_priority_is_refused() -> None:
    assert reason({"title": "t", "priority": "whenever"}) == (
        "priority: unknown priority 'whenever' (valid: low, medium, high, urgent)"
    )


@pytest.mark.parametrize(
    ("given", "moment"),
    [
        ("2025-03-01", datetime(2025, 3, 1, tzinfo=UTC)),
        ("2025-03-01T09:30:00Z", datetime(2025, 3, 1, 9, 30, tzinfo=UTC)),
        ("2025-03-01T09:30:00+02:00", datetime(2025, 3, 1, 7, 30, tzinfo=UTC)),
        ("2025-03-01T09:30:00.250", datetime(2025, 3, 1, 9, 30, 0, 250000, tzinfo=UTC)),
        (datetime(2025, 3, 1, 9, 30), datetime(2025, 3, 1, 9, 30, tzinfo=UTC)),
        (date(2025, 3, 1), datetime(2025, 3, 1, tzinfo=UTC)),
        (
            datetime(2025, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=-5))),
            datetime(2025, 3, 1, 14, 30, tzinfo=UTC),
        ),
    ],
)
def test_dates_are_iso_8601_and_stored_in_utc(given: object, moment: datetime) -> None:
    assert parse_work_item({"title": "t", "dueDate": given}, DEFAULT).dueDate == moment


@pytest.mark.parametrize("given", ["31/01/2025", "next friday", "2025-13-01", 45000])
def test_dates_that_are_not_iso_8601_are_refused(given: object) -> None:
    assert reason({"title": "t", "dueDate": given}).startswith("dueDate: not an ISO 8601 date")


def test_emails_are_checked_and_lower_cased() -> None:
    row = parse_work_item({"title": "t", "assigneeEmail": " Ada@Example.COM "}, DEFAULT)
    assert row.assigneeEmail == "ada@example.com"
    for bad in ("ada", "ada@", "@example.com", "ada@example", "a da@example.com", "a@b@c.com"):
        assert reason({"title": "t", "assigneeEmail": bad}).startswith(
            "assigneeEmail: not a valid email address"
        ), bad


def test_tags_from_a_list_comma_separated_text_or_a_json_array() -> None:
    def tags(value: object) -> list[str]:
        return parse_work_item({"title": "t", "tags": value}, DEFAULT).tags

    assert tags(["bug", " ui ", "bug", ""]) == ["bug", "ui"]
    assert tags("bug, ui ,,api") == ["bug", "ui", "api"]
    assert tags('["a, b", "c"]') == ["a, b", "c"]
    assert tags("") == []
    assert "tags: starts with '[' but is not a JSON array" in reason({"title": "t", "tags": "[x"})


def test_custom_is_an_object_or_its_json_text_and_the_bulk_key_is_reserved() -> None:
    row = parse_work_item({"title": "t", "custom": '{"points": 3}'}, DEFAULT)
    assert row.custom == {"points": 3}
    assert "custom: expected a JSON object" in reason({"title": "t", "custom": "{oops"})
    assert "custom: expected an object" in reason({"title": "t", "custom": [1]})
    assert "reserved" in reason({"title": "t", "custom": {"bulkImport": {}}})
    assert "custom: a[0]: contains a NUL" in reason({"title": "t", "custom": {"a": ["\x00"]}})
    deep: list[Any] = []
    for _ in range(300):  # orjson reads 1024 levels but writes only 255: was a TypeError
        deep = [deep]
    assert "nested deeper than 100 levels" in reason({"title": "t", "custom": {"d": deep}})


def test_headers_match_leniently_and_unknown_or_repeated_columns_are_named() -> None:
    row = parse_work_item({"Title": "t", "Due Date": "2025-01-02", "assignee_email": ""}, DEFAULT)
    assert row.dueDate == datetime(2025, 1, 2, tzinfo=UTC)
    assert row.model_fields_set == {"title", "dueDate", "assigneeEmail"}
    assert reason({"title": "t", "colour": "red"}).startswith("unknown column 'colour' (valid: id,")
    assert reason({"title": "t", "dueDate": "", "due_date": ""}) == "dueDate: given twice"


def test_numbers_from_spreadsheets_are_text_and_empty_cells_are_null() -> None:
    row = parse_work_item({"title": 2024, "externalId": 42.0, "description": ""}, DEFAULT)
    assert (row.title, row.externalId, row.description) == ("2024", "42", None)
    assert "type: expected text, not true/false" in reason({"title": "t", "type": True})
    assert "description: contains a NUL character" in reason({"title": "t", "description": "a\x00"})


def test_every_problem_of_a_row_is_reported_at_once() -> None:
    text = reason(
        {"title": "", "status": "nope", "dueDate": "soon", "assigneeEmail": "x", "extra": 1}
    )
    for part in ("unknown column 'extra'", "title:", "status:", "dueDate:", "assigneeEmail:"):
        assert part in text
    assert text.count("; ") == 4


def test_ids_and_titles_have_a_length_limit() -> None:
    assert reason({"title": "t", "id": "x" * 201}) == (
        "id: String should have at most 200 characters"
    )
    assert reason({"title": "t" * 1001}) == "title: String should have at most 1000 characters"
    assert parse_work_item({"title": "t", "parentId": "p" * 200}, DEFAULT).parentId == "p" * 200


def test_a_row_must_be_an_object() -> None:
    assert reason(["title"]) == "a row must be an object"


def test_user_and_project_rows() -> None:
    assert parse_user({"email": "Ada@Example.com", "name": "Ada"}).email == "ada@example.com"
    with pytest.raises(RecordError, match="email: required"):
        parse_user({"name": "nobody"})
    with pytest.raises(RecordError, match="email: not a valid email address"):
        parse_user({"email": "nope"})
    assert parse_project({"statuses": "Review, Blocked"}).statuses == ["Review", "Blocked"]
