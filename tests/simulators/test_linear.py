"""LinearSim behaves like Linear's GraphQL API: auth, schema validation, exact selections, relay
paging, filters, mutations, both kinds of rate limiting and signed webhooks."""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web

from tests.simulators.base import SimClock, hmac_sha256_hex, load_fixture
from tests.simulators.linear import LinearSim

KEY = {"Authorization": "lin_api_sim"}
T0 = datetime(2025, 1, 31, 12, 0, tzinfo=UTC)
ISSUE_FIELDS = """id identifier title description priority priorityLabel url createdAt updatedAt
  dueDate state { id name type } team { id key } assignee { id name email }
  labels { nodes { name } }"""
ISSUES = f"""query Issues($first: Int, $after: String, $orderBy: PaginationOrderBy,
  $filter: IssueFilter) {{
  issues(first: $first, after: $after, orderBy: $orderBy, filter: $filter) {{
    nodes {{ {ISSUE_FIELDS} }} pageInfo {{ hasNextPage endCursor }} }} }}"""


def make_sim(count: int = 0) -> LinearSim:
    sim = LinearSim(clock=SimClock(T0))
    if count:
        sim.seed_issues("ENG", count=count)
    return sim


async def gql(
    client: Any,
    query: str,
    variables: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any]]:
    answer = await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers or KEY
    )
    return answer.status, await answer.json()


async def walk(client: Any, variables: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
    nodes, pages, after = [], 0, None
    while True:
        status, body = await gql(client, ISSUES, {**variables, "after": after})
        assert status == 200 and "errors" not in body, body
        connection = body["data"]["issues"]
        nodes += connection["nodes"]
        pages += 1
        if not connection["pageInfo"]["hasNextPage"]:
            return nodes, pages
        after = connection["pageInfo"]["endCursor"]


# ---- auth ---
async def test_api_key_bare_and_oauth_bearer(aiohttp_client) -> None:
    client = await aiohttp_client(make_sim().app())
    for headers in (KEY, {"Authorization": "Bearer lin_oauth_sim"}):
        status, body = await gql(client, "{ viewer { id name email } }", headers=headers)
        assert status == 200
        assert set(body["data"]["viewer"]) == {"id", "name", "email"}
        assert body["data"]["viewer"]["email"] == "dev@example.com"


@pytest.mark.parametrize("header", ["wrong", "Bearer lin_api_sim", ""])
async def test_authentication_error(aiohttp_client, header) -> None:
    client = await aiohttp_client(make_sim().app())
    status, body = await gql(client, "{ viewer { id } }", headers={"Authorization": header})
    assert status == 400
    [error] = body["errors"]
    assert error["extensions"]["type"] == "authentication error"
    assert error["extensions"]["code"] == "AUTHENTICATION_ERROR"
    assert "data" not in body


# ---- schema and selection ---
async def test_unknown_field_fails_validation(aiohttp_client) -> None:
    client = await aiohttp_client(make_sim(1).app())
    status, body = await gql(client, "{ issues { nodes { id bogus } } }")
    assert status == 400
    assert body["errors"][0]["message"] == "Cannot query field 'bogus' on type 'Issue'."
    status, body = await gql(client, "{ issues(wrongArg: 1) { nodes { id } } }")
    assert status == 400


async def test_answer_holds_exactly_the_selection(aiohttp_client) -> None:
    client = await aiohttp_client(make_sim(2).app())
    status, body = await gql(client, ISSUES, {"first": 1})
    node = body["data"]["issues"]["nodes"][0]
    recorded = load_fixture("linear/graphql/issues.json")["data"]["issues"]["nodes"][0]
    assert set(node) == {
        "id",
        "identifier",
        "title",
        "description",
        "priority",
        "priorityLabel",
        "url",
        "createdAt",
        "updatedAt",
        "dueDate",
        "state",
        "team",
        "assignee",
        "labels",
    }
    assert set(node["state"]) == {"id", "name", "type"} and set(node["team"]) == {"id", "key"}
    assert isinstance(node["priority"], int)
    assert node["createdAt"].endswith("Z") and len(node["createdAt"]) == len(recorded["createdAt"])
    assert node["url"].startswith("https://linear.app/") and node["identifier"] == "ENG-2"
    status, body = await gql(client, "{ issues(first: 1) { nodes { title } } }")
    assert status == 200
    assert body == {"data": {"issues": {"nodes": [{"title": "Seeded issue 2"}]}}}


# ---- paging ---
@pytest.mark.parametrize(("count", "first"), [(0, 50), (1, 1), (50, 50), (51, 50), (123, 20)])
async def test_relay_walk_yields_every_issue_once(aiohttp_client, count, first) -> None:
    client = await aiohttp_client(make_sim(count).app())
    nodes, pages = await walk(client, {"first": first})
    assert sorted(n["identifier"] for n in nodes) == sorted(f"ENG-{k}" for k in range(1, count + 1))
    assert pages == max(1, -(-count // first))


async def test_order_is_descending_and_default_page_is_50(aiohttp_client) -> None:
    sim = make_sim(60)
    sim.clock.advance(hours=1)
    sim.edit_issue("ENG-1", title="touched")
    client = await aiohttp_client(sim.app())
    _, by_created = await gql(client, ISSUES, {})
    nodes = by_created["data"]["issues"]["nodes"]
    assert len(nodes) == 50 and nodes[0]["identifier"] == "ENG-60"
    _, by_updated = await gql(client, ISSUES, {"orderBy": "updatedAt", "first": 3})
    assert [n["identifier"] for n in by_updated["data"]["issues"]["nodes"]] == [
        "ENG-1",
        "ENG-60",
        "ENG-59",
    ]
    status, too_many = await gql(client, ISSUES, {"first": 1000})
    assert status == 200 and too_many["data"] is None
    assert "between 0 and 250" in too_many["errors"][0]["message"]


# ---- filters ---
async def test_updated_at_gt_is_strict(aiohttp_client) -> None:
    sim = make_sim(5)
    stamp = sim.issue("ENG-3").updated_at
    client = await aiohttp_client(sim.app())
    since = stamp.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    nodes, _ = await walk(client, {"orderBy": "updatedAt", "filter": {"updatedAt": {"gt": since}}})
    assert sorted(n["identifier"] for n in nodes) == ["ENG-4", "ENG-5"]
    nodes, _ = await walk(client, {"filter": {"updatedAt": {"gt": "-PT3M"}}})
    assert sorted(n["identifier"] for n in nodes) == ["ENG-4", "ENG-5"]


async def test_pushed_down_filters(aiohttp_client) -> None:
    sim = make_sim(0)
    sim.add_team("OPS", "Operations")
    sim.add_user("Ann", "ann@example.com")
    sim.create_issue("ENG", "a", labels=["Bug"], state="In Progress", assignee="ann@example.com")
    sim.create_issue("OPS", "b", labels=["Feature"], state="Todo")
    sim.create_issue("ENG", "c", labels=["Bug", "Feature"])
    client = await aiohttp_client(sim.app())

    async def titles(flt: dict[str, Any]) -> list[str]:
        nodes, _ = await walk(client, {"filter": flt})
        return sorted(n["title"] for n in nodes)

    assert await titles({"team": {"key": {"in": ["ENG"]}}}) == ["a", "c"]
    assert await titles({"team": {"key": {"eq": "OPS"}}}) == ["b"]
    assert await titles({"labels": {"name": {"in": ["Feature"]}}}) == ["b", "c"]
    assert await titles({"state": {"name": {"in": ["In Progress", "Todo"]}}}) == ["a", "b"]
    assert await titles({"assignee": {"email": {"in": ["ann@example.com"]}}}) == ["a"]
    assert await titles({"assignee": {"null": True}}) == ["b", "c"]
    assert await titles(
        {"or": [{"team": {"key": {"eq": "OPS"}}}, {"labels": {"name": {"eq": "Feature"}}}]}
    ) == ["b", "c"]
    status, body = await gql(client, ISSUES, {"filter": {"estimate": {"eq": 1}}})
    assert status == 200 and body["data"] is None
    assert "estimate" in body["errors"][0]["message"]


async def test_teams_users_states_and_comments(aiohttp_client) -> None:
    sim = make_sim(2)
    sim.add_team("OPS")
    sim.add_comment("ENG-1", "first")
    sim.clock.advance(hours=1)
    sim.add_comment("ENG-2", "second")
    client = await aiohttp_client(sim.app())
    _, teams = await gql(client, "{ teams { nodes { id key name } pageInfo { hasNextPage } } }")
    assert sorted(t["key"] for t in teams["data"]["teams"]["nodes"]) == ["ENG", "OPS"]
    _, users = await gql(client, "{ users { nodes { id name email } } }")
    assert [u["email"] for u in users["data"]["users"]["nodes"]] == ["dev@example.com"]
    _, states = await gql(
        client,
        """{ workflowStates(filter: {team: {key: {eq: "ENG"}}}) {
        nodes { id name type team { key } } } }""",
    )
    names = {s["name"] for s in states["data"]["workflowStates"]["nodes"]}
    assert names == {"Backlog", "Todo", "In Progress", "Done", "Canceled", "Duplicate"}
    since = (T0 + timedelta(minutes=30)).isoformat()
    _, recent = await gql(
        client,
        """query($since: DateTimeOrDuration) {
        comments(filter: {updatedAt: {gt: $since}}) { nodes { body issue { identifier } } } }""",
        {"since": since},
    )
    assert recent["data"]["comments"]["nodes"] == [
        {"body": "second", "issue": {"identifier": "ENG-2"}}
    ]
    _, nested = await gql(client, '{ issue(id: "ENG-1") { comments { nodes { body } } } }')
    assert nested["data"]["issue"]["comments"]["nodes"] == [{"body": "first"}]


async def test_issue_attachments_and_the_include_directive(aiohttp_client) -> None:
    sim = make_sim(2)
    pr = sim.add_attachment("ENG-1", "PR #42", "https://github.com/o/r/pull/42", "open")
    client = await aiohttp_client(sim.app())
    query = """query($with: Boolean!) { issues { nodes { identifier
      attachments(first: 50) @include(if: $with) {
        nodes { id title subtitle url sourceType createdAt creator { email } } } } } }"""
    _, on = await gql(client, query, {"with": True})
    nodes = {n["identifier"]: n for n in on["data"]["issues"]["nodes"]}
    assert nodes["ENG-1"]["attachments"]["nodes"] == [
        {
            "id": pr.id,
            "title": "PR #42",
            "subtitle": "open",
            "url": "https://github.com/o/r/pull/42",
            "sourceType": "unknown",
            "createdAt": "2025-01-31T12:00:00.000Z",
            "creator": {"email": "dev@example.com"},
        }
    ]
    assert nodes["ENG-2"]["attachments"]["nodes"] == []
    _, off = await gql(client, query, {"with": False})
    assert all(set(n) == {"identifier"} for n in off["data"]["issues"]["nodes"])


# ---- mutations ---
async def test_issue_create_and_update_with_state_looked_up_by_name(aiohttp_client) -> None:
    sim = make_sim(0)
    client = await aiohttp_client(sim.app())
    _, teams = await gql(client, "{ teams { nodes { id key } } }")
    team_id = teams["data"]["teams"]["nodes"][0]["id"]
    _, created = await gql(
        client,
        """mutation($input: IssueCreateInput!) {
        issueCreate(input: $input) { success issue { id identifier state { name } } } }""",
        {"input": {"teamId": team_id, "title": "From Kiro", "description": "Body", "priority": 2}},
    )
    payload = created["data"]["issueCreate"]
    assert payload["success"] is True
    assert payload["issue"]["identifier"] == "ENG-1"
    assert payload["issue"]["state"]["name"] == "Backlog"
    _, states = await gql(
        client,
        """{ workflowStates(filter: {team: {key: {eq: "ENG"}}}) {
        nodes { id name } } }""",
    )
    done = next(s["id"] for s in states["data"]["workflowStates"]["nodes"] if s["name"] == "Done")
    before = sim.issue("ENG-1").updated_at
    _, updated = await gql(
        client,
        """mutation($id: String!, $input: IssueUpdateInput!) {
        issueUpdate(id: $id, input: $input) { success issue { title state { name } } } }""",
        {"id": payload["issue"]["id"], "input": {"stateId": done, "title": "Renamed"}},
    )
    assert updated["data"]["issueUpdate"]["issue"] == {
        "title": "Renamed",
        "state": {"name": "Done"},
    }
    assert sim.issue("ENG-1").updated_at > before
    assert [m.name for m in sim.mutations] == ["issueCreate", "issueUpdate"]
    assert sim.mutations[1].args["input"]["stateId"] == done


async def test_mutation_errors_are_input_errors(aiohttp_client) -> None:
    client = await aiohttp_client(make_sim(1).app())
    status, body = await gql(
        client,
        """mutation { issueUpdate(id: "nope", input: {title: "x"}) {
        success } }""",
    )
    assert status == 200 and body["data"] is None
    assert body["errors"][0]["message"] == "Entity not found: Issue"
    assert body["errors"][0]["extensions"]["type"] == "invalid input"
    status, body = await gql(
        client,
        """mutation { issueUpdate(id: "ENG-1",
        input: {stateId: "not-a-state"}) { success } }""",
    )
    assert body["errors"][0]["message"] == "Entity not found: WorkflowState"


async def test_comment_create(aiohttp_client) -> None:
    sim = make_sim(1)
    client = await aiohttp_client(sim.app())
    issue_id = sim.issue("ENG-1").id
    _, body = await gql(
        client,
        """mutation($input: CommentCreateInput!) {
        commentCreate(input: $input) { success comment { id body issue { identifier } } } }""",
        {"input": {"issueId": issue_id, "body": "Hello from Kiro"}},
    )
    comment = body["data"]["commentCreate"]["comment"]
    assert comment["body"] == "Hello from Kiro" and comment["issue"]["identifier"] == "ENG-1"
    recorded = load_fixture("linear/graphql/comment-create.json")["data"]["commentCreate"]
    assert set(body["data"]["commentCreate"]) == set(recorded) - {"lastSyncId"} | {"comment"}


# ---- rate limits ---
async def test_rate_limit_headers_and_both_kinds_of_limit(aiohttp_client) -> None:
    sim = make_sim(1)
    client = await aiohttp_client(sim.app())
    answer = await client.post("/graphql", json={"query": "{ viewer { id } }"}, headers=KEY)
    assert answer.headers["x-ratelimit-requests-remaining"] == str(sim.rate.limit - 1)
    assert int(answer.headers["x-ratelimit-requests-reset"]) > time.time() * 1000
    sim.inject_rate_limit(retry_after=2)
    sim.inject_graphql_ratelimited()
    limited = await client.post("/graphql", json={"query": "{ viewer { id } }"}, headers=KEY)
    assert limited.status == 429 and limited.headers["Retry-After"] == "2"
    assert (await limited.json())["errors"][0]["extensions"]["code"] == "RATELIMITED"
    inside = await client.post("/graphql", json={"query": "{ viewer { id } }"}, headers=KEY)
    assert inside.status == 200
    body = await inside.json()
    assert body["errors"][0]["extensions"]["type"] == "ratelimited"
    assert inside.headers["x-ratelimit-requests-remaining"] == "0"
    sim.rate.remaining = 0
    exhausted = await client.post("/graphql", json={"query": "{ viewer { id } }"}, headers=KEY)
    assert exhausted.status == 429


# ---- webhooks ---
def test_self_computed_vector_from_providers_notes() -> None:
    body = b'{"action":"create","type":"Issue","webhookTimestamp":1700000000000}'
    assert hmac_sha256_hex("lin_wh_test_secret", body) == (
        "bc8166452d75bb104f41b0c8b0f168b4d57cd224618779163f15a1f93cc87b30"
    )


async def test_issue_webhook_shape_signature_and_timestamp() -> None:
    sim = make_sim(2)
    sim.edit_issue("ENG-1", title="New title", state="Done")
    delivery = sim.webhook("Issue", "update", "ENG-1", secret="wh")
    expected = hmac.new(b"wh", delivery.body, hashlib.sha256).hexdigest()
    assert delivery.headers["Linear-Signature"] == expected
    assert delivery.headers["Linear-Event"] == "Issue" and delivery.headers["Linear-Delivery"]
    payload = delivery.payload
    recorded = load_fixture("linear/webhooks/issue_update.json")
    assert set(recorded) <= set(payload)
    assert set(recorded["data"]) - {"cycle", "cycleId", "startedAt", "descriptionData"} <= set(
        payload["data"]
    )
    assert payload["updatedFrom"]["title"] == "Seeded issue 1"
    assert "stateId" in payload["updatedFrom"] and "updatedAt" in payload["updatedFrom"]
    assert abs(payload["webhookTimestamp"] - time.time() * 1000) < 5_000
    stale = sim.webhook("Issue", "create", "ENG-2", secret="wh", timestamp_ms=1_700_000_000_000)
    assert stale.payload["webhookTimestamp"] == 1_700_000_000_000


async def test_remove_and_comment_webhooks() -> None:
    sim = make_sim(1)
    comment = sim.add_comment("ENG-1", "note")
    created = sim.webhook("Comment", "create", comment.id).payload
    assert set(load_fixture("linear/webhooks/comment_create.json")) <= set(created)
    assert created["data"]["issueId"] == sim.issue("ENG-1").id
    sim.delete_issue("ENG-1")
    removed = sim.webhook("Issue", "remove", "ENG-1").payload
    assert removed["data"]["trashed"] is True and "archivedAt" in removed["data"]


async def test_webhook_create_then_emit(aiohttp_client, aiohttp_server) -> None:
    got: list[tuple[bytes, str]] = []

    async def receive(request: web.Request) -> web.Response:
        got.append((await request.read(), request.headers["Linear-Signature"]))
        return web.Response()

    receiver = web.Application()
    receiver.router.add_post("/linear", receive)
    target = await aiohttp_server(receiver)
    sim = make_sim(1)
    client = await aiohttp_client(sim.app())
    team_id = sim.team("ENG").id
    _, made = await gql(
        client,
        """mutation($input: WebhookCreateInput!) {
        webhookCreate(input: $input) { success webhook { id enabled } } }""",
        {
            "input": {
                "url": str(target.make_url("/linear")),
                "teamId": team_id,
                "resourceTypes": ["Issue"],
                "secret": "lin_secret",
            }
        },
    )
    hook_id = made["data"]["webhookCreate"]["webhook"]["id"]
    await sim.emit("Issue", "update", "ENG-1")
    await sim.emit("Comment", "create", sim.add_comment("ENG-1", "x").id)
    [(body, signature)] = got
    assert signature == hmac_sha256_hex("lin_secret", body)
    _, deleted = await gql(client, f'mutation {{ webhookDelete(id: "{hook_id}") {{ success }} }}')
    assert deleted["data"]["webhookDelete"]["success"] is True
    assert sim.webhooks == {}
