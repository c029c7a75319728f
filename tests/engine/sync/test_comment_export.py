"""Comment export: Kiro comments on linked work items go out through writes.comment.create,
once, with their link committed right after each write; the provider's copy coming back
(poll or webhook) is recognised by that link and skipped."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from engine.store.base import Batch, Comment, User
from tests.engine.sync.conftest import REPO, Env
from tests.engine.sync.variants import variant_catalog
from tests.simulators.jira_model import adf_doc

AUTHOR = User(id="u-ann", email="ann@kiro.test", name="Ann")


async def say(env: Env, item_id: str, body: str) -> Comment:
    """A comment typed in Kiro (by Ann) on a work item."""
    now = env.sim.clock.tick()
    comment = Comment(
        id=f"kc-{uuid.uuid4()}",
        work_item_id=item_id,
        body=body,
        author_id=AUTHOR.id,
        created_at=now,
        updated_at=now,
    )
    await env.store.apply_batch(Batch(users=[AUTHOR], comments=[comment]))
    return comment


async def linked_issue(env: Env) -> tuple[str, int]:
    """A GitHub issue imported (and linked) by a bidirectional run: (Kiro id, number)."""
    issue = env.sim.create_issue(REPO, "Has a thread", body="details")
    await env.set_config(syncDirection="bidirectional")
    first = await env.run()
    assert first.status == "success", first.errors
    [link] = await env.links()
    return link.kiro_id, issue.number


def remote_bodies(env: Env, number: int) -> list[str]:
    comments = env.sim.repo(REPO).comments.values()
    return sorted(c.body for c in comments if c.issue_number == number)


async def kiro_comments(env: Env, item_id: str) -> list[Comment]:
    found: list[Comment] = []
    async for batch in env.store.iter_comments([item_id]):
        found.extend(batch)
    return found


async def comment_link(env: Env, comment_id: str) -> Any:
    links = await env.store.get_links_by_kiro(env.integration.id, "comment", [comment_id])
    return links.get(comment_id)


async def test_a_comment_goes_out_once_and_its_echo_is_skipped(github: Env) -> None:
    item_id, number = await linked_issue(github)
    comment = await say(github, item_id, "Reproduced on 1.2\n\nlogs attached")
    second = await github.run()
    assert second.status == "success", second.errors
    assert (second.exported.created, second.exported.failed) == (1, 0)
    [remote] = [c for c in github.sim.repo(REPO).comments.values()]
    assert (remote.issue_number, remote.body) == (number, "Reproduced on 1.2\n\nlogs attached")
    link = await comment_link(github, comment.id)
    assert link.external_id == str(remote.id)
    assert link.external_url.endswith(f"#issuecomment-{remote.id}")

    # the next poll reads the comment (and the issue it touched) back: both skipped
    third = await github.run()
    assert (third.imported.created, third.imported.updated, third.imported.skipped) == (0, 0, 2)
    assert third.exported.created == 0
    assert remote_bodies(github, number) == ["Reproduced on 1.2\n\nlogs attached"]
    [kept] = await kiro_comments(github, item_id)
    assert (kept.id, kept.author_id) == (comment.id, AUTHOR.id)  # still Ann's, not the bot's

    # ...and so does the provider's webhook for it
    delivery = github.sim.webhook(
        "issue_comment", "created", REPO, number=number, comment_id=remote.id, secret="whsec"
    )
    counts = await github.deliver(delivery)
    assert (counts.created, counts.updated, counts.skipped) == (0, 0, 1)
    assert [c.id for c in await kiro_comments(github, item_id)] == [comment.id]


async def test_comments_wait_for_their_work_item_and_go_out_in_adf(jira: Env) -> None:
    jira.sim.add_project("KAN")
    await jira.set_config(syncDirection="export")
    item = await jira.put_item(title="Bad label", tags=["needs triage"])  # Jira refuses spaces
    text = "First line\nsecond line\n\nNext paragraph"
    comment = await say(jira, item.id, text)
    first = await jira.run()
    assert first.status == "partial"
    assert (first.exported.created, first.exported.failed) == (0, 1)  # the item; the comment waits
    assert not jira.sim.comments and await comment_link(jira, comment.id) is None

    await jira.put_item(id=item.id, tags=["triage"])
    second = await jira.run()
    assert second.status == "success", second.errors
    assert second.exported.created == 2  # the work item, then its comment
    [link] = await jira.links()
    issue = jira.sim.issue(link.external_key or "")
    [remote_id] = issue.comments
    assert jira.sim.comments[remote_id].body == adf_doc(text)
    assert (await comment_link(jira, comment.id)).external_id == remote_id

    # echoes: the poll of a bidirectional run, then the comment_created webhook
    await jira.set_config(syncDirection="bidirectional")
    echo = await jira.run()
    assert (echo.imported.created, echo.imported.updated) == (0, 0)
    assert (echo.exported.created, echo.exported.updated) == (0, 0)
    delivery = jira.sim.webhook("comment_created", issue.key, secret="whsec", comment_id=remote_id)
    counts = await jira.deliver(delivery)
    assert (counts.created, counts.updated, counts.skipped) == (0, 0, 1)
    [kept] = await kiro_comments(jira, item.id)
    assert (kept.id, kept.body, kept.author_id) == (comment.id, text, AUTHOR.id)
    assert len(jira.sim.comments) == 1


async def test_a_rejected_comment_makes_the_run_partial_and_is_sent_again(github: Env) -> None:
    item_id, number = await linked_issue(github)
    refused = await say(github, item_id, "first")
    await say(github, item_id, "second")
    path = f"/repos/{REPO}/issues/{number}/comments"
    github.sim.inject_server_error(times=1, status=422, method="POST", path=path)
    result = await github.run()
    assert result.status == "partial"
    assert (result.exported.created, result.exported.failed) == (1, 1)  # oldest first: "first"
    assert any(refused.id in error and "422" in error for error in result.errors), result.errors
    assert remote_bodies(github, number) == ["second"]
    assert await comment_link(github, refused.id) is None

    again = await github.run()
    assert again.status == "success", again.errors
    assert (again.exported.created, again.exported.failed) == (1, 0)
    assert remote_bodies(github, number) == ["first", "second"]


async def test_a_run_killed_between_two_comments_duplicates_nothing(github: Env) -> None:
    item_id, number = await linked_issue(github)
    await say(github, item_id, "one")
    await say(github, item_id, "two")

    def die_after_a_comment(event: dict[str, Any]) -> None:
        if event["phase"] == "export" and event["stream"] == "comments":
            raise RuntimeError("the process died")

    crashed = await github.run(progress=die_after_a_comment)
    assert crashed.status == "error" and crashed.error_class == "internal"
    assert remote_bodies(github, number) == ["one"]  # written and linked, then the crash
    assert len(await github.links("comment")) == 1

    resumed = await github.run()
    assert resumed.status == "success", resumed.errors
    assert resumed.exported.created == 1
    assert remote_bodies(github, number) == ["one", "two"]
    links = await github.links("comment")
    assert len(links) == len({link.kiro_id for link in links}) == 2


async def test_an_edit_is_not_sent_without_an_update_write(github: Env) -> None:
    item_id, number = await linked_issue(github)
    comment = await say(github, item_id, "typo hree")
    await github.set_config(syncDirection="export")
    await github.run()
    github.sim.log.clear()
    comment.body, comment.updated_at = "typo here", github.sim.clock.tick()
    await github.store.apply_batch(Batch(comments=[comment]))
    edited = await github.run()
    assert edited.status == "success", edited.errors
    assert (edited.exported.created, edited.exported.updated, edited.exported.skipped) == (0, 0, 1)
    assert not [e for e in github.sim.log.entries if e.method != "GET"]
    assert remote_bodies(github, number) == ["typo hree"]  # GitHub keeps what it got
    quiet = await github.run()
    assert quiet.exported.processed == 0  # counted once, then left alone


async def test_an_edit_goes_out_when_the_provider_declares_comment_update(
    github: Env, tmp_path: Path
) -> None:
    def with_update(document: dict[str, Any]) -> None:
        document["writes"]["comment"]["update"] = {
            "steps": [
                {
                    "name": "update",
                    "request": {
                        "method": "PATCH",
                        "path": "/repos/{{ item.work_item.external_id.split('#')[0] }}"
                        "/issues/comments/{{ link.external_id }}",
                        "body": {"body": "{{ item.body.body }}"},
                    },
                }
            ],
            "id": "{{ link.external_id }}",
            "updated_at": "{{ steps.update.response.updated_at }}",
            "record": "{{ steps.update.response }}",
        }

    github.use_catalog(variant_catalog(tmp_path / "variant", "github", with_update))
    item_id, number = await linked_issue(github)
    comment = await say(github, item_id, "typo hree")
    await github.run()
    comment.body, comment.updated_at = "typo here", github.sim.clock.tick()
    await github.store.apply_batch(Batch(comments=[comment]))
    edited = await github.run()
    assert edited.status == "success", edited.errors
    assert (edited.exported.created, edited.exported.updated) == (0, 1)
    assert remote_bodies(github, number) == ["typo here"]
    echo = await github.run()
    assert (echo.imported.created, echo.imported.updated) == (0, 0)
    assert echo.exported.processed == 0
    [kept] = await kiro_comments(github, item_id)
    assert (kept.body, kept.author_id) == ("typo here", AUTHOR.id)


async def test_comments_stay_home_when_include_comments_is_off(github: Env) -> None:
    item_id, number = await linked_issue(github)
    comment = await say(github, item_id, "not yet")
    off = await github.run({"includeComments": False})
    assert off.status == "success" and off.exported.created == 0
    assert remote_bodies(github, number) == []
    on = await github.run()  # includeComments defaults to true
    assert on.exported.created == 1
    assert remote_bodies(github, number) == ["not yet"]
    assert await comment_link(github, comment.id) is not None


async def test_deleted_comments_and_comments_of_deleted_items_stay_home(github: Env) -> None:
    item_id, number = await linked_issue(github)
    gone = await say(github, item_id, "retracted")
    gone.deleted_at = github.sim.clock.tick()
    await github.store.apply_batch(Batch(comments=[gone]))
    other = github.sim.create_issue(REPO, "Deleted in Kiro")
    await github.run()
    [row] = [i for i in await github.items() if i.title == "Deleted in Kiro"]
    await say(github, row.id, "on a deleted item")
    row.deleted_at = github.sim.clock.tick()
    await github.store.apply_batch(Batch(work_items=[row]))
    result = await github.run()
    assert result.status == "success", result.errors
    assert result.exported.created == 0
    assert remote_bodies(github, number) == remote_bodies(github, other.number) == []
