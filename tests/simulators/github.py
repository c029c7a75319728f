"""GitHub REST simulator: issues (with pull requests mixed in, as the real list does),
comments, repositories, repo hooks, the rate-limit headers and signed webhook deliveries.

    sim = GitHubSim()                                  # token "ghp_sim_token" is user "octocat"
    sim.seed_issues("octo/hello", count=1000)          # + count // 10 pull requests
    async with serve(sim) as base_url: ...             # or aiohttp_server(sim.app())

See tests/simulators/README.md for every endpoint, parameter and injection knob.
"""

from __future__ import annotations

import bisect
import hashlib
import hmac
import itertools
import math
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson
from aiohttp import web
from yarl import URL

from .base import (
    PRINCIPAL,
    BaseSim,
    Delivery,
    DeliveryResult,
    Handler,
    SimClock,
    encode_webhook_body,
    hmac_sha256_hex,
    json_response,
    load_fixture,
    parse_iso,
    post_webhook,
    raw_json_response,
)
from .github_render import (
    WEB,
    GhComment,
    GhIssue,
    GhLabel,
    GhMilestone,
    GhUser,
    node_id,
    reactions,
    render_authenticated_user,
    render_label,
    render_repository,
    render_user,
    ts,
)

DOCS = "https://docs.github.com/rest"
API_VERSIONS = ("2022-11-28", "2026-03-10")
STATE_REASONS = ("completed", "not_planned", "duplicate", "reopened")
NO_USER_AGENT = (
    "Request forbidden by administrative rules. Please make sure your request has a "
    "User-Agent header (https://docs.github.com/en/rest/overview/resources-in-the-rest-api"
    "#user-agent-required). Check https://developer.github.com for other possible causes.\n"
)


def gh_error(status: int, message: str, **extra: Any) -> web.Response:
    return json_response(
        {"message": message, "documentation_url": DOCS, **extra, "status": str(status)}, status
    )


def validation_failed(resource: str, field_name: str, code: str = "invalid") -> web.Response:
    error = {"resource": resource, "code": code, "field": field_name}
    return gh_error(422, "Validation Failed", errors=[error])


class GhInputError(Exception):
    """A write the real API rejects with 422; carries the answer."""

    def __init__(self, response: web.Response):
        super().__init__(response.text)
        self.response = response


@dataclass
class RateBudget:
    """The primary rate limit: every authenticated request spends one."""

    limit: int = 5000
    remaining: int = 5000
    used: int = 0
    window: int = 3600
    reset_at: int = field(default_factory=lambda: int(time.time()) + 3600)

    def spend(self) -> bool:
        if time.time() >= self.reset_at:
            self.remaining, self.used = self.limit, 0
            self.reset_at = int(time.time()) + self.window
        if self.remaining <= 0:
            return False
        self.remaining -= 1
        self.used += 1
        return True

    def headers(self) -> dict[str, str]:
        return {
            "x-ratelimit-limit": str(self.limit),
            "x-ratelimit-remaining": str(self.remaining),
            "x-ratelimit-reset": str(self.reset_at),
            "x-ratelimit-used": str(self.used),
            "x-ratelimit-resource": "core",
        }


@dataclass
class Repo:
    id: int
    owner: str
    name: str
    created_at: datetime
    updated_at: datetime
    private: bool = False
    description: str | None = None
    issues: dict[int, GhIssue] = field(default_factory=dict)
    deleted: dict[int, GhIssue] = field(default_factory=dict)
    comments: dict[int, GhComment] = field(default_factory=dict)
    labels: dict[str, GhLabel] = field(default_factory=dict)
    milestones: dict[int, GhMilestone] = field(default_factory=dict)
    hooks: dict[int, dict[str, Any]] = field(default_factory=dict)
    next_number: int = 1
    version: int = 0
    raw: dict[int, bytes] = field(default_factory=dict)
    raw_comments: dict[int, bytes] = field(default_factory=dict)
    cache: dict[Any, Any] = field(default_factory=dict)
    cache_version: int = -1

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    def open_count(self) -> int:
        return sum(1 for i in self.issues.values() if i.state == "open")

    def changed(self, number: int | None = None) -> None:
        self.version += 1
        if number is not None:
            self.raw.pop(number, None)

    def cached(self, key: Any, build: Any) -> Any:
        if self.cache_version != self.version:
            self.cache, self.cache_version = {}, self.version
        if key not in self.cache:
            self.cache[key] = build()
        return self.cache[key]


class GitHubSim(BaseSim):
    """In-memory GitHub. ``tokens`` maps a token to the login it authenticates."""

    def __init__(
        self, token: str = "ghp_sim_token", login: str = "octocat", clock: SimClock | None = None
    ) -> None:
        super().__init__(clock)
        self.api_url = "http://127.0.0.1"
        self._ids = itertools.count(1001)
        self.users: dict[str, GhUser] = {}
        self.tokens: dict[str, str] = {}
        self.orgs: set[str] = set()
        self.repos: dict[str, Repo] = {}
        self.rate = RateBudget()
        self._user_docs: dict[str, dict[str, Any]] = {}
        self.login = login
        self.add_user(login, name="The Octocat", email=f"{login}@example.com")
        self.tokens[token] = login

    # ---- state set-up ---
    def add_user(self, login: str, name: str | None = None, email: str | None = None) -> GhUser:
        user = GhUser(login, next(self._ids), name, email, created_at=self.clock.now)
        self.users[login] = user
        return user

    def add_token(self, token: str, login: str) -> None:
        if login not in self.users:
            self.add_user(login)
        self.tokens[token] = login

    def add_repo(self, full_name: str, private: bool = False, org: bool = False) -> Repo:
        owner, name = full_name.split("/", 1)
        if owner not in self.users:
            self.add_user(owner)
        if org:
            self.orgs.add(owner)
            self.users[owner].type = "Organization"
        repo = Repo(next(self._ids), owner, name, self.clock.now, self.clock.now, private)
        self.repos[full_name.lower()] = repo
        return repo

    def repo(self, full_name: str) -> Repo:
        return self.repos.get(full_name.lower()) or self.add_repo(full_name)

    def add_label(self, repo: str, name: str, color: str = "ededed") -> GhLabel:
        r = self.repo(repo)
        label = r.labels.get(name.lower())
        if label is None:
            label = GhLabel(next(self._ids), name, color)
            r.labels[name.lower()] = label
        return label

    def add_milestone(self, repo: str, title: str, due_on: datetime | None = None) -> GhMilestone:
        r = self.repo(repo)
        number = len(r.milestones) + 1
        ms = GhMilestone(number, next(self._ids), title, r.owner, self.clock.now, due_on=due_on)
        r.milestones[number] = ms
        return ms

    def seed_issues(
        self,
        repo: str = "octo/hello",
        count: int = 100,
        pull_requests: int | None = None,
        spacing: timedelta = timedelta(minutes=1),
        labels: Sequence[str] = ("bug", "feature", "docs"),
        closed_every: int = 5,
    ) -> list[GhIssue]:
        """``count`` issues plus ``pull_requests`` (default count // 10) pull requests,
        interleaved, created ``spacing`` apart and ending one spacing before ``clock.now``.
        Every ``closed_every``-th issue is closed; labels and assignees rotate."""
        r = self.repo(repo)
        prs = count // 10 if pull_requests is None else pull_requests
        total = count + prs
        pr_slots = {round((k + 1) * total / (prs + 1)) for k in range(prs)} if prs else set()
        assignables = [self.login, *[u for u in self.users if u not in (self.login, r.owner)]]
        for name in labels:
            self.add_label(repo, name)
        made = []
        for k in range(total):
            when = self.clock.now - spacing * (total - k)
            issue = self._new_issue(r, f"Seeded item {k + 1}", f"Body of item {k + 1}", when)
            issue.pull_request = k in pr_slots
            if labels:
                issue.labels = [labels[k % len(labels)]]
            if k % 3 == 0:
                issue.assignees = [assignables[k % len(assignables)]]
            if closed_every and k % closed_every == closed_every - 1:
                issue.state, issue.state_reason = "closed", "completed"
                issue.closed_at, issue.closed_by = when, r.owner
            made.append(issue)
        r.changed()
        return made

    def seed_comments(self, repo: str = "octo/hello", per_issue: int = 2) -> list[GhComment]:
        r = self.repo(repo)
        made = []
        for issue in list(r.issues.values()):
            for k in range(per_issue):
                when = issue.created_at + timedelta(seconds=k + 1)
                made.append(self._new_comment(r, issue, f"Comment {k + 1}", r.owner, when))
        r.changed()
        return made

    def warm(self) -> None:
        """Serialize every issue now (benchmarks: keep rendering out of the timed walk)."""
        for r in self.repos.values():
            for issue in r.issues.values():
                self._issue_bytes(r, issue)

    # ---- remote changes (what a person does on github.com) -------------------------------------
    def create_issue(
        self,
        repo: str,
        title: str,
        body: str | None = None,
        labels: Iterable[str] = (),
        assignees: Iterable[str] = (),
        user: str | None = None,
        pull_request: bool = False,
    ) -> GhIssue:
        r = self.repo(repo)
        issue = self._new_issue(r, title, body, self.clock.tick(), user or self.login)
        issue.pull_request = pull_request
        self._apply(r, issue, {"labels": list(labels), "assignees": list(assignees)}, None)
        r.changed(issue.number)
        return issue

    def edit_issue(
        self, repo: str, number: int, actor: str | None = None, **changes: Any
    ) -> GhIssue:
        """Change fields as the PATCH endpoint does (title, body, state, state_reason, labels,
        assignees, milestone); ``updated_at`` advances when something changed."""
        r = self.repo(repo)
        issue = r.issues[number]
        self._apply(r, issue, changes, actor or self.login)
        return issue

    def delete_issue(self, repo: str, number: int) -> GhIssue:
        r = self.repo(repo)
        issue = r.issues.pop(number)
        r.deleted[number] = issue
        r.changed(number)
        return issue

    def add_comment(self, repo: str, number: int, body: str, user: str | None = None) -> GhComment:
        r = self.repo(repo)
        issue = r.issues[number]
        comment = self._new_comment(r, issue, body, user or self.login, self.clock.tick())
        issue.updated_at = comment.created_at
        r.changed(number)
        return comment

    def edit_comment(self, repo: str, comment_id: int, body: str) -> GhComment:
        r = self.repo(repo)
        comment = r.comments[comment_id]
        comment.body, comment.updated_at = body, self.clock.tick()
        r.raw_comments.pop(comment_id, None)
        r.changed()
        return comment

    # ---- inspection ---
    def get_issue(self, repo: str, number: int) -> GhIssue:
        return self.repo(repo).issues[number]

    def issue_doc(self, repo: str, number: int) -> dict[str, Any]:
        r = self.repo(repo)
        return self._render_issue(r, r.issues.get(number) or r.deleted[number])

    def issues_of(self, repo: str, include_pull_requests: bool = False) -> list[GhIssue]:
        items = self.repo(repo).issues.values()
        return [i for i in items if include_pull_requests or not i.pull_request]

    # ---- injection ---
    def inject_rate_limit(
        self, times: int = 1, retry_after: int = 1, status: int = 429, **match: Any
    ) -> Any:
        """Secondary rate limit: 429 (or 403) with ``retry-after``."""
        return self.inject_secondary_rate_limit(times, retry_after, status, **match)

    def inject_secondary_rate_limit(
        self, times: int = 1, retry_after: int = 1, status: int = 403, **match: Any
    ) -> Any:
        message = (
            "You have exceeded a secondary rate limit. Please wait a few minutes before you "
            "try again. If you reach out to GitHub Support for help, please include the "
            "request ID SIM:0000."
        )

        async def respond(request: web.Request, handler: Handler) -> web.StreamResponse:
            answer = gh_error(status, message)
            answer.headers["retry-after"] = str(retry_after)
            return answer

        return self.inject("secondary_rate_limit", respond, times, **match)

    def inject_primary_rate_limit(
        self, times: int = 1, reset_in: int = 1, status: int = 403, **match: Any
    ) -> Any:
        """403 (or 429) with ``x-ratelimit-remaining: 0`` and ``x-ratelimit-reset`` = now +
        ``reset_in`` seconds (wall clock epoch, as GitHub sends)."""

        async def respond(request: web.Request, handler: Handler) -> web.StreamResponse:
            answer = gh_error(status, "API rate limit exceeded for user ID 1.")
            answer.headers.update(self._exhausted_headers(int(time.time()) + reset_in))
            return answer

        return self.inject("primary_rate_limit", respond, times, **match)

    def _exhausted_headers(self, reset_at: int) -> dict[str, str]:
        return {
            "x-ratelimit-limit": str(self.rate.limit),
            "x-ratelimit-remaining": "0",
            "x-ratelimit-reset": str(reset_at),
            "x-ratelimit-used": str(self.rate.limit),
            "x-ratelimit-resource": "core",
        }

    def _server_error(self, status: int) -> web.StreamResponse:
        return gh_error(status, "Server Error")

    # ---- the application ---
    def _routes(self, app: web.Application) -> None:
        repo = "/repos/{owner}/{name}"
        rid = "/repositories/{repo_id:\\d+}"
        app.router.add_get("/rate_limit", self._h_rate_limit)
        app.router.add_get("/user", self._h_user)
        app.router.add_get("/user/repos", self._h_user_repos)
        app.router.add_get("/orgs/{org}/repos", self._h_org_repos)
        app.router.add_get(repo, self._h_repo)
        app.router.add_get(repo + "/assignees", self._h_assignees)
        for prefix in (repo, rid):
            app.router.add_get(prefix + "/issues", self._h_list_issues)
            app.router.add_get(prefix + "/issues/comments", self._h_repo_comments)
            app.router.add_get(prefix + "/issues/{number:\\d+}/comments", self._h_issue_comments)
        app.router.add_post(repo + "/issues", self._h_create_issue)
        app.router.add_get(repo + "/issues/{number:\\d+}", self._h_get_issue)
        app.router.add_patch(repo + "/issues/{number:\\d+}", self._h_update_issue)
        app.router.add_post(repo + "/issues/{number:\\d+}/comments", self._h_create_comment)
        app.router.add_patch(repo + "/issues/comments/{comment_id:\\d+}", self._h_update_comment)
        app.router.add_get(repo + "/hooks", self._h_list_hooks)
        app.router.add_post(repo + "/hooks", self._h_create_hook)
        app.router.add_delete(repo + "/hooks/{hook_id:\\d+}", self._h_delete_hook)

    def _gate(self, request: web.Request) -> web.StreamResponse | None:
        self._set_origin(f"{request.scheme}://{request.host}")
        if not request.headers.get("User-Agent"):
            return web.Response(text=NO_USER_AGENT, status=403, content_type="text/plain")
        version = request.headers.get("X-GitHub-Api-Version")
        if version is not None and version not in API_VERSIONS:
            supported = ", ".join(API_VERSIONS)
            return gh_error(
                400,
                f"Unsupported 'X-GitHub-Api-Version' header value "
                f"'{version}'. Supported values are: {supported}",
            )
        login = self._authenticate(request.headers.get("Authorization", ""))
        if login is None:
            has_auth = bool(request.headers.get("Authorization"))
            return gh_error(401, "Bad credentials" if has_auth else "Requires authentication")
        request[PRINCIPAL] = login
        if request.path != "/rate_limit" and not self.rate.spend():
            answer = gh_error(403, "API rate limit exceeded for user ID 1.")
            answer.headers.update(self._exhausted_headers(self.rate.reset_at))
            return answer
        return None

    def _authenticate(self, header: str) -> str | None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() not in ("bearer", "token") or not token.strip():
            return None
        return self.tokens.get(token.strip())

    def _decorate(self, request: web.Request, response: web.StreamResponse) -> None:
        for name, value in self.rate.headers().items():
            response.headers.setdefault(name, value)
        version = request.headers.get("X-GitHub-Api-Version", API_VERSIONS[0])
        response.headers.setdefault("x-github-api-version-selected", version)
        response.headers.setdefault("x-github-media-type", "github.v3; format=json")
        response.headers.setdefault("x-github-request-id", f"SIM:{len(self.log):08X}")

    def _set_origin(self, origin: str) -> None:
        if origin != self.api_url:
            self.api_url = origin
            self._user_docs.clear()
            for r in self.repos.values():
                r.raw.clear()
                r.raw_comments.clear()

    # ---- handlers: users and repositories ------------------------------------------------------
    async def _h_rate_limit(self, request: web.Request) -> web.StreamResponse:
        core = {
            "limit": self.rate.limit,
            "remaining": self.rate.remaining,
            "reset": self.rate.reset_at,
            "used": self.rate.used,
            "resource": "core",
        }
        return json_response({"resources": {"core": core}, "rate": core})

    async def _h_user(self, request: web.Request) -> web.StreamResponse:
        user = self.users[request[PRINCIPAL]]
        owned = sum(1 for r in self.repos.values() if r.owner == user.login)
        return json_response(render_authenticated_user(self.api_url, user, owned))

    async def _h_user_repos(self, request: web.Request) -> web.StreamResponse:
        login = request[PRINCIPAL]
        visible = [r for r in self.repos.values() if r.owner == login or r.owner in self.orgs]
        return self._repo_page(request, visible, default_sort="full_name")

    async def _h_org_repos(self, request: web.Request) -> web.StreamResponse:
        org = request.match_info["org"]
        if org not in self.orgs:
            return gh_error(404, "Not Found")
        visible = [r for r in self.repos.values() if r.owner == org]
        return self._repo_page(request, visible, default_sort="created")

    def _repo_page(
        self, request: web.Request, repos: list[Repo], default_sort: str
    ) -> web.StreamResponse:
        sort = request.query.get("sort", default_sort)
        keys = {
            "full_name": lambda r: r.full_name.lower(),
            "created": lambda r: r.created_at,
            "updated": lambda r: r.updated_at,
            "pushed": lambda r: r.updated_at,
        }
        if sort not in keys:
            return validation_failed("Repository", "sort")
        default_direction = "asc" if sort == "full_name" else "desc"
        desc = request.query.get("direction", default_direction) == "desc"
        ordered = sorted(repos, key=lambda r: (keys[sort](r), r.id), reverse=desc)
        docs = [orjson.dumps(self._render_repo(r)) for r in ordered]
        return self._page(request, docs, request.url)

    async def _h_repo(self, request: web.Request) -> web.StreamResponse:
        r = self._find_repo(request)
        if r is None:
            return gh_error(404, "Not Found")
        return json_response(self._render_repo(r))

    async def _h_assignees(self, request: web.Request) -> web.StreamResponse:
        """Users who may be assigned issues (here: every user account), by login, paged."""
        r = self._find_repo(request)
        if r is None:
            return gh_error(404, "Not Found")
        logins = sorted((u.login for u in self.users.values() if u.type == "User"), key=str.lower)
        docs = [orjson.dumps(self._user_doc(login)) for login in logins]
        return self._page(request, docs, request.url)

    def _find_repo(self, request: web.Request) -> Repo | None:
        info = request.match_info
        if "repo_id" in info:
            wanted = int(info["repo_id"])
            return next((r for r in self.repos.values() if r.id == wanted), None)
        return self.repos.get(f"{info['owner']}/{info['name']}".lower())

    # ---- handlers: issues ----------------------------------------------------------------------
    async def _h_list_issues(self, request: web.Request) -> web.StreamResponse:
        r = self._find_repo(request)
        if r is None:
            return gh_error(404, "Not Found")
        q = request.query
        state = q.get("state", "open")
        sort = q.get("sort", "created")
        direction = q.get("direction", "desc")
        if state not in ("open", "closed", "all"):
            return validation_failed("Issue", "state")
        if sort not in ("created", "updated", "comments"):
            return validation_failed("Issue", "sort")
        if direction not in ("asc", "desc"):
            return validation_failed("Issue", "direction")
        try:
            since = parse_iso(q["since"]) if q.get("since") else None
        except ValueError:
            return validation_failed("Issue", "since")
        labels = tuple(x.strip().lower() for x in q.get("labels", "").split(",") if x.strip())
        key = (
            state,
            sort,
            direction,
            since,
            labels,
            q.get("assignee"),
            q.get("milestone"),
            q.get("creator"),
        )
        numbers = r.cached(("issues", *key), lambda: self._select(r, *key))
        docs = _LazyDocs(numbers, lambda n: self._issue_bytes(r, r.issues[n]))
        return self._page(request, docs, URL(f"{self.api_url}/repositories/{r.id}/issues"))

    def _select(
        self,
        r: Repo,
        state: str,
        sort: str,
        direction: str,
        since: datetime | None,
        labels: tuple[str, ...],
        assignee: str | None,
        milestone: str | None,
        creator: str | None,
    ) -> list[int]:
        ordered, keys = r.cached(("sorted", sort), lambda: self._sorted(r, sort))
        if since is not None and sort == "updated":
            candidates = ordered[bisect.bisect_left(keys, since) :]
        elif since is not None:
            candidates = [i for i in ordered if i.updated_at >= since]
        else:
            candidates = ordered
        wanted = [
            i.number
            for i in candidates
            if (state == "all" or i.state == state)
            and all(name in {x.lower() for x in i.labels} for name in labels)
            and _assignee_matches(i, assignee)
            and _milestone_matches(i, milestone)
            and (creator is None or i.user == creator)
        ]
        return wanted[::-1] if direction == "desc" else wanted

    def _sorted(self, r: Repo, sort: str) -> tuple[list[GhIssue], list[Any]]:
        attr = {"created": "created_at", "updated": "updated_at", "comments": "comments"}[sort]
        ordered = sorted(r.issues.values(), key=lambda i: (getattr(i, attr), i.number))
        return ordered, [getattr(i, attr) for i in ordered]

    def _page(self, request: web.Request, docs: Sequence[bytes], link_base: URL) -> web.Response:
        per_page = _int(request.query.get("per_page"), 30, 1, 100)
        page = _int(request.query.get("page"), 1, 1, 10**9)
        chunk = docs[(page - 1) * per_page : page * per_page]
        headers = {}
        link = link_header(link_base, list(request.query.items()), page, per_page, len(docs))
        if link:
            headers["Link"] = link
        return raw_json_response(b"[" + b",".join(chunk) + b"]", headers=headers)

    async def _h_get_issue(self, request: web.Request) -> web.StreamResponse:
        r = self._find_repo(request)
        number = int(request.match_info["number"])
        if r is None:
            return gh_error(404, "Not Found")
        if number in r.deleted:
            return gh_error(410, "This issue was deleted")
        if number not in r.issues:
            return gh_error(404, "Not Found")
        return raw_json_response(self._issue_bytes(r, r.issues[number]))

    async def _h_create_issue(self, request: web.Request) -> web.StreamResponse:
        r = self._find_repo(request)
        if r is None:
            return gh_error(404, "Not Found")
        body = await _json_object(request)
        if isinstance(body, web.Response):
            return body
        title = body.get("title")
        if title is None or title == "":
            return gh_error(422, 'Invalid request.\n\n"title" wasn\'t supplied.')
        issue = self._new_issue(r, str(title), body.get("body"), self.clock.now, request[PRINCIPAL])
        fields = {k: body[k] for k in ("labels", "assignees", "assignee", "milestone") if k in body}
        try:
            self._apply(r, issue, fields, None)
        except GhInputError as exc:
            del r.issues[issue.number]
            r.next_number -= 1
            return exc.response
        issue.updated_at = issue.created_at = self.clock.tick()
        r.changed(issue.number)
        location = f"{self.api_url}/repos/{r.full_name}/issues/{issue.number}"
        return raw_json_response(self._issue_bytes(r, issue), 201, {"Location": location})

    async def _h_update_issue(self, request: web.Request) -> web.StreamResponse:
        r = self._find_repo(request)
        number = int(request.match_info["number"])
        if r is None or number not in r.issues:
            return gh_error(
                410 if r and number in r.deleted else 404,
                "This issue was deleted" if r and number in r.deleted else "Not Found",
            )
        body = await _json_object(request)
        if isinstance(body, web.Response):
            return body
        if "title" in body and not body["title"]:
            return validation_failed("Issue", "title", "missing_field")
        allowed = (
            "title",
            "body",
            "state",
            "state_reason",
            "labels",
            "assignees",
            "assignee",
            "milestone",
        )
        try:
            self._apply(
                r, r.issues[number], {k: body[k] for k in allowed if k in body}, request[PRINCIPAL]
            )
        except GhInputError as exc:
            return exc.response
        return raw_json_response(self._issue_bytes(r, r.issues[number]))

    # ---- applying changes ---
    def _apply(self, r: Repo, issue: GhIssue, changes: dict[str, Any], actor: str | None) -> None:
        """Validate then apply ``changes``; bump updated_at when something changed.
        ``actor`` None means "creating": no timestamp bump here."""
        before = _snapshot(issue)
        new = dict(before)
        for name in ("title", "body"):
            if name in changes:
                new[name] = changes[name]
        if "labels" in changes:
            new["labels"] = [self.add_label(r.full_name, n).name for n in _label_names(changes)]
        if "assignees" in changes or "assignee" in changes:
            new["assignees"] = self._assignees(changes)
        if "milestone" in changes:
            new["milestone"] = self._milestone(r, changes["milestone"])
        self._apply_state(issue, changes, new, actor)
        changed = {k: before[k] for k in new if new[k] != before[k]}
        if not changed:
            return
        for name, value in new.items():
            setattr(issue, name, value)
        if actor is not None:
            issue.updated_at = self.clock.tick()
            issue.last_changes = changed
        self._invalidate_milestone(r, before["milestone"], new["milestone"], issue.number)
        r.changed(issue.number)

    def _apply_state(
        self, issue: GhIssue, changes: dict[str, Any], new: dict[str, Any], actor: str | None
    ) -> None:
        state = changes.get("state", issue.state)
        if state not in ("open", "closed"):
            raise GhInputError(validation_failed("Issue", "state"))
        reason = changes.get("state_reason", ...)
        if reason is not ... and reason is not None and reason not in STATE_REASONS:
            raise GhInputError(validation_failed("Issue", "state_reason"))
        if state == "closed" and issue.state == "open":
            new.update(state="closed", closed_at=self.clock.now, closed_by=actor or self.login)
            new["state_reason"] = reason if reason not in (..., None, "reopened") else "completed"
        elif state == "closed" and reason not in (..., None, "reopened"):
            new["state_reason"] = reason
        elif state == "open" and issue.state == "closed":
            new.update(state="open", closed_at=None, closed_by=None, state_reason="reopened")

    def _assignees(self, changes: dict[str, Any]) -> list[str]:
        raw = changes.get("assignees")
        if raw is None and changes.get("assignee"):
            raw = [changes["assignee"]]
        logins = [str(x) for x in raw or []]
        unknown = [x for x in logins if x not in self.users]
        if unknown:
            raise GhInputError(validation_failed("Issue", "assignees"))
        return list(dict.fromkeys(logins))

    def _milestone(self, r: Repo, value: Any) -> int | None:
        if value is None:
            return None
        if not isinstance(value, int) or value not in r.milestones:
            raise GhInputError(validation_failed("Issue", "milestone"))
        return value

    def _invalidate_milestone(self, r: Repo, old: int | None, new: int | None, n: int) -> None:
        """Milestone open/closed counts show inside every issue of that milestone."""
        touched = {m for m in (old, new) if m is not None}
        for issue in r.issues.values():
            if issue.milestone in touched:
                r.raw.pop(issue.number, None)

    def _new_issue(
        self, r: Repo, title: str, body: str | None, when: datetime, user: str | None = None
    ) -> GhIssue:
        issue = GhIssue(r.next_number, next(self._ids), title, body, user or r.owner, when, when)
        r.issues[issue.number] = issue
        r.next_number += 1
        return issue

    def _new_comment(
        self, r: Repo, issue: GhIssue, body: str, user: str, when: datetime
    ) -> GhComment:
        comment = GhComment(next(self._ids), issue.number, body, user, when, when)
        r.comments[comment.id] = comment
        issue.comments += 1
        return comment

    # ---- handlers: comments --------------------------------------------------------------------
    async def _h_issue_comments(self, request: web.Request) -> web.StreamResponse:
        r = self._find_repo(request)
        number = int(request.match_info["number"])
        if r is None or number not in r.issues:
            return gh_error(404, "Not Found")
        since = _since(request)
        if isinstance(since, web.Response):
            return since
        items = [c for c in r.comments.values() if c.issue_number == number]
        items = [c for c in items if since is None or c.updated_at >= since]
        docs = [self._comment_bytes(r, c) for c in items]
        base = URL(f"{self.api_url}/repositories/{r.id}/issues/{number}/comments")
        return self._page(request, docs, base)

    async def _h_repo_comments(self, request: web.Request) -> web.StreamResponse:
        r = self._find_repo(request)
        if r is None:
            return gh_error(404, "Not Found")
        since = _since(request)
        if isinstance(since, web.Response):
            return since
        sort = request.query.get("sort", "created")
        if sort not in ("created", "updated"):
            return validation_failed("IssueComment", "sort")
        attr = "created_at" if sort == "created" else "updated_at"
        items = [c for c in r.comments.values() if since is None or c.updated_at >= since]
        items.sort(key=lambda c: (getattr(c, attr), c.id))
        if "sort" in request.query and request.query.get("direction") == "desc":
            items.reverse()
        docs = [self._comment_bytes(r, c) for c in items]
        return self._page(request, docs, URL(f"{self.api_url}/repositories/{r.id}/issues/comments"))

    async def _h_create_comment(self, request: web.Request) -> web.StreamResponse:
        r = self._find_repo(request)
        number = int(request.match_info["number"])
        if r is None or number not in r.issues:
            return gh_error(404, "Not Found")
        body = await _json_object(request)
        if isinstance(body, web.Response):
            return body
        if not body.get("body"):
            return gh_error(422, 'Invalid request.\n\n"body" wasn\'t supplied.')
        comment = self.add_comment(r.full_name, number, str(body["body"]), request[PRINCIPAL])
        location = f"{self.api_url}/repos/{r.full_name}/issues/comments/{comment.id}"
        return raw_json_response(self._comment_bytes(r, comment), 201, {"Location": location})

    async def _h_update_comment(self, request: web.Request) -> web.StreamResponse:
        """https://docs.github.com/rest/issues/comments#update-an-issue-comment"""
        r = self._find_repo(request)
        comment_id = int(request.match_info["comment_id"])
        if r is None or comment_id not in r.comments:
            return gh_error(404, "Not Found")
        body = await _json_object(request)
        if isinstance(body, web.Response):
            return body
        if not body.get("body"):
            return gh_error(422, 'Invalid request.\n\n"body" wasn\'t supplied.')
        comment = self.edit_comment(r.full_name, comment_id, str(body["body"]))
        return raw_json_response(self._comment_bytes(r, comment), 200)

    # ---- handlers: hooks -------------------------------------------------------------------------
    async def _h_list_hooks(self, request: web.Request) -> web.StreamResponse:
        r = self._find_repo(request)
        if r is None:
            return gh_error(404, "Not Found")
        return json_response([self._render_hook(r, h) for h in r.hooks.values()])

    async def _h_create_hook(self, request: web.Request) -> web.StreamResponse:
        r = self._find_repo(request)
        if r is None:
            return gh_error(404, "Not Found")
        body = await _json_object(request)
        if isinstance(body, web.Response):
            return body
        config = body.get("config")
        if not isinstance(config, dict) or not config.get("url"):
            return validation_failed("Hook", "url", "custom")
        hook = {
            "id": next(self._ids),
            "name": body.get("name", "web"),
            "active": bool(body.get("active", True)),
            "events": list(body.get("events") or ["push"]),
            "config": dict(config),
            "created_at": ts(self.clock.now),
        }
        r.hooks[hook["id"]] = hook
        return json_response(self._render_hook(r, hook), 201)

    async def _h_delete_hook(self, request: web.Request) -> web.StreamResponse:
        r = self._find_repo(request)
        hook_id = int(request.match_info["hook_id"])
        if r is None or r.hooks.pop(hook_id, None) is None:
            return gh_error(404, "Not Found")
        return web.Response(status=204)

    def _render_hook(self, r: Repo, hook: dict[str, Any]) -> dict[str, Any]:
        url = f"{self.api_url}/repos/{r.full_name}/hooks/{hook['id']}"
        config = {k: v for k, v in hook["config"].items() if k != "secret"}
        if "secret" in hook["config"]:
            config["secret"] = "********"
        return {
            "type": "Repository",
            "id": hook["id"],
            "name": hook["name"],
            "active": hook["active"],
            "events": hook["events"],
            "config": config,
            "updated_at": hook["created_at"],
            "created_at": hook["created_at"],
            "url": url,
            "test_url": f"{url}/test",
            "ping_url": f"{url}/pings",
            "deliveries_url": f"{url}/deliveries",
            "last_response": {"code": None, "status": "unused", "message": None},
        }

    # ---- rendering ---
    def _user_doc(self, login: str) -> dict[str, Any]:
        doc = self._user_docs.get(login)
        if doc is None:
            doc = self._user_docs[login] = render_user(self.api_url, self.users[login])
        return doc

    def _render_repo(self, r: Repo) -> dict[str, Any]:
        return render_repository(self.api_url, r, self._user_doc(r.owner))

    def _issue_bytes(self, r: Repo, issue: GhIssue) -> bytes:
        raw = r.raw.get(issue.number)
        if raw is None:
            raw = r.raw[issue.number] = orjson.dumps(self._render_issue(r, issue))
        return raw

    def _comment_bytes(self, r: Repo, comment: GhComment) -> bytes:
        raw = r.raw_comments.get(comment.id)
        if raw is None:
            raw = r.raw_comments[comment.id] = orjson.dumps(self._render_comment(r, comment))
        return raw

    def _render_issue(self, r: Repo, i: GhIssue) -> dict[str, Any]:
        api, full = self.api_url, r.full_name
        url = f"{api}/repos/{full}/issues/{i.number}"
        kind = "pull" if i.pull_request else "issues"
        doc: dict[str, Any] = {
            "url": url,
            "repository_url": f"{api}/repos/{full}",
            "labels_url": f"{url}/labels{{/name}}",
            "comments_url": f"{url}/comments",
            "events_url": f"{url}/events",
            "html_url": f"{WEB}/{full}/{kind}/{i.number}",
            "id": i.id,
            "node_id": node_id("PR" if i.pull_request else "I", i.id),
            "number": i.number,
            "title": i.title,
            "user": self._user_doc(i.user),
            "labels": [render_label(api, full, r.labels[n.lower()]) for n in i.labels],
            "state": i.state,
            "locked": i.locked,
            "assignees": [self._user_doc(a) for a in i.assignees],
            "milestone": self._render_milestone(r, i.milestone),
            "comments": i.comments,
            "created_at": ts(i.created_at),
            "updated_at": ts(i.updated_at),
            "closed_at": ts(i.closed_at),
            "assignee": self._user_doc(i.assignees[0]) if i.assignees else None,
            "author_association": "OWNER" if i.user == r.owner else "CONTRIBUTOR",
            "active_lock_reason": None,
        }
        if i.pull_request:
            doc["draft"] = False
            doc["pull_request"] = {
                "url": f"{api}/repos/{full}/pulls/{i.number}",
                "html_url": f"{WEB}/{full}/pull/{i.number}",
                "diff_url": f"{WEB}/{full}/pull/{i.number}.diff",
                "patch_url": f"{WEB}/{full}/pull/{i.number}.patch",
                "merged_at": None,
            }
        else:
            doc["sub_issues_summary"] = {"total": 0, "completed": 0, "percent_completed": 0}
            doc["issue_dependencies_summary"] = dict.fromkeys(
                ("blocked_by", "total_blocked_by", "blocking", "total_blocking"), 0
            )
        doc["body"] = i.body
        doc["closed_by"] = self._user_doc(i.closed_by) if i.closed_by else None
        doc["reactions"] = reactions(f"{url}/reactions")
        doc["timeline_url"] = f"{url}/timeline"
        doc["performed_via_github_app"] = None
        doc["state_reason"] = i.state_reason
        if not i.pull_request:
            doc["pinned_comment"] = None
        return doc

    def _render_milestone(self, r: Repo, number: int | None) -> dict[str, Any] | None:
        if number is None:
            return None
        ms = r.milestones[number]
        url = f"{self.api_url}/repos/{r.full_name}/milestones/{number}"
        members = [i for i in r.issues.values() if i.milestone == number]
        return {
            "url": url,
            "html_url": f"{WEB}/{r.full_name}/milestone/{number}",
            "labels_url": f"{url}/labels",
            "id": ms.id,
            "node_id": node_id("MI", ms.id),
            "number": number,
            "title": ms.title,
            "description": ms.description,
            "creator": self._user_doc(ms.creator),
            "open_issues": sum(1 for i in members if i.state == "open"),
            "closed_issues": sum(1 for i in members if i.state == "closed"),
            "state": ms.state,
            "created_at": ts(ms.created_at),
            "updated_at": ts(ms.created_at),
            "due_on": ts(ms.due_on),
            "closed_at": None,
        }

    def _render_comment(self, r: Repo, c: GhComment) -> dict[str, Any]:
        api, full = self.api_url, r.full_name
        url = f"{api}/repos/{full}/issues/comments/{c.id}"
        return {
            "url": url,
            "html_url": f"{WEB}/{full}/issues/{c.issue_number}#issuecomment-{c.id}",
            "issue_url": f"{api}/repos/{full}/issues/{c.issue_number}",
            "id": c.id,
            "node_id": node_id("IC", c.id),
            "user": self._user_doc(c.user),
            "created_at": ts(c.created_at),
            "updated_at": ts(c.updated_at),
            "body": c.body,
            "author_association": "OWNER" if c.user == r.owner else "CONTRIBUTOR",
            "pin": None,
            "reactions": reactions(f"{url}/reactions"),
            "performed_via_github_app": None,
        }

    # ---- webhooks ---
    def webhook(
        self,
        event: str,
        action: str | None = None,
        repo: str = "octo/hello",
        number: int | None = None,
        comment_id: int | None = None,
        secret: str | None = None,
        changes: dict[str, Any] | None = None,
        hook_id: int | None = None,
        sender: str | None = None,
    ) -> Delivery:
        """One delivery of ``event`` (issues, issue_comment, ping) shaped on the recorded
        payloads; signed with X-Hub-Signature-256 (and the legacy sha1) when ``secret``."""
        r = self.repo(repo)
        values: dict[str, Any] = {"action": action}
        if number is not None:
            issue = r.issues.get(number) or r.deleted[number]
            values["issue"] = self._render_issue(r, issue)
            if changes is None and action == "edited":
                changes = {
                    k: {"from": v} for k, v in issue.last_changes.items() if k in ("title", "body")
                }
        if comment_id is not None:
            values["comment"] = self._render_comment(r, r.comments[comment_id])
        if changes is not None:
            values["changes"] = changes
        hook = r.hooks.get(hook_id) if hook_id else None
        if event == "ping":
            values.update(self._ping_values(r, hook))
        values["repository"] = self._render_repo(r)
        values["sender"] = self._user_doc(sender or self.login)
        payload = _shape_like(_webhook_template(event, action), values)
        return self._sign(event, payload, secret, hook_id or 0, r.id)

    def _ping_values(self, r: Repo, hook: dict[str, Any] | None) -> dict[str, Any]:
        template = load_fixture("github/webhooks/ping.json")
        hook_doc = self._render_hook(r, hook) if hook else template["hook"]
        return {"zen": template["zen"], "hook_id": hook_doc["id"], "hook": hook_doc}

    def _sign(
        self, event: str, payload: dict[str, Any], secret: str | None, hook_id: int, target: int
    ) -> Delivery:
        body = encode_webhook_body(payload)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "GitHub-Hookshot/5a1e0c0",
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": str(uuid.uuid4()),
            "X-GitHub-Hook-ID": str(hook_id),
            "X-GitHub-Hook-Installation-Target-ID": str(target),
            "X-GitHub-Hook-Installation-Target-Type": "repository",
        }
        if secret is not None:
            sha1 = hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()
            headers["X-Hub-Signature"] = f"sha1={sha1}"
            headers["X-Hub-Signature-256"] = f"sha256={hmac_sha256_hex(secret, body)}"
        return Delivery(headers, body, payload)

    async def emit(
        self, repo: str, event: str, action: str | None = None, **kwargs: Any
    ) -> list[DeliveryResult]:
        """Deliver ``event`` to every active hook of ``repo`` subscribed to it (or to "*")."""
        results = []
        for hook in list(self.repo(repo).hooks.values()):
            if hook["active"] and (event in hook["events"] or "*" in hook["events"]):
                secret = hook["config"].get("secret")
                delivery = self.webhook(
                    event, action, repo, secret=secret, hook_id=hook["id"], **kwargs
                )
                results.append(await post_webhook(hook["config"]["url"], delivery))
        return results


# ---- helpers ---------------------------------------------------------------------------------
class _LazyDocs(Sequence[bytes]):
    """Serialized issues by position, rendered only for the page being served."""

    def __init__(self, numbers: list[int], render: Any) -> None:
        self.numbers, self.render = numbers, render

    def __len__(self) -> int:
        return len(self.numbers)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self.render(n) for n in self.numbers[index]]
        return self.render(self.numbers[index])


def link_header(
    base: URL, query: list[tuple[str, str]], page: int, per_page: int, total: int
) -> str | None:
    """GitHub's Link header: prev, next, last, first in that order, as recorded."""
    last = max(1, math.ceil(total / per_page))
    if total == 0 or (last == 1 and page == 1):
        return None
    kept = [(k, v) for k, v in query if k != "page"]

    def url(p: int) -> str:
        return f"<{base.with_query([*kept, ('page', str(p))])}>"

    rels = []
    if page > 1:
        rels.append(f'{url(min(page - 1, last))}; rel="prev"')
    if page < last:
        rels.append(f'{url(page + 1)}; rel="next"')
        rels.append(f'{url(last)}; rel="last"')
    if page > 1:
        rels.append(f'{url(1)}; rel="first"')
    return ", ".join(rels)


def _int(value: str | None, default: int, low: int, high: int) -> int:
    try:
        number = int(value) if value is not None else default
    except ValueError:
        number = default
    return max(low, min(high, number))


def _since(request: web.Request) -> datetime | web.Response | None:
    raw = request.query.get("since")
    if not raw:
        return None
    try:
        return parse_iso(raw)
    except ValueError:
        return validation_failed("IssueComment", "since")


async def _json_object(request: web.Request) -> dict[str, Any] | web.Response:
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        return gh_error(400, "Problems parsing JSON")
    if not isinstance(body, dict):
        return gh_error(400, "Problems parsing JSON")
    return body


def _label_names(changes: dict[str, Any]) -> list[str]:
    names = []
    for item in changes.get("labels") or []:
        name = item.get("name") if isinstance(item, dict) else item
        if not isinstance(name, str) or not name:
            raise GhInputError(validation_failed("Label", "name", "missing_field"))
        names.append(name)
    return list(dict.fromkeys(names))


def _snapshot(issue: GhIssue) -> dict[str, Any]:
    names = (
        "title",
        "body",
        "state",
        "state_reason",
        "labels",
        "assignees",
        "milestone",
        "closed_at",
        "closed_by",
    )
    return {n: getattr(issue, n) for n in names}


def _assignee_matches(issue: GhIssue, assignee: str | None) -> bool:
    if assignee is None:
        return True
    if assignee == "none":
        return not issue.assignees
    if assignee == "*":
        return bool(issue.assignees)
    return assignee in issue.assignees


def _milestone_matches(issue: GhIssue, milestone: str | None) -> bool:
    if milestone is None:
        return True
    if milestone == "none":
        return issue.milestone is None
    if milestone == "*":
        return issue.milestone is not None
    return str(issue.milestone) == milestone


def _webhook_template(event: str, action: str | None) -> dict[str, Any]:
    name = "ping" if event == "ping" else f"{event}.{action}"
    try:
        return load_fixture(f"github/webhooks/{name}.json")  # type: ignore[no-any-return]
    except FileNotFoundError:
        return load_fixture("github/webhooks/issues.opened.json")  # type: ignore[no-any-return]


def _shape_like(template: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """Our values in the template's key order; keys the template has that we do not model
    (``installation``) are left out, ours it lacks are appended."""
    shaped = {k: values[k] for k in template if k in values and values[k] is not None}
    shaped.update({k: v for k, v in values.items() if k not in shaped and v is not None})
    return shaped
