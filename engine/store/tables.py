"""Row dataclasses <-> database values, one ``Table`` per stored dataclass.

A ``Table`` knows its columns (the dataclass's fields, in order), the kind of each column
(derived from the field's type hint: datetimes, JSON, string lists, bytes, ints, bools, text)
and its key. Both backends use it to encode rows for bulk upserts and to decode fetched rows,
so a column added to a dataclass and to the migration is all a new column needs.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any, Literal

import orjson

from engine.errors import StoreError
from engine.store import base

Kind = Literal["text", "int", "bool", "ts", "json", "list", "bytes"]


def kind_of(hint: Any) -> Kind:
    """The storage kind of a dataclass field's type hint."""
    if hint is Any:
        return "json"
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return kind_of(args[0]) if len(args) == 1 else "json"
    origin = typing.get_origin(hint) or hint
    simple: dict[Any, Kind] = {
        datetime: "ts",
        dict: "json",
        list: "list",
        bytes: "bytes",
        bool: "bool",
        int: "int",
    }
    return simple.get(origin, "text")


def encode_json(value: Any) -> str:
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError as exc:
        raise StoreError(f"value cannot be stored as JSON: {exc}") from None


def decode_json(value: Any) -> Any:
    if value is None or not isinstance(value, str | bytes | bytearray | memoryview):
        return value
    return orjson.loads(bytes(value) if isinstance(value, memoryview) else value)


def to_utc(value: datetime | None) -> datetime | None:
    """Timezone-aware UTC; a naive datetime is taken to be UTC already."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _encode(kind: Kind, value: Any) -> Any:
    if kind == "json":
        return encode_json(value)
    if kind == "ts":
        return to_utc(value)
    if kind == "list":
        return None if value is None else [str(v) for v in value]
    return value


def _encode_column(kind: Kind, values: list[Any]) -> list[Any]:
    """``_encode`` over a whole column, skipping values already in stored form."""
    if kind == "json":
        return [encode_json(v) for v in values]
    if kind == "ts":
        return [v if v is None or v.tzinfo is UTC else to_utc(v) for v in values]
    if kind == "list":
        return [v if v is None or _all_text(v) else _encode(kind, v) for v in values]
    return values


def _all_text(values: Any) -> bool:
    return type(values) is list and all(type(v) is str for v in values)


@dataclass(frozen=True)
class Table:
    """A stored dataclass: its table name, columns with kinds, key and insert-only columns.

    ``touch`` names database-only timestamp columns set to the current time on every write.
    ``unique`` lists the table's other unique keys: a row written in bulk replaces the stored
    rows that share any of them (a link moved to another external id replaces the old one).
    """

    name: str
    row_type: type[Any]
    key: tuple[str, ...]
    insert_only: tuple[str, ...] = ()
    touch: tuple[str, ...] = ()
    unique: tuple[tuple[str, ...], ...] = ()
    columns: tuple[str, ...] = ()
    kinds: tuple[Kind, ...] = ()

    @classmethod
    def of(cls, name: str, row_type: type[Any], key: Sequence[str], **kw: Any) -> Table:
        hints = typing.get_type_hints(row_type)
        columns = tuple(f.name for f in dataclasses.fields(row_type))
        kinds = tuple(kind_of(hints[c]) for c in columns)
        return cls(name, row_type, tuple(key), columns=columns, kinds=kinds, **kw)

    @property
    def update_columns(self) -> tuple[str, ...]:
        skip = set(self.key) | set(self.insert_only)
        return tuple(c for c in self.columns if c not in skip)

    def kind(self, column: str) -> Kind:
        return self.kinds[self.columns.index(column)]

    def select_list(self, alias: str = "") -> str:
        prefix = f"{alias}." if alias else ""
        return ", ".join(prefix + c for c in self.columns)

    def encode(self, row: Any) -> tuple[Any, ...]:
        """The row's values in column order, ready to bind (JSON as text, UTC times)."""
        return tuple(
            _encode(k, getattr(row, c)) for c, k in zip(self.columns, self.kinds, strict=True)
        )

    def encode_columns(self, rows: Sequence[Any]) -> list[list[Any]]:
        """The rows' values column by column (one list per column, ``encode``'s values)."""
        return [
            _encode_column(k, list(map(attrgetter(c), rows)))
            for c, k in zip(self.columns, self.kinds, strict=True)
        ]

    def encode_value(self, column: str, value: Any) -> Any:
        return _encode(self.kind(column), value)

    def decoder(self, load_json: Callable[[Any], Any]) -> Callable[[Sequence[Any]], Any]:
        """A function turning one fetched row (in ``columns`` order) into the dataclass."""
        steps = [_decoder(k, load_json) for k in self.kinds]
        names = self.columns
        row_type = self.row_type

        def decode(values: Sequence[Any]) -> Any:
            return row_type(**{n: f(v) for n, f, v in zip(names, steps, values, strict=True)})

        return decode


def _decoder(kind: Kind, load_json: Callable[[Any], Any]) -> Callable[[Any], Any]:
    if kind == "json":
        return load_json
    if kind == "ts":
        return to_utc
    if kind == "list":
        return lambda v: [] if v is None else list(v)
    if kind == "bytes":
        return lambda v: None if v is None else bytes(v)
    return _identity


def _identity(value: Any) -> Any:
    return value


PROJECTS = Table.of("projects", base.Project, ["id"], insert_only=("created_at",))
USERS = Table.of("users", base.User, ["id"])
WORK_ITEMS = Table.of("work_items", base.WorkItem, ["id"], insert_only=("created_at",))
COMMENTS = Table.of("comments", base.Comment, ["id"], insert_only=("created_at",))
INTEGRATIONS = Table.of("integrations", base.Integration, ["id"])
LINKS = Table.of(
    "external_links",
    base.ExternalLink,
    ["integration_id", "entity", "external_id"],
    unique=(("integration_id", "entity", "kiro_id"),),
)
CURSORS = Table.of(
    "sync_cursors", base.Cursor, ["integration_id", "stream", "partition"], touch=("updated_at",)
)
RUNS = Table.of("sync_runs", base.SyncRun, ["id"])
SYNC_LOGS = Table.of("integration_sync_logs", base.SyncLog, ["id"])
CONFLICTS = Table.of("sync_conflicts", base.Conflict, ["id"], insert_only=("created_at",))
WEBHOOKS = Table.of("webhook_logs", base.WebhookLog, ["id"])

# Tables apply_batch writes in bulk, in the order it writes them.
BULK_TABLES = (USERS, WORK_ITEMS, COMMENTS, LINKS, CONFLICTS, CURSORS)
