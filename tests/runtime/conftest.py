"""Runtime test fixtures: every log line written during a runtime test is checked for secrets.

``secrets_seen`` holds the credentials a test uses (provider tokens, webhook secrets, the JWT
secret, minted tokens). The autouse ``log_guard`` sends every log record of the test (DEBUG
and up, every logger) through the production pipeline (``RedactionFilter`` + ``JsonFormatter``)
and fails the test when any line contains one of them.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from runtime.logging import JsonFormatter, RedactionFilter, Redactor

JWT_SECRET = "runtime-tests-jwt-secret-0123456789abcdef"


class SecretsSeen:
    """The test credentials no log line may contain."""

    def __init__(self) -> None:
        self.values: set[str] = {JWT_SECRET}

    def add(self, *values: str) -> None:
        self.values.update(v for v in values if v and len(v) >= 6)


@pytest.fixture
def secrets_seen() -> SecretsSeen:
    return SecretsSeen()


@pytest.fixture(autouse=True)
def log_guard(secrets_seen: SecretsSeen) -> Iterator[io.StringIO]:
    """Capture every log record as production would write it; no test credential may show."""
    stream = io.StringIO()
    redactor = Redactor([JWT_SECRET])  # what serve registers: the settings' own secrets
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactionFilter(redactor))
    handler.setFormatter(JsonFormatter(redactor))
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)
    text = stream.getvalue()
    leaked = sorted(secret for secret in secrets_seen.values if secret in text)
    assert not leaked, f"{len(leaked)} test credential(s) appear in the logs"
