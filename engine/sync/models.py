"""What a sync run reports: counts, progress events and the result.

``Counts`` are exact: every record a run reads ends in exactly one of created, updated,
skipped (unchanged, an echo of our own write, older than what we have, or outside the
integration's filters: ``filtered`` says how many of the skipped were filtered out),
deleted or failed. ``processed`` is their sum.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

from engine.config import SyncOptions

RunOutcome = Literal["success", "partial", "error", "cancelled"]
Phase = Literal["import", "export", "webhook"]
MAX_ERRORS = 20
MAX_ERROR_LENGTH = 300


@dataclass(slots=True)
class Counts:
    created: int = 0
    updated: int = 0
    skipped: int = 0
    deleted: int = 0
    failed: int = 0
    filtered: int = 0  # part of `skipped`: outside config.filters or the run's window
    conflicts: int = 0  # fields left for manual resolution (not a record outcome)
    pages: int = 0
    records: int = 0  # records read from the provider (or items scanned for export)

    @property
    def processed(self) -> int:
        return self.created + self.updated + self.skipped + self.deleted + self.failed

    def add(self, other: Counts) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def to_dict(self) -> dict[str, int]:
        return {**asdict(self), "processed": self.processed}


@dataclass(slots=True)
class Progress:
    """One progress event: where the run is and its running totals."""

    run_id: str
    integration_id: str
    phase: Phase
    stream: str | None
    counts: Counts

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "integration_id": self.integration_id,
            "phase": self.phase,
            "stream": self.stream,
            **self.counts.to_dict(),
        }


ProgressCallback = Callable[[dict[str, Any]], Awaitable[None] | None]


@dataclass(slots=True)
class SyncResult:
    run_id: str
    integration_id: str
    status: RunOutcome
    direction: str
    trigger: str
    started_at: datetime
    finished_at: datetime
    imported: Counts = field(default_factory=Counts)
    exported: Counts = field(default_factory=Counts)
    errors: list[str] = field(default_factory=list)
    error_class: str | None = None
    error_message: str | None = None

    @property
    def duration_ms(self) -> int:
        return int((self.finished_at - self.started_at).total_seconds() * 1000)

    @property
    def totals(self) -> Counts:
        total = Counts()
        total.add(self.imported)
        total.add(self.exported)
        return total

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "integration_id": self.integration_id,
            "status": self.status,
            "direction": self.direction,
            "trigger": self.trigger,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat(),
            "duration_ms": self.duration_ms,
            "imported": self.imported.to_dict(),
            "exported": self.exported.to_dict(),
            "totals": self.totals.to_dict(),
            "errors": list(self.errors),
            "error_class": self.error_class,
            "error_message": self.error_message,
        }


class ErrorList:
    """The bounded list of short error messages a run keeps (never a secret: messages come
    from engine errors, which scrub them)."""

    def __init__(self, limit: int = MAX_ERRORS) -> None:
        self.items: list[str] = []
        self.limit = limit
        self.dropped = 0

    def add(self, message: str) -> None:
        text = " ".join(str(message).split())
        if len(text) > MAX_ERROR_LENGTH:
            text = text[: MAX_ERROR_LENGTH - 1] + "…"
        if len(self.items) < self.limit:
            self.items.append(text)
        else:
            self.dropped += 1

    def listed(self) -> list[str]:
        more = [f"... and {self.dropped} more"] if self.dropped else []
        return [*self.items, *more]


__all__ = [
    "Counts",
    "ErrorList",
    "Progress",
    "ProgressCallback",
    "RunOutcome",
    "SyncOptions",
    "SyncResult",
]
