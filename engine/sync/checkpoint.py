"""Incremental cursors: what to store after each committed batch of one (stream, partition).

- A stream whose provider returns records sorted by the cursor field (``cursor.sorted``)
  checkpoints the greatest value seen after every batch: a crash resumes right there.
- An unsorted stream cannot: a later page may still hold older records. Its cursor moves
  only with the partition's last batch, and then to min(greatest seen, the run's start
  time), so changes made while the run was reading are read again next time, never lost.
- A cursor never moves backwards, and never past the run's window end (syncOptions endDate),
  but for one case: pages named by position (``position_based`` paginators: link_header,
  offset, page_number) whose walk meets a record changed since the run started. That change
  may have moved the record to the end of the list and shifted every later one back a place,
  so the first record of some page was never served; and it is older than the greatest
  value seen, so a cursor there would pass it over for good. At the partition's end the
  cursor then goes back to where the run found it -- a sorted stream no further back than
  its first page's greatest value, as the record passed over always sorts after that page.
  The next run reads the window again (reads, not duplicates: the snapshot hash skips what
  did not change). The checkpoints of the batches in between stay, for a crash to resume.

Re-reading a record is harmless: the snapshot hash recognises it and it is skipped.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from engine.reader import max_cursor
from engine.spec.models import CursorSpec
from engine.templating import DEFAULT_FILTERS


class CursorTracker:
    """Follows one (stream, partition) through a run."""

    def __init__(
        self,
        spec: CursorSpec | None,
        stored: str | None,
        run_started: datetime,
        window_end: datetime | None = None,
        position_based: bool = False,
    ) -> None:
        self.spec = spec
        self.stored = stored
        self.initial = stored  # where the run found the cursor
        self.seen: Any = None
        self.first: Any = None  # the first page's greatest value
        self.run_started = run_started
        self.window_end = window_end
        self.position_based = position_based
        self.shifted = False  # a record changed during the run: later pages may have shifted

    def observe(self, records: list[Any]) -> None:
        self.observe_best(self.best_of(records))

    def best_of(self, records: list[Any]) -> Any:
        """The greatest cursor value among ``records`` (None without one): what
        ``observe_best`` takes once those records are part of the batch being built."""
        if self.spec is None or not records:
            return None
        return max_cursor(self.spec, records)

    def observe_best(self, best: Any) -> None:
        """Take one page's greatest cursor value (pages in the order they were read)."""
        if best is None:
            return
        if self.first is None:
            self.first = best
        if self.position_based and not self.shifted:
            moment = _moment(best)
            self.shifted = moment is not None and moment >= self.run_started
        if self.seen is None or _key(best) > _key(self.seen):
            self.seen = best

    def checkpoint(self, final: bool) -> str | None:
        """The value to store with the batch being committed, or None to leave it."""
        if self.spec is None or self.seen is None or not (final or self.spec.sorted):
            return None
        if final and self.shifted:
            return self.rewind()
        value = self.seen
        if not self.spec.sorted:
            value = _earlier(value, self.run_started)
        if self.window_end is not None:
            value = _earlier(value, self.window_end)
        text = _as_text(value)
        if self.stored is not None and _key(text) <= _key(self.stored):
            return None
        self.stored = text
        return text

    def rewind(self) -> str | None:
        """After a shifted walk (module doc): the value to store at the partition's end, only
        ever back from the stored one, or None to leave it."""
        if self.spec is None or not self.shifted or self.stored is None:
            return None
        if not self.spec.sorted or self.first is None:
            back: Any = self.initial
        else:
            back = self.first
            if self.window_end is not None:
                back = _earlier(back, self.window_end)
            if self.initial is not None and _key(back) < _key(self.initial):
                back = self.initial
        if back is None:
            return None
        text = _as_text(back)
        if _key(text) >= _key(self.stored):
            return None
        self.stored = text
        return text


def _moment(value: Any) -> datetime | None:
    if isinstance(value, int | float | Decimal) or _numeric(value):
        return None
    try:
        moment: datetime | None = DEFAULT_FILTERS["to_datetime"](value)
    except (TypeError, ValueError, OverflowError):
        return None
    return moment


def _numeric(value: Any) -> bool:
    try:
        Decimal(str(value).strip())
    except InvalidOperation:
        return False
    return True


def _key(value: Any) -> tuple[int, Any]:
    moment = _moment(value)
    if moment is not None:
        return (0, Decimal(str(moment.timestamp())))
    if _numeric(value):
        return (0, Decimal(str(value).strip()))
    return (1, str(value))


def _earlier(value: Any, bound: datetime) -> Any:
    """``value``, or ``bound`` (in ``value``'s style) when bound is earlier."""
    moment = _moment(value)
    if moment is None or moment <= bound:
        return value
    return bound.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _as_text(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return str(value)


__all__ = ["CursorTracker"]
