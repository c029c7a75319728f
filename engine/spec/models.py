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

from pydantic import Field, model_validator

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
    "error": frozenset({"status", "headers", "body", "response"}),
}

Template = str  # a Jinja2 template string, compiled and checked by the loader
JSONPath = str  # a JSONPath expression ("$.a.b[*]" or the plain dotted form "a.b")
Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]


class CredentialField(StrictModel):
    """One field of a connect form."""

    name: str
    title: str | None = None
    description: str = ""
    secret: bool = False
    required: bool = True
    default: str | None = None


class AuthMode(StrictModel):
    """One way to authenticate (API token, OAuth...): the form fields and how they are sent.

    A credentials object picks its mode by ``authType``; without it, the first mode whose
    required fields are all present is used.
    """

    title: str
    fields: list[CredentialField] = Field(default_factory=list)
    auth: AuthConfig


class GraphQLSpec(StrictModel):
    query: str
    variables: dict[str, Any] = Field(default_factory=dict)  # values are templates


class RequestSpec(StrictModel):
    """An HTTP request. ``path`` is joined to the base URL; ``url`` replaces it whole.

    Query parameters whose template renders to None or "" are left out, which is how an
    optional cursor or filter enters a request only when it has a value.
    """

    method: Method = "GET"
    path: Template = ""
    url: Template | None = None
    query: dict[str, Any] = Field(default_factory=dict)
    headers: dict[str, Template] = Field(default_factory=dict)
    body: Any = None  # JSON body; string leaves are templates
    form: dict[str, Any] | None = None  # application/x-www-form-urlencoded body
    graphql: GraphQLSpec | None = None

    @model_validator(mode="after")
    def _one_body(self) -> RequestSpec:
        given = [n for n in ("body", "form", "graphql") if getattr(self, n) is not None]
        if len(given) > 1:
            raise ValueError(f"give at most one of body, form, graphql (got {', '.join(given)})")
        return self


class ErrorRule(StrictModel):
    """Errors as data: when a response matches, what to do.

    ``status`` matches codes ("429", "5xx", "4xx" or a list); ``when`` is a template
    condition over status/headers/body/response (``response`` is the parsed JSON). A 200
    can match too, which is how GraphQL errors inside a success (RATELIMITED) are caught.
    """

    status: list[str] = Field(default_factory=list)
    when: Template | None = None
    action: Literal["retry", "fail_config", "fail_transient", "ignore", "fail"] = "fail"
    message: Template | None = None  # the provider's own reason, e.g. "{{ response.message }}"
    retry_after: Template | None = None  # seconds to wait, e.g. from a reset header

    @model_validator(mode="before")
    @classmethod
    def _status_list(cls, data: Any) -> Any:
        if isinstance(data, dict) and not isinstance(data.get("status", []), list):
            data = {**data, "status": [data["status"]]}
        if isinstance(data, dict):
            data = {**data, "status": [str(s) for s in data.get("status", [])]}
        return data


class RateLimitSpec(StrictModel):
    retry_after_header: str | None = "Retry-After"
    remaining_header: str | None = None
    reset_header: str | None = None
    reset_format: Literal["epoch_seconds", "epoch_ms", "delta_seconds", "http_date"] = (
        "epoch_seconds"
    )
    max_concurrency: int = Field(default=4, ge=1, le=100)
    requests_per_second: float | None = Field(default=None, gt=0)
    max_retries: int = Field(default=5, ge=0, le=20)
    backoff_base_seconds: float = Field(default=0.5, ge=0)
    backoff_max_seconds: float = Field(default=60.0, ge=0)
    max_wait_seconds: float = Field(default=900.0, ge=0)  # longer waits fail transient


class CursorSpec(StrictModel):
    """Incremental reads: which record field advances the cursor, and how it is rendered.

    The cursor enters the request through templates that use the ``cursor`` name, e.g.
    ``query: {since: "{{ cursor }}"}``. ``format`` is a strftime pattern applied to the
    cursor before it is offered to templates (JQL wants "%Y-%m-%d %H:%M").
    """

    field: JSONPath
    format: str | None = None
    overlap_seconds: int = Field(default=0, ge=0)
    sorted: bool = False  # the provider returns records ascending by this field


class PartitionSpec(StrictModel):
    """Run the stream once per partition value (a repo, a Jira project key...).

    Either ``values`` (a template expression yielding a list, e.g.
    ``"{{ config.filters.projects }}"``) or ``stream`` (another stream whose records give
    the values through ``value``). ``values`` that render empty fall back to ``stream``.
    """

    values: Template | None = None
    stream: str | None = None
    value: Template | None = None  # per record of `stream`, e.g. "{{ record.full_name }}"

    @model_validator(mode="after")
    def _source(self) -> PartitionSpec:
        if not self.values and not self.stream:
            raise ValueError("a partition needs `values` or `stream`")
        if self.stream and not self.value:
            raise ValueError("a partition read from `stream` needs `value`")
        return self


class ParentSpec(StrictModel):
    """One child request per record of the parent stream (``parent`` in templates)."""

    stream: str
    when: Template | None = None  # only parents for which this condition holds


def _no_pagination() -> StrategyConfig:
    """A stream without ``pagination`` reads one page: the registry's ``none`` paginator."""
    return current_registry().parse("pagination", {"type": "none"})


class StreamSpec(StrictModel):
    title: str | None = None
    request: RequestSpec
    records_path: JSONPath = "$"
    record_filter: Template | None = None  # condition: keep the record when truthy
    primary_key: JSONPath = "id"
    updated_path: JSONPath | None = None  # remote updated time of a record, for merges
    cursor: CursorSpec | None = None
    partitions: PartitionSpec | None = None
    parent: ParentSpec | None = None
    pagination: PaginationConfig = Field(default_factory=lambda: _no_pagination())
    page_size: int = Field(default=100, ge=1, le=10000)
    max_pages: int | None = Field(default=None, ge=1)
    concurrency: int = Field(default=1, ge=1, le=32)
    pushed_filters: list[Literal["projects", "labels", "assignees", "statuses", "dateRange"]] = (
        Field(default_factory=list)
    )

    @model_validator(mode="before")
    @classmethod
    def _default_pagination(cls, data: Any) -> Any:
        # Filled in before validation so the registry in the validation context checks it.
        if isinstance(data, dict) and "pagination" not in data:
            data = {**data, "pagination": {"type": "none"}}
        return data


class ConnectionTestSpec(StrictModel):
    request: RequestSpec
    identity_path: JSONPath  # what identifies the account, e.g. "$.login"
    success_when: Template | None = None  # extra condition on `response`, e.g. Slack's ok


class WriteStep(StrictModel):
    """One request of a write. Later steps see earlier results as ``steps.<name>``."""

    name: str
    request: RequestSpec
    when: Template | None = None
    extract: dict[str, Template] = Field(default_factory=dict)  # over `response`
    # extracted names that must be set; a mapping gives each its failure message, a
    # template over the write's names: {transition_id: "no transition to {{ item.status }}"}
    require: list[str] | dict[str, Template | None] = Field(default_factory=list)


class WriteSpec(StrictModel):
    """How an entity operation is sent: one or more steps, and what the result says."""

    steps: list[WriteStep]
    id: Template | None = None  # external id of the written item, over steps.*
    key: Template | None = None
    url: Template | None = None
    updated_at: Template | None = None


class WebhookEventSpec(StrictModel):
    """Which deliveries carry which records.

    ``match`` is a condition over payload/headers/event/event_type (``event`` is one item of
    ``webhooks.batch``, or the whole payload); the first match wins. ``upsert``, ``delete``
    and ``refetch`` need ``stream`` and ``records``; ``ack`` and ``ignore`` apply nothing.
    """

    name: str
    match: Template
    stream: str | None = None  # the stream whose mapping applies to the records
    records: Template | None = None  # expression yielding the record(s) carried
    action: Literal["upsert", "delete", "refetch", "ack", "ignore"] = "upsert"

    @model_validator(mode="after")
    def _applies_something(self) -> WebhookEventSpec:
        if self.action in ("upsert", "delete", "refetch"):
            missing = [n for n in ("stream", "records") if getattr(self, n) is None]
            if missing:
                raise ValueError(f"action {self.action!r} needs {' and '.join(missing)}")
        return self


class WebhookRegistration(StrictModel):
    create: WriteSpec
    delete: WriteSpec | None = None
    events_param: str | None = None


class WebhookSpec(StrictModel):
    secret_field: str | None = None  # the credential field holding the signing secret
    secret_from_handshake: bool = False  # the secret arrives in the handshake (Asana)
    signature: SignatureConfig
    handshakes: list[HandshakeConfig] = Field(default_factory=list)
    replay_timestamp: Template | None = None  # epoch s or ms (or ISO), from headers/payload
    replay_tolerance_seconds: int | None = Field(default=None, ge=1)
    delivery_id: Template | None = None
    event_type: Template | None = None
    batch: Template | None = None  # the notifications of one delivery, each routed as `event`
    events: list[WebhookEventSpec] = Field(default_factory=list)
    # YAML key `register` (the attribute is renamed: BaseModel already has `register`)
    registration: WebhookRegistration | None = Field(default=None, alias="register")
    default_events: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _replay_pair(self) -> WebhookSpec:
        if (self.replay_timestamp is None) != (self.replay_tolerance_seconds is None):
            raise ValueError("replay_timestamp and replay_tolerance_seconds go together")
        return self


class ProviderSpec(StrictModel):
    name: str = Field(pattern=r"^[a-z][a-z0-9_-]*$")
    title: str
    docs_url: str | None = None
    category: Literal["work_tracking", "messaging"]
    description: str = ""
    base_url: Template
    headers: dict[str, Template] = Field(default_factory=dict)
    auth_modes: dict[str, AuthMode]
    rate_limit: RateLimitSpec = Field(default_factory=RateLimitSpec)
    errors: list[ErrorRule] = Field(default_factory=list)
    test_connection: ConnectionTestSpec
    streams: dict[str, StreamSpec]
    writes: dict[str, dict[str, WriteSpec]] = Field(default_factory=dict)
    webhooks: WebhookSpec | None = None
    config_schema: dict[str, Any] = Field(default_factory=dict)  # extra provider config keys
