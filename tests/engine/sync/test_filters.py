"""config.filters: pushed into the provider's query where the stream says so, applied to
mapped records otherwise; both paths import the same records."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from tests.engine.sync.conftest import REPO, Env
from tests.engine.sync.variants import variant_catalog


async def imported(env: Env) -> set[str]:
    return {link.external_id for link in await env.links()}


def github_not_pushing_labels(doc: dict[str, Any]) -> None:
    issues = doc["streams"]["issues"]
    issues["pushed_filters"] = ["projects"]
    del issues["request"]["query"]["labels"]


async def test_github_labels_pushed_and_applied_give_the_same_issues(
    github: Env, tmp_path: Path
) -> None:
    github.sim.seed_issues(REPO, count=60, pull_requests=6)
    github.sim.edit_issue(REPO, 5, labels=["bug", "ui"])
    await github.set_config(filters={"projects": [REPO], "labels": ["bug", "ui"]})
    pushed = await github.run({"includeComments": False})
    local = await github.twin(
        "int-local", variant_catalog(tmp_path, "github", github_not_pushing_labels)
    )
    applied = await local.run({"includeComments": False})

    expected = {
        f"{REPO}#{i.number}" for i in github.sim.issues_of(REPO) if {"bug", "ui"} <= set(i.labels)
    }
    assert expected == {f"{REPO}#5"}
    assert await imported(github) == await imported(local) == expected
    assert (pushed.imported.created, pushed.imported.filtered) == (1, 0)
    assert (applied.imported.created, applied.imported.filtered) == (1, 59)
    queries = [e.query for e in github.sim.log.entries if e.path == f"/repos/{REPO}/issues"]
    assert any(q.get("labels") == "bug,ui" for q in queries)
    assert any("labels" not in q for q in queries)


async def test_github_assignees_and_date_range_are_applied_to_records(github: Env) -> None:
    github.sim.add_user("hubot", name="Hubot")
    issues = github.sim.seed_issues(REPO, count=30, pull_requests=0, spacing=timedelta(hours=1))
    start, end = issues[5].created_at, issues[24].created_at
    await github.set_config(
        filters={
            "projects": [REPO],
            "assignees": ["HUBOT"],
            "dateRange": {"start": start.isoformat(), "end": end.isoformat()},
        }
    )
    result = await github.run({"includeComments": False})
    expected = {
        f"{REPO}#{i.number}"
        for i in github.sim.issues_of(REPO)
        if "hubot" in i.assignees and start <= i.created_at <= end
    }
    assert expected  # the seed rotates assignees, so some are hubot's
    assert await imported(github) == expected
    assert result.imported.created == len(expected)
    assert result.imported.filtered == 30 - len(expected)


def jira_not_pushing(doc: dict[str, Any]) -> None:
    issues = doc["streams"]["issues"]
    issues["pushed_filters"] = ["projects"]
    jql = issues["request"]["body"]["jql"]
    issues["request"]["body"]["jql"] = (
        jql.split("{% endif %}{% for label")[0] + "{% endif %} ORDER BY updated ASC"
    )


async def test_jira_statuses_labels_assignees_pushed_and_applied_agree(
    jira: Env, tmp_path: Path
) -> None:
    ada = jira.sim.add_user("ada@example.com", "Ada Lovelace")
    jira.sim.seed_issues("KAN", count=90)
    filters = {
        "projects": ["KAN"],
        "statuses": ["In Progress", "Done"],
        "labels": ["bug"],
        "assignees": ["ada@example.com"],
    }
    await jira.set_config(filters=filters)
    pushed = await jira.run({"includeComments": False})
    local = await jira.twin("int-jira-local", variant_catalog(tmp_path, "jira", jira_not_pushing))
    applied = await local.run({"includeComments": False})

    expected = {
        i.id
        for i in jira.sim.issues.values()
        if i.status in ("In Progress", "Done")
        and "bug" in i.labels
        and i.assignee == ada.account_id
    }
    assert expected
    assert await imported(jira) == await imported(local) == expected
    assert pushed.imported.filtered == 0
    assert applied.imported.filtered == 90 - len(expected)
    searches = [e.json() for e in jira.sim.log.entries if e.path.endswith("/search/jql")]
    assert any('labels = "bug"' in body["jql"] for body in searches)
    assert any("labels" not in body["jql"] for body in searches)


async def test_comments_follow_their_work_items_through_the_filters(github: Env) -> None:
    wanted = github.sim.create_issue(REPO, "Wanted", labels=["bug"])
    other = github.sim.create_issue(REPO, "Other", labels=["docs"])
    github.sim.add_comment(REPO, wanted.number, "on the wanted one")
    github.sim.add_comment(REPO, other.number, "on the other one")
    await github.set_config(filters={"projects": [REPO], "labels": ["bug"]})
    result = await github.run({"includeComments": True})
    assert result.status == "success", result.errors
    [link] = await github.links("comment")
    comments = await github.store.get_comments([link.kiro_id])
    assert comments[link.kiro_id].body == "on the wanted one"
    assert result.imported.created == 2  # the issue and its comment
