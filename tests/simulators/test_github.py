"""GitHubSim behaves like GitHub's REST API: auth, pagination, filters, writes, rate limits,
webhooks."""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web

from tests.simulators.base import SimClock, load_fixture
from tests.simulators.github import GitHubSim

AUTH = {"Authorization": "Bearer ghp_sim_token", "Accept": "application/vnd.github+json"}
T0 = datetime(2025, 1, 31, 12, 0, tzinfo=UTC)


def make_sim(count: int = 0, prs: int | None = None) -> GitHubSim:
    sim = GitHubSim(clock=SimClock(T0))
    sim.add_repo("octo/hello")
    if count:
        sim.seed_issues("octo/hello", count=count, pull_requests=prs)
    return sim


async def walk(client: Any, path: str) -> tuple[list[dict[str, Any]], int]:
    """Follow rel="next" verbatim; returns every item and the number of pages."""
    url: Any = client.make_url(path)
    items, pages = [], 0
    while url:
        answer = await client.session.get(url, headers=AUTH)
        assert answer.status == 200, await answer.text()
        items += await answer.json()
        pages += 1
        url = answer.links.get("next", {}).get("url")
    return items, pages


# ---- auth ---
async def test_bad_token_is_401_with_githubs_body(aiohttp_client) -> None:
    client = await aiohttp_client(make_sim().app())
    answer = await client.get("/user", headers={"Authorization": "Bearer wrong"})
    assert answer.status == 401
    body = await answer.json()
    assert body["message"] == "Bad credentials"
    assert body["documentation_url"].startswith("https://docs.github.com/")
    missing = await client.get("/user")
    assert missing.status == 401
    assert (await missing.json())["message"] == "Requires authentication"


async def test_token_scheme_and_bearer_both_work(aiohttp_client) -> None:
    client = await aiohttp_client(make_sim().app())
    for header in ("Bearer ghp_sim_token", "token ghp_sim_token"):
        answer = await client.get("/user", headers={"Authorization": header})
        assert answer.status == 200
        assert (await answer.json())["login"] == "octocat"


async def test_missing_user_agent_is_403(aiohttp_client) -> None:
    client = await aiohttp_client(make_sim().app())
    answer = await client.get("/user", headers=AUTH, skip_auto_headers=["User-Agent"])
    assert answer.status == 403
    assert "User-Agent" in await answer.text()


async def test_unknown_api_version_is_rejected(aiohttp_client) -> None:
    client = await aiohttp_client(make_sim().app())
    ok = await client.get("/user", headers={**AUTH, "X-GitHub-Api-Version": "2022-11-28"})
    assert ok.headers["x-github-api-version-selected"] == "2022-11-28"
    bad = await client.get("/user", headers={**AUTH, "X-GitHub-Api-Version": "1999-01-01"})
    assert bad.status == 400


# ---- issues list ---
@pytest.mark.parametrize(("count", "per_page"), [(0, 30), (1, 1), (7, 2), (100, 100), (263, 100)])
async def test_link_pagination_yields_every_item_once(aiohttp_client, count, per_page) -> None:
    sim = make_sim(count, prs=0)
    client = await aiohttp_client(sim.app())
    items, pages = await walk(client, f"/repos/octo/hello/issues?state=all&per_page={per_page}")
    assert sorted(i["number"] for i in items) == list(range(1, count + 1))
    assert pages == max(1, -(-count // per_page))


async def test_link_header_has_githubs_rels_and_order(aiohttp_client) -> None:
    sim = make_sim(13, prs=0)
    client = await aiohttp_client(sim.app())
    first = await client.get("/repos/octo/hello/issues?state=all&per_page=3", headers=AUTH)
    repo_id = sim.repo("octo/hello").id
    assert re.fullmatch(
        rf"<http://127\.0\.0\.1:\d+/repositories/{repo_id}/issues\?state=all&per_page=3&page=2>; "
        rf'rel="next", <http://127\.0\.0\.1:\d+/repositories/{repo_id}/issues\?state=all&'
        rf'per_page=3&page=5>; rel="last"',
        first.headers["Link"],
    )
    middle = await client.get(
        f"/repositories/{repo_id}/issues?state=all&per_page=3&page=2", headers=AUTH
    )
    assert [rel for rel in re.findall(r'rel="(\w+)"', middle.headers["Link"])] == [
        "prev",
        "next",
        "last",
        "first",
    ]
    last = await client.get("/repos/octo/hello/issues?state=all&per_page=3&page=5", headers=AUTH)
    assert re.findall(r'rel="(\w+)"', last.headers["Link"]) == ["prev", "first"]
    assert len(await last.json()) == 1


async def test_per_page_defaults_to_30_and_caps_at_100(aiohttp_client) -> None:
    client = await aiohttp_client(make_sim(150, prs=0).app())
    default = await client.get("/repos/octo/hello/issues?state=all", headers=AUTH)
    assert len(await default.json()) == 30
    capped = await client.get("/repos/octo/hello/issues?state=all&per_page=500", headers=AUTH)
    assert len(await capped.json()) == 100


async def test_list_includes_pull_requests_marked_by_key(aiohttp_client) -> None:
    sim = make_sim(50, prs=5)
    client = await aiohttp_client(sim.app())
    items, _ = await walk(client, "/repos/octo/hello/issues?state=all&per_page=100")
    prs = [i for i in items if "pull_request" in i]
    assert len(items) == 55 and len(prs) == 5
    assert all("/pull/" in i["html_url"] for i in prs)
    assert len(sim.issues_of("octo/hello")) == 50


async def test_default_is_open_sorted_created_desc(aiohttp_client) -> None:
    sim = make_sim(20, prs=0)
    client = await aiohttp_client(sim.app())
    items, _ = await walk(client, "/repos/octo/hello/issues")
    assert {i["state"] for i in items} == {"open"}
    assert len(items) == 16  # every 5th seeded issue is closed
    created = [i["created_at"] for i in items]
    assert created == sorted(created, reverse=True)


async def test_since_is_updated_at_or_after_and_sorts_by_updated(aiohttp_client) -> None:
    sim = make_sim(30, prs=0)
    sim.clock.set(T0 + timedelta(hours=1))
    sim.edit_issue("octo/hello", 3, title="changed")
    changed_at = sim.get_issue("octo/hello", 3).updated_at
    client = await aiohttp_client(sim.app())
    since = changed_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    items, _ = await walk(
        client, f"/repos/octo/hello/issues?state=all&sort=updated&direction=asc&since={since}"
    )
    assert [i["number"] for i in items] == [3]
    cutoff = sim.get_issue("octo/hello", 10).updated_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    items, _ = await walk(
        client,
        f"/repos/octo/hello/issues?state=all&sort=updated&direction=asc&since={cutoff}&per_page=7",
    )
    numbers = [i["number"] for i in items]
    assert numbers == [*range(10, 31), 3]
    stamps = [i["updated_at"] for i in items]
    assert stamps == sorted(stamps)


async def test_filters_state_labels_assignee(aiohttp_client) -> None:
    sim = make_sim(0)
    sim.add_user("hubot")
    sim.create_issue("octo/hello", "a", labels=["bug", "ui"], assignees=["hubot"])
    sim.create_issue("octo/hello", "b", labels=["bug"])
    sim.create_issue("octo/hello", "c", labels=["ui"], assignees=["octocat"])
    sim.edit_issue("octo/hello", 3, state="closed")
    client = await aiohttp_client(sim.app())

    async def titles(query: str) -> list[str]:
        items, _ = await walk(client, f"/repos/octo/hello/issues?{query}")
        return sorted(i["title"] for i in items)

    assert await titles("labels=bug,ui") == ["a"]
    assert await titles("labels=bug&state=all") == ["a", "b"]
    assert await titles("assignee=hubot") == ["a"]
    assert await titles("assignee=none") == ["b"]
    assert await titles("assignee=*&state=all") == ["a", "c"]
    assert await titles("state=closed") == ["c"]
    bad = await client.get("/repos/octo/hello/issues?state=bogus", headers=AUTH)
    assert bad.status == 422


async def test_twenty_thousand_issues_walk_in_pages_of_100(aiohttp_client) -> None:
    sim = make_sim(20_000, prs=0)
    client = await aiohttp_client(sim.app())
    items, pages = await walk(
        client, "/repos/octo/hello/issues?state=all&sort=updated&direction=asc&per_page=100"
    )
    assert pages == 200
    assert len({i["id"] for i in items}) == 20_000


# ---- shapes ---
async def test_payloads_have_the_recorded_keys(aiohttp_client) -> None:
    sim = make_sim(10, prs=1)
    sim.seed_comments("octo/hello", per_issue=1)
    client = await aiohttp_client(sim.app())
    items, _ = await walk(client, "/repos/octo/hello/issues?state=all")
    issue = next(i for i in items if "pull_request" not in i)
    pr = next(i for i in items if "pull_request" in i)
    assert list(issue) == list(load_fixture("github/rest/issue.json"))
    assert set(load_fixture("github/rest/issue-pull-request.json")) <= set(pr)
    assert list(issue["user"]) == list(load_fixture("github/rest/issue.json")["user"])
    comments = await (await client.get("/repos/octo/hello/issues/1/comments", headers=AUTH)).json()
    assert list(comments[0]) == list(load_fixture("github/rest/issue-comment.json"))
    repo = await (await client.get("/repos/octo/hello", headers=AUTH)).json()
    template = load_fixture("github/webhooks/issues.opened.json")["repository"]
    assert list(repo) == list(template)
    assert repo["full_name"] == "octo/hello"


# ---- writes ---
async def test_create_issue(aiohttp_client) -> None:
    sim = make_sim(0)
    client = await aiohttp_client(sim.app())
    answer = await client.post(
        "/repos/octo/hello/issues",
        headers=AUTH,
        json={
            "title": "Found a bug",
            "body": "It breaks",
            "labels": ["bug"],
            "assignees": ["octocat"],
        },
    )
    assert answer.status == 201
    doc = await answer.json()
    assert answer.headers["Location"].endswith("/repos/octo/hello/issues/1")
    assert doc["number"] == 1 and doc["state"] == "open" and doc["state_reason"] is None
    assert [label["name"] for label in doc["labels"]] == ["bug"]
    assert set(doc["labels"][0]) == {
        "id",
        "node_id",
        "url",
        "name",
        "color",
        "default",
        "description",
    }
    assert doc["assignee"]["login"] == "octocat"
    [write] = sim.log.writes
    assert write.json()["title"] == "Found a bug"
    missing = await client.post("/repos/octo/hello/issues", headers=AUTH, json={"body": "x"})
    assert missing.status == 422
    unknown = await client.post(
        "/repos/octo/hello/issues", headers=AUTH, json={"title": "x", "assignees": ["nobody"]}
    )
    assert unknown.status == 422
    assert len(sim.issues_of("octo/hello")) == 1


async def test_close_with_reason_then_reopen(aiohttp_client) -> None:
    sim = make_sim(0)
    sim.create_issue("octo/hello", "t")
    before = sim.get_issue("octo/hello", 1).updated_at
    client = await aiohttp_client(sim.app())
    closed = await (
        await client.patch("/repos/octo/hello/issues/1", headers=AUTH, json={"state": "closed"})
    ).json()
    assert closed["state"] == "closed" and closed["state_reason"] == "completed"
    assert closed["closed_at"] is not None and closed["closed_by"]["login"] == "octocat"
    assert datetime.fromisoformat(closed["updated_at"].replace("Z", "+00:00")) > before
    not_planned = await (
        await client.patch(
            "/repos/octo/hello/issues/1", headers=AUTH, json={"state_reason": "not_planned"}
        )
    ).json()
    assert not_planned["state_reason"] == "not_planned"
    reopened = await (
        await client.patch("/repos/octo/hello/issues/1", headers=AUTH, json={"state": "open"})
    ).json()
    assert reopened["state"] == "open" and reopened["state_reason"] == "reopened"
    assert reopened["closed_at"] is None
    bad = await client.patch("/repos/octo/hello/issues/1", headers=AUTH, json={"state": "gone"})
    assert bad.status == 422


async def test_patch_without_change_keeps_updated_at(aiohttp_client) -> None:
    sim = make_sim(0)
    sim.create_issue("octo/hello", "same", labels=["bug"])
    stamp = sim.get_issue("octo/hello", 1).updated_at
    client = await aiohttp_client(sim.app())
    await client.patch(
        "/repos/octo/hello/issues/1", headers=AUTH, json={"title": "same", "labels": ["bug"]}
    )
    assert sim.get_issue("octo/hello", 1).updated_at == stamp
    await client.patch("/repos/octo/hello/issues/1", headers=AUTH, json={"labels": []})
    assert sim.get_issue("octo/hello", 1).updated_at > stamp
    assert sim.get_issue("octo/hello", 1).labels == []


async def test_milestone_assignment(aiohttp_client) -> None:
    sim = make_sim(0)
    milestone = sim.add_milestone("octo/hello", "v1.0")
    sim.create_issue("octo/hello", "t")
    client = await aiohttp_client(sim.app())
    doc = await (
        await client.patch(
            "/repos/octo/hello/issues/1", headers=AUTH, json={"milestone": milestone.number}
        )
    ).json()
    assert doc["milestone"]["title"] == "v1.0" and doc["milestone"]["open_issues"] == 1
    bad = await client.patch("/repos/octo/hello/issues/1", headers=AUTH, json={"milestone": 9})
    assert bad.status == 422


async def test_deleted_issue_is_gone(aiohttp_client) -> None:
    sim = make_sim(3, prs=0)
    sim.delete_issue("octo/hello", 2)
    client = await aiohttp_client(sim.app())
    assert (await client.get("/repos/octo/hello/issues/2", headers=AUTH)).status == 410
    assert (await client.get("/repos/octo/hello/issues/9", headers=AUTH)).status == 404
    items, _ = await walk(client, "/repos/octo/hello/issues?state=all")
    assert sorted(i["number"] for i in items) == [1, 3]


# ---- comments ---
async def test_comments_per_issue_and_repo_wide_since(aiohttp_client) -> None:
    sim = make_sim(3, prs=0)
    sim.seed_comments("octo/hello", per_issue=2)
    sim.clock.set(T0 + timedelta(days=1))
    late = sim.add_comment("octo/hello", 2, "late one")
    client = await aiohttp_client(sim.app())
    per_issue, _ = await walk(client, "/repos/octo/hello/issues/2/comments")
    assert [c["body"] for c in per_issue] == ["Comment 1", "Comment 2", "late one"]
    since = late.updated_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    recent, _ = await walk(client, f"/repos/octo/hello/issues/comments?since={since}")
    assert [c["id"] for c in recent] == [late.id]
    assert recent[0]["issue_url"].endswith("/repos/octo/hello/issues/2")
    everything, _ = await walk(client, "/repos/octo/hello/issues/comments?per_page=2")
    assert len(everything) == 7


async def test_posting_a_comment_touches_the_issue(aiohttp_client) -> None:
    sim = make_sim(1, prs=0)
    before = sim.get_issue("octo/hello", 1).updated_at
    client = await aiohttp_client(sim.app())
    answer = await client.post(
        "/repos/octo/hello/issues/1/comments", headers=AUTH, json={"body": "Me too"}
    )
    assert answer.status == 201
    assert (await answer.json())["body"] == "Me too"
    issue = await (await client.get("/repos/octo/hello/issues/1", headers=AUTH)).json()
    assert issue["comments"] == 1
    assert datetime.fromisoformat(issue["updated_at"].replace("Z", "+00:00")) > before


# ---- projects stream ---
async def test_user_and_org_repos(aiohttp_client) -> None:
    sim = make_sim(0)
    sim.add_repo("octocat/zeta")
    sim.add_repo("acme/api", org=True)
    sim.add_repo("acme/web", org=True)
    client = await aiohttp_client(sim.app())
    mine, _ = await walk(client, "/user/repos?per_page=1")
    assert [r["full_name"] for r in mine] == ["acme/api", "acme/web", "octocat/zeta"]
    org, _ = await walk(client, "/orgs/acme/repos")
    assert {r["full_name"] for r in org} == {"acme/api", "acme/web"}
    assert (await client.get("/orgs/nope/repos", headers=AUTH)).status == 404


# ---- rate limits and faults ---
async def test_rate_limit_headers_count_down_and_exhaust(aiohttp_client) -> None:
    sim = make_sim(1, prs=0)
    sim.rate.remaining = 2
    client = await aiohttp_client(sim.app())
    first = await client.get("/user", headers=AUTH)
    assert first.headers["x-ratelimit-remaining"] == "1"
    assert int(first.headers["x-ratelimit-reset"]) > time.time()
    await client.get("/user", headers=AUTH)
    limited = await client.get("/user", headers=AUTH)
    assert limited.status == 403
    assert limited.headers["x-ratelimit-remaining"] == "0"
    assert "rate limit" in (await limited.json())["message"]


async def test_injected_primary_and_secondary_limits(aiohttp_client) -> None:
    sim = make_sim(1, prs=0)
    sim.inject_primary_rate_limit(reset_in=30)
    sim.inject_rate_limit(retry_after=7)
    client = await aiohttp_client(sim.app())
    primary = await client.get("/user", headers=AUTH)
    assert primary.status == 403 and primary.headers["x-ratelimit-remaining"] == "0"
    assert 25 <= int(primary.headers["x-ratelimit-reset"]) - time.time() <= 31
    secondary = await client.get("/user", headers=AUTH)
    assert secondary.status == 429 and secondary.headers["retry-after"] == "7"
    assert "secondary rate limit" in (await secondary.json())["message"]
    assert (await client.get("/user", headers=AUTH)).status == 200


async def test_write_only_failure(aiohttp_client) -> None:
    sim = make_sim(1, prs=0)
    sim.inject_server_error(status=502, method="PATCH")
    client = await aiohttp_client(sim.app())
    assert (await client.get("/repos/octo/hello/issues/1", headers=AUTH)).status == 200
    failed = await client.patch("/repos/octo/hello/issues/1", headers=AUTH, json={"title": "x"})
    assert failed.status == 502
    assert sim.get_issue("octo/hello", 1).title == "Seeded item 1"


# ---- hooks and webhooks ---
def verify(secret: str, body: bytes, header: str) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header)


async def test_webhook_delivery_is_signed_over_raw_body() -> None:
    sim = make_sim(2, prs=0)
    delivery = sim.webhook("issues", "opened", "octo/hello", number=1, secret="s3cret")
    assert verify("s3cret", delivery.body, delivery.headers["X-Hub-Signature-256"])
    assert delivery.headers["X-Hub-Signature"].startswith("sha1=")
    assert delivery.headers["X-GitHub-Event"] == "issues"
    assert re.fullmatch(r"[0-9a-f-]{36}", delivery.headers["X-GitHub-Delivery"])
    assert delivery.headers["User-Agent"].startswith("GitHub-Hookshot/")
    payload = delivery.payload
    assert list(payload) == ["action", "issue", "repository", "sender"]
    assert payload["issue"]["number"] == 1 and payload["repository"]["full_name"] == "octo/hello"


async def test_edited_closed_deleted_and_comment_payloads() -> None:
    sim = make_sim(2, prs=0)
    sim.edit_issue("octo/hello", 1, title="New title")
    edited = sim.webhook("issues", "edited", "octo/hello", number=1).payload
    assert edited["changes"] == {"title": {"from": "Seeded item 1"}}
    sim.edit_issue("octo/hello", 1, state="closed", state_reason="not_planned")
    closed = sim.webhook("issues", "closed", "octo/hello", number=1).payload
    assert closed["issue"]["state_reason"] == "not_planned"
    sim.delete_issue("octo/hello", 2)
    deleted = sim.webhook("issues", "deleted", "octo/hello", number=2).payload
    assert deleted["issue"]["number"] == 2
    comment = sim.add_comment("octo/hello", 1, "hello")
    created = sim.webhook(
        "issue_comment", "created", "octo/hello", number=1, comment_id=comment.id
    ).payload
    template = load_fixture("github/webhooks/issue_comment.created.json")
    assert list(created) == list(template)
    assert created["comment"]["body"] == "hello"


async def test_registered_hook_receives_ping_and_events(aiohttp_client, aiohttp_server) -> None:
    received: list[tuple[str, bytes, dict[str, str]]] = []

    async def receive(request: web.Request) -> web.Response:
        received.append(
            (request.headers["X-GitHub-Event"], await request.read(), dict(request.headers))
        )
        return web.Response(status=204)

    receiver = web.Application()
    receiver.router.add_post("/hook", receive)
    target = await aiohttp_server(receiver)
    sim = make_sim(1, prs=0)
    client = await aiohttp_client(sim.app())
    made = await client.post(
        "/repos/octo/hello/hooks",
        headers=AUTH,
        json={
            "name": "web",
            "active": True,
            "events": ["issues", "issue_comment"],
            "config": {
                "url": str(target.make_url("/hook")),
                "content_type": "json",
                "secret": "topsecret",
                "insecure_ssl": "0",
            },
        },
    )
    assert made.status == 201
    hook = await made.json()
    assert hook["config"]["secret"] == "********"
    ping = sim.webhook("ping", repo="octo/hello", hook_id=hook["id"], secret="topsecret")
    assert ping.payload["hook_id"] == hook["id"] and ping.payload["zen"]
    results = await sim.emit("octo/hello", "issues", "opened", number=1)
    assert [r.status for r in results] == [204]
    await sim.emit("octo/hello", "push")
    [(event, body, headers)] = received
    assert event == "issues" and verify("topsecret", body, headers["X-Hub-Signature-256"])
    assert (
        await client.delete(f"/repos/octo/hello/hooks/{hook['id']}", headers=AUTH)
    ).status == 204
    assert await (await client.get("/repos/octo/hello/hooks", headers=AUTH)).json() == []
