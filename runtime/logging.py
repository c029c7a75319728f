"""Structured JSON logs that never carry a secret.

``configure_logging(redactor)`` installs one stream handler on the root logger with

- ``RedactionFilter``: rewrites each record's message (arguments merged in) and exception
  text through ``Redactor.redact``, which masks every registered secret value (the JWT secret,
  the encryption key, the database password) and anything shaped like a token: bearer and
  basic credentials, JWTs, provider token formats, ``password=``/``token=``-style pairs;
- ``JsonFormatter``: one JSON object per line with ``ts``, ``level``, ``logger``, ``msg``,
  the request id of the request being served, any ``extra`` fields, and ``exc``.

The request id travels in a context variable set by the server's middleware.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import orjson

from engine.vault import redact as redact_fields

MASK = "***"
QUIET = ("apscheduler", "aiohttp.access")  # a line per job added / per request: too chatty

request_id_var: ContextVar[str | None] = ContextVar("kiro_sync_request_id", default=None)

URL_PASSWORD = (re.compile(r"(://[^:/\s@]+:)([^@\s/]+)(@)"), r"\1***\3")  # user:password@host

# Shapes of credentials worth masking even when nobody registered them: (pattern, replacement).
TOKEN_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?i)\b(bearer|basic|token|oauth)\s+[A-Za-z0-9._~+/=\-]{8,}"), r"\1 ***"),
    (re.compile(r"\beyJ[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]*"), MASK),  # JWT
    (re.compile(r"\b(gh[pousr]_|github_pat_)[A-Za-z0-9_]{16,}"), MASK),  # GitHub
    (re.compile(r"\bxox[abposr]-[A-Za-z0-9\-]{8,}"), MASK),  # Slack
    (re.compile(r"\blin_(api|oauth)_[A-Za-z0-9]{16,}"), MASK),  # Linear
    (re.compile(r"\b(secret_|ntn_)[A-Za-z0-9]{20,}"), MASK),  # Notion
    (re.compile(r"\bATATT[A-Za-z0-9_\-=]{16,}"), MASK),  # Atlassian API tokens
    (re.compile(r"\b\d/\d{10,}:[A-Za-z0-9]{16,}"), MASK),  # Asana personal access tokens
    (  # name=value, name: value, "name": "value" and Python's 'name': 'value'
        re.compile(
            r"(?i)([\"']?(?:password|passwd|secret|token|api[_-]?key|apikey|access[_-]?token|"
            r"refresh[_-]?token|client[_-]?secret|signing[_-]?secret|webhook[_-]?secret|"
            r"authorization|signature|sig|key)[\"']?\s*[:=]\s*[\"']?)([^\s\"'&,;}]{4,})"
        ),
        r"\1***",
    ),
    URL_PASSWORD,
)


class Redactor:
    """Masks registered secret values and token-shaped strings in text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self.add(*secrets)

    def add(self, *secrets: str | None) -> None:
        """Register values to mask wherever they appear (short values are ignored)."""
        self._secrets.update(s for s in secrets if s and len(s) >= 4)

    def redact_known(self, text: str) -> str:
        """Only the registered secrets and URL passwords: for messages kiro-sync wrote itself
        (``credentials.token: field required`` must stay readable)."""
        text = self._registered(text)
        pattern, replacement = URL_PASSWORD
        return pattern.sub(replacement, text)

    def _registered(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def redact(self, text: str) -> str:
        text = self._registered(text)
        for pattern, replacement in TOKEN_PATTERNS:
            text = pattern.sub(replacement, text)
        return text

    def redact_value(self, value: Any) -> Any:
        """A log field with everything under a secret-looking key masked (engine.vault's
        ``redact``: ``{"token": ...}``, ``{"headers": {"Authorization": ...}}``) and every
        other string redacted like a message."""
        return self._strings(redact_fields(value))

    def _strings(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, dict):
            return {key: self._strings(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self._strings(item) for item in value]
        return value


class RedactionFilter(logging.Filter):
    """Rewrites a record's message and exception text with the redactor; adds the request id."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redactor.redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redactor.redact(record.exc_text)
        record.exc_info = None
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        return True


_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "request_id"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line; ``extra`` fields are redacted like the message."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": self.redactor.redact(record.getMessage()),
        }
        request_id = getattr(record, "request_id", None) or request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = self.redactor.redact_value(value)
        if record.exc_info:
            entry["exc"] = self.redactor.redact(self.formatException(record.exc_info))
        elif record.exc_text:
            entry["exc"] = self.redactor.redact(record.exc_text)
        return orjson.dumps(entry, default=str).decode()


def configure_logging(redactor: Redactor, level: int = logging.INFO) -> logging.Handler:
    """Send every log record to stderr as redacted JSON; returns the installed handler."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactionFilter(redactor))
    handler.setFormatter(JsonFormatter(redactor))
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_kiro_sync", False)]:
        root.removeHandler(old)
    handler._kiro_sync = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    for name in QUIET:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
    return handler
