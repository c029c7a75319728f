"""GitHub REST representations, shaped key for key on the recorded payloads in
tests/fixtures/github (an issue, a pull request in the issues list, a comment, a repository).

Pure functions of the simulator's records and its API origin (``api``, e.g.
``http://127.0.0.1:PORT`` where GitHub says ``https://api.github.com``).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .base import load_fixture

WEB = "https://github.com"


def ts(when: datetime | None) -> str | None:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ") if when else None


def node_id(prefix: str, number: int) -> str:
    return f"{prefix}_" + base64.b64encode(f"sim{number:012d}".encode()).decode().rstrip("=")


@dataclass
class GhUser:
    login: str
    id: int
    name: str | None = None
    email: str | None = None
    type: str = "User"
    created_at: datetime | None = None


@dataclass
class GhLabel:
    id: int
    name: str
    color: str = "ededed"
    description: str | None = None
    default: bool = False


@dataclass
class GhMilestone:
    number: int
    id: int
    title: str
    creator: str
    created_at: datetime
    description: str | None = None
    state: str = "open"
    due_on: datetime | None = None


@dataclass
class GhIssue:
    number: int
    id: int
    title: str
    body: str | None
    user: str
    created_at: datetime
    updated_at: datetime
    state: str = "open"
    state_reason: str | None = None
    labels: list[str] = field(default_factory=list)
    assignees: list[str] = field(default_factory=list)
    milestone: int | None = None
    closed_at: datetime | None = None
    closed_by: str | None = None
    comments: int = 0
    pull_request: bool = False
    locked: bool = False
    last_changes: dict[str, Any] = field(default_factory=dict)  # old values of the last edit


@dataclass
class GhComment:
    id: int
    issue_number: int
    body: str
    user: str
    created_at: datetime
    updated_at: datetime


def render_user(api: str, user: GhUser) -> dict[str, Any]:
    u = f"{api}/users/{user.login}"
    return {
        "login": user.login,
        "id": user.id,
        "node_id": node_id("U", user.id),
        "avatar_url": f"https://avatars.githubusercontent.com/u/{user.id}?v=4",
        "gravatar_id": "",
        "url": u,
        "html_url": f"{WEB}/{user.login}",
        "followers_url": f"{u}/followers",
        "following_url": f"{u}/following{{/other_user}}",
        "gists_url": f"{u}/gists{{/gist_id}}",
        "starred_url": f"{u}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{u}/subscriptions",
        "organizations_url": f"{u}/orgs",
        "repos_url": f"{u}/repos",
        "events_url": f"{u}/events{{/privacy}}",
        "received_events_url": f"{u}/received_events",
        "type": user.type,
        "user_view_type": "public",
        "site_admin": False,
    }


def render_authenticated_user(api: str, user: GhUser, public_repos: int) -> dict[str, Any]:
    """GET /user: the public user plus the profile fields."""
    doc = render_user(api, user)
    doc.update(
        {
            "name": user.name,
            "company": None,
            "blog": "",
            "location": None,
            "email": user.email,
            "hireable": None,
            "bio": None,
            "twitter_username": None,
            "notification_email": user.email,
            "public_repos": public_repos,
            "public_gists": 0,
            "followers": 0,
            "following": 0,
            "created_at": ts(user.created_at),
            "updated_at": ts(user.created_at),
        }
    )
    return doc


def render_label(api: str, full_name: str, label: GhLabel) -> dict[str, Any]:
    return {
        "id": label.id,
        "node_id": node_id("LA", label.id),
        "url": f"{api}/repos/{full_name}/labels/{label.name}",
        "name": label.name,
        "color": label.color,
        "default": label.default,
        "description": label.description,
    }


def reactions(url: str) -> dict[str, Any]:
    counts = dict.fromkeys(
        ("+1", "-1", "laugh", "hooray", "confused", "heart", "rocket", "eyes"), 0
    )
    return {"url": url, "total_count": 0, **counts}


def render_repository(api: str, repo: Any, owner: dict[str, Any]) -> dict[str, Any]:
    """The repository object of the recorded webhook payloads, re-pointed at ``repo``."""
    template = load_fixture("github/webhooks/issues.opened.json")["repository"]
    text_map = {
        "https://api.github.com": api,
        "Codertocat/Hello-World": repo.full_name,
        "Hello-World": repo.name,
        "Codertocat": repo.owner,
    }
    doc = _rewrite(template, text_map)
    doc.update(
        {
            "id": repo.id,
            "node_id": node_id("R", repo.id),
            "owner": owner,
            "private": repo.private,
            "description": repo.description,
            "created_at": ts(repo.created_at),
            "updated_at": ts(repo.updated_at),
            "pushed_at": ts(repo.updated_at),
            "open_issues_count": repo.open_count(),
            "open_issues": repo.open_count(),
            "visibility": "private" if repo.private else "public",
            "custom_properties": {},
        }
    )
    return doc


def _rewrite(value: Any, text_map: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: _rewrite(v, text_map) for k, v in value.items()}
    if isinstance(value, list):
        return [_rewrite(v, text_map) for v in value]
    if isinstance(value, str):
        for old, new in text_map.items():
            value = value.replace(old, new)
    return value
