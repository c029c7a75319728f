"""Status and priority names as people write them -> the names Kiro stores.

A status is matched against the project's statuses (``To Do``, ``In Progress``, ``Done`` by
default; a project may have more), ignoring case, spaces, ``_`` and ``-``. A common synonym
counts as the default status it means (``todo``, ``open`` -> To Do; ``doing``, ``wip`` -> In
Progress; ``closed``, ``resolved`` -> Done) when the project has that status. Priorities are
Kiro's four (low, medium, high, urgent) with their usual synonyms (``P0``..``P4``,
``critical``, ``minor``...).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import get_args

from engine.store.base import Priority

PRIORITIES: tuple[str, ...] = get_args(Priority)

_STATUS_SYNONYMS: Mapping[str, tuple[str, ...]] = {
    "To Do": ("todo", "to do", "open", "new", "backlog", "not started", "pending", "reopened"),
    "In Progress": ("in progress", "doing", "started", "active", "wip", "work in progress"),
    "Done": ("done", "closed", "complete", "completed", "resolved", "finished", "fixed"),
}

_PRIORITY_SYNONYMS: Mapping[str, tuple[str, ...]] = {
    "low": ("low", "lowest", "minor", "trivial", "p3", "p4"),
    "medium": ("medium", "med", "normal", "moderate", "p2"),
    "high": ("high", "major", "important", "p1"),
    "urgent": ("urgent", "critical", "highest", "blocker", "asap", "p0"),
}

_SEPARATORS = re.compile(r"[\s_\-]+")


def name_key(value: str) -> str:
    """Case, spacing, ``_`` and ``-`` do not tell names apart."""
    return _SEPARATORS.sub("", value).casefold()


def _synonyms(table: Mapping[str, tuple[str, ...]]) -> dict[str, str]:
    return {name_key(word): target for target, words in table.items() for word in words}


STATUS_WORDS = _synonyms(_STATUS_SYNONYMS)
PRIORITY_WORDS = _synonyms(_PRIORITY_SYNONYMS)


class Vocabulary:
    """The status names of one project, and the priorities, with their synonyms."""

    def __init__(self, statuses: Iterable[str]) -> None:
        self.statuses = list(statuses)
        self._status_keys = {name_key(s): s for s in reversed(self.statuses)}

    @property
    def default_status(self) -> str:
        return self.statuses[0]

    def status(self, value: str) -> str:
        """The project's status ``value`` names; ValueError listing the valid ones."""
        key = name_key(value)
        found = self._status_keys.get(key)
        if found is None and key in STATUS_WORDS:
            found = self._status_keys.get(name_key(STATUS_WORDS[key]))
        if found is None:
            valid = ", ".join(self.statuses)
            raise ValueError(f"unknown status {value!r} (the project's statuses: {valid})")
        return found

    @staticmethod
    def priority(value: str) -> str:
        found = PRIORITY_WORDS.get(name_key(value))
        if found is None:
            raise ValueError(f"unknown priority {value!r} (valid: {', '.join(PRIORITIES)})")
        return found
