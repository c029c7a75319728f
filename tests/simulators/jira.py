"""Jira Cloud REST v3 simulator: /search/jql with a real JQL subset and nextPageToken paging,
issues in v3 shape (ADF descriptions), the transitions workflow, comments, projects, users,
admin webhooks and signed webhook deliveries.

    sim = JiraSim()            # Basic base64("dev@example.com:jira-token") or Bearer "jira-oauth"
    sim.seed_issues("PROJ", count=100)
    async with serve(sim) as base_url: ...   # paths start /rest/api/3/

See tests/simulators/README.md for every endpoint, parameter and injection knob.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import itertools
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
from aiohttp import web

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
    post_webhook,
)
from .jira_model import (
    ALL_FIELDS,
    FIELD_NAMES,
    ISSUE_TYPES,
    PRIORITIES,
    JiraAttachment,
    JiraComment,
    JiraIssue,
    JiraProject,
    JiraStatus,
    JiraTransition,
    JiraUser,
    Renderer,
    adf_doc,
    adf_text,
    choose_fields,
    is_adf,
)
from .jql import JqlError, Query, parse

STATUSES = [
    JiraStatus("10000", "To Do", "new"),
    JiraStatus(
        "10001",
        "In Progress",
        "indeterminate",
        "This work item is being actively worked on at the moment by the assignee.",
    ),
    JiraStatus("10002", "In Review", "indeterminate"),
    JiraStatus("10003", "Done", "done"),
]
# The recorded Jira Cloud (team-managed) workflow: every transition is global.
SIMPLIFIED_WORKFLOW = [
    JiraTransition("11", "To Do", "To Do"),
    JiraTransition("21", "In Progress", "In Progress"),
    JiraTransition("31", "In Review", "In Review"),
    JiraTransition("41", "Done", "Done"),
]
# A company-managed style workflow: transitions only from given statuses.
CLASSIC_WORKFLOW = [
    JiraTransition("11", "Start Progress", "In Progress", ("To Do",)),
    JiraTransition("21", "Stop Progress", "To Do", ("In Progress",)),
    JiraTransition("31", "Submit for Review", "In Review", ("In Progress",)),
    JiraTransition("41", "Done", "Done", ("In Progress", "In Review")),
    JiraTransition("51", "Reopen", "To Do", ("Done",)),
]
UNBOUNDED = (
    "Unbounded JQL queries are not allowed here. Please add a search restriction to your query."
)
NOT_SETTABLE = "Field '{}' cannot be set. It is not on the appropriate screen, or unknown."
NOT_ADF = "Operation value must be an Atlassian Document (see the Atlassian Document Format)"
EDITABLE = {
    "summary",
    "description",
    "labels",
    "priority",
    "assignee",
    "duedate",
    "parent",
    "issuetype",
}


def jira_error(status: int, *messages: str, errors: dict[str, str] | None = None) -> web.Response:
    return json_response({"errorMessages": list(messages), "errors": errors or {}}, status)


class JiraInputError(Exception):
    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(errors.values()))
        self.errors = errors


class JiraSim(BaseSim):
    """In-memory Jira Cloud site. ``users`` are keyed by accountId."""

    def __init__(
        self,
        email: str = "dev@example.com",
        api_token: str = "jira-token",
        oauth_token: str = "jira-oauth",
        workflow: Sequence[JiraTransition] = SIMPLIFIED_WORKFLOW,
        clock: SimClock | None = None,
    ) -> None:
        super().__init__(clock)
        self.site_url = "http://127.0.0.1"
        self._ids = itertools.count(10001)
        self.users: dict[str, JiraUser] = {}
        self.oauth_tokens: dict[str, str] = {}
        self.projects: dict[str, JiraProject] = {}
        self.statuses = {s.name.lower(): s for s in STATUSES}
        self.workflow = list(workflow)
        self.issues: dict[str, JiraIssue] = {}  # id -> issue
        self.keys: dict[str, str] = {}  # KEY-1 -> id
        self.deleted: dict[str, JiraIssue] = {}
        self.comments: dict[str, JiraComment] = {}
        self.webhooks: dict[int, dict[str, Any]] = {}
        self.version = 0
        self._numbers: dict[str, int] = {}
        self._search_cache: dict[str, list[str]] = {}
        self._cache_version = -1
        me = self.add_user(email, "Sim Developer", api_token=api_token)
        self.me = me.account_id
        self.oauth_tokens[oauth_token] = me.account_id

    # ---- set-up ---
    def add_user(
        self,
        email: str,
        display_name: str | None = None,
        api_token: str | None = None,
        email_visible: bool = True,
    ) -> JiraUser:
        account_id = "712020:" + hashlib.sha1(email.encode()).hexdigest()[:24]
        user = JiraUser(
            account_id,
            email,
            display_name or email.split("@")[0],
            api_token,
            email_visible=email_visible,
        )
        self.users[account_id] = user
        return user

    def add_project(self, key: str, name: str | None = None) -> JiraProject:
        project = JiraProject(str(next(self._ids)), key, name or f"Project {key}", self.me)
        self.projects[key] = project
        self._changed()
        return project

    def user_id(self, who: str | None) -> str | None:
        """accountId for an accountId or an email address."""
        if who is None or who in self.users:
            return who
        for user in self.users.values():
            if user.email.lower() == who.lower():
                return user.account_id
        raise KeyError(f"no Jira user {who!r}")

    def seed_issues(
        self,
        project: str = "PROJ",
        count: int = 100,
        spacing: timedelta = timedelta(minutes=1),
        labels: Sequence[str] = ("bug", "feature", "docs"),
        done_every: int = 5,
    ) -> list[JiraIssue]:
        """``count`` issues ``spacing`` apart ending one spacing before ``clock.now``; every
        ``done_every``-th is Done, every other In Progress; labels and assignees rotate."""
        if project not in self.projects:
            self.add_project(project)
        people = list(self.users)
        made = []
        for k in range(count):
            when = self.clock.now - spacing * (count - k)
            issue = self._new_issue(project, f"Seeded issue {k + 1}", "Task", self.me, when)
            issue.description = adf_doc(f"Description of issue {k + 1}")
            issue.labels = [labels[k % len(labels)]] if labels else []
            issue.assignee = people[k % len(people)] if k % 3 == 0 else None
            issue.priority = list(PRIORITIES)[k % len(PRIORITIES)]
            if done_every and k % done_every == done_every - 1:
                self._set_status(issue, "Done")
            elif k % 2:
                self._set_status(issue, "In Progress")
            made.append(issue)
        self._changed()
        return made

    # ---- remote changes ---
    def create_issue(
        self,
        project: str,
        summary: str,
        description: str | dict[str, Any] | None = None,
        issuetype: str = "Task",
        assignee: str | None = None,
        labels: Iterable[str] = (),
        priority: str = "Medium",
        duedate: str | None = None,
        parent: str | None = None,
    ) -> JiraIssue:
        if project not in self.projects:
            self.add_project(project)
        issue = self._new_issue(project, summary, issuetype, self.me, self.clock.tick())
        issue.description = description if isinstance(description, dict) else adf_doc(description)
        issue.assignee, issue.labels = self.user_id(assignee), list(labels)
        issue.priority, issue.duedate, issue.parent = priority, duedate, parent
        self._changed()
        return issue

    def edit_issue(self, key: str, actor: str | None = None, **fields: Any) -> JiraIssue:
        """Edit as a person would: summary, description (text or ADF), labels, priority (name),
        assignee (email or accountId or None), duedate ("yyyy-MM-dd" or None), parent."""
        issue = self.issue(key)
        values: dict[str, Any] = {}
        for name, value in fields.items():
            if name == "description" and isinstance(value, str):
                value = adf_doc(value)
            elif name == "assignee":
                value = self.user_id(value)
            values[name] = value
        self._record(issue, values, actor or self.me)
        return issue

    def set_status(self, key: str, status: str, actor: str | None = None) -> JiraIssue:
        """Move the issue to ``status`` directly (a board drag), ignoring the workflow."""
        issue = self.issue(key)
        self._record(issue, {"status": self.statuses[status.lower()].name}, actor or self.me)
        return issue

    def delete_issue(self, key: str) -> JiraIssue:
        issue = self.issue(key)
        del self.issues[issue.id]
        self.deleted[issue.id] = issue
        self._changed()
        return issue

    def add_comment(
        self, key: str, text: str | dict[str, Any], author: str | None = None
    ) -> JiraComment:
        issue = self.issue(key)
        body = text if isinstance(text, dict) else adf_doc(text)
        when = self.clock.tick()
        comment = JiraComment(
            str(next(self._ids)), issue.id, body or {}, author or self.me, when, when
        )
        self.comments[comment.id] = comment
        issue.comments.append(comment.id)
        issue.updated = when
        self._changed()
        return comment

    def add_attachment(
        self,
        key: str,
        filename: str,
        mime_type: str,
        size: int,
        author: str | None = None,
    ) -> JiraAttachment:
        """Attach a file as a person would: the issue's ``updated`` moves and its changelog
        gets an ``Attachment`` item (to: the attachment id, toString: the file name)."""
        issue = self.issue(key)
        actor = self.user_id(author) or self.me
        when = self.clock.tick()
        attachment = JiraAttachment(str(next(self._ids)), filename, mime_type, size, actor, when)
        issue.attachments.append(attachment)
        issue.updated = when
        item = {
            "field": "Attachment",
            "fieldtype": "jira",
            "fieldId": "attachment",
            "from": None,
            "fromString": None,
            "to": attachment.id,
            "toString": filename,
        }
        issue.history.append(
            {"id": str(next(self._ids)), "author": actor, "created": when, "items": [item]}
        )
        self._changed()
        return attachment

    # ---- inspection ---
    def issue(self, id_or_key: str) -> JiraIssue:
        ident = self.keys.get(id_or_key.upper(), id_or_key)
        return self.issues[ident]

    def issue_by_id(self, issue_id: str) -> JiraIssue:
        return self.issues.get(issue_id) or self.deleted[issue_id]

    def find(self, id_or_key: str) -> JiraIssue | None:
        try:
            return self.issue(id_or_key)
        except KeyError:
            return None

    def issue_doc(self, key: str, fields: str = "*all") -> dict[str, Any]:
        return Renderer(self, self.site_url).issue(self.issue(key), choose_fields([fields], ""))

    # ---- injection ---
    def inject_rate_limit(self, times: int = 1, retry_after: int = 1, **match: Any) -> Any:
        """429 with Retry-After (seconds) and X-RateLimit-Reset (ISO 8601)."""

        async def respond(request: web.Request, handler: Handler) -> web.StreamResponse:
            answer = jira_error(429, "Rate limit exceeded.")
            reset = datetime.now(UTC) + timedelta(seconds=retry_after)
            answer.headers["Retry-After"] = str(retry_after)
            answer.headers["X-RateLimit-Reset"] = reset.strftime("%Y-%m-%dT%H:%MZ")
            return answer

        return self.inject("rate_limit", respond, times, **match)

    def _server_error(self, status: int) -> web.StreamResponse:
        return jira_error(status, "Internal server error")

    # ---- the application ---
    def _routes(self, app: web.Application) -> None:
        api = "/rest/api/3"
        issue = api + "/issue/{key}"
        r = app.router
        r.add_get(api + "/myself", self._h_myself)
        r.add_get(api + "/search", self._h_search_removed)
        r.add_post(api + "/search", self._h_search_removed)
        r.add_get(api + "/search/jql", self._h_search)
        r.add_post(api + "/search/jql", self._h_search)
        r.add_post(api + "/issue", self._h_create)
        r.add_get(issue, self._h_get)
        r.add_put(issue, self._h_edit)
        r.add_delete(issue, self._h_delete)
        r.add_get(issue + "/transitions", self._h_transitions)
        r.add_post(issue + "/transitions", self._h_transition)
        r.add_get(issue + "/comment", self._h_comments)
        r.add_post(issue + "/comment", self._h_add_comment)
        r.add_get(issue + "/changelog", self._h_changelog)
        r.add_get(api + "/project/search", self._h_projects)
        r.add_get(api + "/project/{key}", self._h_project)
        r.add_get(api + "/users/search", self._h_users)
        r.add_get(api + "/user", self._h_user)
        r.add_get(api + "/status", self._h_statuses)
        r.add_get("/rest/webhooks/1.0/webhook", self._h_list_webhooks)
        r.add_post("/rest/webhooks/1.0/webhook", self._h_register_webhook)
        r.add_delete("/rest/webhooks/1.0/webhook/{hook_id:\\d+}", self._h_delete_webhook)

    def _gate(self, request: web.Request) -> web.StreamResponse | None:
        origin = f"{request.scheme}://{request.host}"
        if origin != self.site_url:
            self.site_url = origin
        account = self._authenticate(request.headers.get("Authorization", ""))
        if account is None:
            answer = jira_error(401, "Client must be authenticated to access this resource.")
            answer.headers["X-Seraph-LoginReason"] = "AUTHENTICATED_FAILED"
            return answer
        request[PRINCIPAL] = account
        return None

    def _authenticate(self, header: str) -> str | None:
        scheme, _, credential = header.partition(" ")
        if scheme.lower() == "bearer":
            return self.oauth_tokens.get(credential.strip())
        if scheme.lower() != "basic":
            return None
        try:
            email, _, token = base64.b64decode(credential.strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        for user in self.users.values():
            if user.email == email and user.api_token is not None and user.api_token == token:
                return user.account_id
        return None

    def _decorate(self, request: web.Request, response: web.StreamResponse) -> None:
        response.headers.setdefault("X-AREQUESTID", f"sim-{len(self.log)}")
        response.headers.setdefault("ATL-TraceId", f"{len(self.log):032x}")

    def _render(self, api: str = "3") -> Renderer:
        return Renderer(self, self.site_url, api)

    def _changed(self) -> None:
        self.version += 1

    # ---- handlers: identity ----------------------------------------------------------------------
    async def _h_myself(self, request: web.Request) -> web.StreamResponse:
        doc = self._render().user(request[PRINCIPAL]) or {}
        doc.update({"locale": "en_US", "expand": "groups,applicationRoles"})
        return json_response(doc)

    async def _h_users(self, request: web.Request) -> web.StreamResponse:
        start, size = (
            _int(request.query.get("startAt"), 0),
            _int(request.query.get("maxResults"), 50),
        )
        people = [self._render().user(a) for a in list(self.users)[start : start + size]]
        return json_response(people)

    async def _h_user(self, request: web.Request) -> web.StreamResponse:
        account = request.query.get("accountId", "")
        if account not in self.users:
            return jira_error(
                404, "Specified user does not exist or you do not have required permissions"
            )
        return json_response(self._render().user(account))

    async def _h_statuses(self, request: web.Request) -> web.StreamResponse:
        return json_response([self._render().status(s.name) for s in self.statuses.values()])

    # ---- handlers: search ------------------------------------------------------------------------
    async def _h_search_removed(self, request: web.Request) -> web.StreamResponse:
        return jira_error(
            410,
            "The requested API has been removed. Please migrate to the "
            "/rest/api/3/search/jql API. A full migration guideline is "
            "available at https://developer.atlassian.com/changelog/#CHANGE-2046",
        )

    async def _h_search(self, request: web.Request) -> web.StreamResponse:
        params = await self._search_params(request)
        if isinstance(params, web.Response):
            return params
        jql, token, size, fields, expand = params
        if not jql.strip():
            return jira_error(400, UNBOUNDED)
        try:
            query = parse(jql, _Context(self, request[PRINCIPAL]))
        except JqlError as exc:
            return jira_error(400, str(exc))
        if query.where is None:
            return jira_error(400, UNBOUNDED)
        chosen = choose_fields(fields, "id")
        size = max(1, min(size or 50, 100 if chosen else 5000))
        offset = _decode_token(token, jql)
        if offset is None:
            return jira_error(400, "The provided next page token is invalid or expired.")
        ids = self._matching(jql, query, request[PRINCIPAL])
        page = ids[offset : offset + size]
        render = self._render()
        changelog = "changelog" in _expanded(expand)
        doc: dict[str, Any] = {
            "issues": [render.issue(self.issues[i], chosen, changelog) for i in page]
        }
        if offset + size < len(ids):
            doc["nextPageToken"] = _encode_token(offset + size, jql)
        doc["isLast"] = offset + size >= len(ids)
        if "names" in _expanded(expand):
            doc["names"] = {n: FIELD_NAMES[n] for n in chosen or []}
        return json_response(doc)

    async def _search_params(
        self, request: web.Request
    ) -> tuple[str, str | None, int, list[str], str] | web.Response:
        if request.method == "GET":
            q = request.query
            return (
                q.get("jql", ""),
                q.get("nextPageToken"),
                _int(q.get("maxResults"), 50),
                q.getall("fields", []),
                q.get("expand", ""),
            )
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            return jira_error(
                400, "Invalid request payload. Refer to the REST API documentation and try again."
            )
        fields = body.get("fields") or []
        if isinstance(fields, str):
            fields = [fields]
        return (
            body.get("jql") or "",
            body.get("nextPageToken"),
            _int(str(body.get("maxResults", 50)), 50),
            [",".join(fields)] if fields else [],
            str(body.get("expand") or ""),
        )

    def _matching(self, jql: str, query: Query, account: str) -> list[str]:
        if self._cache_version != self.version:
            self._search_cache, self._cache_version = {}, self.version
        key = f"{account}\x00{jql}\x00{self.clock.now.isoformat()}"
        if key not in self._search_cache:
            ctx = _Context(self, account)
            hits = [i for i in self.issues.values() if query.matches(ctx, i)]
            for name, desc in reversed(query.order or [("created", True)]):
                hits.sort(key=lambda i, n=name: _order_key(i, n), reverse=desc)
            self._search_cache[key] = [i.id for i in hits]
        return self._search_cache[key]

    # ---- handlers: issues ------------------------------------------------------------------------
    async def _h_get(self, request: web.Request) -> web.StreamResponse:
        issue = self.find(request.match_info["key"])
        if issue is None:
            return _missing_issue()
        chosen = choose_fields(request.query.getall("fields", []), "*all")
        changelog = "changelog" in _expanded(request.query.get("expand", ""))
        render = self._render()
        return json_response(render.issue(issue, chosen if chosen is not None else [], changelog))

    async def _h_create(self, request: web.Request) -> web.StreamResponse:
        body = await _json(request)
        if isinstance(body, web.Response):
            return body
        fields = dict(body.get("fields") or {})
        errors = {}
        project = self._project_of(fields.pop("project", None))
        if project is None:
            errors["project"] = "valid project is required"
        itype = _named(fields.pop("issuetype", None), {n: v[0] for n, v in ISSUE_TYPES.items()})
        if itype is None:
            errors["issuetype"] = "Specify an issue type"
        if not fields.get("summary"):
            errors["summary"] = "You must specify a summary of the issue."
        if errors:
            return jira_error(400, errors=errors)
        assert project is not None and itype is not None
        try:
            values = self._validate(fields, body.get("update") or {}, None)
        except JiraInputError as exc:
            return jira_error(400, errors=exc.errors)
        issue = self._new_issue(
            project.key, str(fields["summary"]), itype, request[PRINCIPAL], self.clock.tick()
        )
        for name, value in values.items():
            setattr(issue, name, value)
        self._changed()
        return json_response(
            {
                "id": issue.id,
                "key": issue.key,
                "self": f"{self.site_url}/rest/api/3/issue/{issue.id}",
            },
            201,
        )

    async def _h_edit(self, request: web.Request) -> web.StreamResponse:
        issue = self.find(request.match_info["key"])
        if issue is None:
            return _missing_issue()
        body = await _json(request)
        if isinstance(body, web.Response):
            return body
        try:
            values = self._validate(body.get("fields") or {}, body.get("update") or {}, issue)
        except JiraInputError as exc:
            return jira_error(400, errors=exc.errors)
        self._record(issue, values, request[PRINCIPAL])
        return web.Response(status=204)

    async def _h_delete(self, request: web.Request) -> web.StreamResponse:
        issue = self.find(request.match_info["key"])
        if issue is None:
            return _missing_issue()
        self.delete_issue(issue.key)
        return web.Response(status=204)

    def _validate(
        self, fields: dict[str, Any], update: dict[str, Any], issue: JiraIssue | None
    ) -> dict[str, Any]:
        """Jira's checks on an edit; returns record attribute -> new value."""
        errors: dict[str, str] = {}
        values: dict[str, Any] = {}
        for name in [*fields, *update]:
            if name not in EDITABLE:
                errors[name] = NOT_SETTABLE.format(name)
        for name, value in fields.items():
            if name in EDITABLE:
                self._check(name, value, values, errors)
        for name, ops in update.items():
            if name in EDITABLE:
                self._apply_ops(name, ops, issue, values, errors)
        if errors:
            raise JiraInputError(errors)
        return values

    def _check(self, name: str, value: Any, values: dict[str, Any], errors: dict[str, str]) -> None:
        if name == "summary":
            if not isinstance(value, str) or not value.strip():
                errors[name] = "You must specify a summary of the issue."
            values[name] = value
        elif name == "description":
            if value is not None and not is_adf(value):
                errors[name] = NOT_ADF
            values[name] = value
        elif name == "labels":
            bad = [x for x in value or [] if not isinstance(x, str) or " " in x]
            if bad:
                errors[name] = f"The label '{bad[0]}' contains spaces which is invalid."
            values[name] = list(dict.fromkeys(value or []))
        elif name == "priority":
            values[name] = _named(value, PRIORITIES)
            if values[name] is None:
                errors[name] = "Specify the Priority (id or name) in the string format"
        elif name == "issuetype":
            values[name] = _named(value, {n: v[0] for n, v in ISSUE_TYPES.items()})
            if values[name] is None:
                errors[name] = "Specify an issue type"
        else:
            self._check_reference(name, value, values, errors)

    def _check_reference(
        self, name: str, value: Any, values: dict[str, Any], errors: dict[str, str]
    ) -> None:
        if name == "assignee":
            account = value.get("accountId") if isinstance(value, dict) else None
            if value is not None and account not in self.users:
                errors[name] = (
                    "Specified user does not exist or you do not have required permissions"
                )
            values[name] = account
        elif name == "duedate":
            if value is not None and not _is_date(value):
                errors[name] = f"Error parsing date string: {value}"
            values[name] = value
        elif name == "parent":
            ref = value.get("key") or value.get("id") if isinstance(value, dict) else None
            parent = self.find(str(ref)) if ref else None
            if value is not None and parent is None:
                errors[name] = "Could not find issue by id or key."
            values[name] = parent.key if parent else None

    def _apply_ops(
        self,
        name: str,
        ops: Any,
        issue: JiraIssue | None,
        values: dict[str, Any],
        errors: dict[str, str],
    ) -> None:
        current = list(values.get("labels", issue.labels if issue else []))
        for op in ops if isinstance(ops, list) else []:
            if name == "labels" and "add" in op:
                current = [*current, op["add"]] if op["add"] not in current else current
            elif name == "labels" and "remove" in op:
                current = [x for x in current if x != op["remove"]]
            elif "set" in op:
                self._check(name, op["set"], values, errors)
                current = list(values.get("labels", current))
        if name == "labels":
            self._check("labels", current, values, errors)

    def _project_of(self, ref: Any) -> JiraProject | None:
        if not isinstance(ref, dict):
            return None
        if "key" in ref:
            return self.projects.get(str(ref["key"]))
        return next((p for p in self.projects.values() if p.id == str(ref.get("id"))), None)

    def _record(self, issue: JiraIssue, values: dict[str, Any], actor: str) -> None:
        """Apply ``values`` and write a changelog entry of what changed; bumps ``updated``."""
        items = []
        for name, new in values.items():
            old = getattr(issue, name)
            if old != new:
                items.append(self._change_item(name, old, new))
                setattr(issue, name, new)
        if not items:
            return
        issue.updated = self.clock.tick()
        if "status" in values:
            self._set_status(issue, values["status"])
        issue.history.append(
            {"id": str(next(self._ids)), "author": actor, "created": issue.updated, "items": items}
        )
        self._changed()

    def _change_item(self, name: str, old: Any, new: Any) -> dict[str, Any]:
        def text(value: Any) -> Any:
            if value is None:
                return None
            if name == "description":
                return adf_text(value)
            if name == "assignee":
                return self.users[value].display_name if value else None
            if name == "labels":
                return " ".join(value)
            return value

        ident = {
            "status": lambda v: self.statuses[v.lower()].id if v else None,
            "priority": lambda v: PRIORITIES.get(v) if v else None,
        }.get(name)
        return {
            "field": name,
            "fieldtype": "jira",
            "fieldId": name,
            "from": ident(old) if ident else (old if name == "assignee" else None),
            "fromString": text(old),
            "to": ident(new) if ident else (new if name == "assignee" else None),
            "toString": text(new),
        }

    def _set_status(self, issue: JiraIssue, name: str) -> None:
        status = self.statuses[name.lower()]
        issue.status, issue.status_changed = status.name, issue.updated
        done = status.category == "done"
        issue.resolution = "Done" if done else None
        issue.resolutiondate = issue.updated if done else None

    def _new_issue(
        self, project: str, summary: str, itype: str, reporter: str, when: datetime
    ) -> JiraIssue:
        number = self._numbers[project] = self._numbers.get(project, 0) + 1
        issue = JiraIssue(
            str(next(self._ids)),
            f"{project}-{number}",
            project,
            summary,
            itype,
            STATUSES[0].name,
            reporter,
            when,
            when,
        )
        self.issues[issue.id] = issue
        self.keys[issue.key] = issue.id
        return issue

    # ---- handlers: transitions -------------------------------------------------------------------
    def transitions_for(self, issue: JiraIssue) -> list[JiraTransition]:
        return [
            t
            for t in self.workflow
            if t.to.lower() != issue.status.lower()
            and (t.sources is None or issue.status in t.sources)
        ]

    async def _h_transitions(self, request: web.Request) -> web.StreamResponse:
        issue = self.find(request.match_info["key"])
        if issue is None:
            return _missing_issue()
        render = self._render()
        docs = [
            {
                "id": t.id,
                "name": t.name,
                "to": render.status(t.to),
                "hasScreen": False,
                "isGlobal": t.sources is None,
                "isInitial": False,
                "isAvailable": True,
                "isConditional": False,
                "isLooped": False,
            }
            for t in self.transitions_for(issue)
        ]
        return json_response({"expand": "transitions", "transitions": docs})

    async def _h_transition(self, request: web.Request) -> web.StreamResponse:
        issue = self.find(request.match_info["key"])
        if issue is None:
            return _missing_issue()
        body = await _json(request)
        if isinstance(body, web.Response):
            return body
        wanted = str((body.get("transition") or {}).get("id", ""))
        chosen = next((t for t in self.transitions_for(issue) if t.id == wanted), None)
        if chosen is None:
            return jira_error(400, f"Transition id '{wanted}' is not valid for this issue.")
        try:
            values = self._validate(body.get("fields") or {}, body.get("update") or {}, issue)
        except JiraInputError as exc:
            return jira_error(400, errors=exc.errors)
        values["status"] = chosen.to
        self._record(issue, values, request[PRINCIPAL])
        return web.Response(status=204)

    # ---- handlers: comments and changelog --------------------------------------------------------
    async def _h_comments(self, request: web.Request) -> web.StreamResponse:
        issue = self.find(request.match_info["key"])
        if issue is None:
            return _missing_issue()
        start = _int(request.query.get("startAt"), 0)
        size = _int(request.query.get("maxResults"), 100)
        items = [self.comments[c] for c in issue.comments]
        items.sort(
            key=lambda c: (c.created, int(c.id)), reverse=request.query.get("orderBy") == "-created"
        )
        render = self._render()
        return json_response(
            {
                "startAt": start,
                "maxResults": size,
                "total": len(items),
                "comments": [render.comment(c) for c in items[start : start + size]],
            }
        )

    async def _h_add_comment(self, request: web.Request) -> web.StreamResponse:
        issue = self.find(request.match_info["key"])
        if issue is None:
            return _missing_issue()
        body = await _json(request)
        if isinstance(body, web.Response):
            return body
        if not is_adf(body.get("body")):
            return jira_error(400, errors={"comment": NOT_ADF})
        comment = self.add_comment(issue.key, body["body"], request[PRINCIPAL])
        return json_response(self._render().comment(comment), 201)

    async def _h_changelog(self, request: web.Request) -> web.StreamResponse:
        issue = self.find(request.match_info["key"])
        if issue is None:
            return _missing_issue()
        start = _int(request.query.get("startAt"), 0)
        size = _int(request.query.get("maxResults"), 100)
        render = self._render()
        values = [render.history(h) for h in issue.history[start : start + size]]
        return json_response(
            {
                "self": str(request.url),
                "maxResults": size,
                "startAt": start,
                "total": len(issue.history),
                "isLast": start + size >= len(issue.history),
                "values": values,
            }
        )

    # ---- handlers: projects ----------------------------------------------------------------------
    async def _h_projects(self, request: web.Request) -> web.StreamResponse:
        start = _int(request.query.get("startAt"), 0)
        size = _int(request.query.get("maxResults"), 50)
        keys = {k for raw in request.query.getall("keys", []) for k in raw.split(",")}
        text = request.query.get("query", "").lower()
        projects = [
            p
            for p in self.projects.values()
            if (not keys or p.key in keys)
            and (not text or text in p.key.lower() or text in p.name.lower())
        ]
        page = projects[start : start + size]
        render = self._render()
        doc: dict[str, Any] = {
            "self": str(request.url),
            "maxResults": size,
            "startAt": start,
            "total": len(projects),
            "isLast": start + size >= len(projects),
            "values": [self._project_doc(render, p) for p in page],
        }
        if not doc["isLast"]:
            doc["nextPage"] = str(request.url.update_query(startAt=str(start + size)))
        return json_response(doc)

    async def _h_project(self, request: web.Request) -> web.StreamResponse:
        key = request.match_info["key"]
        project = self.projects.get(key) or next(
            (p for p in self.projects.values() if p.id == key), None
        )
        if project is None:
            return jira_error(404, f"No project could be found with key '{key}'.")
        return json_response(self._project_doc(self._render(), project))

    def _project_doc(self, render: Renderer, p: JiraProject) -> dict[str, Any]:
        doc = render.project(p.key)
        doc.update(
            {
                "expand": "description,lead,issueTypes,url,projectKeys,permissions,insight",
                "style": "next-gen" if p.simplified else "classic",
                "isPrivate": False,
                "properties": {},
                "lead": render.user(p.lead),
            }
        )
        return doc

    # ---- admin webhooks ---
    async def _h_list_webhooks(self, request: web.Request) -> web.StreamResponse:
        return json_response([self._webhook_doc(h) for h in self.webhooks.values()])

    async def _h_register_webhook(self, request: web.Request) -> web.StreamResponse:
        body = await _json(request)
        if isinstance(body, web.Response):
            return body
        if not body.get("url") or not body.get("events"):
            return jira_error(400, "Webhook url and events are required.")
        hook = {
            "id": next(self._ids),
            "name": body.get("name", ""),
            "url": body["url"],
            "events": list(body["events"]),
            "filters": dict(body.get("filters") or {}),
            "excludeBody": bool(body.get("excludeBody", False)),
            "secret": body.get("secret"),
            "enabled": bool(body.get("enabled", True)),
        }
        self.webhooks[hook["id"]] = hook
        return json_response(self._webhook_doc(hook), 201)

    async def _h_delete_webhook(self, request: web.Request) -> web.StreamResponse:
        if self.webhooks.pop(int(request.match_info["hook_id"]), None) is None:
            return jira_error(404, "Webhook not found.")
        return web.Response(status=204)

    def _webhook_doc(self, hook: dict[str, Any]) -> dict[str, Any]:
        doc = {k: v for k, v in hook.items() if k not in ("id", "secret")}
        doc["self"] = f"{self.site_url}/rest/webhooks/1.0/webhook/{hook['id']}"
        return doc

    # ---- webhook deliveries ---
    def webhook(
        self,
        event: str,
        key: str,
        secret: str | None = None,
        comment_id: str | None = None,
        user: str | None = None,
        identifier: int | None = None,
        retry: int | None = None,
    ) -> Delivery:
        """An admin-webhook delivery of ``event`` (jira:issue_created, jira:issue_updated,
        jira:issue_deleted, comment_created, comment_updated) for issue ``key``. Bodies use the
        v2-style representation the recorded deliveries show (plain-text description and
        comment body)."""
        issue = self.find(key) or next(i for i in self.deleted.values() if i.key == key.upper())
        render = self._render("2")
        payload: dict[str, Any] = {
            "timestamp": int(datetime.now(UTC).timestamp() * 1000),
            "webhookEvent": event,
        }
        if event.startswith("comment_"):
            comment = self.comments[comment_id or issue.comments[-1]]
            payload["comment"] = render.comment(comment)
            payload["issue"] = render.issue(
                issue, ["summary", "issuetype", "project", "assignee", "priority", "status"]
            )
            del payload["issue"]["expand"]
            return self._sign(payload, secret, identifier, retry)
        names = {"jira:issue_created": "issue_created", "jira:issue_updated": "issue_updated"}
        if event in names:
            payload["issue_event_type_name"] = self._event_type(issue, event)
        payload["user"] = render.user(user or self.me)
        payload["issue"] = render.issue(issue, [n for n in ALL_FIELDS if n != "comment"])
        if event == "jira:issue_updated" and issue.history:
            last = issue.history[-1]
            payload["changelog"] = {"id": last["id"], "items": last["items"]}
        elif event == "jira:issue_created":
            payload["changelog"] = {
                "id": str(next(self._ids)),
                "items": self._creation_items(issue),
            }
        return self._sign(payload, secret, identifier, retry)

    def _event_type(self, issue: JiraIssue, event: str) -> str:
        if event == "jira:issue_created":
            return "issue_created"
        fields = {i["field"] for i in issue.history[-1]["items"]} if issue.history else set()
        if fields == {"assignee"}:
            return "issue_assigned"
        return "issue_generic" if "status" in fields else "issue_updated"

    def _creation_items(self, issue: JiraIssue) -> list[dict[str, Any]]:
        items = []
        for name in ("description", "priority", "status", "summary", "assignee", "labels"):
            if getattr(issue, name):
                items.append(self._change_item(name, None, getattr(issue, name)))
        return items

    def _sign(
        self, payload: dict[str, Any], secret: str | None, identifier: int | None, retry: int | None
    ) -> Delivery:
        body = encode_webhook_body(payload)
        headers = {
            "Content-Type": "application/json; charset=UTF-8",
            "User-Agent": "Atlassian Webhook HTTP Client",
            "X-Atlassian-Webhook-Identifier": str(identifier or next(self._ids)),
        }
        if retry is not None:
            headers["X-Atlassian-Webhook-Retry"] = str(retry)
        if secret is not None:
            headers["X-Hub-Signature"] = f"sha256={hmac_sha256_hex(secret, body)}"
        return Delivery(headers, body, payload)

    async def emit(self, event: str, key: str, **kwargs: Any) -> list[DeliveryResult]:
        """Deliver ``event`` to every enabled registered webhook listening for it whose JQL
        filter (``issue-related-events-section``) matches the issue."""
        results = []
        issue = self.find(key)
        for hook in list(self.webhooks.values()):
            if not hook["enabled"] or event not in hook["events"]:
                continue
            jql = hook["filters"].get("issue-related-events-section")
            if (
                jql
                and issue is not None
                and not parse(jql, _Context(self, self.me)).matches(_Context(self, self.me), issue)
            ):
                continue
            delivery = self.webhook(event, key, secret=hook["secret"], **kwargs)
            results.append(await post_webhook(hook["url"], delivery))
        return results


# ---- helpers -----------------------------------------------------------------------------------
class _Context:
    """What the JQL evaluator asks of the site."""

    def __init__(self, sim: JiraSim, account: str) -> None:
        self.sim, self.account, self.now = sim, account, sim.clock.now

    def values(self, issue: JiraIssue, field_name: str) -> list[Any]:
        sim = self.sim
        if field_name in ("assignee", "reporter"):
            account = getattr(issue, field_name)
            user = sim.users.get(account) if account else None
            return [account, user.email] if user else []
        simple = {
            "project": [issue.project],
            "key": [issue.key],
            "id": [issue.id],
            "summary": [issue.summary],
            "description": [adf_text(issue.description)],
            "text": [issue.summary, adf_text(issue.description)],
            "status": [issue.status],
            "statuscategory": [sim.statuses[issue.status.lower()].category],
            "labels": list(issue.labels),
            "priority": [issue.priority],
            "issuetype": [issue.issuetype],
            "parent": [issue.parent],
            "created": [issue.created],
            "updated": [issue.updated],
            "duedate": [_due(issue.duedate)],
        }
        return simple[field_name]

    def known(self, field_name: str) -> set[str] | None:
        sim = self.sim
        if field_name == "project":
            return {k.lower() for k in sim.projects} | {p.id for p in sim.projects.values()}
        if field_name == "status":
            return set(sim.statuses) | {s.id for s in sim.statuses.values()}
        if field_name == "priority":
            return {p.lower() for p in PRIORITIES}
        if field_name == "issuetype":
            return {t.lower() for t in ISSUE_TYPES}
        return None

    def function(self, name: str) -> list[str]:
        if name.lower() == "currentuser":
            return [self.account]
        raise JqlError(f"Unable to find JQL function '{name}()'.")


def _due(value: str | None) -> datetime | None:
    return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC) if value else None


def _order_key(issue: JiraIssue, name: str) -> Any:
    if name == "key":
        project, _, number = issue.key.partition("-")
        return (project, int(number))
    if name == "id":
        return int(issue.id)
    if name == "priority":
        return int(PRIORITIES[issue.priority])
    if name == "duedate":
        return issue.duedate or ""
    value = getattr(issue, name)
    return (value, int(issue.id)) if isinstance(value, datetime) else (str(value), int(issue.id))


def _encode_token(offset: int, jql: str) -> str:
    raw = orjson.dumps({"o": offset, "q": hashlib.sha1(jql.encode()).hexdigest()[:12]})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_token(token: str | None, jql: str) -> int | None:
    if not token:
        return 0
    try:
        data = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, binascii.Error):
        return None
    if data.get("q") != hashlib.sha1(jql.encode()).hexdigest()[:12]:
        return None
    return int(data["o"])


def _expanded(expand: str) -> set[str]:
    """Jira's ``expand``: a comma-separated list of names."""
    return {name.strip() for name in expand.split(",") if name.strip()}


def _int(value: str | None, default: int) -> int:
    try:
        return max(0, int(value)) if value is not None else default
    except ValueError:
        return default


def _named(ref: Any, table: dict[str, str]) -> str | None:
    if not isinstance(ref, dict):
        return None
    if "name" in ref:
        return next((n for n in table if n.lower() == str(ref["name"]).lower()), None)
    return next((n for n, i in table.items() if i == str(ref.get("id"))), None)


def _is_date(value: Any) -> bool:
    try:
        date.fromisoformat(str(value))
    except ValueError:
        return False
    return bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(value)))


def _missing_issue() -> web.Response:
    return jira_error(404, "Issue does not exist or you do not have permission to see it.")


async def _json(request: web.Request) -> dict[str, Any] | web.Response:
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        return jira_error(400, "Unexpected character in the JSON body.")
    if not isinstance(body, dict):
        return jira_error(400, "Unexpected JSON: an object is required.")
    return body
