"""providers/jira.yaml and mappings/jira.yaml end to end, through the Engine facade, against
the Jira Cloud simulator: connect -> test -> full import (search/jql, nextPageToken) ->
incremental (JQL minute dates with an overlap, de-duplicated) -> export (ADF, transitions) ->
admin webhooks; both auth modes, rate limits, filters in JQL, every stream and write."""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from engine.catalog import ProviderCatalog
from engine.errors import ConfigError, WebhookRejected
from engine.http import Connection
from engine.mapping import build_item, load_mapping
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
from tests.simulators.jira import CLASSIC_WORKFLOW, JiraSim
from tests.simulators.jira_model import adf_doc

EMAIL, API_TOKEN = "dev@example.com", "jira-token"
CREDENTIALS = {"email": EMAIL, "apiToken": API_TOKEN}
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
SEARCH = "/rest/api/3/search/jql"


@pytest.fixture
def sim() -> JiraSim:
    jira = JiraSim(clock=SimClock(T0))
    jira.add_project("KAN")
    jira.add_user("ada@example.com", "Ada Lovelace")
    return jira


@pytest.fixture
async def rig(sim: JiraSim, aiohttp_server: Any, tmp_path: Path) -> AsyncIterator[Rig]:
    made = await make_rig(sim, aiohttp_server, tmp_path)
    yield made
    await close_rig(made)


def config(**extra: Any) -> dict[str, Any]:
    # the simulated account's time zone is UTC: incremental reads are exact
    return {"filters": {"projects": ["KAN"]}, "extra": {"timeZone": "Etc/UTC"}, **extra}


def provider() -> Any:
    return ProviderCatalog.default().get("jira")


def jql_of(sim: JiraSim) -> list[str]:
    return [e.json()["jql"] for e in requests_to(sim, "POST", SEARCH)]


def minute(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


# --- connect and the connection test --------------------------------------------------------


async def test_connect_tests_with_basic_auth_and_registers_an_admin_webhook(
    rig: Rig, sim: JiraSim
) -> None:
    events = ["jira:issue_updated", "comment_created"]
    result = await rig.connect("jira", CREDENTIALS, config(webhookEvents=events))
    assert result.identity == "Sim Developer"
    asked = only(requests_to(sim, "GET", "/rest/api/3/myself")).headers
    expected = base64.b64encode(f"{EMAIL}:{API_TOKEN}".encode()).decode()
    assert asked["Authorization"] == f"Basic {expected}"
    assert result.webhook is not None and result.webhook.registered and result.webhook.secret
    hook = only(sim.webhooks.values())
    assert (hook["url"], hook["events"], hook["secret"]) == (
        rig.webhook_url(),
        events,
        result.webhook.secret,
    )
    assert hook["filters"] == {"issue-related-events-section": 'project in ("KAN")'}
    await rig.engine.disconnect(rig.integration_id)
    assert sim.webhooks == {}


async def test_oauth_is_a_bearer_mode_and_cloud_ids_go_through_api_atlassian_com(
    rig: Rig, sim: JiraSim
) -> None:
    found = await rig.engine.test_connection(
        integration_type="jira",
        credentials={"accessToken": "jira-oauth", "baseUrl": rig.sim_url},
    )
    assert found.identity == "Sim Developer"
    assert requests_to(sim, "GET", "/rest/api/3/myself")[-1].headers["Authorization"] == (
        "Bearer jira-oauth"
    )
    cloud = Connection(provider(), {"accessToken": "t0ken", "cloudId": "c-1"}, wired({}))
    site = Connection(provider(), {**CREDENTIALS, "domain": "https://acme.atlassian.net/"}, {})
    assert cloud.base_url == "https://api.atlassian.com/ex/jira/c-1"
    assert site.base_url == "https://acme.atlassian.net"


async def test_wrong_credentials_are_a_config_error_with_jiras_own_message(rig: Rig) -> None:
    with pytest.raises(ConfigError) as caught:
        await rig.engine.test_connection(
            integration_type="jira",
            credentials={"email": EMAIL, "apiToken": "not-the-token", "baseUrl": rig.sim_url},
        )
    assert caught.value.message == "Connection test failed"
    assert caught.value.details == "Client must be authenticated to access this resource."
    assert "not-the-token" not in f"{caught.value} {caught.value.details}"


# --- the whole story ----------------------------------------------------------------------


async def test_connect_import_incremental_export_and_webhooks(rig: Rig, sim: JiraSim) -> None:
    seeded = sim.seed_issues("KAN", count=130)
    for issue in seeded[:3]:
        sim.add_comment(issue.key, f"First\n\nabout {issue.key}")
    sim.edit_issue(seeded[4].key, duedate="2025-04-01", assignee="ada@example.com")
    result = await rig.connect("jira", CREDENTIALS, config(webhookEvents=["jira:issue_updated"]))
    assert result.webhook is not None and result.webhook.secret

    # full import: two pages of /search/jql (the second by nextPageToken), explicit fields
    first = await rig.sync()
    assert len(await rig.links()) == 130 and len(await rig.links("comment")) == 3
    assert first.imported.created == 133 and first.imported.failed == 0
    # (issues, then comments: one request per issue, its parents read by the same search)
    searches = [e.json() for e in requests_to(sim, "POST", SEARCH)]
    assert [s["jql"] for s in searches] == ['project = "KAN" ORDER BY updated ASC, key ASC'] * 4
    assert "nextPageToken" not in searches[0] and searches[1]["nextPageToken"]
    assert len(requests_to(sim, "GET", f"/rest/api/3/issue/{seeded[0].id}/comment")) == 1
    assert searches[0]["maxResults"] == 100 and {"summary", "status", "updated"} <= set(
        searches[0]["fields"]
    )
    assert not requests_to(sim, "POST", "/rest/api/3/search")  # the removed endpoint
    await check_fields(rig, sim)

    # incremental: JQL dates at minute resolution, a minute early; re-read issues are skipped
    cursor = max(i.updated for i in sim.issues.values())
    sim.clock.advance(minutes=5)
    edited = seeded[10]
    sim.edit_issue(edited.key, summary="Renamed in Jira")
    sim.add_comment(edited.key, "a later comment")
    fresh = sim.create_issue("KAN", "Fresh", description="New\n\nissue", labels=["docs"])
    sim.log.clear()
    second = await rig.sync()
    since = minute(cursor - timedelta(seconds=60))
    assert (
        jql_of(sim)
        == [f'project = "KAN" AND updated >= "{since}" ORDER BY updated ASC, key ASC'] * 2
    )  # issues, and the parents of comments
    again = [i for i in seeded if minute(i.updated) >= since and i is not edited]
    assert again  # the overlap re-reads the last minute...
    assert (second.imported.created, second.imported.updated) == (2, 1)
    # ...and recognises what it already has: those issues and their comments are skipped
    assert second.imported.skipped == len(again) + sum(len(i.comments) for i in again)
    assert len(await rig.links()) == 131
    assert (await rig.item(fresh.id)).description == "New\n\nissue"
    assert "a later comment" in await rig.comments_of(edited.id)

    # export: fields in ADF, the status through a transition, a new issue in the project
    await rig.configure(syncDirection="bidirectional")
    sim.log.clear()
    to_do = next(i for i in seeded if i.status == "To Do" and i.priority != "Highest")
    text = "Steps:\nopen the app\n\nExpected: a login"
    await rig.edit_in_kiro(
        await rig.item(to_do.id),
        title="From Kiro",
        description=text,
        status="Done",
        priority="urgent",
    )
    await rig.new_in_kiro("kiro-new-1", title="Made in Kiro", status="In Progress", tags=["ops"])
    third = await rig.sync()
    assert (third.exported.created, third.exported.updated, third.exported.failed) == (1, 1, 0)
    changed = sim.issue(to_do.key)
    assert (changed.summary, changed.status, changed.priority) == ("From Kiro", "Done", "Highest")
    assert changed.description == adf_doc(text)  # plain text and paragraphs as ADF
    transitions = [
        e.json() for e in requests_to(sim, "POST", f"/rest/api/3/issue/{to_do.id}/transitions")
    ]
    assert transitions == [{"transition": {"id": "41"}}]  # the one whose target is "Done"
    put = only(e.json() for e in requests_to(sim, "PUT", f"/rest/api/3/issue/{to_do.id}"))
    assert "status" not in put["fields"] and put["fields"]["priority"] == {"name": "Highest"}
    made = next(i for i in sim.issues.values() if i.summary == "Made in Kiro")
    assert (made.project, made.status, made.labels, made.issuetype) == (
        "KAN",
        "In Progress",
        ["ops"],
        "Task",
    )
    link = (await rig.links())[made.id]
    assert (link.kiro_id, link.external_key) == ("kiro-new-1", made.key)
    assert link.external_url == f"{rig.sim_url}/browse/{made.key}"
    echo = await rig.sync()  # the issues we wrote come back as we wrote them
    assert (echo.imported.updated, echo.exported.updated, echo.exported.created) == (0, 0, 0)
    assert (await rig.item(to_do.id)).description == text

    # admin webhooks: issue updated, comment created, issue deleted; signed, de-duplicated
    secret = result.webhook.secret
    sim.edit_issue(fresh.key, summary="Edited in Jira")
    assert [a.status for a in await sim.emit("jira:issue_updated", fresh.key)] == [200]
    note = sim.add_comment(fresh.key, "said in a webhook")
    comment = sim.webhook("comment_created", fresh.key, secret=secret, comment_id=note.id)
    deleted = sim.delete_issue(seeded[20].key)
    gone = sim.webhook("jira:issue_deleted", deleted.key, secret=secret, identifier=4242)
    born = sim.create_issue("KAN", "Created in Jira", description="Made\n\nthere")
    created = sim.webhook("jira:issue_created", born.key, secret=secret)
    for delivery in (comment, gone, gone, created):
        assert (await rig.deliver(delivery)).status == 200
    assert await rig.process() == 4  # the redelivered deletion was stored once
    assert (await rig.item(born.id)).description == "Made\n\nthere"  # v2 text in webhooks
    assert (await rig.item(fresh.id)).title == "Edited in Jira"
    assert "said in a webhook" in await rig.comments_of(fresh.id)
    assert deleted.id not in await rig.links()
    forged = sim.webhook("jira:issue_updated", fresh.key, secret="wrong-secret")
    assert (await rig.deliver(forged)).status == 401


async def check_fields(rig: Rig, sim: JiraSim) -> None:
    issues = sorted(sim.issues.values(), key=lambda i: int(i.id))
    done = next(i for i in issues if i.status == "Done")
    item = await rig.item(done.id)
    assert (item.title, item.status, item.tags) == (done.summary, "Done", done.labels)
    assert item.description == f"Description of issue {done.summary.split()[-1]}"
    assert item.created_at == done.created
    link = (await rig.links())[done.id]
    assert (link.external_key, link.external_url) == (done.key, f"{rig.sim_url}/browse/{done.key}")
    expected = {
        "Highest": "urgent",
        "High": "high",
        "Medium": "medium",
        "Low": "low",
        "Lowest": "low",
    }
    for issue in issues[:5]:
        assert (await rig.item(issue.id)).priority == expected[issue.priority]
    assert {(await rig.item(i.id)).status for i in issues} == {"To Do", "In Progress", "Done"}
    dated = await rig.item(issues[4].id)
    assert dated.due_date == datetime(2025, 4, 1, tzinfo=UTC)
    assert dated.assignee_id is not None
    user = (await rig.store.get_users([dated.assignee_id]))[dated.assignee_id]
    assert (user.email, user.name) == ("ada@example.com", "Ada Lovelace")
    assert await rig.comments_of(issues[0].id) == [f"First\n\nabout {issues[0].key}"]


async def test_a_status_no_transition_reaches_fails_that_item_only(
    aiohttp_server: Any, tmp_path: Path
) -> None:
    sim = JiraSim(clock=SimClock(T0), workflow=CLASSIC_WORKFLOW)  # To Do -> Done needs a stop
    sim.seed_issues("KAN", count=2, done_every=0)
    rig = await make_rig(sim, aiohttp_server, tmp_path)
    try:
        await rig.connect("jira", CREDENTIALS, config(syncDirection="bidirectional"))
        await rig.sync()
        first, second = sorted(sim.issues.values(), key=lambda i: int(i.id))
        assert (first.status, second.status) == ("To Do", "In Progress")
        await rig.edit_in_kiro(await rig.item(first.id), status="Done")
        await rig.edit_in_kiro(await rig.item(second.id), status="Done")
        run = await rig.sync(expect="partial")
        assert (run.exported.updated, run.exported.failed) == (1, 1)
        assert any("no Jira transition leads to status 'Done'" in e for e in run.errors)
        assert (sim.issue(first.key).status, sim.issue(second.key).status) == ("To Do", "Done")
    finally:
        await close_rig(rig)


def test_the_admin_webhook_signature_is_githubs_scheme_under_another_header() -> None:
    # Atlassian publishes no vector; the algorithm is GitHub's (HMAC-SHA256 of the raw body,
    # "sha256=" + hex), so GitHub's published vector verifies under X-Hub-Signature
    secret = "It's a Secret to Everybody"
    signature = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    processor = WebhookProcessor(provider())
    headers = {
        "X-Hub-Signature": signature,
        "X-Atlassian-Webhook-Identifier": "4242",
        "Content-Type": "text/plain",
    }
    url = "https://kiro.example/webhooks/1"
    good = processor.verify(InboundRequest.build("POST", url, headers, b"Hello, World!"), secret)
    assert isinstance(good, VerifiedDelivery) and good.delivery_id == "4242"
    with pytest.raises(WebhookRejected):
        processor.verify(InboundRequest.build("POST", url, headers, b"Hello, World?"), secret)
    moved = {**headers, "X-Hub-Signature-256": signature}
    del moved["X-Hub-Signature"]
    with pytest.raises(WebhookRejected):  # the -256 header is GitHub's, not Jira's
        processor.verify(InboundRequest.build("POST", url, moved, b"Hello, World!"), secret)


# --- rate limits ---------------------------------------------------------------------------


async def test_429_with_retry_after_is_waited_out(rig: Rig, sim: JiraSim) -> None:
    sim.seed_issues("KAN", count=5)
    await rig.connect("jira", CREDENTIALS, config())
    sim.inject_rate_limit(times=1, retry_after=1, path=SEARCH)
    started = time.monotonic()
    run = await rig.sync(includeComments=False)
    assert len(await rig.links()) == 5 and run.imported.failed == 0
    assert [e.status for e in requests_to(sim, "POST", SEARCH)] == [429, 200]
    assert time.monotonic() - started >= 0.9


async def test_the_wait_is_what_retry_after_says(sim: JiraSim, aiohttp_server: Any) -> None:
    sim.seed_issues("KAN", count=3)
    server = await aiohttp_server(sim.app())
    credentials = {**CREDENTIALS, "baseUrl": str(server.make_url("")).rstrip("/")}
    sim.inject_rate_limit(times=2, retry_after=4, path=SEARCH)
    clock = FakeClock(time.time())
    async with Connection(provider(), credentials, wired(config()), clock=clock) as conn:
        found = [r async for p in conn.read("issues", partition="KAN") for r in p.records]
    assert len(found) == 3
    assert clock.sleeps == [4.0, 4.0]


# --- JQL: filters and time zones -------------------------------------------------------------


async def test_filters_are_written_into_the_jql(rig: Rig, sim: JiraSim) -> None:
    sim.add_project("OPS")
    sim.seed_issues("KAN", count=30)
    sim.seed_issues("OPS", count=10)
    filters = {
        "projects": ["KAN", "OPS"],
        "labels": ["bug"],
        "statuses": ["In Progress", "Done"],
        "assignees": [EMAIL],
    }
    await rig.connect("jira", CREDENTIALS, {"filters": filters, "extra": {"timeZone": "UTC"}})
    await rig.sync(includeComments=False)
    expected = {
        i.id
        for i in sim.issues.values()
        if "bug" in i.labels and i.status in ("In Progress", "Done") and i.assignee == sim.me
    }
    assert expected and set(await rig.links()) == expected
    tail = (
        ' AND labels = "bug" AND status in ("In Progress", "Done")'
        ' AND assignee in ("dev@example.com") ORDER BY updated ASC, key ASC'
    )
    assert jql_of(sim) == [f'project = "KAN"{tail}', f'project = "OPS"{tail}']


async def test_jql_dates_are_written_in_the_accounts_time_zone(
    sim: JiraSim, aiohttp_server: Any
) -> None:
    server = await aiohttp_server(sim.app())
    credentials = {**CREDENTIALS, "baseUrl": str(server.make_url("")).rstrip("/")}
    cursor = "2025-03-01T12:00:30.000+0000"  # minus the minute of overlap: 11:59:30 UTC

    async def jql(extra: dict[str, Any]) -> str:
        sim.log.clear()
        cfg = wired({"filters": {"projects": ["KAN"]}, "extra": extra})
        async with Connection(provider(), credentials, cfg) as conn:
            [p async for p in conn.read("issues", partition="KAN", cursor=cursor)]
        return only(jql_of(sim))

    assert 'updated >= "2025-03-01 11:59"' in await jql({"timeZone": "Etc/UTC"})
    assert 'updated >= "2025-03-01 06:59"' in await jql({"timeZone": "America/New_York"})
    # unknown zone: written as UTC-12 wall time, early enough however the account reads it
    assert 'updated >= "2025-02-28 23:59"' in await jql({})


# --- streams and writes ------------------------------------------------------------------------


async def test_projects_and_users_are_streams(sim: JiraSim, aiohttp_server: Any) -> None:
    sim.add_project("OPS")
    server = await aiohttp_server(sim.app())
    credentials = {**CREDENTIALS, "baseUrl": str(server.make_url("")).rstrip("/")}
    async with Connection(provider(), credentials, wired({})) as conn:
        projects = [p["key"] async for page in conn.read("projects") for p in page.records]
        users = [u["displayName"] async for page in conn.read("users") for u in page.records]
    async with Connection(
        provider(), credentials, wired({"filters": {"projects": ["OPS"]}})
    ) as conn:
        chosen = [p["key"] async for page in conn.read("projects") for p in page.records]
    assert (projects, chosen) == (["KAN", "OPS"], ["OPS"])
    assert users == ["Sim Developer", "Ada Lovelace"]


async def test_a_comment_is_written_in_adf(sim: JiraSim, aiohttp_server: Any) -> None:
    issue = sim.create_issue("KAN", "Has comments")
    server = await aiohttp_server(sim.app())
    credentials = {**CREDENTIALS, "baseUrl": str(server.make_url("")).rstrip("/")}
    catalog = ProviderCatalog.default()
    path = catalog.mapping_path("jira")
    assert path is not None
    stream = load_mapping(path, catalog.get("jira").spec).streams["comments"]
    text = "Looks good\nto me\n\nShip it"
    item = build_item(
        stream,
        kiro_id="c-1",
        project_id="p",
        values={"body": text},
        changed=None,
        emails={},
        config={},
    )
    item["work_item"] = {"external_id": issue.id, "external_key": issue.key}
    async with Connection(provider(), credentials, wired(config())) as conn:
        written = await conn.write("comment", "create", item=item)
    comment = sim.comments[only(sim.issue(issue.key).comments)]
    assert comment.body == adf_doc(text)
    assert written.id == comment.id
    assert (written.record["id"], written.record["body"]) == (comment.id, adf_doc(text))
