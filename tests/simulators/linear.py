"""Linear GraphQL simulator (POST /graphql).

Queries are parsed and validated by graphql-core against Linear's published schema
(tests/fixtures/linear/schema.graphql) and executed with resolvers over in-memory records,
so the answer holds exactly the selected fields, and a field or argument Linear does not have
fails validation the way Linear's server does. Implemented: viewer, issues, issue, teams,
team, users, user, comments, workflowStates, issueLabels, webhooks; mutations issueCreate,
issueUpdate, issueDelete, commentCreate, webhookCreate, webhookDelete. A schema field the
simulator has no data for resolves to null (a non-null one then errors, visibly).

    sim = LinearSim()          # "Authorization: lin_api_sim" (bare) or "Bearer lin_oauth_sim"
    sim.seed_issues("ENG", count=100)
"""

from __future__ import annotations

import functools
import itertools
import random
import re
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import graphql
import orjson
from aiohttp import web

from .base import (
    FIXTURES,
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
    post_webhook,
)
from .linear_filters import Field, FilterEngine, FilterError

PRIORITY_LABELS = {0: "No priority", 1: "Urgent", 2: "High", 3: "Medium", 4: "Low"}
MAX_PAGE = 250  # assumption: Linear documents 50 as default, 250 is the commonly cited max
AUTH_MESSAGE = "Authentication required, not authenticated"
AUTH_PRESENTABLE = "You need to authenticate to access this operation."


@functools.lru_cache(maxsize=1)
def linear_schema() -> graphql.GraphQLSchema:
    """Linear's public schema, built once per process (about a second)."""
    return graphql.build_schema((FIXTURES / "linear/schema.graphql").read_text())


@functools.lru_cache(maxsize=512)
def prepare(query: str) -> tuple[graphql.DocumentNode | None, list[graphql.GraphQLError], int]:
    """Parse and validate once per query text; returns (document, errors, complexity)."""
    try:
        document = graphql.parse(query)
    except graphql.GraphQLError as exc:
        return None, [exc], 0
    errors = graphql.validate(linear_schema(), document)
    fields = [0]

    class Counter(graphql.Visitor):
        def enter_field(self, node: Any, *args: Any) -> None:
            fields[0] += 1

    graphql.visit(document, Counter())
    return document, list(errors), fields[0]


class LinearError(graphql.GraphQLError):
    """An error the way Linear words it: ``extensions.type`` is what its SDK switches on."""

    def __init__(
        self,
        message: str,
        type_: str = "invalid input",
        code: str = "INPUT_ERROR",
        presentable: str | None = None,
    ) -> None:
        extensions = {
            "type": type_,
            "code": code,
            "statusCode": 400,
            "userError": True,
            "userPresentableMessage": presentable or message,
        }
        super().__init__(message, extensions=extensions)


def iso_ms(when: datetime | None) -> str | None:
    return (
        when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z" if when else None
    )


def slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:60] or "issue"


@dataclass
class LnUser:
    id: str
    name: str
    email: str
    created_at: datetime
    admin: bool = False
    active: bool = True


@dataclass
class LnTeam:
    id: str
    key: str
    name: str
    created_at: datetime
    next_number: int = 1


@dataclass
class LnState:
    id: str
    name: str
    type: str
    color: str
    position: float
    team_id: str
    created_at: datetime


@dataclass
class LnLabel:
    id: str
    name: str
    color: str
    created_at: datetime
    team_id: str | None = None


@dataclass
class LnIssue:
    id: str
    team_id: str
    number: int
    title: str
    state_id: str
    creator_id: str
    created_at: datetime
    updated_at: datetime
    description: str | None = None
    priority: int = 0
    assignee_id: str | None = None
    label_ids: list[str] = field(default_factory=list)
    due_date: str | None = None
    parent_id: str | None = None
    archived_at: datetime | None = None
    trashed: bool | None = None
    updated_from: dict[str, Any] = field(default_factory=dict)


@dataclass
class LnComment:
    id: str
    issue_id: str
    body: str
    user_id: str
    created_at: datetime
    updated_at: datetime


@dataclass
class LnAttachment:
    """A link to an external resource on an issue (Linear's attachments are URLs: a pull
    request, a Slack thread, an uploaded file's address)."""

    id: str
    issue_id: str
    title: str
    url: str
    creator_id: str
    created_at: datetime
    subtitle: str | None = None


@dataclass
class LnWebhook:
    id: str
    url: str
    resource_types: list[str]
    created_at: datetime
    secret: str | None = None
    team_id: str | None = None
    all_public_teams: bool = False
    label: str | None = None
    enabled: bool = True


@dataclass
class MutationCall:
    name: str
    args: dict[str, Any]


@dataclass
class RequestBudget:
    """x-ratelimit-requests-*: every request spends one; reset is epoch milliseconds."""

    limit: int = 5000
    remaining: int = 5000
    window_ms: int = 3_600_000
    reset_ms: int = field(default_factory=lambda: int(time.time() * 1000) + 3_600_000)

    def spend(self) -> bool:
        now = int(time.time() * 1000)
        if now >= self.reset_ms:
            self.remaining, self.reset_ms = self.limit, now + self.window_ms
        if self.remaining <= 0:
            return False
        self.remaining -= 1
        return True


class LinearSim(BaseSim):
    def __init__(
        self,
        api_key: str = "lin_api_sim",
        oauth_token: str = "lin_oauth_sim",
        clock: SimClock | None = None,
        seed: int = 7,
    ) -> None:
        super().__init__(clock)
        self._rng = random.Random(seed)
        self._sync_ids = itertools.count(1000)
        self.organization_id = self.new_id()
        self.url_key = "sim-org"
        self.users: dict[str, LnUser] = {}
        self.teams: dict[str, LnTeam] = {}
        self.states: dict[str, LnState] = {}
        self.labels: dict[str, LnLabel] = {}
        self.issues: dict[str, LnIssue] = {}
        self.comments: dict[str, LnComment] = {}
        self.attachments: dict[str, LnAttachment] = {}
        self.webhooks: dict[str, LnWebhook] = {}
        self.mutations: list[MutationCall] = []
        self.api_keys: dict[str, str] = {}
        self.oauth_tokens: dict[str, str] = {}
        self.rate = RequestBudget()
        self.auth_error_status = 400
        self.ratelimited_status = 429
        me = self.add_user("Sim Developer", "dev@example.com", admin=True)
        self.me = me.id
        self.api_keys[api_key] = me.id
        self.oauth_tokens[oauth_token] = me.id
        self.add_team("ENG", "Engineering")

    # ---- set-up ---
    def new_id(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def add_user(self, name: str, email: str, admin: bool = False) -> LnUser:
        user = LnUser(self.new_id(), name, email, self.clock.now, admin)
        self.users[user.id] = user
        return user

    def add_team(self, key: str, name: str | None = None) -> LnTeam:
        team = LnTeam(self.new_id(), key, name or key, self.clock.now)
        self.teams[team.id] = team
        recorded = load_fixture("linear/graphql/workflow-states.json")["data"]["workflowStates"]
        for node in sorted(recorded["nodes"], key=lambda n: n["position"]):
            state = LnState(
                self.new_id(),
                node["name"],
                node["type"],
                node["color"],
                float(node["position"]),
                team.id,
                self.clock.now,
            )
            self.states[state.id] = state
        return team

    def add_label(self, name: str, team: str | None = None, color: str = "#bec2c8") -> LnLabel:
        for label in self.labels.values():
            if label.name.lower() == name.lower():
                return label
        team_id = self.team(team).id if team else None
        label = LnLabel(self.new_id(), name, color, self.clock.now, team_id)
        self.labels[label.id] = label
        return label

    def team(self, key_or_id: str) -> LnTeam:
        for team in self.teams.values():
            if key_or_id in (team.key, team.id):
                return team
        raise KeyError(f"no Linear team {key_or_id!r}")

    def state(self, team_id: str, name: str) -> LnState:
        for state in self.states.values():
            if state.team_id == team_id and state.name.lower() == name.lower():
                return state
        raise KeyError(f"no workflow state {name!r} in team {team_id}")

    def user_by_email(self, email: str | None) -> LnUser | None:
        if email is None:
            return None
        return next(u for u in self.users.values() if u.email.lower() == email.lower())

    def seed_issues(
        self,
        team: str = "ENG",
        count: int = 100,
        spacing: timedelta = timedelta(minutes=1),
        labels: Sequence[str] = ("Bug", "Feature", "Improvement"),
        states: Sequence[str] = ("Backlog", "Todo", "In Progress", "Done"),
    ) -> list[LnIssue]:
        """``count`` issues ``spacing`` apart ending one spacing before ``clock.now``;
        states, labels, priorities and assignees rotate."""
        t = self.team(team)
        label_ids = [self.add_label(n).id for n in labels]
        people = list(self.users)
        made = []
        for k in range(count):
            when = self.clock.now - spacing * (count - k)
            issue = self._new_issue(t, f"Seeded issue {k + 1}", when)
            issue.description = f"Description of issue {k + 1}"
            issue.state_id = self.state(t.id, states[k % len(states)]).id
            issue.label_ids = [label_ids[k % len(label_ids)]] if label_ids else []
            issue.priority = k % 5
            issue.assignee_id = people[k % len(people)] if k % 3 == 0 else None
            made.append(issue)
        return made

    # ---- remote changes ---
    def create_issue(
        self,
        team: str,
        title: str,
        description: str | None = None,
        state: str | None = None,
        assignee: str | None = None,
        labels: Iterable[str] = (),
        priority: int = 0,
        due_date: str | None = None,
    ) -> LnIssue:
        t = self.team(team)
        issue = self._new_issue(t, title, self.clock.tick())
        issue.description, issue.priority, issue.due_date = description, priority, due_date
        if state:
            issue.state_id = self.state(t.id, state).id
        user = self.user_by_email(assignee)
        issue.assignee_id = user.id if user else None
        issue.label_ids = [self.add_label(n).id for n in labels]
        return issue

    def edit_issue(self, ref: str, **changes: Any) -> LnIssue:
        """title, description, state (name), assignee (email or None), labels (names),
        priority, due_date: applied like issueUpdate, updatedAt advances."""
        issue = self.issue(ref)
        update: dict[str, Any] = {}
        names = {
            "title": "title",
            "description": "description",
            "priority": "priority",
            "due_date": "dueDate",
        }
        for name, value in changes.items():
            if name in names:
                update[names[name]] = value
            elif name == "state":
                update["stateId"] = self.state(issue.team_id, value).id
            elif name == "assignee":
                user = self.user_by_email(value)
                update["assigneeId"] = user.id if user else None
            elif name == "labels":
                update["labelIds"] = [self.add_label(n).id for n in value]
            else:
                raise KeyError(f"edit_issue does not know {name!r}")
        self._update_issue(issue, update)
        return issue

    def delete_issue(self, ref: str) -> LnIssue:
        """Trash the issue (what deleting in Linear does): it leaves the default lists."""
        issue = self.issue(ref)
        issue.trashed, issue.archived_at = True, self.clock.tick()
        issue.updated_at = issue.archived_at
        return issue

    def add_comment(self, ref: str, body: str, user: str | None = None) -> LnComment:
        issue = self.issue(ref)
        author = self.user_by_email(user).id if user else self.me  # type: ignore[union-attr]
        when = self.clock.tick()
        comment = LnComment(self.new_id(), issue.id, body, author, when, when)
        self.comments[comment.id] = comment
        return comment

    def add_attachment(
        self,
        ref: str,
        title: str,
        url: str,
        subtitle: str | None = None,
        creator: str | None = None,
    ) -> LnAttachment:
        """Attach a link to the issue. The issue's ``updatedAt`` stays: whether Linear moves
        it for a new attachment is not documented, so the simulator does not claim it."""
        issue = self.issue(ref)
        author = self.user_by_email(creator).id if creator else self.me  # type: ignore[union-attr]
        attachment = LnAttachment(
            self.new_id(), issue.id, title, url, author, self.clock.tick(), subtitle
        )
        self.attachments[attachment.id] = attachment
        return attachment

    def issue(self, ref: str) -> LnIssue:
        """By id or identifier (ENG-12), as Linear's ``issue(id:)`` accepts both."""
        if ref in self.issues:
            return self.issues[ref]
        key, _, number = ref.upper().rpartition("-")
        for issue in self.issues.values():
            if str(issue.number) == number and self.teams[issue.team_id].key == key:
                return issue
        raise KeyError(ref)

    def identifier(self, issue: LnIssue) -> str:
        return f"{self.teams[issue.team_id].key}-{issue.number}"

    def issue_url(self, issue: LnIssue) -> str:
        return (
            f"https://linear.app/{self.url_key}/issue/{self.identifier(issue)}/{slug(issue.title)}"
        )

    def _new_issue(self, team: LnTeam, title: str, when: datetime) -> LnIssue:
        default = min(
            (s for s in self.states.values() if s.team_id == team.id and s.type == "backlog"),
            key=lambda s: s.position,
        )
        issue = LnIssue(
            self.new_id(), team.id, team.next_number, title, default.id, self.me, when, when
        )
        team.next_number += 1
        self.issues[issue.id] = issue
        return issue

    def _update_issue(self, issue: LnIssue, update: dict[str, Any]) -> None:
        attrs = {
            "title": "title",
            "description": "description",
            "priority": "priority",
            "dueDate": "due_date",
            "stateId": "state_id",
            "assigneeId": "assignee_id",
            "labelIds": "label_ids",
            "parentId": "parent_id",
            "trashed": "trashed",
        }
        previous: dict[str, Any] = {}
        for name, value in update.items():
            attr = attrs[name]
            if getattr(issue, attr) != value:
                previous[name] = getattr(issue, attr)
                setattr(issue, attr, value)
        if previous:
            previous["updatedAt"] = iso_ms(issue.updated_at)
            issue.updated_from = previous
            issue.updated_at = self.clock.tick()

    # ---- injection ---
    def _ratelimited_body(self) -> dict[str, Any]:
        return {
            "errors": [
                {
                    "message": "Rate limit exceeded",
                    "extensions": {
                        "type": "ratelimited",
                        "code": "RATELIMITED",
                        "statusCode": 429,
                        "userError": False,
                        "userPresentableMessage": "Rate limit exceeded",
                    },
                }
            ]
        }

    def inject_rate_limit(self, times: int = 1, retry_after: int = 1, **match: Any) -> Any:
        """HTTP 429 with Retry-After and the RATELIMITED GraphQL error."""

        async def respond(request: web.Request, handler: Handler) -> web.StreamResponse:
            answer = json_response(self._ratelimited_body(), 429)
            answer.headers["Retry-After"] = str(retry_after)
            answer.headers.update(self._exhausted_headers())
            return answer

        return self.inject("rate_limit", respond, times, **match)

    def inject_graphql_ratelimited(self, times: int = 1, status: int = 200, **match: Any) -> Any:
        """RATELIMITED inside an otherwise ordinary answer (HTTP 200 by default)."""

        async def respond(request: web.Request, handler: Handler) -> web.StreamResponse:
            answer = json_response({"data": None, **self._ratelimited_body()}, status)
            answer.headers.update(self._exhausted_headers())
            return answer

        return self.inject("graphql_ratelimited", respond, times, **match)

    def _exhausted_headers(self) -> dict[str, str]:
        return {
            "x-ratelimit-requests-limit": str(self.rate.limit),
            "x-ratelimit-requests-remaining": "0",
            "x-ratelimit-requests-reset": str(self.rate.reset_ms),
        }

    def _server_error(self, status: int) -> web.StreamResponse:
        body = {
            "errors": [
                {
                    "message": "Internal server error",
                    "extensions": {"type": "internal error", "code": "INTERNAL_ERROR"},
                }
            ]
        }
        return json_response(body, status)

    # ---- the application ---
    def _routes(self, app: web.Application) -> None:
        app.router.add_post("/graphql", self._h_graphql)

    def _gate(self, request: web.Request) -> web.StreamResponse | None:
        user = self._authenticate(request.headers.get("Authorization", ""))
        if user is None:
            body = {
                "errors": [
                    {
                        "message": AUTH_MESSAGE,
                        "extensions": {
                            "type": "authentication error",
                            "code": "AUTHENTICATION_ERROR",
                            "statusCode": 401,
                            "userError": True,
                            "userPresentableMessage": AUTH_PRESENTABLE,
                        },
                    }
                ]
            }
            return json_response(body, self.auth_error_status)
        request[PRINCIPAL] = user
        if not self.rate.spend():
            answer = json_response(self._ratelimited_body(), self.ratelimited_status)
            answer.headers.update(self._exhausted_headers())
            return answer
        return None

    def _authenticate(self, header: str) -> str | None:
        header = header.strip()
        if header.lower().startswith("bearer "):
            return self.oauth_tokens.get(header[7:].strip())
        return self.api_keys.get(header)

    def _decorate(self, request: web.Request, response: web.StreamResponse) -> None:
        values = {
            "x-ratelimit-requests-limit": str(self.rate.limit),
            "x-ratelimit-requests-remaining": str(self.rate.remaining),
            "x-ratelimit-requests-reset": str(self.rate.reset_ms),
            "x-ratelimit-complexity-limit": "2000000",
            "x-ratelimit-complexity-remaining": "2000000",
            "x-ratelimit-complexity-reset": str(self.rate.reset_ms),
        }
        for name, value in values.items():
            response.headers.setdefault(name, value)

    async def _h_graphql(self, request: web.Request) -> web.StreamResponse:
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            return _request_error("Unexpected token in JSON body")
        if not isinstance(body, dict) or not isinstance(body.get("query"), str):
            return _request_error("Must provide query string.")
        document, errors, complexity = prepare(body["query"])
        if document is None or errors:
            return json_response(
                {"errors": [_format(e, "GRAPHQL_VALIDATION_FAILED") for e in errors]}, 400
            )
        result = graphql.execute_sync(
            linear_schema(),
            document,
            root_value=_Root(self, request[PRINCIPAL]),
            variable_values=body.get("variables") or {},
            operation_name=body.get("operationName"),
        )
        payload: dict[str, Any] = {"data": _js_numbers(result.data)}
        status = 200
        if result.errors:
            payload["errors"] = [_format(e, "INTERNAL_SERVER_ERROR") for e in result.errors]
            if result.data is None and all(e.path is None for e in result.errors):
                status, payload = 400, {"errors": payload["errors"]}
        return json_response(payload, status, {"x-complexity": str(complexity)})

    # ---- webhooks ---
    def webhook(
        self,
        type_: str,
        action: str,
        entity_id: str,
        secret: str | None = None,
        webhook_id: str | None = None,
        timestamp_ms: int | None = None,
        updated_from: dict[str, Any] | None = None,
    ) -> Delivery:
        """A delivery of ``type_`` (Issue | Comment) ``action`` (create | update | remove),
        shaped on the recorded ones; ``Linear-Signature`` = hex HMAC-SHA256 of the raw body.
        ``webhookTimestamp`` is the wall clock in ms unless ``timestamp_ms`` is given."""
        if type_ == "Issue":
            issue = self.issue(entity_id)
            data, url = _issue_webhook_data(self, issue), self.issue_url(issue)
            if action == "update":
                updated_from = updated_from if updated_from is not None else issue.updated_from
        else:
            comment = self.comments[entity_id]
            data = _comment_webhook_data(self, comment)
            url = f"{self.issue_url(self.issues[comment.issue_id])}#comment-{comment.id[:8]}"
        me = self.users[self.me]
        payload: dict[str, Any] = {
            "action": action,
            "actor": {"id": me.id, "name": me.name, "email": me.email, "type": "user"},
            "createdAt": iso_ms(self.clock.now),
            "data": data,
        }
        if action == "update":
            payload["updatedFrom"] = updated_from or {}
        payload.update(
            {
                "url": url,
                "type": type_,
                "organizationId": self.organization_id,
                "webhookTimestamp": timestamp_ms or int(time.time() * 1000),
                "webhookId": webhook_id or self.new_id(),
            }
        )
        body = encode_webhook_body(payload)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Linear-Webhook",
            "Linear-Delivery": str(uuid.uuid4()),
            "Linear-Event": type_,
        }
        if secret is not None:
            headers["Linear-Signature"] = hmac_sha256_hex(secret, body)
        return Delivery(headers, body, payload)

    async def emit(
        self, type_: str, action: str, entity_id: str, **kwargs: Any
    ) -> list[DeliveryResult]:
        """Deliver to every enabled webhook (made by webhookCreate) for this resource type
        whose team matches (or that covers all public teams)."""
        team_id = (
            self.issue(entity_id).team_id
            if type_ == "Issue"
            else self.issues[self.comments[entity_id].issue_id].team_id
        )
        results = []
        for hook in list(self.webhooks.values()):
            if (
                hook.enabled
                and type_ in hook.resource_types
                and (hook.all_public_teams or hook.team_id == team_id)
            ):
                delivery = self.webhook(
                    type_, action, entity_id, secret=hook.secret, webhook_id=hook.id, **kwargs
                )
                results.append(await post_webhook(hook.url, delivery))
        return results


# ---- GraphQL resolvers -------------------------------------------------------------------------
def _filter_schema(sim: LinearSim) -> dict[str, dict[str, Field]]:
    user = lambda getter: ("relation", getter, "NullableUserFilter")  # noqa: E731
    user_fields: dict[str, Field] = {
        "id": ("value", lambda u: u.id, False),
        "name": ("value", lambda u: u.name, False),
        "email": ("value", lambda u: u.email, False),
        "displayName": ("value", lambda u: u.name, False),
        "active": ("value", lambda u: u.active, False),
        "isMe": ("value", lambda u: u.id == sim.me, False),
    }
    return {
        "IssueFilter": {
            "id": ("value", lambda i: i.id, False),
            "title": ("value", lambda i: i.title, False),
            "description": ("value", lambda i: i.description, False),
            "priority": ("value", lambda i: i.priority, False),
            "number": ("value", lambda i: i.number, False),
            "createdAt": ("value", lambda i: i.created_at, True),
            "updatedAt": ("value", lambda i: i.updated_at, True),
            "archivedAt": ("value", lambda i: i.archived_at, True),
            "dueDate": ("value", lambda i: i.due_date, False),
            "team": ("relation", lambda i: sim.teams[i.team_id], "TeamFilter"),
            "state": ("relation", lambda i: sim.states[i.state_id], "WorkflowStateFilter"),
            "assignee": user(lambda i: sim.users.get(i.assignee_id or "")),
            "creator": user(lambda i: sim.users.get(i.creator_id)),
            "labels": (
                "collection",
                lambda i: [sim.labels[x] for x in i.label_ids],
                "IssueLabelFilter",
            ),
            "parent": (
                "relation",
                lambda i: sim.issues.get(i.parent_id or ""),
                "NullableIssueFilter",
            ),
        },
        "NullableIssueFilter": {},  # filled below (same fields as IssueFilter)
        "AttachmentFilter": {
            "id": ("value", lambda a: a.id, False),
            "title": ("value", lambda a: a.title, False),
            "url": ("value", lambda a: a.url, False),
            "createdAt": ("value", lambda a: a.created_at, True),
            "updatedAt": ("value", lambda a: a.created_at, True),
            "creator": user(lambda a: sim.users.get(a.creator_id)),
        },
        "TeamFilter": {
            "id": ("value", lambda t: t.id, False),
            "key": ("value", lambda t: t.key, False),
            "name": ("value", lambda t: t.name, False),
        },
        "WorkflowStateFilter": {
            "id": ("value", lambda s: s.id, False),
            "name": ("value", lambda s: s.name, False),
            "type": ("value", lambda s: s.type, False),
            "position": ("value", lambda s: s.position, False),
            "team": ("relation", lambda s: sim.teams[s.team_id], "TeamFilter"),
        },
        "IssueLabelFilter": {
            "id": ("value", lambda lb: lb.id, False),
            "name": ("value", lambda lb: lb.name, False),
        },
        "UserFilter": user_fields,
        "NullableUserFilter": user_fields,
        "CommentFilter": {
            "id": ("value", lambda c: c.id, False),
            "body": ("value", lambda c: c.body, False),
            "createdAt": ("value", lambda c: c.created_at, True),
            "updatedAt": ("value", lambda c: c.updated_at, True),
            "issue": ("relation", lambda c: sim.issues.get(c.issue_id), "NullableIssueFilter"),
            "user": ("relation", lambda c: sim.users.get(c.user_id), "UserFilter"),
        },
    }


class _Root:
    """Root value: each Query/Mutation field is a method (graphql-core's default resolver calls
    callables with ``info`` and the field's arguments)."""

    def __init__(self, sim: LinearSim, user_id: str) -> None:
        self.sim, self.user_id = sim, user_id
        schema = _filter_schema(sim)
        schema["NullableIssueFilter"] = schema["IssueFilter"]
        self.filters = FilterEngine(schema, sim.clock.now)

    # nodes
    def user_node(self, user: LnUser | None) -> dict[str, Any] | None:
        if user is None:
            return None
        return {
            "id": user.id,
            "name": user.name,
            "displayName": user.name,
            "email": user.email,
            "active": user.active,
            "admin": user.admin,
            "guest": False,
            "app": False,
            "isMe": user.id == self.user_id,
            "createdAt": iso_ms(user.created_at),
            "updatedAt": iso_ms(user.created_at),
            "url": f"https://linear.app/{self.sim.url_key}/profiles/{user.name.split()[0].lower()}",
            "avatarUrl": None,
            "initials": "".join(p[0] for p in user.name.split())[:2],
            "timezone": "Etc/UTC",
            "lastSeen": None,
        }

    def team_node(self, team: LnTeam) -> dict[str, Any]:
        return {
            "id": team.id,
            "key": team.key,
            "name": team.name,
            "displayName": team.name,
            "description": None,
            "private": False,
            "createdAt": iso_ms(team.created_at),
            "updatedAt": iso_ms(team.created_at),
            "timezone": "Etc/UTC",
            "states": lambda info, **args: self.connection(
                [s for s in self.sim.states.values() if s.team_id == team.id],
                args,
                "WorkflowStateFilter",
                self.state_node,
            ),
        }

    def state_node(self, state: LnState) -> dict[str, Any]:
        return {
            "id": state.id,
            "name": state.name,
            "type": state.type,
            "color": state.color,
            "position": state.position,
            "description": None,
            "createdAt": iso_ms(state.created_at),
            "updatedAt": iso_ms(state.created_at),
            "team": lambda info: self.team_node(self.sim.teams[state.team_id]),
        }

    def label_node(self, label: LnLabel) -> dict[str, Any]:
        return {
            "id": label.id,
            "name": label.name,
            "color": label.color,
            "description": None,
            "isGroup": False,
            "createdAt": iso_ms(label.created_at),
            "updatedAt": iso_ms(label.created_at),
        }

    def issue_node(self, issue: LnIssue) -> dict[str, Any]:
        sim = self.sim
        ident = sim.identifier(issue)
        return {
            "id": issue.id,
            "identifier": ident,
            "number": float(issue.number),
            "title": issue.title,
            "description": issue.description,
            "priority": float(issue.priority),
            "priorityLabel": PRIORITY_LABELS[issue.priority],
            "url": sim.issue_url(issue),
            "branchName": f"{ident.lower()}-{slug(issue.title)}",
            "createdAt": iso_ms(issue.created_at),
            "updatedAt": iso_ms(issue.updated_at),
            "archivedAt": iso_ms(issue.archived_at),
            "trashed": issue.trashed,
            "dueDate": issue.due_date,
            "estimate": None,
            "labelIds": list(issue.label_ids),
            "previousIdentifiers": [],
            "boardOrder": 0.0,
            "sortOrder": float(-issue.number),
            "prioritySortOrder": float(issue.priority),
            "customerTicketCount": 0,
            "state": lambda info: self.state_node(sim.states[issue.state_id]),
            "team": lambda info: self.team_node(sim.teams[issue.team_id]),
            "assignee": lambda info: self.user_node(sim.users.get(issue.assignee_id or "")),
            "creator": lambda info: self.user_node(sim.users.get(issue.creator_id)),
            "parent": lambda info: (
                self.issue_node(sim.issues[issue.parent_id]) if issue.parent_id else None
            ),
            "labels": lambda info, **args: self.connection(
                [sim.labels[x] for x in issue.label_ids], args, "IssueLabelFilter", self.label_node
            ),
            "comments": lambda info, **args: self.connection(
                [c for c in sim.comments.values() if c.issue_id == issue.id],
                args,
                "CommentFilter",
                self.comment_node,
            ),
            "attachments": lambda info, **args: self.connection(
                [a for a in sim.attachments.values() if a.issue_id == issue.id],
                args,
                "AttachmentFilter",
                self.attachment_node,
            ),
        }

    def attachment_node(self, attachment: LnAttachment) -> dict[str, Any]:
        return {
            "id": attachment.id,
            "title": attachment.title,
            "subtitle": attachment.subtitle,
            "url": attachment.url,
            "createdAt": iso_ms(attachment.created_at),
            "updatedAt": iso_ms(attachment.created_at),
            "archivedAt": None,
            "groupBySource": False,
            "metadata": {},
            "source": None,
            "sourceType": "unknown",  # what Linear answers when no integration made it
            "bodyData": None,
            "creator": lambda info: self.user_node(self.sim.users.get(attachment.creator_id)),
            "issue": lambda info: self.issue_node(self.sim.issues[attachment.issue_id]),
        }

    def comment_node(self, comment: LnComment) -> dict[str, Any]:
        issue = self.sim.issues[comment.issue_id]
        return {
            "id": comment.id,
            "body": comment.body,
            "createdAt": iso_ms(comment.created_at),
            "updatedAt": iso_ms(comment.updated_at),
            "editedAt": None,
            "issueId": issue.id,
            "url": f"{self.sim.issue_url(issue)}#comment-{comment.id[:8]}",
            "user": lambda info: self.user_node(self.sim.users.get(comment.user_id)),
            "issue": lambda info: self.issue_node(issue),
            "parent": None,
        }

    def webhook_node(self, hook: LnWebhook) -> dict[str, Any]:
        return {
            "id": hook.id,
            "url": hook.url,
            "label": hook.label,
            "enabled": hook.enabled,
            "secret": hook.secret,
            "resourceTypes": hook.resource_types,
            "allPublicTeams": hook.all_public_teams,
            "createdAt": iso_ms(hook.created_at),
            "updatedAt": iso_ms(hook.created_at),
            "team": lambda info: (
                self.team_node(self.sim.teams[hook.team_id]) if hook.team_id else None
            ),
        }

    # connections
    def connection(
        self,
        items: list[Any],
        args: dict[str, Any],
        kind: str,
        node: Callable[[Any], dict[str, Any]],
    ) -> dict[str, Any]:
        try:
            chosen = [i for i in items if self.filters.matches(kind, i, args.get("filter"))]
        except FilterError as exc:
            raise LinearError(str(exc)) from exc
        if not args.get("includeArchived"):
            chosen = [i for i in chosen if getattr(i, "archived_at", None) is None]
        order = "updated_at" if args.get("orderBy") == "updatedAt" else "created_at"
        chosen.sort(key=lambda i: (getattr(i, order, None) or i.created_at, i.id), reverse=True)
        page, has_next, has_prev = _slice(chosen, args)
        return {
            "nodes": lambda info: [node(i) for i in page],
            "edges": lambda info: [{"node": node(i), "cursor": i.id} for i in page],
            "pageInfo": {
                "hasNextPage": has_next,
                "hasPreviousPage": has_prev,
                "startCursor": page[0].id if page else None,
                "endCursor": page[-1].id if page else None,
            },
        }

    # queries
    def viewer(self, info: Any) -> dict[str, Any] | None:
        return self.user_node(self.sim.users[self.user_id])

    def issues(self, info: Any, **args: Any) -> dict[str, Any]:
        return self.connection(list(self.sim.issues.values()), args, "IssueFilter", self.issue_node)

    def issue(self, info: Any, id: str) -> dict[str, Any]:
        return self.issue_node(self._find_issue(id))

    def teams(self, info: Any, **args: Any) -> dict[str, Any]:
        return self.connection(list(self.sim.teams.values()), args, "TeamFilter", self.team_node)

    def team(self, info: Any, id: str) -> dict[str, Any]:
        try:
            return self.team_node(self.sim.team(id))
        except KeyError:
            raise LinearError(
                "Entity not found: Team", presentable="Could not find referenced Team."
            ) from None

    def users(self, info: Any, **args: Any) -> dict[str, Any]:
        return self.connection(list(self.sim.users.values()), args, "UserFilter", self.user_node)  # type: ignore[arg-type]

    def user(self, info: Any, id: str) -> dict[str, Any] | None:
        if id not in self.sim.users:
            raise LinearError(
                "Entity not found: User", presentable="Could not find referenced User."
            )
        return self.user_node(self.sim.users[id])

    def comments(self, info: Any, **args: Any) -> dict[str, Any]:
        return self.connection(
            list(self.sim.comments.values()), args, "CommentFilter", self.comment_node
        )

    def workflowStates(self, info: Any, **args: Any) -> dict[str, Any]:
        return self.connection(
            list(self.sim.states.values()), args, "WorkflowStateFilter", self.state_node
        )

    def issueLabels(self, info: Any, **args: Any) -> dict[str, Any]:
        return self.connection(
            list(self.sim.labels.values()), args, "IssueLabelFilter", self.label_node
        )

    def webhooks(self, info: Any, **args: Any) -> dict[str, Any]:
        return self.connection(
            list(self.sim.webhooks.values()), args, "WebhookFilter", self.webhook_node
        )

    # mutations
    def _record(self, name: str, args: dict[str, Any]) -> None:
        self.sim.mutations.append(MutationCall(name, args))

    def _payload(self, **values: Any) -> dict[str, Any]:
        return {"success": True, "lastSyncId": float(next(self.sim._sync_ids)), **values}

    def issueCreate(self, info: Any, input: dict[str, Any]) -> dict[str, Any]:
        self._record("issueCreate", {"input": input})
        sim = self.sim
        try:
            team = sim.team(input["teamId"])
        except KeyError:
            raise LinearError(
                "Entity not found: Team", presentable="Could not find referenced Team."
            ) from None
        issue = sim._new_issue(team, input.get("title") or "", sim.clock.tick())
        try:
            self._apply(issue, {k: v for k, v in input.items() if k != "teamId"})
        except LinearError:
            del sim.issues[issue.id]
            team.next_number -= 1
            raise
        issue.updated_from = {}
        return self._payload(issue=self.issue_node(issue))

    def issueUpdate(self, info: Any, id: str, input: dict[str, Any]) -> dict[str, Any]:
        self._record("issueUpdate", {"id": id, "input": input})
        issue = self._find_issue(id)
        self._apply(issue, input)
        return self._payload(issue=self.issue_node(issue))

    def issueDelete(self, info: Any, id: str, **args: Any) -> dict[str, Any]:
        self._record("issueDelete", {"id": id, **args})
        issue = self.sim.delete_issue(self._find_issue(id).id)
        return self._payload(entity=self.issue_node(issue))

    def commentCreate(self, info: Any, input: dict[str, Any]) -> dict[str, Any]:
        self._record("commentCreate", {"input": input})
        if not input.get("issueId"):
            raise LinearError("Argument Validation Error: issueId is required")
        if not input.get("body"):
            raise LinearError("Argument Validation Error: body should not be empty")
        issue = self._find_issue(input["issueId"])
        comment = self.sim.add_comment(issue.id, input["body"])
        comment.user_id = self.user_id
        return self._payload(comment=self.comment_node(comment))

    def webhookCreate(self, info: Any, input: dict[str, Any]) -> dict[str, Any]:
        self._record("webhookCreate", {"input": input})
        if not input.get("teamId") and not input.get("allPublicTeams"):
            raise LinearError("Argument Validation Error: teamId or allPublicTeams is required")
        team_id = self.sim.team(input["teamId"]).id if input.get("teamId") else None
        hook = LnWebhook(
            input.get("id") or self.sim.new_id(),
            input["url"],
            list(input["resourceTypes"]),
            self.sim.clock.now,
            input.get("secret"),
            team_id,
            bool(input.get("allPublicTeams")),
            input.get("label"),
            input.get("enabled", True) is not False,
        )
        self.sim.webhooks[hook.id] = hook
        return self._payload(webhook=self.webhook_node(hook))

    def webhookDelete(self, info: Any, id: str) -> dict[str, Any]:
        self._record("webhookDelete", {"id": id})
        if self.sim.webhooks.pop(id, None) is None:
            raise LinearError(
                "Entity not found: Webhook", presentable="Could not find referenced Webhook."
            )
        return self._payload(entityId=id)

    def _find_issue(self, ref: str) -> LnIssue:
        try:
            return self.sim.issue(ref)
        except KeyError:
            raise LinearError(
                "Entity not found: Issue", presentable="Could not find referenced Issue."
            ) from None

    def _apply(self, issue: LnIssue, input: dict[str, Any]) -> None:
        sim = self.sim
        update: dict[str, Any] = {}
        for name, value in input.items():
            if name in ("title", "description", "dueDate", "trashed"):
                update[name] = value
            elif name == "priority":
                if value not in PRIORITY_LABELS:
                    raise LinearError("Argument Validation Error: priority must be 0-4")
                update[name] = value
            elif name == "stateId":
                state = sim.states.get(value)
                if state is None or state.team_id != issue.team_id:
                    raise LinearError(
                        "Entity not found: WorkflowState",
                        presentable="Could not find referenced WorkflowState.",
                    )
                update[name] = value
            elif name == "assigneeId":
                if value is not None and value not in sim.users:
                    raise LinearError(
                        "Entity not found: User", presentable="Could not find referenced User."
                    )
                update[name] = value
            elif name in ("labelIds", "addedLabelIds", "removedLabelIds"):
                update["labelIds"] = self._labels(issue, name, value, update)
            elif name == "parentId":
                update[name] = self._find_issue(value).id if value else None
            else:
                raise LinearError(f"simulator: IssueInput field '{name}' is not implemented")
        sim._update_issue(issue, update)

    def _labels(
        self, issue: LnIssue, name: str, value: list[str], update: dict[str, Any]
    ) -> list[str]:
        unknown = [x for x in value or [] if x not in self.sim.labels]
        if unknown:
            raise LinearError(
                "Entity not found: IssueLabel", presentable="Could not find referenced IssueLabel."
            )
        current = list(update.get("labelIds", issue.label_ids))
        if name == "labelIds":
            return list(dict.fromkeys(value or []))
        if name == "addedLabelIds":
            return list(dict.fromkeys([*current, *value]))
        return [x for x in current if x not in value]


def _slice(items: list[Any], args: dict[str, Any]) -> tuple[list[Any], bool, bool]:
    first, last = args.get("first"), args.get("last")
    for size in (first, last):
        if size is not None and not 0 <= size <= MAX_PAGE:
            raise LinearError(
                f"Argument Validation Error: first/last must be between 0 and {MAX_PAGE}"
            )
    start, end = 0, len(items)
    for cursor, before in ((args.get("after"), False), (args.get("before"), True)):
        if cursor is None:
            continue
        index = next((k for k, i in enumerate(items) if i.id == cursor), None)
        if index is None:
            raise LinearError("Argument Validation Error: cursor not found")
        if before:
            end = min(end, index)
        else:
            start = max(start, index + 1)
    window = items[start:end]
    if last is not None and first is None:
        page = window[max(0, len(window) - last) :]
        return page, end < len(items), len(window) > len(page) or start > 0
    size = 50 if first is None else first
    page = window[:size]
    return page, len(window) > size, start > 0


def _js_numbers(value: Any) -> Any:
    """Floats that are whole numbers print as integers, as Linear's (JavaScript) server does."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _js_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_js_numbers(v) for v in value]
    return value


def _request_error(message: str) -> web.Response:
    return json_response(
        {
            "errors": [
                {
                    "message": message,
                    "extensions": {
                        "type": "graphql error",
                        "code": "BAD_REQUEST",
                        "statusCode": 400,
                        "userError": True,
                    },
                }
            ]
        },
        400,
    )


def _format(error: graphql.GraphQLError, code: str) -> dict[str, Any]:
    formatted = dict(error.formatted)
    if not formatted.get("extensions"):
        formatted["extensions"] = {
            "type": "graphql error",
            "code": code,
            "statusCode": 400,
            "userError": True,
            "userPresentableMessage": error.message,
        }
    return formatted


def _issue_webhook_data(sim: LinearSim, issue: LnIssue) -> dict[str, Any]:
    team, state = sim.teams[issue.team_id], sim.states[issue.state_id]
    assignee = sim.users.get(issue.assignee_id or "")
    data: dict[str, Any] = {
        "id": issue.id,
        "createdAt": iso_ms(issue.created_at),
        "updatedAt": iso_ms(issue.updated_at),
        "number": issue.number,
        "title": issue.title,
        "priority": issue.priority,
        "boardOrder": 0,
        "sortOrder": -issue.number,
        "prioritySortOrder": issue.priority,
        "teamId": team.id,
        "previousIdentifiers": [],
        "creatorId": issue.creator_id,
        "assigneeId": issue.assignee_id,
        "stateId": state.id,
        "priorityLabel": PRIORITY_LABELS[issue.priority],
        "subscriberIds": [issue.creator_id],
        "labelIds": list(issue.label_ids),
        "description": issue.description,
        "dueDate": issue.due_date,
        "reactionData": [],
        "assignee": (
            {
                "id": assignee.id,
                "name": assignee.name,
                "email": assignee.email,
                "url": f"https://linear.app/{sim.url_key}/profiles/{assignee.id}",
            }
            if assignee
            else None
        ),
        "state": {"id": state.id, "color": state.color, "name": state.name, "type": state.type},
        "team": {"id": team.id, "key": team.key, "name": team.name},
        "labels": [
            {"id": lb.id, "color": lb.color, "name": lb.name}
            for lb in (sim.labels[x] for x in issue.label_ids)
        ],
        "identifier": sim.identifier(issue),
        "url": sim.issue_url(issue),
    }
    if issue.archived_at is not None:
        data["archivedAt"] = iso_ms(issue.archived_at)
        data["trashed"] = issue.trashed
    return {k: v for k, v in data.items() if v is not None}


def _comment_webhook_data(sim: LinearSim, comment: LnComment) -> dict[str, Any]:
    issue, user = sim.issues[comment.issue_id], sim.users[comment.user_id]
    return {
        "id": comment.id,
        "createdAt": iso_ms(comment.created_at),
        "updatedAt": iso_ms(comment.updated_at),
        "body": comment.body,
        "issueId": issue.id,
        "userId": user.id,
        "reactionData": [],
        "issue": {"id": issue.id, "title": issue.title, "identifier": sim.identifier(issue)},
        "user": {"id": user.id, "name": user.name, "email": user.email},
    }


__all__ = ["LinearError", "LinearSim", "MutationCall", "linear_schema", "prepare"]
