"""Three-way merge per field, and the four conflict policies."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engine.sync.merge import NO_BASE, FieldState, merge_fields, policy_for

EARLY = datetime(2025, 1, 1, 10, 0, tzinfo=UTC)
LATE = datetime(2025, 1, 1, 11, 0, tzinfo=UTC)


def merge(state: FieldState, policy: str = "latest_wins", local_at=EARLY, remote_at=LATE):  # type: ignore[no-untyped-def]
    return merge_fields([state], policy_for(policy), local_at, remote_at)


def test_only_the_provider_changed_takes_the_remote_value() -> None:
    outcome = merge(FieldState("title", base="a", local="a", remote="b"))
    assert outcome.take == {"title": "b"}
    assert outcome.snapshot == {"title": "b"}


def test_only_kiro_changed_keeps_kiro_and_the_snapshot_stays_the_providers() -> None:
    outcome = merge(FieldState("title", base="a", local="k", remote="a"))
    assert outcome.take == {}
    assert outcome.snapshot == {"title": "a"}  # differs from Kiro: the export sends it


def test_both_sides_agreeing_is_no_conflict() -> None:
    outcome = merge(FieldState("title", base="a", local="b", remote="b"), "manual")
    assert (outcome.take, outcome.manual) == ({}, [])


def test_a_field_new_to_the_snapshot_takes_the_remote_value() -> None:
    outcome = merge(FieldState("custom.x", base=NO_BASE, local="k", remote="r"), "kiro_wins")
    assert outcome.take == {"custom.x": "r"}


def test_inbound_only_fields_always_follow_the_provider() -> None:
    outcome = merge(FieldState("assignee_id", "a", "k", "r", inbound_only=True), "kiro_wins")
    assert outcome.take == {"assignee_id": "r"}


@pytest.mark.parametrize(
    ("policy", "local_at", "remote_at", "winner"),
    [
        ("latest_wins", EARLY, LATE, "external"),
        ("latest_wins", LATE, EARLY, "kiro"),
        ("latest_wins", LATE, LATE, "kiro"),
        ("latest_wins", None, EARLY, "external"),
        ("latest_wins", EARLY, None, "kiro"),
        ("kiro_wins", EARLY, LATE, "kiro"),
        ("external_wins", LATE, EARLY, "external"),
    ],
)
def test_conflicts_follow_the_policy(policy, local_at, remote_at, winner) -> None:  # type: ignore[no-untyped-def]
    outcome = merge(FieldState("title", "a", "k", "r"), policy, local_at, remote_at)
    if winner == "external":
        assert outcome.take == {"title": "r"}
        assert outcome.kiro_kept == []
    else:
        assert outcome.take == {}
        assert outcome.kiro_kept == ["title"]
    assert outcome.snapshot == {"title": "r"}
    assert outcome.manual == []


def test_manual_records_the_conflict_and_keeps_the_base() -> None:
    outcome = merge(FieldState("title", "a", "k", "r"), "manual")
    assert outcome.take == {}
    assert outcome.snapshot == {"title": "a"}
    [facts] = outcome.manual
    assert (facts.field, facts.base, facts.local, facts.remote) == ("title", "a", "k", "r")


def test_unknown_policy_names_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="valid: external_wins, kiro_wins, latest_wins, manual"):
        policy_for("newest")
