"""``Connection``: one provider account, one aiohttp session, every request it sends.

::

    async with Connection(provider, credentials, config) as conn:
        result = await conn.test_connection()            # ConnectionResult(identity, raw)
        async for page in conn.read("issues", cursor=...):
            ...
        written = await conn.write("work_item", "create", item={...})

A request goes: templates rendered into an ``OutgoingRequest`` (``build_request``), then
``send``: the rate limiter's slot, the auth strategy on a fresh copy, aiohttp, the body read
and parsed with orjson, and the verdict of the error rules (engine.errorrules): success,
retry after a wait, or a classified error. A 401 asks the auth strategy to refresh once.
aiohttp's exceptions are translated here and nowhere else: network failures and timeouts are
retried like 5xx answers, then raise TransientError.

``credentials.baseUrl`` replaces the spec's ``base_url``. Secrets (credential fields marked
secret, tokens obtained at run time) never appear in an error: URLs are masked, messages
scrubbed.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson
from yarl import URL

from engine.auth import AuthContext, AuthStrategy, select_auth_mode
from engine.errorrules import ErrorRules, Label, Verdict, provider_reason
from engine.errors import (
    AuthError,
    ConfigError,
    KiroSyncError,
    ProviderError,
    RateLimitedError,
    TemplateError,
    TransientError,
)
from engine.jsonpath import compile_path
from engine.provider import Provider
from engine.ratelimit import Clock, RateLimiter, SystemClock
from engine.registry import Registry
from engine.spec.models import RequestSpec
from engine.wire import OutgoingRequest, Response, Secrets, query_pairs, secret_values

if TYPE_CHECKING:
    import random

    from engine.reader import Page
    from engine.writer import WriteResult

CredentialsCallback = Callable[[dict[str, Any]], Any]

_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


@dataclass(frozen=True, slots=True)
class ConnectionResult:
    """Who the credentials belong to (``identity``) and the provider's whole answer."""

    identity: str
    raw: Any


class _NetworkFailure(Exception):
    """An aiohttp/timeout failure, already translated; ``unsent`` when nothing reached the
    provider (the connection could not be opened), so even a write may be resent."""

    def __init__(self, error: KiroSyncError, unsent: bool, retry: bool = True) -> None:
        super().__init__(str(error))
        self.error = error
        self.unsent = unsent
        self.retry = retry


class Connection:
    def __init__(
        self,
        provider: Provider,
        credentials: Mapping[str, Any],
        config: Mapping[str, Any] | None = None,
        *,
        registry: Registry | None = None,
        session: aiohttp.ClientSession | None = None,
        on_credentials_update: CredentialsCallback | None = None,
        clock: Clock | None = None,
        timeout: float = 60.0,
        rng: random.Random | None = None,
    ) -> None:
        if registry is None:
            from engine.strategies import shared_default_registry

            registry = shared_default_registry()
        self.provider = provider
        self.spec = provider.spec
        self.registry = registry
        self.credentials: dict[str, Any] = dict(credentials)
        self.config: dict[str, Any] = dict(config or {})
        self.clock: Clock = clock or SystemClock()
        self.timeout = timeout
        self.auth_mode, mode = select_auth_mode(self.spec, self.credentials)
        self.auth: AuthStrategy = registry.create("auth", mode.auth)
        secret_fields = [f.name for f in mode.fields if f.secret]
        self.secrets = Secrets(secret_values(self.credentials, secret_fields))
        self.limiter = RateLimiter(self.spec.rate_limit, self.clock, rng)
        self.rules = ErrorRules(provider, self.limiter, self.secrets)
        self._on_credentials_update = on_credentials_update
        self._session = session
        self._owns_session = session is None
        self._auth_context = _AuthBridge(self)
        self._base_url: str | None = None
        self._default_headers: dict[str, str] | None = None

    # --- lifecycle ------------------------------------------------------------------------
    async def __aenter__(self) -> Connection:
        self.session()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    def session(self) -> aiohttp.ClientSession:
        """The connection's one session (created on first use, keep-alive, bounded pool)."""
        if self._session is None or self._session.closed:
            limit = self.spec.rate_limit.max_concurrency
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=limit * 2, keepalive_timeout=30),
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                json_serialize=lambda value: orjson.dumps(value).decode(),
                cookie_jar=aiohttp.DummyCookieJar(),
            )
            self._owns_session = True
        return self._session

    # --- contexts and requests ------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.provider.name

    def context(self, **extra: Any) -> dict[str, Any]:
        """The names every template sees (credentials, config, now) plus ``extra``."""
        now = datetime.fromtimestamp(self.clock.now(), tz=UTC)
        return {"credentials": self.credentials, "config": self.config, "now": now, **extra}

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            given = self.credentials.get("baseUrl")
            if isinstance(given, str) and given.strip():
                url = given.strip()
            else:
                url = str(self.provider.render(self.spec.base_url, self.context(), "base_url"))
            if not url.startswith(("http://", "https://")):
                raise ConfigError(f"{self.name}: the base URL {url!r} is not an http(s) URL")
            self._base_url = url.rstrip("/")
        return self._base_url

    def default_headers(self) -> dict[str, str]:
        if self._default_headers is None:
            headers = {"Accept": "application/json", "User-Agent": "kiro-sync"}
            for name, template in self.spec.headers.items():
                value = self.provider.render(template, self.context(), f"headers.{name}")
                if value not in (None, ""):
                    headers[name] = str(value)
            self._default_headers = headers
        return dict(self._default_headers)

    def build_request(
        self, spec: RequestSpec, context: Mapping[str, Any], where: str = "request"
    ) -> OutgoingRequest:
        """Render a RequestSpec: URL, query (None/"" left out), headers, body."""
        render = self.provider.render
        if spec.url:
            url = str(render(spec.url, context, f"{where}.url"))
        else:
            url = join_url(self.base_url, str(render(spec.path, context, f"{where}.path")))
        params = [
            pair
            for name, template in spec.query.items()
            for pair in query_pairs(name, render(template, context, f"{where}.query.{name}"))
        ]
        headers = self.default_headers()
        for name, template in spec.headers.items():
            value = render(template, context, f"{where}.headers.{name}")
            if value not in (None, ""):
                headers[name] = str(value)
        request = OutgoingRequest(spec.method, url, params, headers)
        self._add_body(request, spec, context, where)
        return request

    def _add_body(
        self, request: OutgoingRequest, spec: RequestSpec, context: Mapping[str, Any], where: str
    ) -> None:
        if spec.graphql is not None:
            variables = self.provider.render_tree(
                spec.graphql.variables, context, f"{where}.graphql.variables"
            )
            request.json = {"query": spec.graphql.query, "variables": variables}
        elif spec.body is not None:
            request.json = self.provider.render_tree(spec.body, context, f"{where}.body")
        elif spec.form is not None:
            rendered = self.provider.render_tree(spec.form, context, f"{where}.form")
            request.form = {k: str(v) for k, v in rendered.items() if v not in (None, "")}

    async def request(
        self,
        spec: RequestSpec,
        context: Mapping[str, Any],
        *,
        where: str = "request",
        stream: str | None = None,
        idempotent: bool | None = None,
    ) -> Response:
        """Build and send one request; see ``send``."""
        outgoing = self.build_request(spec, context, where)
        return await self.send(outgoing, stream=stream, idempotent=idempotent)

    async def send(
        self,
        request: OutgoingRequest,
        *,
        stream: str | None = None,
        idempotent: bool | None = None,
    ) -> Response:
        """Send with auth, rate limits, retries and error rules; the accepted Response.

        ``idempotent`` (default: by method) says whether a request that may have reached the
        provider can be sent again after a 5xx or a network failure; a 429 always can.
        """
        resendable = request.method in _IDEMPOTENT if idempotent is None else idempotent
        attempt, refreshed = 0, False
        while True:
            outgoing = request.copy()
            await self.auth.apply(outgoing, self._auth_context)
            label = self.label(outgoing, stream)
            try:
                response = await self._exchange(outgoing, label)
            except _NetworkFailure as failure:
                verdict = Verdict(
                    "retry" if failure.retry else "fail",
                    error=failure.error,
                    refused=failure.unsent,
                )
            else:
                if response.status == 401 and not refreshed:
                    refreshed = await self.auth.refresh(self._auth_context, outgoing)
                    if refreshed:
                        continue
                verdict = self.rules.judge(response, label)
                if verdict.response is not None:
                    return verdict.response
            await self._before_retry(verdict, attempt, resendable, label)
            attempt += 1

    async def _before_retry(
        self, verdict: Verdict, attempt: int, resendable: bool, label: Label
    ) -> None:
        """Raise the verdict's error unless the request may be sent again; then wait."""
        error = verdict.error
        assert error is not None
        may_retry = verdict.action == "retry" and attempt < self.spec.rate_limit.max_retries
        if not may_retry or not (resendable or verdict.refused):
            raise error
        delay = verdict.delay if verdict.delay is not None else self.limiter.backoff(attempt)
        try:
            await self.limiter.wait(delay, "the provider")
        except RateLimitedError as exc:
            status = getattr(error, "status", None)
            raise label.error(
                RateLimitedError, status, exc.message, retry_after=exc.context["retry_after"]
            ) from None

    def label(self, request: OutgoingRequest, stream: str | None = None) -> Label:
        """The masked description of a request that errors about it carry."""
        try:
            shown, params = str(_url(request)), []
        except ValueError:  # not a URL yarl accepts; _exchange says so
            shown, params = request.url, request.params
        url = self.secrets.mask_url(shown, params, request.secret_params)
        return Label(self.name, stream, request.method, url)

    async def _exchange(self, request: OutgoingRequest, label: Label) -> Response:
        """One HTTP exchange, body read in full; aiohttp errors become _NetworkFailure."""
        kwargs: dict[str, Any] = {"headers": request.headers, "allow_redirects": True}
        if request.json is not None:
            kwargs["data"] = orjson.dumps(request.json)
            request.headers.setdefault("Content-Type", "application/json")
        elif request.form is not None:
            kwargs["data"] = request.form
        try:
            url = _url(request)
        except ValueError as exc:  # a port out of range, an unclosed IPv6 bracket...
            error = label.error(ConfigError, None, f"invalid URL: {self._describe(exc)}")
            raise _NetworkFailure(error, unsent=True, retry=False) from None
        try:
            async with (
                self.limiter.slot(),
                self.session().request(request.method, url, **kwargs) as r,
            ):
                raw = await r.read()
                status, headers, final_url = r.status, r.headers, str(r.url)
                content_type = r.headers.get("Content-Type", "")
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise self._translate(exc, label) from None
        except ValueError as exc:  # aiohttp refuses a header holding a line break (injection)
            reason = f"the request cannot be sent: {self._describe(exc)}"
            raise _NetworkFailure(label.error(ConfigError, None, reason), True, False) from None
        data, problem = parse_body(raw, content_type)
        return Response(status, headers, data, final_url, problem, raw)

    def _translate(self, exc: BaseException, label: Label) -> _NetworkFailure:
        if isinstance(exc, aiohttp.InvalidURL):
            error = label.error(ConfigError, None, f"invalid URL: {self._describe(exc)}")
            return _NetworkFailure(error, unsent=True, retry=False)
        if isinstance(exc, aiohttp.ClientResponseError):  # malformed answer, redirect loop
            error = label.error(ProviderError, None, self._describe(exc))
            return _NetworkFailure(error, unsent=False, retry=False)
        if isinstance(exc, TimeoutError):
            reason = f"no answer within {self.timeout:g}s"
        elif isinstance(exc, aiohttp.ClientPayloadError):
            reason = "the connection dropped before the whole body arrived (truncated body)"
        else:
            reason = f"network failure: {self._describe(exc)}"
        unsent = isinstance(exc, aiohttp.ClientConnectorError)
        return _NetworkFailure(label.error(TransientError, None, reason), unsent=unsent)

    def _describe(self, exc: BaseException) -> str:
        text = " ".join(str(exc).split()) or type(exc).__name__
        return self.secrets.scrub(f"{type(exc).__name__}: {text}"[:300])

    # --- what a connection does -----------------------------------------------------------
    async def test_connection(self) -> ConnectionResult:
        """Send the spec's test request; the account identity, or ConfigError saying why."""
        spec = self.spec.test_connection
        context = self.context()
        response = await self.request(spec.request, context, where="test_connection.request")
        check = {
            **context,
            "response": response.data,
            "status": response.status,
            "headers": response.headers,
        }
        if not self.provider.condition(spec.success_when, check, "test_connection.success_when"):
            found = provider_reason(response.data, scrub=self.secrets.scrub)
            reason = found or "the provider's answer says it failed"
            raise ConfigError(
                f"{self.name}: the connection test failed: {reason}",
                provider=self.name,
                details=reason,
            )
        identity = compile_path(spec.identity_path).first(response.data)
        if identity is None or identity == "":
            reason = f"the answer has nothing at {spec.identity_path}"
            raise ConfigError(
                f"{self.name}: the connection test failed: {reason}",
                provider=self.name,
                details=reason,
            )
        return ConnectionResult(str(identity), response.data)

    def read(
        self,
        stream: str,
        *,
        cursor: Any = None,
        window: Mapping[str, Any] | None = None,
        partition: Any = None,
        limit: int | None = None,
    ) -> AsyncIterator[Page]:
        """Pages of a stream's records, one at a time (see engine.reader)."""
        from engine.reader import StreamReader

        return StreamReader(self).read(
            stream, cursor=cursor, window=window, partition=partition, limit=limit
        )

    async def write(
        self, entity: str, operation: str, *, item: Any = None, link: Any = None
    ) -> WriteResult:
        """Send one entity operation through the spec's write steps (see engine.writer)."""
        from engine.writer import Writer

        return await Writer(self).write(entity, operation, item=item, link=link)

    # --- used by auth strategies ----------------------------------------------------------
    async def token_request(self, url: str, form: dict[str, str], headers: dict[str, str]) -> Any:
        request = OutgoingRequest("POST", url, headers={"Accept": "application/json", **headers})
        request.form = form
        attempt = 0
        while True:
            label = self.label(request, None)
            try:
                response = await self._exchange(request.copy(), label)
            except _NetworkFailure as failure:
                if not failure.retry or attempt >= self.spec.rate_limit.max_retries:
                    raise failure.error from None
                await self.limiter.wait(self.limiter.backoff(attempt), "token endpoint")
                attempt += 1
                continue
            return self._token_answer(response, label)

    def _token_answer(self, response: Response, label: Label) -> Any:
        """The token endpoint's JSON; 4xx -> AuthError, 408/429/5xx -> TransientError."""
        status = response.status
        if 200 <= status < 300 and response.problem is None:
            return response.data
        found = provider_reason(response.data, scrub=self.secrets.scrub)
        found = found or f"answered {response.problem or 'no reason'}"
        reason = f"the token endpoint refused: {found}"
        cls: type[KiroSyncError] = ProviderError
        if status in (408, 429) or status >= 500:
            cls = TransientError
        elif 400 <= status < 500:
            cls = AuthError
        raise label.error(cls, status, reason)

    async def store_credentials(self, changes: dict[str, Any]) -> None:
        self.credentials.update(changes)
        for value in changes.values():
            self.secrets.add(value)
        if self._on_credentials_update is not None:
            outcome = self._on_credentials_update(dict(changes))
            if inspect.isawaitable(outcome):
                await outcome


class _AuthBridge(AuthContext):
    """The part of a Connection an auth strategy may use."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def render(self, template: str, where: str) -> Any:
        conn = self._connection
        try:
            return conn.provider.render(
                template, conn.context(), f"auth ({conn.auth_mode}).{where}"
            )
        except TemplateError as exc:
            raise ConfigError(f"the credentials do not fit the auth mode: {exc}") from None

    def now(self) -> float:
        return self._connection.clock.now()

    def add_secret(self, value: str) -> None:
        self._connection.secrets.add(value)

    async def token_request(self, url: str, form: dict[str, str], headers: dict[str, str]) -> Any:
        return await self._connection.token_request(url, form, headers)

    async def store_credentials(self, changes: dict[str, Any]) -> None:
        await self._connection.store_credentials(changes)


def join_url(base: str, path: str) -> str:
    """``path`` under ``base``; an absolute http(s) path stands alone."""
    if path.startswith(("http://", "https://")):
        return path
    if not path:
        return base
    return f"{base.rstrip('/')}/{path.lstrip('/')}"


def _url(request: OutgoingRequest) -> URL:
    url = URL(request.url, encoded=request.verbatim)
    return url.extend_query(request.params) if request.params else url


def parse_body(raw: bytes, content_type: str = "") -> tuple[Any, str | None]:
    """Parse a body with orjson: (data, None), (None, None) when empty, or (None, problem)."""
    if not raw.strip():
        return None, None
    try:
        return orjson.loads(raw), None
    except orjson.JSONDecodeError as exc:
        head = raw.lstrip()[:1]
        if "html" in content_type.lower() or head == b"<":
            return None, "an HTML page instead of JSON"
        if head in (b"{", b"[") and exc.pos >= len(raw.rstrip()):
            return None, "truncated JSON"
        return None, "text that is not JSON"
