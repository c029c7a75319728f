"""JSON log lines, request ids, and the redaction of secrets."""

from __future__ import annotations

import io
import json
import logging

import pytest

from runtime.logging import JsonFormatter, RedactionFilter, Redactor, request_id_var


@pytest.fixture
def capture():
    redactor = Redactor(["registered-secret-value"])
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactionFilter(redactor))
    handler.setFormatter(JsonFormatter(redactor))
    logger = logging.getLogger("tests.runtime.logging")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logger.removeHandler(handler)
    logger.propagate = True


_GITHUB_LIKE = "ghp" + "_0123456789abcdefghijklmnopqrstuvwxyz"
_SLACK_LIKE = "xoxb" + "-1234567890-abcdefghij"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Authorization: Bearer abcdefghijklmnopqrstuvwxyz", "abcdefghijklmnopqrstuvwxyz"),
        ("GET https://api.trello.com/1/members/me?key=k123456&token=t987654321", "t987654321"),
        ("postgresql://kiro:hunter2hunter2@db:5432/kiro", "hunter2hunter2"),
        ('{"apiToken": "ATATT3xFfGF0abcdefghijklmnop"}', "ATATT3xFfGF0abcdefghijklmnop"),
        # token-shaped fakes are assembled so no literal in the repo looks like a real secret
        ("token " + _GITHUB_LIKE, _GITHUB_LIKE[:24]),
        ("slack " + _SLACK_LIKE, _SLACK_LIKE),
        ("linear lin_api_0123456789abcdefghij", "lin_api_0123456789abcdefghij"),
        ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl", "c2lnbmF0dXJl"),
        ("the registered-secret-value leaked", "registered-secret-value"),
        ("signingSecret=8f742231b10e8888abcd99yyyzzz85a5", "8f742231b10e8888abcd99yyyzzz85a5"),
        ("headers={'Authorization': 'lin-like-raw-key-0001'}", "lin-like-raw-key-0001"),
        ("{'token': 'plain-token-value-02', 'x': 1}", "plain-token-value-02"),
        ("/1/cards?key=k1234567&token=t7654321&oauth_signature=s9999999", "s9999999"),
    ],
)
def test_secrets_are_masked(capture, text: str, secret: str) -> None:
    logger, lines = capture
    logger.info("seen %s", text)
    (entry,) = lines()
    assert secret not in json.dumps(entry)
    assert "***" in entry["msg"]


def test_plain_messages_survive(capture) -> None:
    logger, lines = capture
    logger.info("sync finished for %s in %d ms", "integration-7", 42)
    assert lines()[0]["msg"] == "sync finished for integration-7 in 42 ms"


def test_json_fields_request_id_extras_and_exceptions(capture) -> None:
    logger, lines = capture
    token = request_id_var.set("req-123")
    try:
        try:
            raise RuntimeError("boom with Bearer abcdefghijklmnopqrstuvwxyz")
        except RuntimeError:
            logger.exception("failed", extra={"integration_id": "i-1", "url": "x?token=abc12345"})
    finally:
        request_id_var.reset(token)
    (entry,) = lines()
    assert entry["level"] == "error" and entry["logger"] == "tests.runtime.logging"
    assert entry["request_id"] == "req-123"
    assert entry["integration_id"] == "i-1"
    assert entry["url"] == "x?token=***"
    assert "RuntimeError" in entry["exc"]
    assert "abcdefghijklmnopqrstuvwxyz" not in entry["exc"]


def test_extra_fields_under_secret_names_are_masked(capture) -> None:
    logger, lines = capture
    extra = {
        "credentials": {"apiToken": "raw-api-token-0003", "email": "ada@example.com"},
        "request_headers": {"Authorization": "raw-header-key-0004", "Accept": "text/plain"},
    }
    logger.warning("provider answered", extra=extra)
    (entry,) = lines()
    text = json.dumps(entry)
    assert "raw-api-token-0003" not in text and "raw-header-key-0004" not in text
    assert entry["request_headers"]["Accept"] == "text/plain"
