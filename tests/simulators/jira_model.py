"""Jira Cloud records, Atlassian Document Format helpers and the v3 (REST) and v2-style
(webhook) representations, shaped on tests/fixtures/jira (a recorded issue, transitions,
comment and admin-webhook deliveries)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

CATEGORIES = {
    "new": {"id": 2, "key": "new", "colorName": "blue-gray", "name": "To Do"},
    "indeterminate": {
        "id": 4,
        "key": "indeterminate",
        "colorName": "yellow",
        "name": "In Progress",
    },
    "done": {"id": 3, "key": "done", "colorName": "green", "name": "Done"},
}
PRIORITIES = {"Highest": "1", "High": "2", "Medium": "3", "Low": "4", "Lowest": "5"}
ISSUE_TYPES = {
    "Epic": ("10000", "Epics track collections of related bugs, stories, and tasks.", 1),
    "Task": ("10003", "Tasks track small, distinct pieces of work.", 0),
    "Bug": ("10004", "Bugs track problems or errors.", 0),
    "Story": ("10005", "Stories track functionality or features expressed as user goals.", 0),
    "Subtask": ("10006", "Subtasks track small pieces of work that are part of a larger task.", -1),
}
FIELD_NAMES = {
    "summary": "Summary",
    "description": "Description",
    "status": "Status",
    "priority": "Priority",
    "assignee": "Assignee",
    "reporter": "Reporter",
    "creator": "Creator",
    "labels": "Labels",
    "duedate": "Due date",
    "created": "Created",
    "updated": "Updated",
    "issuetype": "Issue Type",
    "project": "Project",
    "parent": "Parent",
    "resolution": "Resolution",
    "resolutiondate": "Resolved",
    "comment": "Comment",
    "statuscategorychangedate": "Status Category Changed",
    "subtasks": "Sub-tasks",
    "attachment": "Attachment",
}
NAVIGABLE = [f for f in FIELD_NAMES if f != "comment"]
# expand=changelog on the enhanced search (/search/jql) carries at most this many changes per
# issue (third-party reports since its 2025 launch; the removed /search carried 100)
CHANGELOG_LIMIT = 40
ALL_FIELDS = list(FIELD_NAMES)


def jira_ts(when: datetime | None) -> str | None:
    if when is None:
        return None
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}+0000"


# ---- Atlassian Document Format ---------------------------------------------------------------
def adf_doc(text: str | None) -> dict[str, Any] | None:
    """Plain text -> ADF: blank lines split paragraphs, single newlines become hardBreaks."""
    if text is None:
        return None
    paragraphs = []
    for block in [b for b in text.split("\n\n") if b != ""] or [""]:
        content: list[dict[str, Any]] = []
        for k, line in enumerate(block.split("\n")):
            if k:
                content.append({"type": "hardBreak"})
            if line:
                content.append({"type": "text", "text": line})
        paragraphs.append({"type": "paragraph", "content": content})
    return {"type": "doc", "version": 1, "content": paragraphs}


def adf_text(doc: Any) -> str | None:
    """ADF -> plain text (paragraph-like blocks joined by a blank line)."""
    if doc is None:
        return None
    blocks = [_inline_text(block) for block in doc.get("content", [])]
    return "\n\n".join(blocks)


def _inline_text(node: dict[str, Any]) -> str:
    if node.get("type") == "text":
        return str(node.get("text", ""))
    if node.get("type") == "hardBreak":
        return "\n"
    parts = [_inline_text(child) for child in node.get("content", [])]
    joiner = "\n" if node.get("type") in ("bulletList", "orderedList", "listItem") else ""
    return joiner.join(parts)


def is_adf(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and value.get("type") == "doc"
        and value.get("version") == 1
        and isinstance(value.get("content"), list)
    )


# ---- records ----------------------------------------------------------------------------------
@dataclass
class JiraUser:
    account_id: str
    email: str
    display_name: str
    api_token: str | None = None
    active: bool = True
    time_zone: str = "Etc/UTC"
    email_visible: bool = True


@dataclass
class JiraProject:
    id: str
    key: str
    name: str
    lead: str
    simplified: bool = True


@dataclass
class JiraStatus:
    id: str
    name: str
    category: str  # new | indeterminate | done
    description: str = ""


@dataclass
class JiraTransition:
    id: str
    name: str
    to: str  # status name
    sources: tuple[str, ...] | None = None  # None: global ("any status")


@dataclass
class JiraComment:
    id: str
    issue_id: str
    body: dict[str, Any]
    author: str
    created: datetime
    updated: datetime


@dataclass
class JiraAttachment:
    id: str
    filename: str
    mime_type: str
    size: int
    author: str
    created: datetime


@dataclass
class JiraIssue:
    id: str
    key: str
    project: str
    summary: str
    issuetype: str
    status: str
    reporter: str
    created: datetime
    updated: datetime
    description: dict[str, Any] | None = None
    priority: str = "Medium"
    assignee: str | None = None
    labels: list[str] = field(default_factory=list)
    duedate: str | None = None
    parent: str | None = None
    resolution: str | None = None
    resolutiondate: datetime | None = None
    status_changed: datetime | None = None
    comments: list[str] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    attachments: list[JiraAttachment] = field(default_factory=list)


# ---- representations ---------------------------------------------------------------------------
class Renderer:
    """v3 JSON of the records, with every ``self`` link under ``base`` (the site URL)."""

    def __init__(self, sim: Any, base: str, api: str = "3") -> None:
        self.sim, self.base, self.api = sim, base, api
        self.rest = f"{base}/rest/api/{api}"

    def user(self, account_id: str | None) -> dict[str, Any] | None:
        if account_id is None:
            return None
        u: JiraUser = self.sim.users[account_id]
        doc: dict[str, Any] = {
            "self": f"{self.rest}/user?accountId={u.account_id}",
            "accountId": u.account_id,
        }
        if u.email_visible:
            doc["emailAddress"] = u.email
        size = "https://avatar-management.example/initials/{}.png?size={}"
        doc["avatarUrls"] = {
            f"{n}x{n}": size.format(u.display_name[:2], n) for n in (48, 24, 16, 32)
        }
        doc.update(
            {
                "displayName": u.display_name,
                "active": u.active,
                "timeZone": u.time_zone,
                "accountType": "atlassian",
            }
        )
        return doc

    def status(self, name: str) -> dict[str, Any]:
        s: JiraStatus = self.sim.statuses[name.lower()]
        cat = CATEGORIES[s.category]
        return {
            "self": f"{self.rest}/status/{s.id}",
            "description": s.description,
            "iconUrl": f"{self.base}/images/icons/statuses/generic.png",
            "name": s.name,
            "id": s.id,
            "statusCategory": {"self": f"{self.rest}/statuscategory/{cat['id']}", **cat},
        }

    def priority(self, name: str) -> dict[str, Any]:
        pid = PRIORITIES[name]
        return {
            "self": f"{self.rest}/priority/{pid}",
            "iconUrl": f"{self.base}/images/icons/priorities/{name.lower()}_new.svg",
            "name": name,
            "id": pid,
        }

    def issuetype(self, name: str) -> dict[str, Any]:
        tid, description, level = ISSUE_TYPES[name]
        return {
            "self": f"{self.rest}/issuetype/{tid}",
            "id": tid,
            "description": description,
            "iconUrl": f"{self.base}/rest/api/2/universal_avatar/view/type/issuetype/avatar/"
            f"{tid}?size=medium",
            "name": name,
            "subtask": level < 0,
            "avatarId": int(tid),
            "hierarchyLevel": level,
        }

    def project(self, key: str) -> dict[str, Any]:
        p: JiraProject = self.sim.projects[key]
        avatar = f"{self.base}/rest/api/3/universal_avatar/view/type/project/avatar/10416"
        return {
            "self": f"{self.rest}/project/{p.id}",
            "id": p.id,
            "key": p.key,
            "name": p.name,
            "projectTypeKey": "software",
            "simplified": p.simplified,
            "avatarUrls": {
                "48x48": avatar,
                "24x24": f"{avatar}?size=small",
                "16x16": f"{avatar}?size=xsmall",
                "32x32": f"{avatar}?size=medium",
            },
        }

    def comment(self, c: JiraComment) -> dict[str, Any]:
        issue = self.sim.issue_by_id(c.issue_id)
        body: Any = c.body if self.api == "3" else adf_text(c.body)
        return {
            "self": f"{self.rest}/issue/{issue.id}/comment/{c.id}",
            "id": c.id,
            "author": self.user(c.author),
            "body": body,
            "updateAuthor": self.user(c.author),
            "created": jira_ts(c.created),
            "updated": jira_ts(c.updated),
            "jsdPublic": True,
        }

    def field(self, issue: JiraIssue, name: str) -> Any:
        if name == "description":
            return issue.description if self.api == "3" else adf_text(issue.description)
        if name == "comment":
            comments = [self.comment(self.sim.comments[c]) for c in issue.comments]
            return {
                "comments": comments,
                "self": f"{self.rest}/issue/{issue.id}/comment",
                "maxResults": len(comments),
                "total": len(comments),
                "startAt": 0,
            }
        simple: dict[str, Any] = {
            "summary": lambda: issue.summary,
            "status": lambda: self.status(issue.status),
            "priority": lambda: self.priority(issue.priority),
            "assignee": lambda: self.user(issue.assignee),
            "reporter": lambda: self.user(issue.reporter),
            "creator": lambda: self.user(issue.reporter),
            "labels": lambda: list(issue.labels),
            "duedate": lambda: issue.duedate,
            "created": lambda: jira_ts(issue.created),
            "updated": lambda: jira_ts(issue.updated),
            "issuetype": lambda: self.issuetype(issue.issuetype),
            "project": lambda: self.project(issue.project),
            "parent": lambda: self.parent(issue.parent),
            "resolution": lambda: self.resolution(issue.resolution),
            "resolutiondate": lambda: jira_ts(issue.resolutiondate),
            "statuscategorychangedate": lambda: jira_ts(issue.status_changed or issue.created),
            "subtasks": lambda: [],
            "attachment": lambda: [self.attachment(a) for a in issue.attachments],
        }
        return simple[name]()

    def attachment(self, a: JiraAttachment) -> dict[str, Any]:
        """An issue's ``attachment`` entry (v3 ``Attachment``: the file lives at ``content``;
        images also have a ``thumbnail``)."""
        doc: dict[str, Any] = {
            "self": f"{self.rest}/attachment/{a.id}",
            "id": a.id,
            "filename": a.filename,
            "author": self.user(a.author),
            "created": jira_ts(a.created),
            "size": a.size,
            "mimeType": a.mime_type,
            "content": f"{self.rest}/attachment/content/{a.id}",
        }
        if a.mime_type.startswith("image/"):
            doc["thumbnail"] = f"{self.rest}/attachment/thumbnail/{a.id}"
        return doc

    def history(self, entry: dict[str, Any]) -> dict[str, Any]:
        """One changelog entry (``Changelog``: who, when, the items changed)."""
        return {
            "id": entry["id"],
            "author": self.user(entry["author"]),
            "created": jira_ts(entry["created"]),
            "items": entry["items"],
        }

    def changelog(self, issue: JiraIssue) -> dict[str, Any]:
        """``expand=changelog`` on an issue: the most recent changes first, at most
        ``CHANGELOG_LIMIT`` (the rest only through GET /issue/{key}/changelog)."""
        recent = [self.history(h) for h in reversed(issue.history[-CHANGELOG_LIMIT:])]
        return {
            "startAt": 0,
            "maxResults": len(recent),
            "total": len(issue.history),
            "histories": recent,
        }

    def parent(self, key: str | None) -> dict[str, Any] | None:
        if key is None:
            return None
        p = self.sim.issue(key)
        return {
            "id": p.id,
            "key": p.key,
            "self": f"{self.rest}/issue/{p.id}",
            "fields": {
                "summary": p.summary,
                "status": self.status(p.status),
                "priority": self.priority(p.priority),
                "issuetype": self.issuetype(p.issuetype),
            },
        }

    def resolution(self, name: str | None) -> dict[str, Any] | None:
        if name is None:
            return None
        return {
            "self": f"{self.rest}/resolution/10000",
            "id": "10000",
            "description": "Work has been completed on this issue.",
            "name": name,
        }

    def issue(
        self, issue: JiraIssue, fields: list[str] | None, changelog: bool = False
    ) -> dict[str, Any]:
        """``fields`` None means the id-only shape /search/jql answers by default;
        ``changelog``: ``expand=changelog`` was asked for."""
        if fields is None:
            return {"id": issue.id}
        chosen = {name: self.field(issue, name) for name in fields}
        doc = {
            "expand": "renderedFields,names,schema,operations,editmeta,changelog,"
            "versionedRepresentations",
            "id": issue.id,
            "self": f"{self.rest}/issue/{issue.id}",
            "key": issue.key,
            "fields": chosen,
        }
        if changelog:
            doc["changelog"] = self.changelog(issue)
        return doc


def choose_fields(tokens: list[str], default: str) -> list[str] | None:
    """Jira's ``fields`` list -> the fields to render (None: the id-only shape)."""
    names = [t.strip() for raw in tokens for t in raw.split(",") if t.strip()] or [default]
    if all(n in ("id",) for n in names):
        return None
    include: list[str] = []
    excluded = {n[1:] for n in names if n.startswith("-")}
    for name in names:
        if name == "*all":
            include += ALL_FIELDS
        elif name == "*navigable":
            include += NAVIGABLE
        elif not name.startswith("-") and name in FIELD_NAMES:
            include.append(name)
    if excluded and not any(n in ("*all", "*navigable") for n in names):
        include = NAVIGABLE + include
    return [n for n in dict.fromkeys(include) if n not in excluded]
