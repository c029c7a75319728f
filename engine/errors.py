"""Every error kiro-sync raises, grouped by what the caller should do about it.

    KiroSyncError                 base; one-line str(), context as attributes, never a secret
    ├── SpecError                 a provider or mapping YAML is invalid: fix the file
    │                             (.problems lists each `file:line:col: path: message`)
    ├── ConfigError               fix the integration: credentials, config, missing project
    │   ├── AuthError             the provider refused the credentials (401/403)
    │   └── ValidationError       a request to kiro-sync itself is malformed (path + message)
    ├── TransientError            try again later: 429, 5xx, network; retried with backoff
    │   └── RateLimitedError      carries retry_after seconds when the provider said so
    ├── ProviderError             the provider answered something we cannot use (HTML, bad
    │                             JSON, truncated body, a 4xx that is neither auth nor limit)
    │   └── PaginationLoopError   the provider handed back a page token it already gave
    ├── RecordError               one record could not be mapped or written: skip it, the
    │                             run becomes partial
    ├── TemplateError             a template failed while rendering (a name missing from the
    │                             data); the caller decides whether that is a record problem
    ├── WebhookRejected           signature, replay window or handshake failed: answer 401
    ├── NotFoundError             the integration, project or item does not exist (or is
    │                             not visible to the caller)
    ├── ConflictError             the operation collides with one in progress (a running sync)
    └── StoreError                the store failed; DecryptError when a credential cannot be
        └── DecryptError          decrypted (names the integration, never the secret)

`error_class(exc)` names the group for logs and sync_runs.error_class.
aiohttp's exceptions are translated into these in engine.http, nowhere else.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any


class KiroSyncError(Exception):
    """Base of every kiro-sync error. ``str()`` is one line; context lives in attributes."""

    error_class = "internal"

    def __init__(self, message: str, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.context = context
        for key, value in context.items():
            setattr(self, key, value)

    def __str__(self) -> str:
        return self.message


class SpecError(KiroSyncError):
    """A provider or mapping file is invalid. ``problems`` holds every finding, one per line."""

    error_class = "spec"

    def __init__(self, problems: Sequence[str] | str, **context: Any) -> None:
        items = [problems] if isinstance(problems, str) else list(problems)
        self.problems: list[str] = items
        head = items[0] if items else "invalid spec"
        more = f" (and {len(items) - 1} more)" if len(items) > 1 else ""
        super().__init__(head + more, **context)

    def render(self) -> str:
        return "\n".join(self.problems)


class ConfigError(KiroSyncError):
    """The integration's configuration or credentials need fixing; retrying will not help."""

    error_class = "config"


class AuthError(ConfigError):
    """The provider refused the credentials."""


class ValidationError(ConfigError):
    """A request to kiro-sync is malformed. ``problems`` lists ``path: message`` entries."""

    error_class = "validation"

    def __init__(self, message: str, problems: Iterable[str] = (), **context: Any) -> None:
        self.problems = list(problems)
        super().__init__(message, **context)


class TransientError(KiroSyncError):
    """Worth retrying later: rate limits, server errors, network failures."""

    error_class = "transient"


class RateLimitedError(TransientError):
    """The provider asked us to slow down; ``retry_after`` is seconds when known."""

    def __init__(self, message: str, retry_after: float | None = None, **context: Any) -> None:
        super().__init__(message, retry_after=retry_after, **context)


class ProviderError(KiroSyncError):
    """The provider answered something unusable; the request is not retried as-is."""

    error_class = "provider"


class PaginationLoopError(ProviderError):
    """The provider returned a page token it had already returned."""


class RecordError(KiroSyncError):
    """One record failed; the run goes on and ends partial."""

    error_class = "record"


class TemplateError(KiroSyncError):
    """A template failed at render time; ``where`` names the spec location."""

    error_class = "template"


class WebhookRejected(KiroSyncError):
    """An inbound webhook failed verification."""

    error_class = "webhook"


class NotFoundError(KiroSyncError):
    error_class = "not_found"


class ConflictError(KiroSyncError):
    error_class = "conflict"


class StoreError(KiroSyncError):
    error_class = "store"


class DecryptError(StoreError):
    """A stored credential could not be decrypted with any known key."""


def error_class(exc: BaseException) -> str:
    """The group name of an exception, for logs, metrics and sync_runs.error_class."""
    if isinstance(exc, KiroSyncError):
        return exc.error_class
    return "internal"
