"""providers/github.yaml and mappings/github.yaml end to end, through the Engine facade,
against the GitHub simulator: connect -> test -> full import -> incremental -> export ->
webhooks; the rate limits, the filters, every stream and write, the published signature
test vector."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from engine.catalog import ProviderCatalog
from engine.errors import ConfigError, RecordError, WebhookRejected
from engine.http import Connection
from engine.mapping import build_item, load_mapping
from engine.mapping.fields import canonical
from engine.webhooks import InboundRequest, VerifiedDelivery, WebhookProcessor
from tests.providers.conftest import (
    FakeClock,
    Rig,
    close_rig,
    make_rig,
    only,
    requests_to,
    wired,
)
from tests.simulators.base import SimClock
from tests.simulators.github import GitHubSim
from tests.simulators.github_render import ts

TOKEN = "ghp_sim_token"
REPO = "octo/hello"
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
ISSUES = f"/repos/{REPO}/issues"


@pytest.fixture
def sim() -> GitHubSim:
    github = GitHubSim(clock=SimClock(T0))
    github.add_repo(REPO)
    github.add_user("hubot")
    return github


@pytest.fixture
async def rig(sim: GitHubSim, aiohttp_server: Any, tmp_path: Path) -> AsyncIterator[Rig]:
    made = await make_rig(sim, aiohttp_server, tmp_path)
    yield made
    await close_rig(made)


def config(**extra: Any) -> dict[str, Any]:
    return {"filters": {"projects": [REPO]}, **extra}


def provider() -> Any:
    return ProviderCatalog.default().get("github")


# --- connect and the connection test --------------------------------------------------------


async def test_connect_tests_with_githubs_headers_and_registers_the_repository_hook(
    rig: Rig, sim: GitHubSim
) -> None:
    result = await rig.connect("github", {"token": TOKEN}, config(webhookEvents=["issues"]))
    assert result.identity == "octocat"
    asked = only(requests_to(sim, "GET", "/user")).headers
    assert asked["Authorization"] == f"Bearer {TOKEN}"
    assert asked["Accept"] == "application/vnd.github+json"
    assert asked["X-GitHub-Api-Version"] == "2022-11-28"
    assert asked["User-Agent"] == "kiro-sync"

    assert result.webhook is not None and result.webhook.registered
    secret = result.webhook.secret
    assert secret and len(secret) >= 32  # generated: any string works for GitHub
    hook = only(sim.repo(REPO).hooks.values())
    assert hook["events"] == ["issues"]
    assert hook["config"]["url"] == rig.webhook_url()
    assert hook["config"]["secret"] == secret and hook["config"]["content_type"] == "json"

    await rig.engine.disconnect(rig.integration_id)  # deletes /repos/octo/hello/hooks/ID
    assert sim.repo(REPO).hooks == {}


async def test_a_wrong_token_is_a_config_error_with_githubs_own_message(
    rig: Rig, sim: GitHubSim
) -> None:
    with pytest.raises(ConfigError) as caught:
        await rig.engine.test_connection(
            integration_type="github",
            credentials={"token": "ghp_not_a_real_token", "baseUrl": rig.sim_url},
        )
    assert caught.value.message == "Connection test failed"
    assert caught.value.details == "Bad credentials"
    assert "ghp_not_a_real_token" not in f"{caught.value} {caught.value.details}"


# --- the whole story ----------------------------------------------------------------------


async def test_connect_import_incremental_export_and_webhooks(rig: Rig, sim: GitHubSim) -> None:
    seeded = sim.seed_issues(REPO, count=24, pull_requests=4)
    sim.seed_comments(REPO, per_issue=1)
    milestone = sim.add_milestone(REPO, "v1", due_on=datetime(2025, 4, 1, tzinfo=UTC))
    real = sim.issues_of(REPO)
    with_milestone = real[2]
    sim.edit_issue(REPO, with_milestone.number, milestone=milestone.number)
    result = await rig.connect(
        "github", {"token": TOKEN}, config(webhookEvents=["issues", "issue_comment"])
    )
    assert result.webhook is not None and result.webhook.secret

    # full import: issues without pull requests, comments of issues only
    first = await rig.sync()
    links = await rig.links()
    assert set(links) == {f"{REPO}#{i.number}" for i in real}
    assert len(seeded) == 28 and len(real) == 24
    comments = await rig.links("comment")
    assert len(comments) == 24  # the pull requests' comments have no work item: skipped
    assert first.imported.created == 48 and first.imported.failed == 0
    await check_fields(rig, sim, with_milestone.number)

    # incremental: `since` is the newest update seen; only what changed comes back
    newest = max(i.updated_at for i in sim.issues_of(REPO))
    sim.clock.advance(minutes=5)
    renamed = real[5].number
    sim.edit_issue(REPO, renamed, title="Renamed on GitHub")
    sim.add_comment(REPO, renamed, "a late comment")
    fresh = sim.create_issue(REPO, "Fresh issue", labels=["docs"])
    sim.log.clear()
    second = await rig.sync()
    since = only({e.query.get("since") for e in requests_to(sim, "GET", ISSUES)})
    assert since == ts(newest)
    assert (second.imported.created, second.imported.updated) == (2, 1)
    assert (await rig.item(f"{REPO}#{renamed}")).title == "Renamed on GitHub"
    assert (await rig.item(f"{REPO}#{fresh.number}")).tags == ["docs"]
    assert "a late comment" in await rig.comments_of(f"{REPO}#{renamed}")

    # export: Kiro's changes go out as PATCH/POST; state closed carries a reason
    await rig.configure(syncDirection="bidirectional")
    sim.log.clear()
    open_one = next(i for i in real if i.state == "open" and i.number != renamed)
    closed_one = next(i for i in real if i.state == "closed")
    await rig.edit_in_kiro(
        await rig.item(f"{REPO}#{open_one.number}"), title="Kiro title", status="Done"
    )
    await rig.edit_in_kiro(await rig.item(f"{REPO}#{closed_one.number}"), status="In Progress")
    await rig.new_in_kiro(
        "kiro-new-1", title="Made in Kiro", description="From Kiro", status="Done", tags=["ops"]
    )
    third = await rig.sync()
    assert (third.exported.created, third.exported.updated, third.exported.failed) == (1, 2, 0)
    assert sim.get_issue(REPO, open_one.number).title == "Kiro title"
    assert (
        sim.get_issue(REPO, open_one.number).state,
        sim.get_issue(REPO, open_one.number).state_reason,
    ) == ("closed", "completed")
    assert sim.get_issue(REPO, closed_one.number).state == "open"
    patches = {e.path: e.json() for e in sim.log.entries if e.method == "PATCH"}
    assert patches[f"{ISSUES}/{open_one.number}"] == {
        "title": "Kiro title",
        "state": "closed",
        "state_reason": "completed",
    }
    assert patches[f"{ISSUES}/{closed_one.number}"] == {"state": "open", "state_reason": "reopened"}
    made = next(i for i in sim.issues_of(REPO) if i.title == "Made in Kiro")
    assert (made.state, made.state_reason, made.labels, made.body) == (
        "closed",
        "completed",
        ["ops"],
        "From Kiro",
    )
    created = only(e.json() for e in requests_to(sim, "POST", ISSUES))
    assert "state" not in created  # the create endpoint takes no state: a PATCH closes it
    link = (await rig.links())[f"{REPO}#{made.number}"]
    assert (
        link.kiro_id == "kiro-new-1"
        and link.external_url == f"https://github.com/{REPO}/issues/{made.number}"
    )
    echo = await rig.sync()  # our own writes come back unchanged: recognised, not re-applied
    assert (echo.imported.updated, echo.exported.updated, echo.exported.created) == (0, 0, 0)

    # webhooks from the hook registered at connect, to the Engine's URL, applied by the worker
    sim.clock.advance(minutes=1)
    sim.edit_issue(REPO, fresh.number, title="Edited on GitHub")
    answers = await sim.emit(REPO, "issues", "edited", number=fresh.number)
    assert [a.status for a in answers] == [200]
    comment = sim.add_comment(REPO, fresh.number, "said in a webhook")
    assert [
        a.status for a in await sim.emit(REPO, "issue_comment", "created", comment_id=comment.id)
    ] == [200]
    gone = real[7].number
    sim.delete_issue(REPO, gone)
    assert [a.status for a in await sim.emit(REPO, "issues", "deleted", number=gone)] == [200]
    opened = sim.create_issue(REPO, "Opened on GitHub", labels=["bug"])
    assert [a.status for a in await sim.emit(REPO, "issues", "opened", number=opened.number)] == [
        200
    ]
    assert await rig.process() == 4
    assert (await rig.item(f"{REPO}#{opened.number}")).tags == ["bug"]
    assert (await rig.item(f"{REPO}#{fresh.number}")).title == "Edited on GitHub"
    assert "said in a webhook" in await rig.comments_of(f"{REPO}#{fresh.number}")
    assert f"{REPO}#{gone}" not in await rig.links()
    deleted = [i for i in await rig.items(include_deleted=True) if i.deleted_at is not None]
    assert len(deleted) == 1


async def check_fields(rig: Rig, sim: GitHubSim, milestone_number: int) -> None:
    real = sim.issues_of(REPO)
    closed = next(i for i in real if i.state == "closed")
    item = await rig.item(f"{REPO}#{closed.number}")
    assert (item.title, item.description, item.status) == (closed.title, closed.body, "Done")
    assert item.tags == closed.labels and item.created_at == closed.created_at
    link = (await rig.links())[f"{REPO}#{closed.number}"]
    assert link.external_url == f"https://github.com/{REPO}/issues/{closed.number}"
    assert link.external_key == f"{REPO}#{closed.number}"
    assert link.remote_updated_at == closed.updated_at
    assert (await rig.item(f"{REPO}#{real[1].number}")).status == "To Do"
    dated = await rig.item(f"{REPO}#{milestone_number}")
    assert dated.due_date == datetime(2025, 4, 1, tzinfo=UTC)
    assigned = next(i for i in real if i.assignees)
    user_id = (await rig.item(f"{REPO}#{assigned.number}")).assignee_id
    assert user_id is not None
    user = (await rig.store.get_users([user_id]))[user_id]
    login = sim.users[assigned.assignees[0]]
    assert user.email == f"{login.id}+{login.login}@users.noreply.github.com"


# --- webhooks ------------------------------------------------------------------------------


async def test_ping_is_acknowledged_and_a_redelivery_is_stored_once(
    rig: Rig, sim: GitHubSim
) -> None:
    sim.seed_issues(REPO, count=2, pull_requests=0)
    result = await rig.connect("github", {"token": TOKEN}, config())
    secret = result.webhook.secret if result.webhook else None
    await rig.sync()
    ping = await rig.deliver(sim.webhook("ping", repo=REPO, secret=secret))
    assert ping.status == 200
    assert await rig.process() == 0  # a ping is acknowledged and stored processed

    sim.edit_issue(REPO, 1, title="Once")
    delivery = sim.webhook("issues", "edited", REPO, number=1, secret=secret)
    first, again = await rig.deliver(delivery), await rig.deliver(delivery)
    assert (first.status, again.status) == (200, 200)
    assert '"duplicate":false' in first.text.replace(" ", "")
    assert '"duplicate":true' in again.text.replace(" ", "")  # same X-GitHub-Delivery
    assert await rig.process() == 1
    assert (await rig.item(f"{REPO}#1")).title == "Once"

    forged = sim.webhook("issues", "edited", REPO, number=1, secret="not-the-secret")
    assert (await rig.deliver(forged)).status == 401
    unsigned = sim.webhook("issues", "edited", REPO, number=1)
    assert (await rig.deliver(unsigned)).status == 401


def test_githubs_published_signature_vector_verifies_through_the_yaml() -> None:
    # https://docs.github.com/webhooks/using-webhooks/validating-webhook-deliveries
    secret = "It's a Secret to Everybody"
    signature = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    processor = WebhookProcessor(provider())
    headers = {
        "X-Hub-Signature-256": signature,
        "X-GitHub-Event": "ping",
        "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        "Content-Type": "text/plain",
    }
    url = "https://kiro.example/webhooks/1"
    good = processor.verify(InboundRequest.build("POST", url, headers, b"Hello, World!"), secret)
    assert isinstance(good, VerifiedDelivery)
    assert (good.event_type, good.delivery_id) == ("ping", "72d3162e-cc78-11e3-81ab-4c9367dc0958")
    with pytest.raises(WebhookRejected):
        processor.verify(InboundRequest.build("POST", url, headers, b"Hello, World?"), secret)
    with pytest.raises(WebhookRejected):
        processor.verify(InboundRequest.build("POST", url, headers, b"Hello, World!"), secret + "x")


# --- rate limits ---------------------------------------------------------------------------


async def test_primary_and_secondary_rate_limits_are_waited_out(rig: Rig, sim: GitHubSim) -> None:
    sim.seed_issues(REPO, count=5, pull_requests=0)
    sim.seed_comments(REPO, per_issue=1)
    await rig.connect("github", {"token": TOKEN}, config())
    sim.inject_primary_rate_limit(times=1, reset_in=1, path=ISSUES)  # 403, remaining 0
    sim.inject_secondary_rate_limit(times=1, retry_after=1, status=429, path=f"{ISSUES}/comments")
    started = time.monotonic()
    run = await rig.sync()
    assert (len(await rig.links()), len(await rig.links("comment"))) == (5, 5)
    assert run.imported.failed == 0
    issue_calls = requests_to(sim, "GET", ISSUES)
    assert [e.status for e in issue_calls] == [403, 200]
    assert issue_calls[0].fault == "primary_rate_limit"
    assert [e.status for e in requests_to(sim, "GET", f"{ISSUES}/comments")] == [429, 200]
    assert time.monotonic() - started >= 0.9  # retry-after: 1 was honoured


async def test_waits_last_until_the_reset_or_as_long_as_github_says(
    sim: GitHubSim, aiohttp_server: Any
) -> None:
    """The exact waits, with a clock that records them: primary -> until x-ratelimit-reset,
    secondary -> retry-after, secondary without retry-after -> a minute."""
    sim.seed_issues(REPO, count=3, pull_requests=0)
    server = await aiohttp_server(sim.app())
    clock = FakeClock(time.time())
    credentials = {"token": TOKEN, "baseUrl": str(server.make_url("")).rstrip("/")}

    async def read_with(clock: FakeClock) -> int:
        async with Connection(provider(), credentials, wired(config()), clock=clock) as conn:
            return sum([len(p.records) async for p in conn.read("issues", partition=REPO)])

    sim.inject_primary_rate_limit(times=1, reset_in=30, path=ISSUES)
    assert await read_with(clock) == 3
    assert len(clock.sleeps) == 1 and 29 <= clock.sleeps[0] <= 31
    assert clock.time == int(clock.time)  # slept until the declared reset (epoch seconds)

    clock = FakeClock(time.time())
    sim.inject_secondary_rate_limit(times=1, retry_after=7, path=ISSUES)
    assert await read_with(clock) == 3
    assert clock.sleeps == [7.0]

    async def respond(request: Any, handler: Any) -> Any:
        from tests.simulators.github import gh_error

        return gh_error(403, "You have exceeded a secondary rate limit. Please wait a few minutes.")

    clock = FakeClock(time.time())
    sim.inject("secondary_no_header", respond, times=1, path=ISSUES)
    assert await read_with(clock) == 3
    assert clock.sleeps == [60.0]


# --- filters, streams and writes ----------------------------------------------------------


async def test_filters_go_into_the_request_and_every_repo_is_a_partition(
    rig: Rig, sim: GitHubSim
) -> None:
    other = "octo/world"
    sim.add_repo(other)
    sim.seed_issues(REPO, count=10, pull_requests=2)
    sim.seed_issues(other, count=6, pull_requests=0)
    sim.edit_issue(REPO, 3, labels=["bug", "ui"])
    sim.edit_issue(other, 2, labels=["bug", "ui"], state="closed")
    filters = {"projects": [REPO, other], "labels": ["bug", "ui"], "statuses": ["Closed"]}
    await rig.connect("github", {"token": TOKEN}, {"filters": filters})
    await rig.sync(includeComments=False)
    assert set(await rig.links()) == {f"{other}#2"}  # closed, both labels, either repo
    queries = {e.path: e.query for e in sim.log.entries if e.path.endswith("/issues")}
    assert set(queries) == {ISSUES, f"/repos/{other}/issues"}
    for query in queries.values():
        assert (query["labels"], query["state"], query["sort"], query["direction"]) == (
            "bug,ui",
            "closed",
            "updated",
            "asc",
        )
        assert query["per_page"] == "100"
    await rig.configure(filters={"projects": [REPO], "statuses": ["open", "closed"]})
    sim.log.clear()
    await rig.sync(includeComments=False)
    assert only(e.query["state"] for e in requests_to(sim, "GET", ISSUES)) == "all"


async def test_repos_and_assignable_users_are_streams(sim: GitHubSim, aiohttp_server: Any) -> None:
    sim.add_repo("octocat/spoon-knife")
    server = await aiohttp_server(sim.app())
    credentials = {"token": TOKEN, "baseUrl": str(server.make_url("")).rstrip("/")}
    async with Connection(provider(), credentials, wired({})) as conn:
        repos = [r["full_name"] async for p in conn.read("repos") for r in p.records]
        users = [u["login"] async for p in conn.read("users") for u in p.records]
    assert repos == ["octocat/spoon-knife"]  # the repos the token's user owns
    assert users == ["hubot", "octo", "octocat"]
    assert requests_to(sim, "GET", "/repos/octocat/spoon-knife/assignees")


async def test_a_comment_is_written_to_its_issue(sim: GitHubSim, aiohttp_server: Any) -> None:
    issue = sim.create_issue(REPO, "Has comments")
    server = await aiohttp_server(sim.app())
    credentials = {"token": TOKEN, "baseUrl": str(server.make_url("")).rstrip("/")}
    catalog = ProviderCatalog.default()
    path = catalog.mapping_path("github")
    assert path is not None
    stream = load_mapping(path, catalog.get("github").spec).streams["comments"]
    body = canonical(stream.fields["body"].kiro, "Written from Kiro")
    item = build_item(
        stream,
        kiro_id="c-1",
        project_id="p",
        values={"body": body},
        changed=None,
        emails={},
        config={},
    )
    item["work_item"] = {"external_id": f"{REPO}#{issue.number}"}
    async with Connection(provider(), credentials, wired(config())) as conn:
        written = await conn.write("comment", "create", item=item)
        with pytest.raises(RecordError):  # a 404/422 for one comment fails that comment only
            await conn.write(
                "comment", "create", item={**item, "work_item": {"external_id": f"{REPO}#999"}}
            )
    comment = only(c for c in sim.repo(REPO).comments.values() if c.issue_number == issue.number)
    assert comment.body == "Written from Kiro"
    assert written.id == str(comment.id)
    assert (
        written.url == f"https://github.com/{REPO}/issues/{issue.number}#issuecomment-{comment.id}"
    )
    assert (written.record["id"], written.record["user"]["login"]) == (comment.id, sim.login)
