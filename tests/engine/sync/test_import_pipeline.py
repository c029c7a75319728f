"""Pipelined batches (engine.sync.importer): batch N commits while batch N+1 is decided,
with the same counts, rows and checkpoints as one batch after the other."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from engine.errors import StoreError
from engine.mapping.inbound import MappedRecord
from engine.store.base import Batch, ExternalLink, WorkItem
from engine.sync.applier import Prepared, RecordApplier, Work
from engine.sync.models import Counts
from tests.engine.sync.conftest import REPO, Env

OPTIONS = {"batchSize": 10, "includeComments": False}


async def test_batches_that_touch_each_other_wait_and_count_the_same(
    github: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    github.sim.seed_issues(REPO, count=45, pull_requests=0)
    monkeypatch.setattr(RecordApplier, "touches", staticmethod(lambda *_: True))
    result = await github.run(OPTIONS)
    assert result.status == "success", result.errors
    assert result.imported.created == 45
    again = await github.run(OPTIONS)
    assert (again.imported.created, again.imported.updated) == (0, 0)


async def test_a_failed_commit_stops_the_run_before_the_next_batch(
    github: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    github.sim.seed_issues(REPO, count=60, pull_requests=0)
    store = github.store
    original = store.apply_batch
    calls = {"n": 0}

    async def third_fails(batch: Batch) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise StoreError("disk full")
        await original(batch)

    monkeypatch.setattr(store, "apply_batch", third_fails)
    result = await github.run(OPTIONS)
    assert result.status == "error" and "disk full" in (result.error_message or "")
    assert result.imported.created == 20
    assert calls["n"] == 3  # the batch after the failed one was never written
    issues = sorted(github.sim.issues_of(REPO), key=lambda i: i.updated_at)
    cursor = await store.get_cursor(github.integration.id, "issues", REPO)
    assert cursor == issues[19].updated_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    monkeypatch.undo()
    resumed = await github.run(OPTIONS)
    assert resumed.imported.created == 40
    assert len(await github.items()) == 60


def _prepared(external_ids: list[str], linked: dict[str, str]) -> Prepared:
    latest = {e: MappedRecord("issues", "work_item", e, {}) for e in external_ids}
    links = {e: ExternalLink("i", "work_item", k, e) for e, k in linked.items()}
    return Prepared(None, latest, len(latest), [], links, {}, {})  # type: ignore[arg-type]


def _work(
    links: list[tuple[str, str]], unlink: Sequence[str] = (), rows: Sequence[str] = ()
) -> Work:
    batch = Batch(
        links=[ExternalLink("i", "work_item", k, e) for k, e in links],
        unlink=[("i", "work_item", e) for e in unlink],
        work_items=[WorkItem(id=r, project_id="p", title="t") for r in rows],
    )
    return Work(batch, Counts(), datetime.now(UTC), {}, {}, {})


@pytest.mark.parametrize(
    ("prepared", "work", "touches"),
    [
        (_prepared(["A", "B"], {}), _work([("k1", "C")]), False),
        (_prepared(["A", "B"], {}), _work([("k1", "B")]), True),  # B's link just written
        (_prepared(["A"], {}), _work([], unlink=["A"]), True),  # A's link just removed
        (_prepared(["A"], {"A": "k1"}), _work([("k1", "Z")]), True),  # k1 relinked to Z
        (_prepared(["A"], {"A": "k1"}), _work([], rows=["k1"]), True),  # k1's row written
        (_prepared(["A"], {"A": "k1"}), _work([("k2", "B")], rows=["k2"]), False),
    ],
)
def test_touches_means_a_read_of_the_next_batch_is_being_written(
    prepared: Prepared, work: Work, touches: bool
) -> None:
    assert RecordApplier.touches(prepared, work) is touches
