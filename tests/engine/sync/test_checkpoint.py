"""Cursor checkpoints: sorted streams every batch, unsorted only at the end and never past
the run's start, never backwards, never past the window's end."""

from __future__ import annotations

from datetime import UTC, datetime

from engine.spec.models import CursorSpec
from engine.sync.checkpoint import CursorTracker

START = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def rec(moment: str) -> dict[str, str]:
    return {"updated_at": moment}


def test_sorted_streams_checkpoint_every_batch_at_the_greatest_value() -> None:
    tracker = CursorTracker(CursorSpec(field="updated_at", sorted=True), None, START)
    tracker.observe([rec("2025-03-01T10:00:00Z"), rec("2025-03-01T10:05:00Z")])
    assert tracker.checkpoint(final=False) == "2025-03-01T10:05:00Z"
    tracker.observe([rec("2025-03-01T12:30:00Z")])  # changed while the run read: sorted, fine
    assert tracker.checkpoint(final=True) == "2025-03-01T12:30:00Z"


def test_unsorted_streams_wait_for_the_end_and_stop_at_the_run_start() -> None:
    tracker = CursorTracker(CursorSpec(field="updated_at"), None, START)
    tracker.observe([rec("2025-03-01T12:30:00Z"), rec("2025-03-01T09:00:00Z")])
    assert tracker.checkpoint(final=False) is None
    assert tracker.checkpoint(final=True) == "2025-03-01T12:00:00Z"


def test_unsorted_cursor_below_the_start_is_kept_as_it_is() -> None:
    tracker = CursorTracker(CursorSpec(field="fields.updated"), None, START)
    tracker.observe([{"fields": {"updated": "2025-03-01T11:00:00.000+0000"}}])
    assert tracker.checkpoint(final=True) == "2025-03-01T11:00:00.000+0000"


def test_a_cursor_never_moves_backwards() -> None:
    tracker = CursorTracker(
        CursorSpec(field="updated_at", sorted=True), "2025-03-01T11:00:00Z", START
    )
    tracker.observe([rec("2025-03-01T10:00:00Z")])
    assert tracker.checkpoint(final=True) is None


def test_the_window_end_caps_the_cursor() -> None:
    end = datetime(2025, 2, 1, tzinfo=UTC)
    tracker = CursorTracker(CursorSpec(field="updated_at", sorted=True), None, START, end)
    tracker.observe([rec("2025-02-03T00:00:00Z")])
    assert tracker.checkpoint(final=True) == "2025-02-01T00:00:00Z"


def test_epoch_cursors_compare_as_numbers() -> None:
    tracker = CursorTracker(CursorSpec(field="ts", sorted=True), "99", START)
    tracker.observe([{"ts": 100}, {"ts": 1000}])
    assert tracker.checkpoint(final=False) == "1000"


def test_no_cursor_spec_means_no_checkpoint() -> None:
    tracker = CursorTracker(None, None, START)
    tracker.observe([rec("2025-03-01T10:00:00Z")])
    assert tracker.checkpoint(final=True) is None


def test_position_pages_that_met_a_change_rewind_to_the_first_page() -> None:
    spec = CursorSpec(field="updated_at", sorted=True)
    tracker = CursorTracker(spec, "2025-03-01T08:00:00Z", START, position_based=True)
    tracker.observe([rec("2025-03-01T09:00:00Z"), rec("2025-03-01T09:30:00Z")])  # page 1
    assert tracker.checkpoint(final=False) == "2025-03-01T09:30:00Z"
    tracker.observe([rec("2025-03-01T10:00:00Z")])
    assert tracker.checkpoint(final=False) == "2025-03-01T10:00:00Z"  # crash-resume point
    tracker.observe([rec("2025-03-01T12:00:00Z")])  # changed since the run started
    assert tracker.checkpoint(final=True) == "2025-03-01T09:30:00Z"


def test_a_rewind_never_goes_before_the_starting_cursor_nor_forward() -> None:
    spec = CursorSpec(field="updated_at", sorted=True)
    tracker = CursorTracker(spec, "2025-03-01T09:00:00Z", START, position_based=True)
    tracker.observe([rec("2025-03-01T08:00:00Z"), rec("2025-03-01T12:05:00Z")])
    # a single batch: nothing checkpointed yet, and the rewind does not move it forward
    assert tracker.checkpoint(final=True) is None
    assert tracker.stored == "2025-03-01T09:00:00Z"


def test_unsorted_position_pages_that_met_a_change_keep_the_cursor() -> None:
    tracker = CursorTracker(CursorSpec(field="updated_at"), None, START, position_based=True)
    tracker.observe([rec("2025-03-01T12:30:00Z"), rec("2025-03-01T09:00:00Z")])
    assert tracker.checkpoint(final=True) is None


def test_token_pages_and_unchanged_walks_advance_as_usual() -> None:
    spec = CursorSpec(field="updated_at", sorted=True)
    token = CursorTracker(spec, None, START, position_based=False)
    token.observe([rec("2025-03-01T12:30:00Z")])
    assert token.checkpoint(final=True) == "2025-03-01T12:30:00Z"
    calm = CursorTracker(spec, None, START, position_based=True)
    calm.observe([rec("2025-03-01T11:59:59Z")])
    assert calm.checkpoint(final=True) == "2025-03-01T11:59:59Z"
