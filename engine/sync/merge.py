"""Three-way merge per field against the last-synced snapshot, and the conflict policies.

For each field a record brings in, with ``base`` the snapshot value, ``local`` the Kiro value
(as it would read back after a round trip to the provider) and ``remote`` the record's::

    remote == local               agreed: nothing to do
    remote == base                only Kiro changed: keep Kiro (an export sends it)
    local == base (or no base)    only the provider changed: take the remote value
    otherwise                     a conflict: the integration's policy decides

The new snapshot value is the remote one (what the provider now holds), except for a
conflict left to manual resolution, which keeps the base so the disagreement stays visible
until someone resolves it. Inbound-only fields always take the remote value.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Literal

Decision = Literal["kiro", "external", "manual"]
_NO_BASE = object()


@dataclass(frozen=True, slots=True)
class FieldState:
    name: str
    base: Any  # _NO_BASE when the snapshot does not hold the field
    local: Any
    remote: Any
    inbound_only: bool = False


@dataclass(frozen=True, slots=True)
class ConflictFacts:
    """What a policy sees about one field changed on both sides."""

    field: str
    base: Any
    local: Any
    remote: Any
    local_updated_at: datetime | None
    remote_updated_at: datetime | None


@dataclass(slots=True)
class MergeOutcome:
    take: dict[str, Any] = field(default_factory=dict)  # Kiro takes these remote values
    snapshot: dict[str, Any] = field(default_factory=dict)  # new snapshot values
    manual: list[ConflictFacts] = field(default_factory=list)  # left for a person
    kiro_kept: list[str] = field(default_factory=list)  # conflicts Kiro won (go out)


class Policy:
    """Decides a conflict. Subclasses are chosen by ``name`` (config.conflictResolution)."""

    name: ClassVar[str]

    def decide(self, facts: ConflictFacts) -> Decision:
        raise NotImplementedError


class LatestWins(Policy):
    """The side changed last wins: the record's remote updated time against Kiro's
    updated_at. A side whose time is unknown loses to one whose time is known; with neither
    known the provider wins."""

    name = "latest_wins"

    def decide(self, facts: ConflictFacts) -> Decision:
        local, remote = facts.local_updated_at, facts.remote_updated_at
        if remote is None and local is not None:
            return "kiro"
        if local is None or remote is None:
            return "external"
        return "external" if remote > local else "kiro"


class KiroWins(Policy):
    name = "kiro_wins"

    def decide(self, facts: ConflictFacts) -> Decision:
        return "kiro"


class ExternalWins(Policy):
    name = "external_wins"

    def decide(self, facts: ConflictFacts) -> Decision:
        return "external"


class Manual(Policy):
    """Record the conflict (sync_conflicts); both sides stay as they are."""

    name = "manual"

    def decide(self, facts: ConflictFacts) -> Decision:
        return "manual"


POLICIES: dict[str, type[Policy]] = {
    p.name: p for p in (LatestWins, KiroWins, ExternalWins, Manual)
}


def policy_for(name: str) -> Policy:
    try:
        return POLICIES[name]()
    except KeyError:
        valid = ", ".join(sorted(POLICIES))
        raise ValueError(f"unknown conflict policy {name!r}; valid: {valid}") from None


def merge_fields(
    states: Iterable[FieldState],
    policy: Policy,
    local_updated_at: datetime | None,
    remote_updated_at: datetime | None,
) -> MergeOutcome:
    outcome = MergeOutcome()
    for state in states:
        _merge_one(state, policy, local_updated_at, remote_updated_at, outcome)
    return outcome


def _merge_one(
    state: FieldState,
    policy: Policy,
    local_at: datetime | None,
    remote_at: datetime | None,
    outcome: MergeOutcome,
) -> None:
    remote, local, base = state.remote, state.local, state.base
    outcome.snapshot[state.name] = remote
    if remote == local or (remote == base and not state.inbound_only):
        return
    if state.inbound_only or base is _NO_BASE or local == base:
        outcome.take[state.name] = remote
        return
    facts = ConflictFacts(state.name, base, local, remote, local_at, remote_at)
    decision = policy.decide(facts)
    if decision == "external":
        outcome.take[state.name] = remote
    elif decision == "kiro":
        outcome.kiro_kept.append(state.name)
    else:
        outcome.manual.append(facts)
        outcome.snapshot[state.name] = base


NO_BASE = _NO_BASE

__all__ = [
    "NO_BASE",
    "POLICIES",
    "ConflictFacts",
    "Decision",
    "ExternalWins",
    "FieldState",
    "KiroWins",
    "LatestWins",
    "Manual",
    "MergeOutcome",
    "Policy",
    "merge_fields",
    "policy_for",
]
