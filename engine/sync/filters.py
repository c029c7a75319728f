"""config.filters applied to mapped records, for the filters a stream does not push down.

A provider stream lists in ``pushed_filters`` the filters its request templates already put
into the provider's query (JQL, GitHub query parameters, partitions per project); the others
are checked here, on every record, with the same meaning:

- projects: the record's project (the mapping's ``filters.project``) is one of them;
- labels: every listed label is on the record (``filters.labels``, else the mapped tags);
- assignees: one of them is assigned (``filters.assignees``, else the mapped assignee's
  email or name);
- statuses: the record's provider status (``filters.status``, else the ``status`` field's
  provider value) is one of them;
- dateRange: the record's creation time lies in it.

Names compare case-insensitively. They apply to work items; comments follow their work item.
The run's window (syncOptions startDate/endDate) bounds
the remote update time the same way, whether or not the request carried it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from engine.config import Filters
from engine.errors import ConfigError
from engine.mapping.compiled import CompiledStream, UserRef
from engine.mapping.inbound import MappedRecord, read_raw

Check = Callable[[MappedRecord], bool]


class RecordFilter:
    """``keep(mapped)`` says whether a record is inside the integration's scope."""

    def __init__(
        self,
        stream: CompiledStream,
        filters: Filters,
        pushed: Sequence[str],
        window: tuple[datetime | None, datetime | None] = (None, None),
    ) -> None:
        self.stream = stream
        self.checks: list[Check] = []
        # comments follow their work item: those of an item outside the filters have no link
        # to attach to and are skipped by the applier
        names = filters.active() if stream.entity == "work_item" else []
        for name in names:
            if name not in pushed:
                self.checks.append(self._check(name, filters))
        if window != (None, None):
            self.checks.append(_within(window, lambda m: m.remote_updated_at))

    @property
    def active(self) -> bool:
        return bool(self.checks)

    def keep(self, mapped: MappedRecord) -> bool:
        if not self.checks:
            return True
        return all(check(mapped) for check in self.checks)

    def _check(self, name: str, filters: Filters) -> Check:
        if name == "projects":
            return self._any_of("projects", "project", filters.projects, None)
        if name == "labels":
            wanted = _folded(filters.labels)
            return lambda m: wanted <= _folded(self._labels(m))
        if name == "assignees":
            return self._any_of("assignees", "assignees", filters.assignees, self._assignees)
        if name == "statuses":
            return self._any_of("statuses", "status", filters.statuses, self._status)
        assert filters.date_range is not None
        bounds = (filters.date_range.start, filters.date_range.end)
        return _within(bounds, lambda m: m.created_at, keep_unknown=False)

    def _any_of(
        self,
        name: str,
        source: str,
        values: list[str],
        fallback: Callable[[MappedRecord], Any] | None,
    ) -> Check:
        wanted = _folded(values)
        reader = self.stream.filters.get(source)
        if reader is None and fallback is None:
            raise ConfigError(
                f"config.filters.{name} is set, but stream {self.stream.name!r} neither "
                f"pushes it to the provider nor maps `filters.{source}` in its mapping"
            )

        def check(mapped: MappedRecord) -> bool:
            if reader is not None:
                found = reader.get(mapped.context["record"], mapped.context)
            else:
                assert fallback is not None
                found = fallback(mapped)
            return bool(wanted & _folded(found))

        return check

    def _labels(self, mapped: MappedRecord) -> Any:
        reader = self.stream.filters.get("labels")
        if reader is not None:
            return reader.get(mapped.context["record"], mapped.context)
        return mapped.values.get("tags") or []

    def _assignees(self, mapped: MappedRecord) -> list[str]:
        ref = mapped.values.get("assignee_id")
        if not isinstance(ref, UserRef):
            return []
        return [v for v in (ref.email, ref.name) if v]

    def _status(self, mapped: MappedRecord) -> list[Any]:
        status = self.stream.fields.get("status")
        raw = read_raw(status, mapped.context) if status is not None else None
        return [raw, mapped.values.get("status")]


def _folded(values: Any) -> set[str]:
    if values is None:
        return set()
    items = values if isinstance(values, list | tuple | set) else [values]
    return {str(v).casefold() for v in items if v is not None and v != ""}


def _within(
    bounds: tuple[datetime | None, datetime | None],
    moment_of: Callable[[MappedRecord], datetime | None],
    keep_unknown: bool = True,
) -> Check:
    start, end = bounds

    def check(mapped: MappedRecord) -> bool:
        moment = moment_of(mapped)
        if moment is None:
            return keep_unknown
        return (start is None or moment >= start) and (end is None or moment <= end)

    return check


__all__ = ["RecordFilter"]
