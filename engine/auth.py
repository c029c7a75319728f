"""Auth strategies: how a connection proves who it is, chosen in YAML by ``type``.

Every string in an auth block is a template over ``credentials`` and ``config`` (place
``auth``). A strategy decorates a copy of each outgoing request just before it is sent
(``apply``); ``refresh`` is asked once when the provider answers 401 and says whether a retry
may help (only ``oauth2`` can get a new token).

    bearer   Authorization: <scheme> <token>               (GitHub, Asana, Notion, Slack)
    basic    Authorization: Basic base64(user:password)    (Jira Cloud email + API token)
    api_key  one header or query parameter
    header   any headers (Linear's bare ``Authorization: <key>``, Trello's OAuth header)
    query    query parameters (Trello's ``key`` + ``token``); masked in every error
    oauth2   client_credentials or refresh_token grant; token cached until it expires
             (minus a margin), refreshed once on a 401; a rotated refresh token, the new
             access token and its expiry are handed back for storage

HTTP calls to token endpoints go through the ``AuthContext`` the connection provides, so
aiohttp errors are still translated in engine.http alone.
"""

from __future__ import annotations

import asyncio
import base64
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal, Protocol

from pydantic import Field

from engine.errors import AuthError, ConfigError
from engine.registry import Registry, StrategyConfig
from engine.spec.models import AuthMode, ProviderSpec
from engine.templating import DEFAULT_FILTERS
from engine.wire import OutgoingRequest

Template = str


class AuthContext(Protocol):
    """What a strategy may use from its connection."""

    def render(self, template: str, where: str) -> Any:
        """Render an auth template over credentials and config."""
        ...

    def now(self) -> float: ...

    def add_secret(self, value: str) -> None:
        """Never show ``value`` in an error or a log."""
        ...

    async def token_request(self, url: str, form: dict[str, str], headers: dict[str, str]) -> Any:
        """POST a form to a token endpoint; the parsed JSON answer (4xx -> AuthError)."""
        ...

    async def store_credentials(self, changes: dict[str, Any]) -> None:
        """Credentials the provider changed (rotated tokens): keep them and hand them back."""
        ...


class AuthStrategy:
    Config: ClassVar[type[StrategyConfig]]

    async def apply(self, request: OutgoingRequest, ctx: AuthContext) -> None:
        raise NotImplementedError

    async def refresh(self, ctx: AuthContext, failed: OutgoingRequest | None = None) -> bool:
        """After a 401: True when a retry may succeed (a new token was obtained)."""
        return False


def _text(ctx: AuthContext, template: str, where: str) -> str:
    value = ctx.render(template, where)
    if value is None or value == "":
        raise ConfigError(f"auth: {where} is empty (template {template!r})", where=where)
    text = str(value)
    ctx.add_secret(text)
    return text


class BearerAuth(AuthStrategy):
    class Config(StrategyConfig):
        type: Literal["bearer"] = "bearer"
        token: Template = Field("{{ credentials.accessToken }}", description="The token.")
        scheme: str = Field("Bearer", description='Word before the token ("" for none).')
        header: str = Field("Authorization", description="The header that carries it.")

    def __init__(self, config: Config) -> None:
        self.config = config

    async def apply(self, request: OutgoingRequest, ctx: AuthContext) -> None:
        token = _text(ctx, self.config.token, "token")
        scheme = self.config.scheme
        request.headers[self.config.header] = f"{scheme} {token}" if scheme else token


class BasicAuth(AuthStrategy):
    class Config(StrategyConfig):
        type: Literal["basic"] = "basic"
        username: Template = Field("{{ credentials.email }}", description="The user name.")
        password: Template = Field("{{ credentials.apiToken }}", description="The password.")

    def __init__(self, config: Config) -> None:
        self.config = config

    async def apply(self, request: OutgoingRequest, ctx: AuthContext) -> None:
        user = _text(ctx, self.config.username, "username")
        password = _text(ctx, self.config.password, "password")
        encoded = base64.b64encode(f"{user}:{password}".encode()).decode()
        ctx.add_secret(encoded)
        request.headers["Authorization"] = f"Basic {encoded}"


class ApiKeyAuth(AuthStrategy):
    class Config(StrategyConfig):
        type: Literal["api_key"] = "api_key"
        in_: Literal["header", "query"] = Field(
            default="header", alias="in", description="Send the key as a header or a parameter."
        )
        name: str = Field(description="The header or query parameter name.")
        value: Template = Field("{{ credentials.apiKey }}", description="The key.")

    def __init__(self, config: Config) -> None:
        self.config = config

    async def apply(self, request: OutgoingRequest, ctx: AuthContext) -> None:
        value = _text(ctx, self.config.value, "value")
        if self.config.in_ == "header":
            request.headers[self.config.name] = value
        else:
            request.set_param(self.config.name, value)
            request.secret_params.add(self.config.name)


class HeaderAuth(AuthStrategy):
    class Config(StrategyConfig):
        type: Literal["header"] = "header"
        headers: dict[str, Template] = Field(
            min_length=1, description="Header name -> template, e.g. Authorization."
        )

    def __init__(self, config: Config) -> None:
        self.config = config

    async def apply(self, request: OutgoingRequest, ctx: AuthContext) -> None:
        for name, template in self.config.headers.items():
            request.headers[name] = _text(ctx, template, f"headers.{name}")


class QueryAuth(AuthStrategy):
    class Config(StrategyConfig):
        type: Literal["query"] = "query"
        params: dict[str, Template] = Field(
            min_length=1, description="Query parameter -> template; masked in every error."
        )

    def __init__(self, config: Config) -> None:
        self.config = config

    async def apply(self, request: OutgoingRequest, ctx: AuthContext) -> None:
        for name, template in self.config.params.items():
            request.set_param(name, _text(ctx, template, f"params.{name}"))
            request.secret_params.add(name)


class OAuth2Auth(AuthStrategy):
    """OAuth 2.0 bearer tokens from a token endpoint, cached until shortly before expiry."""

    class Config(StrategyConfig):
        type: Literal["oauth2"] = "oauth2"
        grant: Literal["client_credentials", "refresh_token"] = Field(
            "refresh_token", description="The OAuth 2.0 grant used to get access tokens."
        )
        token_url: Template = Field(description="The token endpoint.")
        client_id: Template = Field("{{ credentials.clientId }}", description="Client id.")
        client_secret: Template | None = Field(
            "{{ credentials.clientSecret }}", description="Client secret (null: public client)."
        )
        refresh_token: Template = Field(
            "{{ credentials.refreshToken }}", description="Refresh token (refresh_token grant)."
        )
        access_token: Template | None = Field(
            "{{ credentials.get('accessToken') }}",
            description="A stored access token, used until it expires.",
        )
        expires_at: Template | None = Field(
            "{{ credentials.get('expiresAt') }}",
            description="When the stored token expires (ISO-8601 or epoch).",
        )
        scope: Template | None = Field(None, description="Scope asked for.")
        client_auth: Literal["body", "basic"] = Field(
            "body", description="Client id and secret in the form body or as HTTP Basic."
        )
        extra_params: dict[str, Template] = Field(
            default_factory=dict, description="More token request fields (audience, resource)."
        )
        scheme: str = Field("Bearer", description="Word before the access token.")
        expiry_margin_seconds: int = Field(
            default=60, ge=0, description="Refresh this long before the token expires."
        )

    def __init__(self, config: Config) -> None:
        self.config = config
        self._token: str | None = None
        self._expires_at: float | None = None
        self._started = False
        self._lock = asyncio.Lock()

    async def apply(self, request: OutgoingRequest, ctx: AuthContext) -> None:
        async with self._lock:
            if not self._started:
                self._started = True
                self._adopt_stored(ctx)
            if self._token is None or self._expired(ctx):
                await self._fetch(ctx)
            token = self._token
        assert token is not None
        request.headers["Authorization"] = f"{self.config.scheme} {token}"
        request.auth_token = token

    async def refresh(self, ctx: AuthContext, failed: OutgoingRequest | None = None) -> bool:
        async with self._lock:
            if failed is not None and failed.auth_token != self._token:
                return True  # another request already refreshed the token it used
            await self._fetch(ctx)
        return True

    def _adopt_stored(self, ctx: AuthContext) -> None:
        """Start from an access token stored with the credentials, when there is one."""
        if self.config.access_token is None:
            return
        token = ctx.render(self.config.access_token, "access_token")
        if token:
            self._token = str(token)
            ctx.add_secret(self._token)
            stored = (
                ctx.render(self.config.expires_at, "expires_at") if self.config.expires_at else None
            )
            self._expires_at = _stored_expiry(stored)

    def _expired(self, ctx: AuthContext) -> bool:
        if self._expires_at is None:
            return False
        return ctx.now() >= self._expires_at - self.config.expiry_margin_seconds

    async def _fetch(self, ctx: AuthContext) -> None:
        url = _text(ctx, self.config.token_url, "token_url")
        form, headers = self._token_form(ctx)
        answer = await ctx.token_request(url, form, headers)
        await self._accept(answer, ctx)

    def _token_form(self, ctx: AuthContext) -> tuple[dict[str, str], dict[str, str]]:
        form: dict[str, str] = {"grant_type": self.config.grant}
        if self.config.grant == "refresh_token":
            form["refresh_token"] = _text(ctx, self.config.refresh_token, "refresh_token")
        if self.config.scope:
            form["scope"] = _text(ctx, self.config.scope, "scope")
        for name, template in self.config.extra_params.items():
            form[name] = str(ctx.render(template, f"extra_params.{name}"))
        client_id = _text(ctx, self.config.client_id, "client_id")
        secret = (
            _text(ctx, self.config.client_secret, "client_secret")
            if self.config.client_secret
            else None
        )
        if self.config.client_auth == "basic":
            pair = base64.b64encode(f"{client_id}:{secret or ''}".encode()).decode()
            ctx.add_secret(pair)
            return form, {"Authorization": f"Basic {pair}"}
        form["client_id"] = client_id
        if secret is not None:
            form["client_secret"] = secret
        return form, {}

    async def _accept(self, answer: Any, ctx: AuthContext) -> None:
        if not isinstance(answer, Mapping) or not answer.get("access_token"):
            raise AuthError("auth: the token endpoint answered without an access_token")
        self._token = str(answer["access_token"])
        ctx.add_secret(self._token)
        lifetime = _seconds(answer.get("expires_in"))
        self._expires_at = ctx.now() + lifetime if lifetime is not None else None
        changes: dict[str, Any] = {"accessToken": self._token, "expiresAt": self._expiry_text()}
        rotated = answer.get("refresh_token")
        if rotated:
            ctx.add_secret(str(rotated))
            changes["refreshToken"] = str(rotated)
        await ctx.store_credentials(changes)

    def _expiry_text(self) -> str | None:
        if self._expires_at is None:
            return None
        return datetime.fromtimestamp(self._expires_at, tz=UTC).isoformat().replace("+00:00", "Z")


def _stored_expiry(stored: Any) -> float | None:
    """When a stored access token expires; 0 (expired: fetch a new one) when the stored
    value is not a time, rather than trusting a token of unknown age."""
    if stored in (None, ""):
        return None
    try:
        moment = DEFAULT_FILTERS["to_datetime"](stored)
    except (TypeError, ValueError, OverflowError):
        return 0.0
    return moment.timestamp() if moment else None


def _seconds(value: Any) -> float | None:
    """A token endpoint's ``expires_in`` as seconds; None when absent or not a number."""
    if isinstance(value, bool) or value in (None, ""):
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if math.isfinite(seconds) and seconds > 0 else None


BUILTIN: tuple[type[AuthStrategy], ...] = (
    BearerAuth,
    BasicAuth,
    ApiKeyAuth,
    HeaderAuth,
    QueryAuth,
    OAuth2Auth,
)


def register(registry: Registry) -> None:
    for cls in BUILTIN:
        registry.register("auth", cls)


def select_auth_mode(spec: ProviderSpec, credentials: Mapping[str, Any]) -> tuple[str, AuthMode]:
    """The auth mode credentials use: ``authType`` names it, else the first whose required
    fields are all present. ConfigError saying what is missing otherwise."""
    named = credentials.get("authType")
    if named is not None:
        mode = spec.auth_modes.get(str(named))
        if mode is None:
            valid = ", ".join(spec.auth_modes)
            raise ConfigError(f"{spec.name}: unknown authType {named!r}; valid: {valid}")
        return str(named), mode
    missing: list[str] = []
    for name, mode in spec.auth_modes.items():
        lacking = missing_fields(mode, credentials)
        if not lacking:
            return name, mode
        missing.append(f"{name} needs {', '.join(lacking)}")
    raise ConfigError(f"{spec.name}: credentials are incomplete ({'; '.join(missing)})")


def missing_fields(mode: AuthMode, credentials: Mapping[str, Any]) -> list[str]:
    """The required fields of ``mode`` that ``credentials`` lack: absent, None or blank text.
    A field with a declared default is never missing (connect fills the default in)."""
    return [
        item.name
        for item in mode.fields
        if item.required and item.default is None and _blank(credentials.get(item.name))
    ]


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())
