"""syncOptions.includeAttachments on Linear, end to end through the Engine facade against the
Linear simulator: the issues query selects `attachments` only when the run's option is on
(`@include(if: $withAttachments)`), and the work item's custom.attachments holds them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.providers.conftest import Rig, close_rig, make_rig
from tests.simulators.base import SimClock
from tests.simulators.linear import LinearSim, iso_ms

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
CONFIG = {"filters": {"projects": ["ENG"]}}


@pytest.fixture
def sim() -> LinearSim:
    linear = LinearSim(clock=SimClock(T0))
    linear.add_user("Ada Lovelace", "ada@example.com")
    linear.seed_issues("ENG", count=3)
    return linear


@pytest.fixture
async def rig(sim: LinearSim, aiohttp_server: Any, tmp_path: Path) -> AsyncIterator[Rig]:
    made = await make_rig(sim, aiohttp_server, tmp_path)
    await made.connect("linear", {"apiKey": "lin_api_sim"}, CONFIG)
    yield made
    await close_rig(made)


def issue_reads(sim: LinearSim) -> list[dict[str, Any]]:
    """The variables of the issues queries since the log was last cleared."""
    found = []
    for entry in sim.log.entries:
        body = entry.json() if entry.path == "/graphql" and entry.body else None
        if body and " issues(" in body["query"]:
            found.append(body["variables"])
    assert found
    return found


async def custom_of(rig: Rig, external_id: str) -> dict[str, Any]:
    return dict((await rig.item(external_id)).custom or {})


async def test_attachments_only_with_include_attachments(rig: Rig, sim: LinearSim) -> None:
    first = sim.issue("ENG-1")
    pr = sim.add_attachment(
        "ENG-1", "PR #42", "https://github.com/o/r/pull/42", "open", "ada@example.com"
    )
    doc = sim.add_attachment("ENG-1", "Design", "https://example.com/design.pdf")

    # off (the default): not selected (the directive skips it), nothing stored
    await rig.sync()
    assert [v["withAttachments"] for v in issue_reads(sim)] == [False]
    assert "attachments" not in await custom_of(rig, first.id)

    # on, re-reading every issue since startDate: selected and stored as Linear answers
    sim.log.clear()
    result = await rig.sync(includeAttachments=True, startDate=T0 - timedelta(days=1))
    assert [v["withAttachments"] for v in issue_reads(sim)] == [True]
    assert result.imported.updated == 3  # each issue gains the list (two of them empty)
    stored = (await custom_of(rig, first.id))["attachments"]
    facts = [
        (a["id"], a["title"], a["subtitle"], a["url"], a["createdAt"], a["creator"]["email"])
        for a in stored
    ]
    design, pull = "https://example.com/design.pdf", "https://github.com/o/r/pull/42"
    assert facts == [  # newest first, as Linear's connections answer
        (doc.id, "Design", None, design, iso_ms(doc.created_at), "dev@example.com"),
        (pr.id, "PR #42", "open", pull, iso_ms(pr.created_at), "ada@example.com"),
    ]
    others = [i for i in sim.issues.values() if i.id != first.id]
    assert [(await custom_of(rig, i.id))["attachments"] for i in others] == [[], []]

    # a run without the option leaves them; a new attachment arrives with the issue's next
    # update (Linear is not known to move an issue's updatedAt for an attachment)
    await rig.sync()
    assert len((await custom_of(rig, first.id))["attachments"]) == 2
    sim.clock.advance(minutes=5)
    sim.add_attachment(others[0].id, "Thread", "https://example.slack.com/archives/C1/p2")
    sim.edit_issue(others[0].id, title="Renamed in Linear")
    await rig.sync(includeAttachments=True)
    assert [a["title"] for a in (await custom_of(rig, others[0].id))["attachments"]] == ["Thread"]
