"""An integration's settings as the seed's wire format carries them.

``config`` (stored on the integration) and ``syncOptions`` (given per sync run) arrive as
camelCase JSON. The models below accept exactly those keys (Python attributes are
snake_case; ``model_dump(by_alias=True)`` gives the wire form back), reject anything else
with its path, and fill in defaults::

    config = parse_config({"syncDirection": "bidirectional", "filters": {"labels": ["bug"]}})
    options = parse_sync_options({"includeComments": True, "batchSize": 200})

``parse_*`` raise ``engine.errors.ValidationError`` whose ``problems`` list each finding as
``config.filters.lables: unknown key``. Provider-specific keys live under ``config.extra``
and are checked against the provider's ``config_schema`` (a small JSON-Schema subset:
``properties`` with ``type``/``enum`` and ``required``) by ``check_extra``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

from pydantic import (
    AliasGenerator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from pydantic import ValidationError as PydanticValidationError
from pydantic.alias_generators import to_camel

from engine.errors import ValidationError

SyncDirection = Literal["import", "export", "bidirectional"]
SyncFrequency = Literal["realtime", "hourly", "daily", "manual"]
ConflictPolicy = Literal["latest_wins", "kiro_wins", "external_wins", "manual"]
SyncOption = Literal["includeComments", "includeAttachments", "includeHistory"]
_M = TypeVar("_M", bound=BaseModel)


class WireModel(BaseModel):
    """camelCase on the wire, snake_case in Python, unknown keys rejected, immutable."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        populate_by_name=True,
        alias_generator=AliasGenerator(validation_alias=to_camel, serialization_alias=to_camel),
    )

    def wire(self) -> dict[str, Any]:
        """The JSON-able wire form with every default filled in."""
        return self.model_dump(mode="json", by_alias=True)


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class DateRange(WireModel):
    """Bounds on a record's creation time (either end may be open)."""

    start: datetime | None = None
    end: datetime | None = None

    _utc = field_validator("start", "end")(_utc)

    def contains(self, moment: datetime | None) -> bool:
        if moment is None:
            return self.start is None and self.end is None
        return (self.start is None or moment >= self.start) and (
            self.end is None or moment <= self.end
        )


class Filters(WireModel):
    """Which provider records an integration covers.

    projects: provider containers (repos ``owner/name``, Jira project keys...), any of;
    labels: every listed label must be on the record; assignees: provider user names
    (logins, account ids or emails), any of; statuses: provider status names, any of;
    dateRange: the record's creation time.
    """

    projects: list[str] = Field(default_factory=list)
    labels: list[str] = Field(default_factory=list)
    assignees: list[str] = Field(default_factory=list)
    statuses: list[str] = Field(default_factory=list)
    date_range: DateRange | None = None

    def active(self) -> list[str]:
        """Wire names of the filters that constrain anything."""
        names = [n for n in ("projects", "labels", "assignees", "statuses") if getattr(self, n)]
        if self.date_range and (self.date_range.start or self.date_range.end):
            names.append("dateRange")
        return names


class IntegrationConfig(WireModel):
    """The integration's ``config`` column."""

    sync_direction: SyncDirection = "import"
    sync_frequency: SyncFrequency = "manual"
    field_mappings: dict[str, str] = Field(default_factory=dict)
    filters: Filters = Field(default_factory=Filters)
    webhook_events: list[str] = Field(default_factory=list)
    conflict_resolution: ConflictPolicy = "latest_wins"
    extra: dict[str, Any] = Field(default_factory=dict)


class SyncOptions(WireModel):
    """One run's ``syncOptions``. ``batchSize`` bounds both page size and transaction size;
    ``startDate``/``endDate`` bound the records' remote update time."""

    include_comments: bool = True
    include_attachments: bool = False
    include_history: bool = False
    batch_size: int = Field(default=500, ge=1, le=5000)
    start_date: datetime | None = None
    end_date: datetime | None = None

    _utc = field_validator("start_date", "end_date")(_utc)

    @model_validator(mode="after")
    def _ordered(self) -> SyncOptions:
        if self.start_date and self.end_date and self.start_date > self.end_date:
            raise ValueError("startDate is after endDate")
        return self

    def enabled(self, option: SyncOption | None) -> bool:
        """Whether a stream or field gated by ``option`` is read in this run."""
        if option is None:
            return True
        return bool(getattr(self, _SNAKE[option]))


_SNAKE: dict[str, str] = {
    "includeComments": "include_comments",
    "includeAttachments": "include_attachments",
    "includeHistory": "include_history",
}


def parse_config(data: Mapping[str, Any] | IntegrationConfig | None) -> IntegrationConfig:
    """Validate an integration's ``config``; ValidationError lists ``config.<path>: message``."""
    if isinstance(data, IntegrationConfig):
        return data
    return _parse(IntegrationConfig, data or {}, "config")


def parse_sync_options(data: Mapping[str, Any] | SyncOptions | None) -> SyncOptions:
    """Validate a run's ``syncOptions``; ValidationError lists ``syncOptions.<path>: message``."""
    if isinstance(data, SyncOptions):
        return data
    return _parse(SyncOptions, data or {}, "syncOptions")


def _parse(model: type[_M], data: Any, root: str) -> _M:
    if not isinstance(data, Mapping):
        raise ValidationError(
            f"invalid {root}: expected an object", [f"{root}: expected an object"]
        )
    try:
        return model.model_validate(dict(data))
    except PydanticValidationError as exc:
        problems = list(_problems(exc, root))
        raise ValidationError(f"invalid {root}: {problems[0]}", problems) from None


def _problems(exc: PydanticValidationError, root: str) -> Iterable[str]:
    for error in exc.errors(include_url=False, include_input=False):
        path = _dotted(root, error["loc"])
        if error["type"] == "extra_forbidden":
            yield f"{path}: unknown key"
        elif error["type"] == "value_error":
            yield f"{path}: {error.get('ctx', {}).get('error', error['msg'])}"
        else:
            yield f"{path}: {error['msg']}"


def _dotted(root: str, loc: Iterable[Any]) -> str:
    text = root
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}


def check_extra(extra: Mapping[str, Any], schema: Mapping[str, Any], provider: str) -> None:
    """Check ``config.extra`` against a provider's ``config_schema``; raise ValidationError."""
    properties: Mapping[str, Any] = schema.get("properties", {}) if schema else {}
    problems = [f"config.extra.{key}: unknown key" for key in extra if key not in properties]
    for key in schema.get("required", []) if schema else []:
        if key not in extra:
            problems.append(f"config.extra.{key}: required by {provider}")
    for key, value in extra.items():
        problem = _check_value(value, properties.get(key))
        if problem:
            problems.append(f"config.extra.{key}: {problem}")
    if problems:
        raise ValidationError(f"invalid config: {problems[0]}", problems)


def _check_value(value: Any, rule: Mapping[str, Any] | None) -> str | None:
    if not rule:
        return None
    kind = rule.get("type")
    allowed = _JSON_TYPES.get(kind) if isinstance(kind, str) else None
    wrong_bool = isinstance(value, bool) and kind in ("integer", "number")
    if allowed is not None and (not isinstance(value, allowed) or wrong_bool):
        return f"expected {kind}"
    if "enum" in rule and value not in rule["enum"]:
        return f"expected one of {', '.join(map(str, rule['enum']))}"
    return None


__all__ = [
    "ConflictPolicy",
    "DateRange",
    "Filters",
    "IntegrationConfig",
    "SyncDirection",
    "SyncFrequency",
    "SyncOption",
    "SyncOptions",
    "check_extra",
    "parse_config",
    "parse_sync_options",
]
