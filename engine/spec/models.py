"""The provider spec language: what a providers/<name>.yaml file may say.

Everything here is a pydantic model with ``extra="forbid"``. Strategy blocks (auth,
pagination, webhook signature and handshakes) are validated through the registry in use
(``engine.registry.strategy_config``): their models live beside their classes.

String values marked *template* are Jinja2 (see engine.templating): ``"{{ cursor }}"`` yields
the typed value, ``"/repos/{{ partition }}/issues"`` a string. The names a template may use
depend on where it stands; ``PLACES`` lists them and the loader checks them at load time.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic.config import JsonDict

from engine.registry import (
    AuthConfig,
    HandshakeConfig,
    PaginationConfig,
    SignatureConfig,
    StrategyConfig,
    StrictModel,
    current_registry,
)

# Names each template place may use (checked when the YAML loads).
_REQUEST = {"credentials", "config", "partition", "parent", "cursor", "page", "window", "now"}
PLACES: dict[str, frozenset[str]] = {
    "provider": frozenset({"credentials", "config"}),
    "auth": frozenset({"credentials", "config", "token"}),
    "stream.request": frozenset(_REQUEST),
    "stream.partitions": frozenset({"credentials", "config", "record", "now"}),
    "stream.filter": frozenset({"record", "config", "partition", "parent", "window"}),
    "test_connection": frozenset({"credentials", "config"}),
    "test_connection.success": frozenset(
        {"credentials", "config", "now", "response", "status", "headers"}
    ),
    "write": frozenset({"credentials", "config", "item", "link", "steps", "now"}),
    "write.extract": frozenset({"credentials", "config", "item", "link", "steps", "response"}),
    "webhook": frozenset(
        {"headers", "body", "payload", "query", "url", "credentials", "config", "now"}
    ),
    "webhook.event": frozenset({"headers", "payload", "event", "event_type", "config"}),
    "error": frozenset({"status", "headers", "body", "response", "stream"}),
}

Template = str  # a Jinja2 template string, compiled and checked by the loader
JSONPath = str  # a JSONPath expression ("$.a.b[*]" or the plain dotted form "a.b")
Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]


class CredentialField(StrictModel):
    """One field of a connect form."""

    name: str = Field(
        description="The credential's key, e.g. accessToken (templates read credentials.<name>)."
    )
    title: str | None = Field(default=None, description="Label on a connect form.")
    description: str = Field(
        default="", description="Help text on a connect form: where to find the value."
    )
    secret: bool = Field(
        default=False,
        description="Masked everywhere (logs, errors, responses) and stored encrypted.",
    )
    required: bool = Field(
        default=True, description="A credentials object for this mode must carry it."
    )
    default: str | None = Field(default=None, description="Value used when the field is not given.")


class AuthMode(StrictModel):
    """One way to authenticate (API token, OAuth...): the form fields and how they are sent.

    A credentials object picks its mode by ``authType``; without it, the first mode whose
    required fields are all present is used.
    """

    title: str = Field(description="The mode's name on a connect form.")
    fields: list[CredentialField] = Field(
        default_factory=list, description="The credential fields of this mode."
    )
    auth: AuthConfig = Field(
        description="How requests are authenticated, chosen by `type`; strings are templates."
    )


class GraphQLSpec(StrictModel):
    query: str = Field(description="The GraphQL document.")
    variables: dict[str, Any] = Field(
        default_factory=dict, description="Variables; string values are templates."
    )


class RequestSpec(StrictModel):
    """An HTTP request. ``path`` is joined to the base URL; ``url`` replaces it whole.

    Query parameters whose template renders to None or "" are left out, which is how an
    optional cursor or filter enters a request only when it has a value.
    """

    method: Method = Field(default="GET", description="HTTP method.")
    path: Template = Field(default="", description="Template joined to the base URL.")
    url: Template | None = Field(
        default=None, description="Template: a whole URL, replacing base URL and path."
    )
    query: dict[str, Any] = Field(
        default_factory=dict,
        description='Query parameters (templates); None or "" leaves one out, a list repeats it.',
    )
    headers: dict[str, Template] = Field(
        default_factory=dict, description="Extra headers (templates)."
    )
    body: Any = Field(default=None, description="JSON body; string leaves are templates.")
    form: dict[str, Any] | None = Field(
        default=None, description="An application/x-www-form-urlencoded body; values are templates."
    )
    graphql: GraphQLSpec | None = Field(
        default=None, description="A GraphQL request (query and variables)."
    )

    @model_validator(mode="after")
    def _one_body(self) -> RequestSpec:
        given = [n for n in ("body", "form", "graphql") if getattr(self, n) is not None]
        if len(given) > 1:
            raise ValueError(f"give at most one of body, form, graphql (got {', '.join(given)})")
        return self


def _status_schema(schema: JsonDict) -> None:
    """What YAML may say (a code or a list, numbers or text), not the normalised list."""
    code: JsonDict = {"type": ["integer", "string"]}
    description = schema.get("description")
    schema.clear()
    schema["anyOf"] = [code, {"type": "array", "items": code}]
    if description is not None:
        schema["description"] = description


class ErrorRule(StrictModel):
    """Errors as data: when a response matches, what to do.

    ``status`` matches codes ("429", "5xx", "4xx" or a list); ``when`` is a template
    condition over status/headers/body/response (``response`` is the parsed JSON). A 200
    can match too, which is how GraphQL errors inside a success (RATELIMITED) are caught.
    """

    status: list[str] = Field(
        default_factory=list,
        description='Codes matched: 429, "5xx", "4xx" or a list; none: any status.',
        json_schema_extra=_status_schema,
    )
    when: Template | None = Field(
        default=None,
        description="Condition over status, headers, body, response, stream (place error).",
    )
    action: Literal["retry", "fail_config", "fail_transient", "ignore", "fail"] = Field(
        default="fail", description="What a match means."
    )
    message: Template | None = Field(
        default=None, description='The provider\'s own reason, e.g. "{{ response.message }}".'
    )
    retry_after: Template | None = Field(
        default=None, description="Template: seconds to wait before a retry."
    )

    @model_validator(mode="before")
    @classmethod
    def _status_list(cls, data: Any) -> Any:
        if isinstance(data, dict) and not isinstance(data.get("status", []), list):
            data = {**data, "status": [data["status"]]}
        if isinstance(data, dict):
            data = {**data, "status": [str(s) for s in data.get("status", [])]}
        return data


class RateLimitSpec(StrictModel):
    retry_after_header: str | None = Field(
        default="Retry-After",
        description="Header with seconds (or an HTTP date) to wait after a 429.",
    )
    remaining_header: str | None = Field(
        default=None,
        description="Header with the requests left; at 0 the next request waits for the reset.",
    )
    reset_header: str | None = Field(
        default=None, description="Header saying when the budget resets."
    )
    reset_format: Literal["epoch_seconds", "epoch_ms", "delta_seconds", "http_date"] = Field(
        default="epoch_seconds", description="How reset_header is written."
    )
    max_concurrency: int = Field(
        default=4, ge=1, le=100, description="Requests in flight at once per connection."
    )
    requests_per_second: float | None = Field(
        default=None, gt=0, description="A token-bucket budget (bursts up to one second's worth)."
    )
    max_retries: int = Field(default=5, ge=0, le=20, description="Retries of one request.")
    backoff_base_seconds: float = Field(
        default=0.5, ge=0, description="First backoff; doubles with full jitter."
    )
    backoff_max_seconds: float = Field(default=60.0, ge=0, description="Backoff cap.")
    max_wait_seconds: float = Field(
        default=900.0, ge=0, description="A longer wait is not slept: the run fails transient."
    )


class CursorSpec(StrictModel):
    """Incremental reads: which record field advances the cursor, and how it is rendered.

    The cursor enters the request through templates that use the ``cursor`` name, e.g.
    ``query: {since: "{{ cursor }}"}``. ``format`` is a strftime pattern applied to the
    cursor before it is offered to templates (JQL wants "%Y-%m-%d %H:%M").
    """

    field: JSONPath = Field(description="JSONPath to the record value that advances the cursor.")
    format: str | None = Field(
        default=None,
        description='strftime pattern (UTC) for the cursor templates see, e.g. "%Y-%m-%d %H:%M".',
    )
    overlap_seconds: int = Field(
        default=0, ge=0, description="Re-read this much before the stored cursor."
    )
    sorted: bool = Field(
        default=False, description="The provider returns records ascending by this field."
    )


class PartitionSpec(StrictModel):
    """Run the stream once per partition value (a repo, a Jira project key...).

    Either ``values`` (a template expression yielding a list, e.g.
    ``"{{ config.filters.projects }}"``) or ``stream`` (another stream whose records give
    the values through ``value``). ``values`` that render empty fall back to ``stream``.
    """

    values: Template | None = Field(
        default=None, description='Template yielding a list, e.g. "{{ config.filters.projects }}".'
    )
    stream: str | None = Field(
        default=None, description="Else: a stream whose records give the values."
    )
    value: Template | None = Field(
        default=None, description='Per record of `stream`, e.g. "{{ record.full_name }}".'
    )

    @model_validator(mode="after")
    def _source(self) -> PartitionSpec:
        if not self.values and not self.stream:
            raise ValueError("a partition needs `values` or `stream`")
        if self.stream and not self.value:
            raise ValueError("a partition read from `stream` needs `value`")
        return self


class ParentSpec(StrictModel):
    """One child request per record of the parent stream (``parent`` in templates)."""

    stream: str = Field(description="The parent stream: one child request per record.")
    when: Template | None = Field(
        default=None,
        description="Only parents for which this condition holds (place stream.filter).",
    )


def _no_pagination() -> StrategyConfig:
    """A stream without ``pagination`` reads one page: the registry's ``none`` paginator."""
    return current_registry().parse("pagination", {"type": "none"})


class StreamSpec(StrictModel):
    title: str | None = Field(default=None, description="Shown to users.")
    request: RequestSpec = Field(
        description="The request for the first page (place stream.request)."
    )
    records_path: JSONPath = Field(
        default="$", description="JSONPath to the records in a response."
    )
    record_filter: Template | None = Field(
        default=None, description="Condition (place stream.filter): keep the record when true."
    )
    primary_key: JSONPath = Field(default="id", description="JSONPath to a record's id.")
    updated_path: JSONPath | None = Field(
        default=None, description="JSONPath to a record's remote updated time, for merges."
    )
    cursor: CursorSpec | None = Field(default=None, description="Incremental reads.")
    partitions: PartitionSpec | None = Field(
        default=None, description="Run the stream once per partition value."
    )
    parent: ParentSpec | None = Field(
        default=None, description="Run the stream once per record of another stream."
    )
    pagination: PaginationConfig = Field(
        default_factory=lambda: _no_pagination(),
        description="How to reach the next page, chosen by `type` (default none).",
    )
    page_size: int = Field(
        default=100,
        ge=1,
        le=10000,
        description="Records per page asked for, offered to templates as page.size.",
    )
    max_pages: int | None = Field(default=None, ge=1, description="Stop after this many pages.")
    concurrency: int = Field(
        default=1, ge=1, le=32, description="Partitions or parents read at once."
    )
    pushed_filters: list[Literal["projects", "labels", "assignees", "statuses", "dateRange"]] = (
        Field(
            default_factory=list,
            description="Filters the request applies itself; the others apply after reading.",
        )
    )

    @model_validator(mode="before")
    @classmethod
    def _default_pagination(cls, data: Any) -> Any:
        # Filled in before validation so the registry in the validation context checks it.
        if isinstance(data, dict) and "pagination" not in data:
            data = {**data, "pagination": {"type": "none"}}
        return data


class ConnectionTestSpec(StrictModel):
    request: RequestSpec = Field(description="The request (place test_connection).")
    identity_path: JSONPath = Field(
        description='JSONPath to what identifies the account, e.g. "$.login".'
    )
    success_when: Template | None = Field(
        default=None,
        description="Condition on the answer, e.g. Slack's ok (place test_connection.success).",
    )


# What the writer itself records under steps.<name>; extract names must not shadow them.
STEP_RESULT_NAMES = frozenset({"response", "skipped", "status"})


class WriteStep(StrictModel):
    """One request of a write. Later steps see earlier results as ``steps.<name>``."""

    name: str = Field(description="How later steps refer to this one: steps.<name>.")
    request: RequestSpec = Field(description="The request (place write).")
    when: Template | None = Field(
        default=None, description="Condition (place write); false skips the step."
    )
    extract: dict[str, Template] = Field(
        default_factory=dict, description="Name -> template over `response` (place write.extract)."
    )
    # extracted names that must be set; a mapping gives each its failure message, a
    # template over the write's names: {transition_id: "no transition to {{ item.status }}"}
    require: list[str] | dict[str, Template | None] = Field(
        default_factory=list,
        description="Extracted names that must be set; a mapping gives each a failure message.",
    )

    @field_validator("extract")
    @classmethod
    def _extract_names_free(cls, extract: dict[str, Template]) -> dict[str, Template]:
        taken = sorted(set(extract) & STEP_RESULT_NAMES)
        if taken:
            raise ValueError(
                f"extract name {', '.join(map(repr, taken))} is reserved: steps.<name> already "
                f"holds {', '.join(sorted(STEP_RESULT_NAMES))}"
            )
        return extract


class WriteSpec(StrictModel):
    """How an entity operation is sent: one or more steps, and what the result says."""

    steps: list[WriteStep] = Field(description="The requests of the write, in order.")
    id: Template | None = Field(
        default=None, description="External id of the written item (place write.extract)."
    )
    key: Template | None = Field(
        default=None, description="External key of the written item, e.g. PROJ-12."
    )
    url: Template | None = Field(default=None, description="Web URL of the written item.")
    updated_at: Template | None = Field(
        default=None, description="Remote updated time of the written item."
    )
    record: Template | None = Field(
        default=None,
        description=(
            "The written item as its stream's records look (e.g. the created comment), so "
            "the link snapshot holds what the provider now holds."
        ),
    )


class WebhookEventSpec(StrictModel):
    """Which deliveries carry which records.

    ``match`` is a condition over payload/headers/event/event_type (``event`` is one item of
    ``webhooks.batch``, or the whole payload); the first match wins. ``upsert``, ``delete``
    and ``refetch`` need ``stream`` and ``records``; ``ack`` and ``ignore`` apply nothing.
    """

    name: str = Field(description="The rule's name.")
    match: Template = Field(
        description="Condition over payload, headers, event, event_type (place webhook.event)."
    )
    stream: str | None = Field(
        default=None, description="The stream whose mapping applies to the records."
    )
    records: Template | None = Field(
        default=None, description="Expression yielding the record(s) carried."
    )
    action: Literal["upsert", "delete", "refetch", "ack", "ignore"] = Field(
        default="upsert", description="What to do with the records."
    )

    @model_validator(mode="after")
    def _applies_something(self) -> WebhookEventSpec:
        if self.action in ("upsert", "delete", "refetch"):
            missing = [n for n in ("stream", "records") if getattr(self, n) is None]
            if missing:
                raise ValueError(f"action {self.action!r} needs {' and '.join(missing)}")
        return self


class WebhookRegistration(StrictModel):
    create: WriteSpec = Field(description="The write that registers the webhook.")
    delete: WriteSpec | None = Field(default=None, description="The write that removes it.")
    events_param: str | None = Field(
        default=None, description="Where the event list goes in the registration request."
    )


class WebhookSpec(StrictModel):
    secret_field: str | None = Field(
        default=None, description="The credential field holding the signing secret."
    )
    secret_from_handshake: bool = Field(
        default=False,
        description="The secret arrives in a handshake and is stored (Asana, Notion).",
    )
    secret_issued_by_provider: bool = Field(
        default=False,
        description="The provider issues the secret (Slack's signing secret): connect never "
        "generates one. Otherwise any string works and connect generates one when none is given.",
    )
    signature: SignatureConfig = Field(
        description="The signature scheme by `type` ({type: none} when the provider signs nothing)."
    )
    handshakes: list[HandshakeConfig] = Field(
        default_factory=list, description="Handshake strategies, tried in order."
    )
    replay_timestamp: Template | None = Field(
        default=None, description="When the delivery was signed: epoch s or ms, or ISO-8601."
    )
    replay_tolerance_seconds: int | None = Field(
        default=None, ge=1, description="How far replay_timestamp may be from now."
    )
    delivery_id: Template | None = Field(
        default=None, description="Template: the delivery's unique id, for de-duplication."
    )
    event_type: Template | None = Field(
        default=None, description="Template: the event type, offered to routing as event_type."
    )
    batch: Template | None = Field(
        default=None,
        description="The notifications of one delivery, each routed as `event` (webhook.event).",
    )
    events: list[WebhookEventSpec] = Field(
        default_factory=list, description="Routing rules; the first match wins."
    )
    # YAML key `register` (the attribute is renamed: BaseModel already has `register`)
    registration: WebhookRegistration | None = Field(
        default=None, alias="register", description="Registration by API (create, delete)."
    )
    default_events: list[str] = Field(
        default_factory=list, description="Events registered or suggested by default."
    )

    @model_validator(mode="after")
    def _replay_pair(self) -> WebhookSpec:
        if (self.replay_timestamp is None) != (self.replay_tolerance_seconds is None):
            raise ValueError("replay_timestamp and replay_tolerance_seconds go together")
        return self


class ProviderSpec(StrictModel):
    name: str = Field(
        pattern=r"^[a-z][a-z0-9_-]*$", description="Lower case; equals the file name."
    )
    title: str = Field(description="Shown to users.")
    docs_url: str | None = Field(
        default=None, description="The API documentation this file follows."
    )
    category: Literal["work_tracking", "messaging"] = Field(
        description="What kind of tool this is."
    )
    description: str = Field(default="", description="One line for a connect screen.")
    base_url: Template = Field(
        description="Template (place provider); credentials.baseUrl replaces it whole."
    )
    headers: dict[str, Template] = Field(
        default_factory=dict, description="Default request headers (templates, place provider)."
    )
    auth_modes: dict[str, AuthMode] = Field(description="Ways to authenticate, by mode name.")
    rate_limit: RateLimitSpec = Field(
        default_factory=RateLimitSpec, description="How fast to go and how to wait."
    )
    errors: list[ErrorRule] = Field(
        default_factory=list, description="Rules that classify responses, tried in order."
    )
    test_connection: ConnectionTestSpec = Field(
        description="The request that proves the credentials work."
    )
    streams: dict[str, StreamSpec] = Field(description="What can be read, by stream name.")
    writes: dict[str, dict[str, WriteSpec]] = Field(
        json_schema_extra={"propertyNames": {"enum": ["work_item", "comment", "project", "user"]}},
        default_factory=dict,
        description="writes.<entity>.<operation>: entities are work_item, comment, project, user.",
    )
    webhooks: WebhookSpec | None = Field(
        default=None, description="How deliveries are verified and routed."
    )
    config_schema: dict[str, Any] = Field(
        default_factory=dict,
        description="Provider settings under config.extra: properties (type, enum), required.",
    )
