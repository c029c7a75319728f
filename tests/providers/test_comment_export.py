"""Kiro comments out to GitHub, Jira (ADF bodies) and Linear (commentCreate), end to end
through the Engine facade and the bundled provider files and mappings: written once across
runs, and the provider's copy -- by the next poll and by the provider's signed webhook --
recognised and skipped, never imported as a second comment."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from engine.store.base import Batch, Comment, User
from tests.providers.conftest import Rig, close_rig, make_rig
from tests.simulators.base import DeliveryResult, SimClock
from tests.simulators.github import GitHubSim
from tests.simulators.jira import JiraSim
from tests.simulators.jira_model import adf_doc
from tests.simulators.linear import LinearSim

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
REPO = "octo/hello"
TEXT = "Looks good to me\n\nShip it"
ANN = User(id="u-ann", email="ann@kiro.test", name="Ann")


@dataclass
class Case:
    """How one provider's simulator is set up, connected, and asked what it holds."""

    name: str
    make_sim: Callable[[], Any]
    credentials: dict[str, Any]
    config: dict[str, Any]
    new_issue: Callable[[Any], str]  # the issue's external id
    remote: Callable[[Any, str], list[tuple[str, Any]]]  # (comment id, stored body)
    stored_body: Any  # TEXT as the provider stores it
    emit: Callable[[Any, str, str], Awaitable[list[DeliveryResult]]]


def _github() -> Case:
    def make() -> GitHubSim:
        sim = GitHubSim(clock=SimClock(T0))
        sim.add_repo(REPO)
        return sim

    def remote(sim: GitHubSim, external: str) -> list[tuple[str, Any]]:
        number = int(external.split("#")[1])
        found = sim.repo(REPO).comments.values()
        return [(str(c.id), c.body) for c in found if c.issue_number == number]

    return Case(
        "github",
        make,
        {"token": "ghp_sim_token"},
        {"filters": {"projects": [REPO]}, "webhookEvents": ["issues", "issue_comment"]},
        lambda sim: f"{REPO}#{sim.create_issue(REPO, 'Thread').number}",
        remote,
        TEXT,
        lambda sim, _, cid: sim.emit(REPO, "issue_comment", "created", comment_id=int(cid)),
    )


def _jira() -> Case:
    def make() -> JiraSim:
        sim = JiraSim(clock=SimClock(T0))
        sim.add_project("KAN")
        return sim

    def remote(sim: JiraSim, external: str) -> list[tuple[str, Any]]:
        issue = sim.issue_by_id(external)
        return [(cid, sim.comments[cid].body) for cid in issue.comments]

    def emit(sim: JiraSim, external: str, cid: str) -> Awaitable[list[DeliveryResult]]:
        return sim.emit("comment_created", sim.issue_by_id(external).key, comment_id=cid)

    return Case(
        "jira",
        make,
        {"email": "dev@example.com", "apiToken": "jira-token"},
        {
            "filters": {"projects": ["KAN"]},
            "extra": {"timeZone": "Etc/UTC"},
            "webhookEvents": ["jira:issue_updated", "comment_created"],
        },
        lambda sim: sim.create_issue("KAN", "Thread").id,
        remote,
        adf_doc(TEXT),
        emit,
    )


def _linear() -> Case:
    def remote(sim: LinearSim, external: str) -> list[tuple[str, Any]]:
        return [(c.id, c.body) for c in sim.comments.values() if c.issue_id == external]

    def emit(sim: LinearSim, external: str, cid: str) -> Awaitable[list[DeliveryResult]]:
        now_ms = int(sim.clock.now.timestamp() * 1000)
        return sim.emit("Comment", "create", cid, timestamp_ms=now_ms)

    return Case(
        "linear",
        lambda: LinearSim(clock=SimClock(T0)),
        {"apiKey": "lin_api_sim"},
        {"filters": {"projects": ["ENG"]}, "webhookEvents": ["Issue", "Comment"]},
        lambda sim: sim.create_issue("ENG", "Thread").id,
        remote,
        TEXT,
        emit,
    )


CASES = {case.name: case for case in (_github(), _jira(), _linear())}


@pytest.fixture(params=sorted(CASES))
def case(request: pytest.FixtureRequest) -> Case:
    return CASES[request.param]


@pytest.fixture
async def rig(case: Case, aiohttp_server: Any, tmp_path: Path) -> AsyncIterator[Rig]:
    made = await make_rig(case.make_sim(), aiohttp_server, tmp_path)
    yield made
    await close_rig(made)


async def comments_on(rig: Rig, item_id: str) -> list[Comment]:
    found: list[Comment] = []
    async for batch in rig.store.iter_comments([item_id]):
        found.extend(batch)
    return found


async def test_a_kiro_comment_is_written_once_and_its_echoes_are_skipped(
    case: Case, rig: Rig
) -> None:
    sim = rig.sim
    external = case.new_issue(sim)
    await rig.connect(
        case.name, case.credentials, {**case.config, "syncDirection": "bidirectional"}
    )
    await rig.sync()
    item_id = (await rig.links())[external].kiro_id
    now = rig.now()
    said = Comment("kc-1", item_id, TEXT, ANN.id, created_at=now, updated_at=now)
    await rig.store.apply_batch(Batch(users=[ANN], comments=[said]))

    written = await rig.sync()
    assert (written.exported.created, written.exported.failed) == (1, 0)
    [(remote_id, body)] = case.remote(sim, external)
    assert body == case.stored_body
    assert (await rig.links("comment"))[remote_id].kiro_id == said.id

    again = await rig.sync()  # the poll reads it back: recognised by its link
    assert (again.imported.created, again.imported.updated) == (0, 0)
    assert (again.exported.created, again.exported.updated) == (0, 0)
    assert len(case.remote(sim, external)) == 1

    answers = await case.emit(sim, external, remote_id)  # the provider's signed webhook
    assert [a.status for a in answers] == [200]
    assert await rig.process() == 1
    [kept] = await comments_on(rig, item_id)
    assert (kept.id, kept.body, kept.author_id) == (said.id, TEXT, ANN.id)
    assert len(case.remote(sim, external)) == 1
