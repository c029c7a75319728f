"""Every signature test vector of PROVIDERS.md verifies with its provider's YAML declaration,
and changing one byte of what was signed makes it fail.

GitHub and Slack publish theirs; the others were computed from the documented algorithm
(and re-checked with Python's hmac before being written here).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from engine.errors import WebhookRejected
from engine.webhooks import VerifiedDelivery
from tests.engine.webhooks.helpers import PROVIDERS, flip_byte, processor, request

SLACK_BODY = (
    b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow"
    b"&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner"
    b"&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands"
    b"%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
    b"&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)


@dataclass(frozen=True)
class Vector:
    provider: str
    secret: str
    body: bytes
    headers: dict[str, str]
    url: str = "https://kiro.test/webhooks/int-1"
    now: datetime = field(default_factory=lambda: datetime(2026, 1, 1, tzinfo=UTC))
    content_type: str = "application/json"


def at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


GITHUB_SIG = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"

VECTORS = {
    # published by GitHub; the body is not JSON, so it is sent as text/plain
    "github": Vector(
        "github",
        "It's a Secret to Everybody",
        b"Hello, World!",
        {"X-Hub-Signature-256": GITHUB_SIG},
        content_type="text/plain",
    ),
    # Jira admin webhooks: GitHub's algorithm under the header X-Hub-Signature
    "jira": Vector(
        "jira",
        "It's a Secret to Everybody",
        b"Hello, World!",
        {"X-Hub-Signature": GITHUB_SIG},
        content_type="text/plain",
    ),
    # published by Slack (a slash command, form-encoded)
    "slack": Vector(
        "slack",
        "8f742231b10e8888abcd99yyyzzz85a5",
        SLACK_BODY,
        {
            "X-Slack-Request-Timestamp": "1531420618",
            "X-Slack-Signature": (
                "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
            ),
        },
        now=at(1531420618 + 12),
        content_type="application/x-www-form-urlencoded",
    ),
    "trello": Vector(
        "trello",
        "secret",
        b'{"hello":"world"}',
        {"X-Trello-Webhook": "FwPAcuGe9EP/+SbXFWjnEVTa0zw="},
        url="https://example.com/webhooks",
    ),
    "asana": Vector(
        "asana",
        "b537207f20cbfa02357cf448134da559e8bd39d61597dcd5631b8012eae53e81",
        b'{"events":[]}',
        {"X-Hook-Signature": "10468027b67df18c739cc4794c6fc2d2806dcaaf2259fc3e1ed9d26433659853"},
    ),
    "linear": Vector(
        "linear",
        "lin_wh_test_secret",
        b'{"action":"create","type":"Issue","webhookTimestamp":1700000000000}',
        {"Linear-Signature": "bc8166452d75bb104f41b0c8b0f168b4d57cd224618779163f15a1f93cc87b30"},
        now=at(1700000000 + 30),
    ),
    "notion": Vector(
        "notion",
        "secret_abc123_verification_token",
        b'{"id":"evt_1","type":"page.created"}',
        {
            "X-Notion-Signature": (
                "sha256=942ac06e288d4872c2c3944cb92793dabf59e7b005dab9c6f883aff7132c686c"
            )
        },
    ),
    "teams outgoing": Vector(
        "teams_outgoing",
        "vqF0En+Z0ucuRTM/01o2GuhMH3hKKk/N2bOmlM31zaA=",
        b'{"type":"message","text":"hello"}',
        {"Authorization": "HMAC u4mqRgrbVIFC3vtz7CZ6l6p1FlBrMrWdHGNjdU5ux2o="},
    ),
}


def _request(vector: Vector, body: bytes | None = None, url: str | None = None):  # type: ignore[no-untyped-def]
    headers = {"Content-Type": vector.content_type, **vector.headers}
    return request(
        vector.body if body is None else body, headers, url=url if url is not None else vector.url
    )


@pytest.mark.parametrize("vector", VECTORS.values(), ids=list(VECTORS))
def test_vector_verifies(vector: Vector) -> None:
    checked = processor(PROVIDERS[vector.provider]).verify(
        _request(vector), vector.secret, vector.now
    )
    assert isinstance(checked, VerifiedDelivery)


@pytest.mark.parametrize("vector", VECTORS.values(), ids=list(VECTORS))
@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_one_changed_byte_fails(vector: Vector, where: str) -> None:
    index = {"first": 0, "middle": len(vector.body) // 2, "last": len(vector.body) - 1}[where]
    with pytest.raises(WebhookRejected, match="signature mismatch") as caught:
        processor(PROVIDERS[vector.provider]).verify(
            _request(vector, body=flip_byte(vector.body, index)), vector.secret, vector.now
        )
    assert vector.secret not in str(caught.value)


@pytest.mark.parametrize("vector", VECTORS.values(), ids=list(VECTORS))
def test_wrong_secret_fails(vector: Vector) -> None:
    wrong = (
        "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE="
        if "=" in vector.secret
        else "x" + vector.secret
    )
    with pytest.raises(WebhookRejected, match="signature mismatch"):
        processor(PROVIDERS[vector.provider]).verify(_request(vector), wrong, vector.now)


def test_trello_signs_the_callback_url_too() -> None:
    vector = VECTORS["trello"]
    with pytest.raises(WebhookRejected, match="signature mismatch"):
        processor(PROVIDERS["trello"]).verify(
            _request(vector, url="https://example.com/webhooks/"), vector.secret, vector.now
        )


def test_slack_replay_window_rejects_an_old_request() -> None:
    vector = VECTORS["slack"]
    slack = processor(PROVIDERS["slack"])
    assert isinstance(
        slack.verify(_request(vector), vector.secret, at(1531420618 + 300)), VerifiedDelivery
    )
    with pytest.raises(WebhookRejected, match=r"301 s old \(tolerance 300 s\)"):
        slack.verify(_request(vector), vector.secret, at(1531420618 + 301))
    with pytest.raises(WebhookRejected, match="in the future"):
        slack.verify(_request(vector), vector.secret, at(1531420618 - 301))


def test_slack_replay_window_covers_the_signed_timestamp() -> None:
    """Moving the timestamp header into the window breaks the signature instead."""
    vector = VECTORS["slack"]
    moved = {**vector.headers, "X-Slack-Request-Timestamp": "1531420900"}
    forged = Vector("slack", vector.secret, vector.body, moved, content_type=vector.content_type)
    with pytest.raises(WebhookRejected, match="signature mismatch"):
        processor(PROVIDERS["slack"]).verify(_request(forged), vector.secret, at(1531420900))


def test_linear_window_is_sixty_seconds_on_milliseconds() -> None:
    vector = VECTORS["linear"]
    linear = processor(PROVIDERS["linear"])
    assert isinstance(
        linear.verify(_request(vector), vector.secret, at(1700000060)), VerifiedDelivery
    )
    with pytest.raises(WebhookRejected, match=r"61 s old \(tolerance 60 s\)"):
        linear.verify(_request(vector), vector.secret, at(1700000061))
