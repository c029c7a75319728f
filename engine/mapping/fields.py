"""The Kiro fields a mapping may fill, their kinds, and how values of each kind are compared.

A mapping names Kiro fields as the seed's Field Mapping section does (``title``,
``description``, ``status``, ``priority``, ``assignee_id``, ``tags``...). ``custom.<name>``
reaches a work item's ``custom`` JSON. Every kind has one canonical, JSON-able form used for
snapshots, hashes and three-way comparison (tags compare as a set; times as UTC ISO text).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal

from engine.errors import RecordError
from engine.store.base import DEFAULT_STATUSES
from engine.templating import DEFAULT_FILTERS

Kind = Literal["text", "optional_text", "status", "priority", "tags", "user", "datetime", "json"]
MappedEntity = Literal["work_item", "comment"]
PRIORITIES = ("low", "medium", "high", "urgent")
CUSTOM_PREFIX = "custom."

_FIELDS: dict[str, dict[str, Kind]] = {
    "work_item": {
        "title": "text",
        "description": "optional_text",
        "status": "status",
        "priority": "priority",
        "assignee_id": "user",
        "tags": "tags",
        "type": "optional_text",
        "due_date": "datetime",
        "completed_at": "datetime",
    },
    "comment": {"body": "text", "author_id": "user"},
}
_ALIASES: dict[str, dict[str, str]] = {
    "work_item": {"assignee": "assignee_id", "dueDate": "due_date", "labels": "tags"},
    "comment": {"author": "author_id"},
}


@dataclass(frozen=True, slots=True)
class KiroField:
    name: str  # canonical name: "assignee_id", "custom.story_points"
    kind: Kind

    @property
    def custom_key(self) -> str | None:
        return self.name[len(CUSTOM_PREFIX) :] if self.name.startswith(CUSTOM_PREFIX) else None


def field_names(entity: MappedEntity) -> list[str]:
    """The Kiro field names an entity offers (plus ``custom.<name>`` for work items)."""
    names = list(_FIELDS[entity])
    return [*names, "custom.<name>"] if entity == "work_item" else names


def resolve_field(entity: MappedEntity, name: str) -> KiroField:
    """The Kiro field ``name`` (or an alias of it) names; KeyError saying the valid names."""
    name = _ALIASES[entity].get(name, name)
    kind = _FIELDS[entity].get(name)
    if kind is not None:
        return KiroField(name, kind)
    if entity == "work_item" and name.startswith(CUSTOM_PREFIX) and len(name) > len(CUSTOM_PREFIX):
        return KiroField(name, "json")
    valid = ", ".join(field_names(entity))
    raise KeyError(f"unknown Kiro {entity} field {name!r}; valid: {valid}")


def coerce(field: KiroField, value: Any) -> Any:
    """A mapped value as the Kiro field holds it; RecordError when it cannot be."""
    return coercer(field.kind)(field, value)


def coercer(kind: Kind) -> Callable[[KiroField, Any], Any]:
    """``coerce`` for one kind, chosen once (mappings call it for every record)."""
    return _COERCERS.get(kind, _as_is)  # user ids are resolved elsewhere; json passes through


def _required_text(field: KiroField, value: Any) -> str:
    if value is None or value == "":
        raise RecordError(f"{field.name} is empty", field=field.name)
    return value if isinstance(value, str) else str(value)


def _optional_text(_field: KiroField, value: Any) -> str | None:
    return None if value is None else _text(value)


def _status(_field: KiroField, value: Any) -> str:
    return DEFAULT_STATUSES[0] if value is None or value == "" else _text(value)


def _as_is(_field: KiroField, value: Any) -> Any:
    return value


def canonical(field: KiroField, value: Any) -> Any:
    """The comparable, JSON-able form of a Kiro value (snapshots and hashes hold these)."""
    if value is None:
        return [] if field.kind == "tags" else None
    if field.kind == "tags":
        return sorted({str(v) for v in value})
    if field.kind == "datetime":
        moment = _datetime(field, value)
        return None if moment is None else moment.isoformat().replace("+00:00", "Z")
    return value


def canonicalizer(field: KiroField) -> Callable[[Any], Any] | None:
    """``canonical`` for one field as a function of the value; None where it is the value
    itself (every kind but tags and times)."""
    if field.kind in ("tags", "datetime"):
        return lambda value: canonical(field, value)
    return None


def from_canonical(field: KiroField, value: Any) -> Any:
    """The Kiro value for a canonical one (times back to datetimes)."""
    if field.kind == "datetime":
        return _datetime(field, value)
    return value


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def _priority(field: KiroField, value: Any) -> str | None:
    if value is None or value == "":
        return None
    text = str(value).strip().lower()
    if text not in PRIORITIES:
        allowed = ", ".join(PRIORITIES)
        raise RecordError(f"{field.name} {value!r} is not one of {allowed}", field=field.name)
    return text


def _tags(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    items = value if isinstance(value, list | tuple) else [value]
    seen: dict[str, None] = {}
    for item in items:
        if item is not None and item != "":
            seen.setdefault(_text(item), None)
    return list(seen)


def _datetime(field: KiroField, value: Any) -> datetime | None:
    if isinstance(value, date) and not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    try:
        moment = DEFAULT_FILTERS["to_datetime"](value)
    except (TypeError, ValueError):
        raise RecordError(
            f"{field.name} {value!r} is not a date or time", field=field.name
        ) from None
    return None if moment is None else moment.astimezone(UTC)


def get_value(field: KiroField, entity: Any) -> Any:
    """The field's current value on a Kiro entity (WorkItem, Comment)."""
    key = field.custom_key
    if key is not None:
        return (getattr(entity, "custom", None) or {}).get(key)
    return getattr(entity, field.name)


def set_value(field: KiroField, entity: Any, value: Any) -> None:
    """Set the field on a Kiro entity (``custom.<name>`` inside its ``custom`` dict)."""
    key = field.custom_key
    if key is None:
        setattr(entity, field.name, value)
        return
    custom = dict(getattr(entity, "custom", None) or {})
    if value is None:
        custom.pop(key, None)
    else:
        custom[key] = value
    entity.custom = custom


_COERCERS: dict[Kind, Callable[[KiroField, Any], Any]] = {
    "text": _required_text,
    "optional_text": _optional_text,
    "status": _status,
    "priority": _priority,
    "tags": lambda _field, value: _tags(value),
    "datetime": _datetime,
}
