"""Linear's filter inputs (IssueFilter, TeamFilter, WorkflowStateFilter, UserFilter,
CommentFilter, IssueLabelCollectionFilter) evaluated over the simulator's records.

A filter is a dict of field -> comparator (``{"updatedAt": {"gt": "..."}}``), field -> nested
filter (``{"team": {"key": {"in": ["ENG"]}}}``) or ``and``/``or`` lists. A field or operator the
simulator does not implement raises FilterError naming it, so a test never passes on a filter
that was silently ignored.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from .base import parse_iso


class FilterError(ValueError):
    pass


DURATION = re.compile(
    r"^(-)?P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$"
)


def date_or_duration(value: Any, now: datetime) -> datetime:
    """``DateTimeOrDuration``: an ISO 8601 instant or a duration (``-P1D``) relative to now."""
    text = str(value)
    m = DURATION.match(text)
    if m and any(m.groups()[1:]):
        years, months, weeks, days, hours, minutes, seconds = (int(g or 0) for g in m.groups()[1:])
        delta = timedelta(
            days=years * 365 + months * 30 + weeks * 7 + days,
            hours=hours,
            minutes=minutes,
            seconds=seconds,
        )
        return now - delta if m.group(1) else now + delta
    try:
        return parse_iso(text)
    except ValueError as exc:
        raise FilterError(f"Invalid DateTimeOrDuration value: {text}") from exc


def _ci(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


COMPARATORS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b,
    "neq": lambda a, b: a != b,
    "in": lambda a, b: a in b,
    "nin": lambda a, b: a not in b,
    "lt": lambda a, b: a is not None and a < b,
    "lte": lambda a, b: a is not None and a <= b,
    "gt": lambda a, b: a is not None and a > b,
    "gte": lambda a, b: a is not None and a >= b,
    "null": lambda a, b: (a is None) == b,
    "contains": lambda a, b: a is not None and b in a,
    "notContains": lambda a, b: a is None or b not in a,
    "containsIgnoreCase": lambda a, b: a is not None and _ci(b) in _ci(a),
    "notContainsIgnoreCase": lambda a, b: a is None or _ci(b) not in _ci(a),
    "startsWith": lambda a, b: a is not None and a.startswith(b),
    "startsWithIgnoreCase": lambda a, b: a is not None and _ci(a).startswith(_ci(b)),
    "notStartsWith": lambda a, b: a is None or not a.startswith(b),
    "endsWith": lambda a, b: a is not None and a.endswith(b),
    "notEndsWith": lambda a, b: a is None or not a.endswith(b),
    "eqIgnoreCase": lambda a, b: _ci(a) == _ci(b),
    "neqIgnoreCase": lambda a, b: _ci(a) != _ci(b),
}


def compare(actual: Any, comparator: dict[str, Any], now: datetime, is_date: bool) -> bool:
    for op, expected in comparator.items():
        if op not in COMPARATORS:
            raise FilterError(f"simulator: comparator '{op}' is not implemented")
        if is_date and op != "null":
            if isinstance(expected, list):
                expected = [date_or_duration(v, now) for v in expected]
            else:
                expected = date_or_duration(expected, now)
        if not COMPARATORS[op](actual, expected):
            return False
    return True


# A field of a filter: ("value", getter, is_date) compares the getter's value;
# ("relation", getter, kind) applies a nested filter of ``kind`` to the related record
# (None when absent: only {"null": true} matches); ("collection", getter, kind) applies a
# collection filter (some / every / length / direct fields meaning "some").
Field = tuple[str, Callable[[Any], Any], Any]


class FilterEngine:
    """Evaluates filters over records; ``schema`` maps filter kind -> field -> Field."""

    def __init__(self, schema: dict[str, dict[str, Field]], now: datetime) -> None:
        self.schema, self.now = schema, now

    def matches(self, kind: str, record: Any, spec: dict[str, Any] | None) -> bool:
        if not spec:
            return True
        fields = self.schema[kind]
        for name, value in spec.items():
            if value is None:
                continue
            if name == "and":
                ok = all(self.matches(kind, record, sub) for sub in value)
            elif name == "or":
                ok = any(self.matches(kind, record, sub) for sub in value)
            elif name == "null" and kind.startswith("Nullable"):
                ok = (record is None) == value
            elif name not in fields:
                raise FilterError(f"simulator: filter field '{name}' on {kind} is not implemented")
            else:
                ok = self._field(fields[name], record, value)
            if not ok:
                return False
        return True

    def _field(self, spec: Field, record: Any, value: dict[str, Any]) -> bool:
        how, getter, extra = spec
        if record is None:
            return False
        if how == "value":
            return compare(getter(record), value, self.now, bool(extra))
        if how == "relation":
            related = getter(record)
            if related is None:
                return value.get("null") is True
            if value.get("null") is True:
                return False
            nested = {k: v for k, v in value.items() if k != "null"}
            return self.matches(extra, related, nested)
        return self._collection(getter(record), extra, value)

    def _collection(self, items: list[Any], kind: str, value: dict[str, Any]) -> bool:
        direct = {k: v for k, v in value.items() if k not in ("some", "every", "length", "null")}
        if "null" in value and (not items) != value["null"]:
            return False
        if "length" in value and not compare(len(items), value["length"], self.now, False):
            return False
        if "some" in value and not any(self.matches(kind, i, value["some"]) for i in items):
            return False
        if "every" in value and not all(self.matches(kind, i, value["every"]) for i in items):
            return False
        return not direct or any(self.matches(kind, i, direct) for i in items)
