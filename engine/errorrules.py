"""Errors as data: what a response means, decided by the provider's rules, then defaults.

``spec.errors`` rules are tried in order. A rule matches when its ``status`` patterns
("429", "5xx", "4xx", exact codes) include the status (no patterns: any status) and its
``when`` condition holds over ``status``, ``headers``, ``body`` (text), ``response``
(parsed JSON, None when the body is not JSON) and ``stream`` (the stream being read; None
for writes and the connection test, so a rule can tell a read's 404 from a write's). A
``when`` that cannot be evaluated for this response counts as not matching. A 200 can
match, which is how GraphQL errors inside a success are caught. Actions:

    retry           wait (``retry_after`` template, else Retry-After/reset headers, else
                    backoff) and send again, up to max_retries; then TransientError
    fail_config     ConfigError (AuthError for 401/403): fix the integration, no retry
    fail_transient  TransientError now: the run is retried later
    ignore          an empty result (no records)
    fail            ProviderError

Without a matching rule: 2xx is success unless the body is not JSON (ProviderError); 429, and
403 with the remaining header at 0, are rate limits (retry); 401/403 are AuthError, never
retried; 408 and 5xx are retried then TransientError; any other status is ProviderError.
Errors carry provider, stream, method, url (secrets masked), status and the provider's own
reason (``details``); their one-line message never holds a body or a token.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Literal

from engine.errors import (
    AuthError,
    ConfigError,
    KiroSyncError,
    ProviderError,
    RateLimitedError,
    TemplateError,
    TransientError,
)
from engine.provider import Provider
from engine.ratelimit import RateLimiter
from engine.spec.models import ErrorRule
from engine.wire import Response, Secrets

_REASON_KEYS = ("message", "error_description", "errorMessage", "error", "detail", "title")


@dataclass(frozen=True, slots=True)
class Label:
    """Who asked what: the context every error about one request carries."""

    provider: str
    stream: str | None
    method: str
    url: str  # masked

    def error(
        self, cls: type[KiroSyncError], status: int | None, reason: str, **extra: Any
    ) -> KiroSyncError:
        where = f"{self.provider}" + (f" stream {self.stream}" if self.stream else "")
        code = f" -> HTTP {status}" if status is not None else ""
        message = f"{where}: {self.method} {self.url}{code}: {reason}"
        return cls(
            message,
            provider=self.provider,
            stream=self.stream,
            method=self.method,
            url=self.url,
            status=status,
            details=reason,
            **extra,
        )


@dataclass(frozen=True, slots=True)
class Verdict:
    """``ok``/``ignore`` carry the response to return; ``retry``/``fail`` the error.

    ``delay`` is the wait the provider asked for (None: use backoff); ``refused`` says the
    provider did nothing with the request (a 429), so even a write may be sent again.
    """

    action: Literal["ok", "ignore", "retry", "fail"]
    response: Response | None = None
    error: KiroSyncError | None = None
    delay: float | None = None
    refused: bool = False


def status_matches(patterns: list[str], status: int) -> bool:
    if not patterns:
        return True
    code = str(status)
    for pattern in patterns:
        text = pattern.strip().lower()
        if text == code or (len(text) == 3 and text.endswith("xx") and text[0] == code[0]):
            return True
    return False


def provider_reason(
    data: Any, limit: int = 300, scrub: Callable[[str], str] | None = None
) -> str | None:
    """The provider's own explanation in an error body, when it has a usual shape, on one
    line and cut to ``limit`` characters; ``scrub`` masks secrets first, so a cut never
    leaves the beginning of a secret behind."""
    found = _reason(data)
    if found is None:
        return None
    return one_line(str(found), limit, scrub)


def one_line(text: str, limit: int = 300, scrub: Callable[[str], str] | None = None) -> str:
    """``text`` on one line, secrets masked by ``scrub``, then cut to ``limit`` characters."""
    text = " ".join(text.split())
    if scrub is not None:
        text = scrub(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _reason(data: Any) -> Any:
    if not isinstance(data, dict):
        return None
    for key in _REASON_KEYS:
        value = data.get(key)
        if isinstance(value, str) and value.strip():
            return value
        if isinstance(value, dict):
            inner = _reason(value)
            if inner:
                return inner
    messages = data.get("errorMessages")
    if isinstance(messages, list) and messages:
        return "; ".join(str(m) for m in messages)
    errors = data.get("errors")
    if isinstance(errors, list) and errors:
        first = errors[0]
        return _reason(first) if isinstance(first, dict) else str(first)
    if isinstance(errors, dict) and errors:
        return "; ".join(f"{k}: {v}" for k, v in errors.items())
    return None


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"unexpected HTTP {status}"


class ErrorRules:
    """Judges responses for one connection."""

    def __init__(self, provider: Provider, limiter: RateLimiter, secrets: Secrets) -> None:
        self.provider = provider
        self.rules = provider.spec.errors
        self.limiter = limiter
        self.secrets = secrets

    def judge(self, response: Response, label: Label) -> Verdict:
        self.limiter.observe(response.headers)
        context = self._context(response, label) if self.rules else {}
        for index, rule in enumerate(self.rules):
            if self._matches(rule, index, response, context):
                return self._apply(rule, index, response, context, label)
        return self._default(response, label)

    def _context(self, response: Response, label: Label) -> dict[str, Any]:
        return {
            "status": response.status,
            "headers": response.headers,
            "body": response.body.decode("utf-8", "replace"),
            "response": response.data,
            "stream": label.stream,
        }

    def _matches(
        self, rule: ErrorRule, index: int, response: Response, context: dict[str, Any]
    ) -> bool:
        if not status_matches(rule.status, response.status):
            return False
        try:
            return self.provider.condition(rule.when, context, f"errors[{index}].when")
        except TemplateError:
            return False

    def _apply(
        self,
        rule: ErrorRule,
        index: int,
        response: Response,
        context: dict[str, Any],
        label: Label,
    ) -> Verdict:
        if rule.action == "ignore":
            return Verdict("ignore", response=Response.empty(response.status, response.url))
        reason = self._rule_reason(rule, index, response, context)
        status = response.status
        if rule.action == "retry":
            delay = self._rule_delay(rule, index, response, context)
            error_class = RateLimitedError if status == 429 else TransientError
            error = label.error(error_class, status, reason)
            return Verdict("retry", error=error, delay=delay, refused=True)
        if rule.action == "fail_config":
            cls: type[KiroSyncError] = AuthError if status in (401, 403) else ConfigError
        elif rule.action == "fail_transient":
            cls = TransientError
        else:
            cls = ProviderError
        return Verdict("fail", error=label.error(cls, status, reason))

    def _rule_reason(
        self, rule: ErrorRule, index: int, response: Response, context: dict[str, Any]
    ) -> str:
        if rule.message:
            try:
                text = self.provider.render(rule.message, context, f"errors[{index}].message")
                if text not in (None, ""):
                    return self._clean(str(text))
            except TemplateError:
                pass
        return self._reason(response)

    def _rule_delay(
        self, rule: ErrorRule, index: int, response: Response, context: dict[str, Any]
    ) -> float | None:
        if rule.retry_after:
            try:
                value = self.provider.render(
                    rule.retry_after, context, f"errors[{index}].retry_after"
                )
                return max(0.0, float(value)) if value not in (None, "") else None
            except (TemplateError, TypeError, ValueError):
                pass
        return self._header_delay(response)

    def _header_delay(self, response: Response) -> float | None:
        after = self.limiter.retry_after(response.headers)
        if after is not None:
            return after
        return self.limiter.observe(response.headers)

    def _default(self, response: Response, label: Label) -> Verdict:
        status = response.status
        if 200 <= status < 300:
            if response.problem:
                reason = f"answered {response.problem}"
                return Verdict("fail", error=label.error(ProviderError, status, reason))
            return Verdict("ok", response=response)
        if status == 429 or (status == 403 and self.limiter.exhausted(response.headers)):
            error = label.error(RateLimitedError, status, self._reason(response, "rate limited"))
            return Verdict("retry", error=error, delay=self._header_delay(response), refused=True)
        if status in (401, 403):
            reason = self._reason(response, "the provider refused the credentials")
            return Verdict("fail", error=label.error(AuthError, status, reason))
        if status == 408 or status >= 500:
            error = label.error(TransientError, status, self._reason(response))
            return Verdict("retry", error=error, delay=self.limiter.retry_after(response.headers))
        return Verdict("fail", error=label.error(ProviderError, status, self._reason(response)))

    def _reason(self, response: Response, fallback: str | None = None) -> str:
        found = provider_reason(response.data, scrub=self.secrets.scrub)
        if found:
            return found
        reason = fallback or _phrase(response.status)
        return f"{reason}; answered {response.problem}" if response.problem else reason

    def _clean(self, text: str) -> str:
        return one_line(text, scrub=self.secrets.scrub)
