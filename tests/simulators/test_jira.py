"""JiraSim behaves like Jira Cloud REST v3: auth, /search/jql paging and JQL, field selection,
writes in ADF, transitions, comments, projects, users, 429s and signed admin webhooks."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web

from tests.simulators.base import SimClock, load_fixture
from tests.simulators.jira import CLASSIC_WORKFLOW, JiraSim
from tests.simulators.jira_model import adf_doc, adf_text

BASIC = "Basic " + base64.b64encode(b"dev@example.com:jira-token").decode()
AUTH = {"Authorization": BASIC, "Accept": "application/json"}
T0 = datetime(2025, 1, 31, 12, 0, tzinfo=UTC)
SEARCH = "/rest/api/3/search/jql"


def make_sim(count: int = 0, **kwargs: Any) -> JiraSim:
    sim = JiraSim(clock=SimClock(T0), **kwargs)
    sim.add_project("PROJ", "Project")
    if count:
        sim.seed_issues("PROJ", count=count)
    return sim


async def search_all(
    client: Any, jql: str, fields: str = "summary,updated", size: int = 50, method: str = "GET"
) -> tuple[list[dict[str, Any]], int]:
    issues, pages, token = [], 0, None
    while True:
        if method == "GET":
            params = {"jql": jql, "fields": fields, "maxResults": str(size)}
            if token:
                params["nextPageToken"] = token
            answer = await client.get(SEARCH, params=params, headers=AUTH)
        else:
            body = {
                "jql": jql,
                "fields": fields.split(","),
                "maxResults": size,
                "nextPageToken": token,
            }
            answer = await client.post(SEARCH, json=body, headers=AUTH)
        assert answer.status == 200, await answer.text()
        page = await answer.json()
        assert "total" not in page
        issues += page["issues"]
        pages += 1
        token = page.get("nextPageToken")
        if page["isLast"]:
            assert token is None
            return issues, pages
        assert token


# ---- auth ---
async def test_basic_and_bearer_auth(aiohttp_client) -> None:
    client = await aiohttp_client(make_sim().app())
    me = await (await client.get("/rest/api/3/myself", headers=AUTH)).json()
    assert me["emailAddress"] == "dev@example.com" and me["accountId"].startswith("712020:")
    oauth = await client.get("/rest/api/3/myself", headers={"Authorization": "Bearer jira-oauth"})
    assert oauth.status == 200


async def test_bad_credentials_are_401_in_jiras_shape(aiohttp_client) -> None:
    client = await aiohttp_client(make_sim().app())
    wrong = "Basic " + base64.b64encode(b"dev@example.com:nope").decode()
    answer = await client.get("/rest/api/3/myself", headers={"Authorization": wrong})
    assert answer.status == 401
    body = await answer.json()
    assert set(body) == {"errorMessages", "errors"} and body["errorMessages"]
    assert answer.headers["X-Seraph-LoginReason"] == "AUTHENTICATED_FAILED"
    garbage = await client.get("/rest/api/3/myself", headers={"Authorization": "Basic %%%"})
    assert garbage.status == 401


# ---- search ---
@pytest.mark.parametrize(("count", "size"), [(0, 50), (1, 1), (49, 50), (50, 50), (137, 25)])
async def test_next_page_token_walk_is_exact(aiohttp_client, count, size) -> None:
    client = await aiohttp_client(make_sim(count).app())
    issues, pages = await search_all(client, "project = PROJ ORDER BY updated ASC", size=size)
    assert sorted(int(i["key"].split("-")[1]) for i in issues) == list(range(1, count + 1))
    assert pages == max(1, -(-count // size))


async def test_post_search_and_order(aiohttp_client) -> None:
    client = await aiohttp_client(make_sim(30).app())
    issues, _ = await search_all(client, "project = PROJ ORDER BY key DESC", method="POST", size=7)
    assert [i["key"] for i in issues] == [f"PROJ-{n}" for n in range(30, 0, -1)]


async def test_default_fields_is_id_only(aiohttp_client) -> None:
    client = await aiohttp_client(make_sim(3).app())
    page = await (await client.get(SEARCH, params={"jql": "project = PROJ"}, headers=AUTH)).json()
    assert page["issues"] and all(set(i) == {"id"} for i in page["issues"])


async def test_fields_selection(aiohttp_client) -> None:
    client = await aiohttp_client(make_sim(3).app())

    async def fields_of(spec: str) -> set[str]:
        answer = await client.get(
            SEARCH, params={"jql": "project = PROJ", "fields": spec}, headers=AUTH
        )
        return set((await answer.json())["issues"][0]["fields"])

    assert await fields_of("summary,status") == {"summary", "status"}
    recorded = set(load_fixture("jira/rest/issue.json")["fields"])
    assert recorded <= await fields_of("*navigable")
    assert "comment" in await fields_of("*all")
    assert "description" not in await fields_of("-description")
    issue = await (
        await client.get(
            SEARCH, params={"jql": "project = PROJ", "fields": "summary"}, headers=AUTH
        )
    ).json()
    assert set(issue["issues"][0]) == {"expand", "id", "self", "key", "fields"}


async def test_max_results_defaults_and_caps(aiohttp_client) -> None:
    client = await aiohttp_client(make_sim(230).app())
    default = await (
        await client.get(
            SEARCH, params={"jql": "project = PROJ", "fields": "summary"}, headers=AUTH
        )
    ).json()
    assert len(default["issues"]) == 50
    capped = await (
        await client.get(
            SEARCH,
            params={"jql": "project = PROJ", "fields": "summary", "maxResults": "1000"},
            headers=AUTH,
        )
    ).json()
    assert len(capped["issues"]) == 100 and capped["isLast"] is False
    ids_only = await (
        await client.get(
            SEARCH, params={"jql": "project = PROJ", "maxResults": "1000"}, headers=AUTH
        )
    ).json()
    assert len(ids_only["issues"]) == 230 and ids_only["isLast"] is True


async def test_unbounded_and_removed_search(aiohttp_client) -> None:
    client = await aiohttp_client(make_sim(3).app())
    for jql in ("", "   ", "ORDER BY updated DESC"):
        answer = await client.get(SEARCH, params={"jql": jql}, headers=AUTH)
        assert answer.status == 400
        assert "Unbounded JQL" in (await answer.json())["errorMessages"][0]
    old = await client.get("/rest/api/3/search", params={"jql": "project = PROJ"}, headers=AUTH)
    assert old.status == 410
    assert "/rest/api/3/search/jql" in (await old.json())["errorMessages"][0]


async def test_bad_tokens_and_bad_jql(aiohttp_client) -> None:
    client = await aiohttp_client(make_sim(60).app())
    first = await (await client.get(SEARCH, params={"jql": "project = PROJ"}, headers=AUTH)).json()
    other = await client.get(
        SEARCH,
        headers=AUTH,
        params={"jql": "project = PROJ AND labels = bug", "nextPageToken": first["nextPageToken"]},
    )
    assert other.status == 400
    garbage = await client.get(
        SEARCH, headers=AUTH, params={"jql": "project = PROJ", "nextPageToken": "!!!"}
    )
    assert garbage.status == 400
    missing = await client.get(SEARCH, params={"jql": "project = NOPE"}, headers=AUTH)
    assert (await missing.json())["errorMessages"] == [
        "The value 'NOPE' does not exist for the field 'project'."
    ]


async def test_updated_filter_has_minute_resolution(aiohttp_client) -> None:
    sim = make_sim(0)
    for second in (10, 59):
        sim.clock.set(datetime(2025, 1, 31, 14, 4, second, tzinfo=UTC))
        sim.create_issue("PROJ", f"at 14:04:{second}")
    sim.clock.set(datetime(2025, 1, 31, 14, 5, 20, tzinfo=UTC))
    sim.create_issue("PROJ", "at 14:05:20")
    client = await aiohttp_client(sim.app())
    issues, _ = await search_all(client, 'project = PROJ AND updated >= "2025-01-31 14:04"')
    assert len(issues) == 3
    issues, _ = await search_all(client, 'project = PROJ AND updated >= "2025-01-31 14:05"')
    assert [i["fields"]["summary"] for i in issues] == ["at 14:05:20"]
    assert issues[0]["fields"]["updated"] == "2025-01-31T14:05:20.000+0000"
    bad = await client.get(SEARCH, headers=AUTH, params={"jql": 'updated >= "2025-01-31 14:05:20"'})
    assert bad.status == 400


async def test_pushed_down_filters(aiohttp_client) -> None:
    sim = make_sim(0)
    sim.add_project("OPS")
    sim.add_project("ZED")
    ann = sim.add_user("ann@example.com", "Ann")
    sim.create_issue("PROJ", "a", labels=["bug"], assignee="ann@example.com")
    sim.create_issue("OPS", "b", labels=["ui"])
    sim.create_issue("ZED", "c", labels=["bug"])
    sim.set_status("PROJ-1", "In Progress")
    client = await aiohttp_client(sim.app())

    async def summaries(jql: str) -> list[str]:
        issues, _ = await search_all(client, jql)
        return sorted(i["fields"]["summary"] for i in issues)

    assert await summaries("project in (PROJ, OPS)") == ["a", "b"]
    assert await summaries("project in (PROJ, OPS, ZED) AND labels in (bug)") == ["a", "c"]
    assert await summaries("project = ZED OR labels = ui") == ["b", "c"]
    assert await summaries('status in ("In Progress") AND project = PROJ') == ["a"]
    assert await summaries("assignee in (ann@example.com)") == ["a"]
    assert await summaries(f"assignee = {ann.account_id}") == ["a"]
    assert await summaries("assignee is EMPTY AND project in (PROJ, OPS, ZED)") == ["b", "c"]


# ---- writes ---
async def test_create_issue_with_adf(aiohttp_client) -> None:
    sim = make_sim(0)
    client = await aiohttp_client(sim.app())
    answer = await client.post(
        "/rest/api/3/issue",
        headers=AUTH,
        json={
            "fields": {
                "project": {"key": "PROJ"},
                "issuetype": {"name": "Task"},
                "summary": "Fix login",
                "description": adf_doc("First line\n\nSecond paragraph"),
                "labels": ["auth"],
                "priority": {"name": "High"},
                "duedate": "2025-03-01",
            }
        },
    )
    assert answer.status == 201
    created = await answer.json()
    assert set(created) == set(load_fixture("jira/rest/create-issue-response.json"))
    assert created["key"] == "PROJ-1"
    issue = await (await client.get("/rest/api/3/issue/PROJ-1", headers=AUTH)).json()
    fields = issue["fields"]
    assert adf_text(fields["description"]) == "First line\n\nSecond paragraph"
    assert fields["status"]["name"] == "To Do" and fields["priority"]["name"] == "High"
    assert fields["labels"] == ["auth"] and fields["duedate"] == "2025-03-01"
    assert fields["issuetype"]["name"] == "Task" and fields["project"]["key"] == "PROJ"
    assert sim.log.writes[0].json()["fields"]["summary"] == "Fix login"


@pytest.mark.parametrize(
    ("fields", "error_key"),
    [
        ({"project": {"key": "PROJ"}, "issuetype": {"name": "Task"}}, "summary"),
        ({"project": {"key": "NOPE"}, "issuetype": {"name": "Task"}, "summary": "x"}, "project"),
        ({"project": {"key": "PROJ"}, "summary": "x"}, "issuetype"),
        (
            {
                "project": {"key": "PROJ"},
                "issuetype": {"name": "Task"},
                "summary": "x",
                "description": "plain text is not ADF",
            },
            "description",
        ),
        (
            {
                "project": {"key": "PROJ"},
                "issuetype": {"name": "Task"},
                "summary": "x",
                "status": {"name": "Done"},
            },
            "status",
        ),
    ],
)
async def test_create_rejections(aiohttp_client, fields, error_key) -> None:
    sim = make_sim(0)
    client = await aiohttp_client(sim.app())
    answer = await client.post("/rest/api/3/issue", headers=AUTH, json={"fields": fields})
    assert answer.status == 400
    assert error_key in (await answer.json())["errors"]
    assert sim.issues == {}


async def test_edit_issue_is_204_and_bumps_updated(aiohttp_client) -> None:
    sim = make_sim(2)
    ann = sim.add_user("ann@example.com", "Ann")
    before = sim.issue("PROJ-1").updated
    client = await aiohttp_client(sim.app())
    answer = await client.put(
        "/rest/api/3/issue/PROJ-1",
        headers=AUTH,
        json={
            "fields": {"summary": "Renamed", "assignee": {"accountId": ann.account_id}},
            "update": {"labels": [{"add": "urgent"}, {"remove": "bug"}]},
        },
    )
    assert answer.status == 204
    issue = sim.issue("PROJ-1")
    assert issue.summary == "Renamed" and issue.assignee == ann.account_id
    assert issue.labels == ["urgent"] and issue.updated > before
    changelog = await (await client.get("/rest/api/3/issue/PROJ-1/changelog", headers=AUTH)).json()
    [entry] = changelog["values"]
    assert {i["field"] for i in entry["items"]} == {"summary", "assignee", "labels"}
    stamp = issue.updated
    same = await client.put(
        "/rest/api/3/issue/PROJ-1", headers=AUTH, json={"fields": {"summary": "Renamed"}}
    )
    assert same.status == 204 and sim.issue("PROJ-1").updated == stamp


async def test_status_cannot_be_set_by_edit(aiohttp_client) -> None:
    client = await aiohttp_client(make_sim(1).app())
    answer = await client.put(
        "/rest/api/3/issue/PROJ-1", headers=AUTH, json={"fields": {"status": {"name": "Done"}}}
    )
    assert answer.status == 400
    assert (await answer.json())["errors"]["status"] == (
        "Field 'status' cannot be set. It is not on the appropriate screen, or unknown."
    )


async def test_transitions_workflow(aiohttp_client) -> None:
    sim = make_sim(0)
    sim.create_issue("PROJ", "t")
    client = await aiohttp_client(sim.app())
    listed = await (await client.get("/rest/api/3/issue/PROJ-1/transitions", headers=AUTH)).json()
    recorded = load_fixture("jira/rest/transitions.json")["transitions"]
    assert set(listed["transitions"][0]) == set(recorded[0])
    targets = {t["to"]["name"]: t["id"] for t in listed["transitions"]}
    assert targets == {"In Progress": "21", "In Review": "31", "Done": "41"}
    done = await client.post(
        "/rest/api/3/issue/PROJ-1/transitions",
        headers=AUTH,
        json={"transition": {"id": targets["Done"]}},
    )
    assert done.status == 204
    issue = await (
        await client.get(
            "/rest/api/3/issue/PROJ-1", headers=AUTH, params={"fields": "status,resolution"}
        )
    ).json()
    assert issue["fields"]["status"]["name"] == "Done"
    assert issue["fields"]["status"]["statusCategory"]["key"] == "done"
    assert issue["fields"]["resolution"]["name"] == "Done"
    again = await client.post(
        "/rest/api/3/issue/PROJ-1/transitions", headers=AUTH, json={"transition": {"id": "41"}}
    )
    assert again.status == 400
    assert "is not valid for this issue" in (await again.json())["errorMessages"][0]


async def test_classic_workflow_limits_transitions(aiohttp_client) -> None:
    sim = make_sim(0, workflow=CLASSIC_WORKFLOW)
    sim.create_issue("PROJ", "t")
    client = await aiohttp_client(sim.app())
    listed = await (await client.get("/rest/api/3/issue/PROJ-1/transitions", headers=AUTH)).json()
    assert [(t["id"], t["to"]["name"]) for t in listed["transitions"]] == [("11", "In Progress")]
    assert listed["transitions"][0]["isGlobal"] is False
    blocked = await client.post(
        "/rest/api/3/issue/PROJ-1/transitions", headers=AUTH, json={"transition": {"id": "41"}}
    )
    assert blocked.status == 400


# ---- comments ---
async def test_comments_paginate_and_post_in_adf(aiohttp_client) -> None:
    sim = make_sim(1)
    for n in range(5):
        sim.add_comment("PROJ-1", f"comment {n}")
    before = sim.issue("PROJ-1").updated
    client = await aiohttp_client(sim.app())
    page = await (
        await client.get(
            "/rest/api/3/issue/PROJ-1/comment",
            headers=AUTH,
            params={"startAt": "2", "maxResults": "2"},
        )
    ).json()
    assert set(page) == set(load_fixture("jira/rest/comments-page.json"))
    assert (page["startAt"], page["maxResults"], page["total"]) == (2, 2, 5)
    assert [adf_text(c["body"]) for c in page["comments"]] == ["comment 2", "comment 3"]
    posted = await client.post(
        "/rest/api/3/issue/PROJ-1/comment", headers=AUTH, json={"body": adf_doc("From Kiro")}
    )
    assert posted.status == 201
    doc = await posted.json()
    assert set(doc) == set(load_fixture("jira/rest/comment.json"))
    assert adf_text(doc["body"]) == "From Kiro"
    assert sim.issue("PROJ-1").updated > before
    plain = await client.post(
        "/rest/api/3/issue/PROJ-1/comment", headers=AUTH, json={"body": "plain"}
    )
    assert plain.status == 400


# ---- projects, users ---
async def test_project_search_pages(aiohttp_client) -> None:
    sim = make_sim(0)
    for key in ("AAA", "BBB", "CCC", "DDD"):
        sim.add_project(key)
    client = await aiohttp_client(sim.app())
    keys, url = [], client.make_url("/rest/api/3/project/search?maxResults=2")
    while url:
        page = await (await client.session.get(url, headers=AUTH)).json()
        keys += [p["key"] for p in page["values"]]
        assert page["total"] == 5
        url = None if page["isLast"] else page["nextPage"]
    assert keys == ["PROJ", "AAA", "BBB", "CCC", "DDD"]


async def test_users_search_and_hidden_email(aiohttp_client) -> None:
    sim = make_sim(0)
    sim.add_user("private@example.com", "Private", email_visible=False)
    client = await aiohttp_client(sim.app())
    users = await (await client.get("/rest/api/3/users/search", headers=AUTH)).json()
    assert isinstance(users, list) and len(users) == 2
    assert "emailAddress" not in users[1] and users[1]["displayName"] == "Private"


# ---- rate limits ---
async def test_429_with_retry_after(aiohttp_client) -> None:
    sim = make_sim(1)
    sim.inject_rate_limit(times=2, retry_after=3)
    client = await aiohttp_client(sim.app())
    for _ in range(2):
        answer = await client.get(SEARCH, params={"jql": "project = PROJ"}, headers=AUTH)
        assert answer.status == 429 and answer.headers["Retry-After"] == "3"
        assert "X-RateLimit-Reset" in answer.headers
    assert (await client.get(SEARCH, params={"jql": "project = PROJ"}, headers=AUTH)).status == 200


# ---- webhooks ---
def signed(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def test_issue_webhooks_shape_and_signature() -> None:
    sim = make_sim(2)
    sim.edit_issue("PROJ-1", summary="Renamed")
    updated = sim.webhook("jira:issue_updated", "PROJ-1", secret="whsec")
    assert updated.headers["X-Hub-Signature"] == signed("whsec", updated.body)
    assert updated.headers["X-Atlassian-Webhook-Identifier"]
    recorded = load_fixture("jira/webhooks/webhook-issue-updated-edited.json")
    assert list(updated.payload) == list(recorded)
    assert updated.payload["changelog"]["items"][0]["toString"] == "Renamed"
    assert updated.payload["issue"]["fields"]["description"] == "Description of issue 1"
    created = sim.webhook("jira:issue_created", "PROJ-2").payload
    assert list(created) == list(load_fixture("jira/webhooks/webhook-issue-created.json"))
    sim.delete_issue("PROJ-2")
    deleted = sim.webhook("jira:issue_deleted", "PROJ-2").payload
    assert list(deleted) == list(load_fixture("jira/webhooks/webhook-issue-deleted.json"))


async def test_comment_webhook_matches_recording() -> None:
    sim = make_sim(1)
    comment = sim.add_comment("PROJ-1", "Looks good")
    delivery = sim.webhook("comment_created", "PROJ-1", comment_id=comment.id, secret="k")
    recorded = load_fixture("jira/webhooks/webhook-cloud-comment-created.json")
    assert list(delivery.payload) == list(recorded)
    assert set(delivery.payload["issue"]["fields"]) == set(recorded["issue"]["fields"])
    assert delivery.payload["comment"]["body"] == "Looks good"


async def test_registered_webhook_receives_matching_events(aiohttp_client, aiohttp_server) -> None:
    got: list[tuple[bytes, str]] = []

    async def receive(request: web.Request) -> web.Response:
        got.append((await request.read(), request.headers["X-Hub-Signature"]))
        return web.Response()

    receiver = web.Application()
    receiver.router.add_post("/jira", receive)
    target = await aiohttp_server(receiver)
    sim = make_sim(0)
    sim.add_project("OPS")
    sim.create_issue("PROJ", "in scope")
    sim.create_issue("OPS", "out of scope")
    client = await aiohttp_client(sim.app())
    answer = await client.post(
        "/rest/webhooks/1.0/webhook",
        headers=AUTH,
        json={
            "name": "kiro",
            "url": str(target.make_url("/jira")),
            "events": ["jira:issue_created", "jira:issue_updated"],
            "filters": {"issue-related-events-section": "project = PROJ"},
            "secret": "shh",
        },
    )
    assert answer.status == 201
    await sim.emit("jira:issue_created", "PROJ-1")
    await sim.emit("jira:issue_created", "OPS-1")
    await sim.emit("comment_created", "PROJ-1")
    [(body, signature)] = got
    assert signature == signed("shh", body)


async def test_clock_moves_relative_jql(aiohttp_client) -> None:
    sim = make_sim(0)
    sim.create_issue("PROJ", "old")
    sim.clock.advance(hours=2)
    sim.create_issue("PROJ", "new")
    client = await aiohttp_client(sim.app())
    issues, _ = await search_all(client, "project = PROJ AND updated >= -1h")
    assert [i["fields"]["summary"] for i in issues] == ["new"]
    assert sim.clock.now - sim.issue("PROJ-2").updated < timedelta(seconds=2)


# ---- attachments and expand=changelog ----------------------------------------------------------


async def test_attachments_are_an_issue_field_shaped_like_jiras(aiohttp_client) -> None:
    sim = make_sim(1)
    before = sim.issue("PROJ-1").updated
    log = sim.add_attachment("PROJ-1", "debuglog.txt", "text/plain", 2460)
    shot = sim.add_attachment("PROJ-1", "screen.png", "image/png", 51234)
    client = await aiohttp_client(sim.app())
    [issue], _ = await search_all(client, "project = PROJ", fields="summary,attachment")
    first, second = issue["fields"]["attachment"]
    assert set(first) == set(load_fixture("jira/rest/search-attachment.json")[0])
    base = str(client.make_url("/rest/api/3")).rstrip("/")
    assert first["id"] == log.id and first["filename"] == "debuglog.txt"
    assert (first["mimeType"], first["size"]) == ("text/plain", 2460)
    assert first["content"] == f"{base}/attachment/content/{log.id}"
    assert first["author"]["emailAddress"] == "dev@example.com"
    assert second["thumbnail"] == f"{base}/attachment/thumbnail/{shot.id}"
    assert sim.issue("PROJ-1").updated > before
    [other], _ = await search_all(client, "project = PROJ", fields="summary")
    assert "attachment" not in other["fields"]
    items = [h["items"][0] for h in sim.issue("PROJ-1").history]
    assert [(i["field"], i["to"], i["toString"]) for i in items] == [
        ("Attachment", log.id, "debuglog.txt"),
        ("Attachment", shot.id, "screen.png"),
    ]


async def test_expand_changelog_answers_the_recent_changes_newest_first(aiohttp_client) -> None:
    sim = make_sim(2)
    for n in range(45):
        sim.edit_issue("PROJ-1", summary=f"Title {n}")
    client = await aiohttp_client(sim.app())
    body = {"jql": "key = PROJ-1", "fields": ["summary"], "expand": "names,changelog"}
    answer = await (await client.post(SEARCH, json=body, headers=AUTH)).json()
    [issue] = answer["issues"]
    changelog = issue["changelog"]
    assert (changelog["startAt"], changelog["maxResults"], changelog["total"]) == (0, 40, 45)
    recorded = load_fixture("jira/rest/changelog-histories.json")[0]
    newest = changelog["histories"][0]
    assert set(newest) == set(recorded)
    assert newest["author"]["emailAddress"] == "dev@example.com"
    assert [h["items"][0]["toString"] for h in changelog["histories"][:2]] == [
        "Title 44",
        "Title 43",
    ]
    assert changelog["histories"][-1]["items"][0]["toString"] == "Title 5"
    plain = await (
        await client.post(SEARCH, json={"jql": "key = PROJ-2", "fields": ["summary"]}, headers=AUTH)
    ).json()
    assert "changelog" not in plain["issues"][0]
    quiet = await (
        await client.get("/rest/api/3/issue/PROJ-2", params={"expand": "changelog"}, headers=AUTH)
    ).json()
    assert quiet["changelog"] == {"startAt": 0, "maxResults": 0, "total": 0, "histories": []}
