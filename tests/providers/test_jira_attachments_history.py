"""syncOptions.includeAttachments and includeHistory on Jira, end to end through the Engine
facade against the Jira simulator: the search asks for the `attachment` field and
`expand=changelog` only when the run's option is on, and the work item's custom.attachments
and custom.history hold what Jira answered (mappings/jira.yaml, fields gated by `option`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from engine.store.base import WorkItem
from tests.providers.conftest import Rig, close_rig, make_rig, only, requests_to
from tests.simulators.base import SimClock
from tests.simulators.jira import JiraSim
from tests.simulators.jira_model import CHANGELOG_LIMIT, jira_ts

EMAIL, API_TOKEN = "dev@example.com", "jira-token"
CREDENTIALS = {"email": EMAIL, "apiToken": API_TOKEN}
CONFIG = {
    "filters": {"projects": ["KAN"]},
    "extra": {"timeZone": "Etc/UTC"},
    "webhookEvents": ["jira:issue_updated"],
}
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
SEARCH = "/rest/api/3/search/jql"


@pytest.fixture
def sim() -> JiraSim:
    jira = JiraSim(clock=SimClock(T0))
    jira.add_project("KAN")
    jira.add_user("ada@example.com", "Ada Lovelace")
    jira.seed_issues("KAN", count=3)
    return jira


@pytest.fixture
async def rig(sim: JiraSim, aiohttp_server: Any, tmp_path: Path) -> AsyncIterator[Rig]:
    made = await make_rig(sim, aiohttp_server, tmp_path)
    await made.connect("jira", CREDENTIALS, CONFIG)
    yield made
    await close_rig(made)


def searches(sim: JiraSim) -> list[dict[str, Any]]:
    """The bodies of the /search/jql requests since the log was last cleared."""
    found = [e.json() for e in requests_to(sim, "POST", SEARCH)]
    assert found
    return found


async def custom_of(rig: Rig, external_id: str) -> dict[str, Any]:
    item: WorkItem = await rig.item(external_id)
    return dict(item.custom or {})


def attachment_facts(attachments: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (
            a["id"],
            a["filename"],
            a["mimeType"],
            a["size"],
            a["created"],
            a["author"]["emailAddress"],
            a["content"],
        )
        for a in attachments
    ]


def history_facts(histories: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (
            h["created"],
            h["author"]["emailAddress"],
            [(i["field"], i["fromString"], i["toString"]) for i in h["items"]],
        )
        for h in histories
    ]


async def test_attachment_metadata_only_with_include_attachments(rig: Rig, sim: JiraSim) -> None:
    first = sim.issue("KAN-1")
    log = sim.add_attachment("KAN-1", "debuglog.txt", "text/plain", 2460, author="ada@example.com")
    shot = sim.add_attachment("KAN-1", "screen.png", "image/png", 51234)

    # off (the default): the field is not asked for and nothing is stored
    plain = await rig.sync()
    assert plain.imported.created == 3
    assert all("attachment" not in body["fields"] for body in searches(sim))
    assert "attachments" not in await custom_of(rig, first.id)

    # on: requested, and the metadata lands in custom.attachments, exactly as Jira gave it
    sim.log.clear()
    wanted = await rig.sync(includeAttachments=True)
    assert all("attachment" in body["fields"] for body in searches(sim))
    api = f"{rig.sim_url}/rest/api/3"
    stored = (await custom_of(rig, first.id))["attachments"]
    assert attachment_facts(stored) == [
        (
            log.id,
            "debuglog.txt",
            "text/plain",
            2460,
            jira_ts(log.created),
            "ada@example.com",
            f"{api}/attachment/content/{log.id}",
        ),
        (
            shot.id,
            "screen.png",
            "image/png",
            51234,
            jira_ts(shot.created),
            EMAIL,
            f"{api}/attachment/content/{shot.id}",
        ),
    ]
    assert stored[1]["thumbnail"] == f"{api}/attachment/thumbnail/{shot.id}"
    # an incremental run re-reads only issues updated since the cursor (and its minute of
    # overlap): KAN-1 (just attached to) and KAN-3 (seeded a minute before); KAN-3 has none
    assert (wanted.imported.created, wanted.imported.updated) == (0, 2)


async def test_attachments_of_issues_read_before_the_option_and_later_ones(
    rig: Rig, sim: JiraSim
) -> None:
    first = sim.issue("KAN-1")
    sim.add_attachment("KAN-1", "debuglog.txt", "text/plain", 2460)
    sim.add_attachment("KAN-1", "screen.png", "image/png", 51234)
    await rig.sync()
    await rig.sync(includeAttachments=True)
    assert (await custom_of(rig, sim.issue("KAN-3").id))["attachments"] == []
    older = sim.issue("KAN-2")
    assert "attachments" not in await custom_of(rig, older.id)
    # a run with startDate re-reads the older issues too: they gain the (empty) list
    sim.log.clear()
    backfill = await rig.sync(includeAttachments=True, startDate=T0 - timedelta(days=1))
    since = 'project = "KAN" AND updated >= "2025-02-28 11:59" ORDER BY updated ASC, key ASC'
    assert {body["jql"] for body in searches(sim)} == {since}  # (a minute early, as always)
    assert (backfill.imported.updated, backfill.imported.skipped) == (1, 2)
    assert (await custom_of(rig, older.id))["attachments"] == []
    others = [i for i in sim.issues.values() if i.id != first.id]

    # read again: nothing new; a later attachment comes with the issue's next update
    again = await rig.sync(includeAttachments=True)
    assert (again.imported.updated, again.imported.skipped) == (0, 2)  # the overlap
    sim.clock.advance(minutes=5)
    notes = sim.add_attachment(others[0].key, "notes.md", "text/markdown", 12)
    later = await rig.sync(includeAttachments=True)
    assert later.imported.updated == 1
    assert [a["filename"] for a in (await custom_of(rig, others[0].id))["attachments"]] == [
        notes.filename
    ]

    # a run without the option leaves what an earlier run stored
    sim.log.clear()
    await rig.sync()
    assert all("attachment" not in body["fields"] for body in searches(sim))
    assert len((await custom_of(rig, first.id))["attachments"]) == 2


async def test_change_history_only_with_include_history(rig: Rig, sim: JiraSim) -> None:
    first = sim.issue("KAN-1")
    ada = sim.user_id("ada@example.com")
    sim.edit_issue("KAN-1", summary="Renamed in Jira", actor=ada)
    sim.set_status("KAN-1", "In Progress")
    renamed, moved = sim.issue("KAN-1").history

    # off (the default): no expand, no history stored
    await rig.sync()
    assert all(body.get("expand") is None for body in searches(sim))
    assert "history" not in await custom_of(rig, first.id)

    # on (re-reading every issue since startDate): expand=changelog, newest change first
    sim.log.clear()
    await rig.sync(includeHistory=True, startDate=T0 - timedelta(days=1))
    assert all(body["expand"] == "changelog" for body in searches(sim))
    history = (await custom_of(rig, first.id))["history"]
    assert [h["id"] for h in history] == [moved["id"], renamed["id"]]
    assert history_facts(history) == [
        (jira_ts(moved["created"]), EMAIL, [("status", "To Do", "In Progress")]),
        (
            jira_ts(renamed["created"]),
            "ada@example.com",
            [("summary", "Seeded issue 1", "Renamed in Jira")],
        ),
    ]
    untouched = next(i for i in sim.issues.values() if not i.history)
    assert (await custom_of(rig, untouched.id))["history"] == []
    # the other fields are read as always
    assert (await rig.item(first.id)).title == "Renamed in Jira"


async def test_history_holds_what_the_search_carries_at_most(rig: Rig, sim: JiraSim) -> None:
    for n in range(CHANGELOG_LIMIT + 3):
        sim.edit_issue("KAN-2", summary=f"Title {n}")
    await rig.sync(includeHistory=True)
    history = (await custom_of(rig, sim.issue("KAN-2").id))["history"]
    assert len(history) == CHANGELOG_LIMIT
    assert history[0]["items"][0]["toString"] == f"Title {CHANGELOG_LIMIT + 2}"
    assert history[-1]["items"][0]["toString"] == "Title 3"  # the oldest three are not read


async def test_both_options_survive_webhooks_and_never_go_out(rig: Rig, sim: JiraSim) -> None:
    first = sim.issue("KAN-1")
    sim.add_attachment("KAN-1", "debuglog.txt", "text/plain", 2460)
    sim.edit_issue("KAN-1", summary="Renamed in Jira")
    await rig.sync(includeAttachments=True, includeHistory=True)
    before = await custom_of(rig, first.id)
    assert len(before["attachments"]) == 1 and len(before["history"]) == 2

    # a webhook is applied without the run's options: what the runs stored stays
    sim.edit_issue("KAN-1", summary="Edited again")
    delivery = sim.webhook("jira:issue_updated", "KAN-1", secret=await webhook_secret(rig, sim))
    assert (await rig.deliver(delivery)).status == 200
    assert await rig.process() == 1
    assert (await rig.item(first.id)).title == "Edited again"
    assert await custom_of(rig, first.id) == before

    # an export sends the Kiro fields, never the provider-owned attachments and history
    await rig.configure(syncDirection="bidirectional")
    sim.log.clear()
    await rig.edit_in_kiro(await rig.item(first.id), title="From Kiro")
    result = await rig.sync(includeAttachments=True, includeHistory=True)
    assert result.exported.updated == 1
    put = only(e.json() for e in requests_to(sim, "PUT", f"/rest/api/3/issue/{first.id}"))
    assert put == {"fields": {"summary": "From Kiro"}}
    assert [a.filename for a in sim.issue("KAN-1").attachments] == ["debuglog.txt"]


async def webhook_secret(rig: Rig, sim: JiraSim) -> str:
    """The secret connect registered the admin webhook with (the simulator keeps it)."""
    hook = only(sim.webhooks.values())
    assert hook["url"] == rig.webhook_url()
    return str(hook["secret"])
