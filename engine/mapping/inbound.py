"""Inbound: one provider record -> the Kiro entity fields it carries (a ``MappedRecord``).

``map_record(stream, record, config=...)`` reads the external id, key, URL, remote times and
every inbound field (value maps, defaults, lists, user references by email) and coerces the
values to their Kiro kinds. A record that cannot be mapped raises ``RecordError`` naming the
stream, the record's id when known, and the field.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from engine.errors import RecordError, TemplateError
from engine.mapping.compiled import CompiledField, CompiledStream
from engine.provider import truthy
from engine.templating import DEFAULT_FILTERS


@dataclass(slots=True)
class MappedRecord:
    """A provider record in Kiro terms. User fields hold ``UserRef``s (or None) until the
    importer resolves them to Kiro user ids."""

    stream: str
    entity: str
    external_id: str
    values: dict[str, Any]
    key: str | None = None
    url: str | None = None
    remote_updated_at: datetime | None = None
    created_at: datetime | None = None
    deleted: bool = False
    work_item_external_id: str | None = None
    context: dict[str, Any] = field(default_factory=dict, repr=False)


def record_context(
    stream: CompiledStream,
    record: Any,
    config: MappingABC[str, Any],
    parent: Any = None,
    partition: Any = None,
) -> dict[str, Any]:
    """The names mapping templates see for ``record``."""
    root = stream.root.first(record, None) if stream.root.keys else record
    return {
        "record": record,
        "root": root if root is not None else {},
        "parent": parent,
        "partition": partition,
        "config": config,
    }


def map_record(
    stream: CompiledStream,
    record: Any,
    *,
    config: MappingABC[str, Any],
    options: Iterable[str] | None = None,
    parent: Any = None,
    partition: Any = None,
) -> MappedRecord:
    """Map one record; RecordError when it cannot be."""
    if not isinstance(record, dict):
        raise RecordError(f"{stream.name}: a record is not an object", stream=stream.name)
    context = record_context(stream, record, config, parent, partition)
    external_id = _external_id(stream, record, context)
    try:
        return _mapped(stream, record, context, external_id, options)
    except (RecordError, TemplateError) as exc:
        raise RecordError(
            f"{stream.name} {external_id}: {exc}", stream=stream.name, external_id=external_id
        ) from None


def _external_id(stream: CompiledStream, record: Any, context: dict[str, Any]) -> str:
    try:
        value = stream.id.get(record, context)
    except TemplateError as exc:
        raise RecordError(f"{stream.name}: no id: {exc}", stream=stream.name) from None
    if value is None or value == "":
        raise RecordError(
            f"{stream.name}: a record has no id ({stream.id.text})", stream=stream.name
        )
    return str(value)


def _mapped(
    stream: CompiledStream,
    record: Any,
    context: dict[str, Any],
    external_id: str,
    options: Iterable[str] | None,
) -> MappedRecord:
    root = context["root"]
    values = {f.name: f.read_in(root, record, context) for f in stream.field_set("in", options)}
    deleted = stream.deleted_when is not None and truthy(
        stream.deleted_when.render(context, f"{stream.name}.deleted_when")
    )
    work_item = _text(stream.work_item.get(record, context)) if stream.work_item else None
    return MappedRecord(
        stream=stream.name,
        entity=stream.entity,
        external_id=external_id,
        values=values,
        key=_key(stream, record, context, external_id),
        url=_text(stream.url.get(record, context)) if stream.url else None,
        remote_updated_at=_time(stream.updated.get(record, context)) if stream.updated else None,
        created_at=_time(stream.created.get(record, context)) if stream.created else None,
        deleted=deleted,
        work_item_external_id=work_item,
        context=context,
    )


def _key(
    stream: CompiledStream, record: Any, context: dict[str, Any], external_id: str
) -> str | None:
    if stream.key is None:
        return None
    if stream.key.text == stream.id.text:  # the same source: rendered once
        return external_id
    return _text(stream.key.get(record, context))


def read_raw(item: CompiledField, context: dict[str, Any]) -> Any:
    """The provider value of a field before value maps (None when it has no reader)."""
    if item.read is None:
        return None
    return item.read.get(context["root"], context)


def read_field(item: CompiledField, record: Any, context: dict[str, Any]) -> Any:
    """A field's Kiro value from a record (a ``UserRef`` or None for user fields)."""
    return item.read_in(context["root"], record, context)


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _time(value: Any) -> datetime | None:
    try:
        moment = DEFAULT_FILTERS["to_datetime"](value)
    except (TypeError, ValueError):
        raise RecordError(f"{value!r} is not a time") from None
    return None if moment is None else moment.astimezone(UTC)


__all__ = ["MappedRecord", "map_record", "read_field", "read_raw", "record_context"]
