"""One imported row -> a validated row model, or a RecordError saying what is wrong with it.

Rows arrive as dicts (from the API's ``importData`` or from a file read by readers.py). Keys
are matched like headers (columns.header_key: ``Due Date`` is ``dueDate``); an unknown key
is an error naming it. A key that is present sets the field, even when empty (an empty cell
clears it); a key that is absent leaves the stored value as it is. Values:

- text: strings; numbers are taken as their text (a spreadsheet cell ``42``); empty -> null
- dates: ISO 8601 (``2025-03-01``, ``2025-03-01T09:30:00Z``, with an offset), or a date cell
  of a spreadsheet; a time without an offset is UTC
- emails: ``name@domain.tld``
- status: one of the project's statuses, or a synonym (vocabulary.py); priority likewise
- tags: a list, or a comma-separated string, or a JSON array in a string
- custom: an object, or the object as JSON text

Every problem of a row is reported at once: ``dueDate: not an ISO 8601 date: '31/01/2025';
status: unknown status 'Blocked'; ...``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from typing import Annotated, Any, TypeVar

import orjson
import pydantic
from pydantic import BeforeValidator, ValidationInfo, field_validator

from engine.bulk.columns import COLUMN_NAMES, canonical_names, header_key
from engine.bulk.vocabulary import Vocabulary
from engine.errors import RecordError
from engine.registry import StrictModel
from engine.wire import json_problem

BULK_KEY = "bulkImport"  # custom[BULK_KEY]: the external id/key/url of a link-less import
MAX_ID = 200
MAX_TITLE = 1000
_EMAIL = re.compile(r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$")
M = TypeVar("M", bound=pydantic.BaseModel)


def _text(value: Any, strip: bool = True) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError("expected text, not true/false")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int | float):
        value = str(value)
    if not isinstance(value, str):
        raise ValueError("expected text")
    if "\x00" in value:
        raise ValueError("contains a NUL character")
    cleaned = value.strip() if strip else value
    return cleaned if cleaned.strip() else None


def _long_text(value: Any) -> str | None:
    return _text(value, strip=False)


def _iso_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time())
    else:
        text = _text(value)
        if text is None:
            return None
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"not an ISO 8601 date: {text[:40]!r}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _email(value: Any) -> str | None:
    text = _text(value)
    if text is None:
        return None
    if len(text) > 254 or not _EMAIL.match(text):
        raise ValueError(f"not a valid email address: {text[:80]!r}")
    return text.lower()


def _string_list(value: Any) -> list[str]:
    """A list, a JSON array in a string, or comma-separated text -> unique, trimmed strings."""
    if value is None:
        return []
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = orjson.loads(text)
            except orjson.JSONDecodeError:
                raise ValueError("starts with '[' but is not a JSON array") from None
        else:
            value = text.split(",")
    if not isinstance(value, list | tuple):
        raise ValueError("expected a list or comma-separated text")
    items = [_text(item) for item in value]
    return list(dict.fromkeys(item for item in items if item))


def _custom(value: Any) -> dict[str, Any]:
    if value is None or (isinstance(value, str) and not value.strip()):
        return {}
    if isinstance(value, str):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            raise ValueError("expected a JSON object") from None
    if not isinstance(value, dict):
        raise ValueError("expected an object")
    if BULK_KEY in value:
        raise ValueError(f"the key {BULK_KEY!r} is reserved")
    problem = json_problem(value)  # what the store could not keep
    if problem is not None:
        raise ValueError(problem)
    return value


Text = Annotated[str | None, BeforeValidator(_text)]
LongText = Annotated[str | None, BeforeValidator(_long_text)]
Id = Annotated[
    Annotated[str, pydantic.StringConstraints(max_length=MAX_ID)] | None, BeforeValidator(_text)
]
Moment = Annotated[datetime | None, BeforeValidator(_iso_datetime)]
Email = Annotated[str | None, BeforeValidator(_email)]
Names = Annotated[list[str], BeforeValidator(_string_list)]
Custom = Annotated[dict[str, Any], BeforeValidator(_custom)]


class WorkItemRow(StrictModel):
    """One work item row; ``model_fields_set`` holds the columns the row carries."""

    id: Id = None
    externalId: Id = None
    externalKey: Text = None
    externalUrl: Text = None
    title: Annotated[
        Annotated[str, pydantic.StringConstraints(max_length=MAX_TITLE)], BeforeValidator(_text)
    ]
    description: LongText = None
    status: Text = None
    priority: Text = None
    type: Text = None
    assigneeId: Id = None
    assigneeEmail: Email = None
    tags: Names = pydantic.Field(default_factory=list)
    dueDate: Moment = None
    completedAt: Moment = None
    parentId: Id = None
    createdAt: Moment = None
    updatedAt: Moment = None  # read-only: accepted so exported files import back
    custom: Custom = pydantic.Field(default_factory=dict)

    @field_validator("title", mode="before")
    @classmethod
    def _title_required(cls, value: Any) -> Any:
        if _text(value) is None:
            raise ValueError("a title is required")
        return value

    @field_validator("status")
    @classmethod
    def _known_status(cls, value: str | None, info: ValidationInfo) -> str | None:
        vocabulary: Vocabulary = (info.context or {})["vocabulary"]
        return None if value is None else vocabulary.status(value)

    @field_validator("priority")
    @classmethod
    def _known_priority(cls, value: str | None) -> str | None:
        return None if value is None else Vocabulary.priority(value)


class UserRow(StrictModel):
    id: Id = None
    email: Annotated[str, BeforeValidator(_email)]
    name: Text = None


class ProjectRow(StrictModel):
    """Describes the project imported into: its name and statuses to add (never removed)."""

    id: Id = None
    name: Text = None
    statuses: Names = pydantic.Field(default_factory=list)


WORK_ITEM_NAMES = canonical_names(COLUMN_NAMES)
USER_NAMES = canonical_names(tuple(UserRow.model_fields))
PROJECT_NAMES = canonical_names(tuple(ProjectRow.model_fields))


def parse_work_item(raw: Any, vocabulary: Vocabulary) -> WorkItemRow:
    return _parse(WorkItemRow, WORK_ITEM_NAMES, raw, {"vocabulary": vocabulary})


def parse_user(raw: Any) -> UserRow:
    return _parse(UserRow, USER_NAMES, raw)


def parse_project(raw: Any) -> ProjectRow:
    return _parse(ProjectRow, PROJECT_NAMES, raw)


def _parse(
    model: type[M], names: Mapping[str, str], raw: Any, context: dict[str, Any] | None = None
) -> M:
    """The row as ``model``; RecordError with every problem, ``field: message``."""
    data, problems = _canonical_keys(raw, names)
    try:
        row = model.model_validate(data, context=context)
    except pydantic.ValidationError as exc:
        problems.extend(_messages(exc))
        raise RecordError("; ".join(problems)) from None
    if problems:
        raise RecordError("; ".join(problems))
    return row


def _canonical_keys(raw: Any, names: Mapping[str, str]) -> tuple[dict[str, Any], list[str]]:
    if not isinstance(raw, Mapping):
        raise RecordError("a row must be an object")
    data: dict[str, Any] = {}
    problems: list[str] = []
    for key, value in raw.items():
        name = names.get(header_key(key)) if isinstance(key, str) else None
        if name is None:
            valid = ", ".join(names.values())
            problems.append(f"unknown column {str(key)[:60]!r} (valid: {valid})")
        elif name in data:
            problems.append(f"{name}: given twice")
        else:
            data[name] = value
    return data, problems


def _messages(exc: pydantic.ValidationError) -> list[str]:
    found = []
    for error in exc.errors(include_url=False, include_input=False):
        field = ".".join(str(part) for part in error["loc"]) or "row"
        if error["type"] == "missing":
            message = "required"
        elif error["type"] == "value_error":
            message = str(error.get("ctx", {}).get("error", error["msg"]))
        else:
            message = error["msg"]
        found.append(f"{field}: {message}")
    return found
