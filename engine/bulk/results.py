"""What an import did: counts per kind of row and the first row errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

RowKind = Literal["workItems", "users", "projects"]
ROW_KINDS: tuple[RowKind, ...] = ("projects", "users", "workItems")
DEFAULT_MAX_ERRORS = 50


@dataclass(slots=True)
class Counts:
    created: int = 0
    updated: int = 0
    skipped: int = 0
    failed: int = 0

    def add(self, other: Counts) -> None:
        self.created += other.created
        self.updated += other.updated
        self.skipped += other.skipped
        self.failed += other.failed

    @property
    def rows(self) -> int:
        return self.created + self.updated + self.skipped + self.failed

    def to_dict(self) -> dict[str, int]:
        return {
            "created": self.created,
            "updated": self.updated,
            "skipped": self.skipped,
            "failed": self.failed,
        }


@dataclass(frozen=True, slots=True)
class RowError:
    """A row that did not go in: its kind, its 0-based index in its array, and why."""

    kind: RowKind
    index: int
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"entity": self.kind, "index": self.index, "reason": self.reason}


@dataclass(slots=True)
class ImportResult:
    """Counts per kind of row, their totals, and the first ``max_errors`` row errors."""

    max_errors: int = DEFAULT_MAX_ERRORS
    counts: dict[RowKind, Counts] = field(default_factory=lambda: {k: Counts() for k in ROW_KINDS})
    errors: list[RowError] = field(default_factory=list)
    errors_omitted: int = 0

    def fail(self, kind: RowKind, index: int, reason: str) -> None:
        self.counts[kind].failed += 1
        if len(self.errors) < self.max_errors:
            self.errors.append(RowError(kind, index, reason))
        else:
            self.errors_omitted += 1

    @property
    def total(self) -> Counts:
        total = Counts()
        for counts in self.counts.values():
            total.add(counts)
        return total

    def to_dict(self) -> dict[str, Any]:
        """The wire form: totals at the top, then each kind, then the errors."""
        return {
            **self.total.to_dict(),
            **{kind: self.counts[kind].to_dict() for kind in ROW_KINDS},
            "errors": [e.to_dict() for e in self.errors],
            "errorsOmitted": self.errors_omitted,
        }
