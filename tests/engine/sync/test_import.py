"""Import against the GitHub simulator: exact counts, skips, incremental, resume."""

from __future__ import annotations

from tests.engine.sync.conftest import REPO, Env


async def test_full_import_counts_exactly_then_skips_all(github: Env) -> None:
    github.sim.seed_issues(REPO, count=1000)
    result = await github.run()
    assert result.status == "success", result.errors
    assert result.imported.created == 1000
    assert result.imported.updated == 0
    items = await github.items()
    assert len(items) == 1000
    second = await github.run()
    assert second.imported.created == 0
    assert second.imported.skipped == second.imported.processed
