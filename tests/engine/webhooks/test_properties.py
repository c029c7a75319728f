"""Properties: any body signed with any secret verifies, and any single-byte change of the
body is rejected, for raw-body, templated-message and base64-keyed schemes."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.errors import WebhookRejected
from engine.webhooks import VerifiedDelivery
from tests.engine.webhooks.helpers import hmac_b64, hmac_hex, processor, request

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
STAMP = str(int(NOW.timestamp()))

RAW = processor("secret_field: s\nsignature: {type: hmac, header: X-Sig, prefix: 'sha256='}\n")
TEMPLATED = processor(
    """
secret_field: s
signature:
  type: hmac
  header: X-Sig
  prefix: "v0="
  message: "v0:{{ headers['X-Ts'] }}:{{ body }}"
replay_timestamp: "{{ headers['X-Ts'] }}"
replay_tolerance_seconds: 300
"""
)
KEYED = processor(
    "secret_field: s\nsignature: {type: hmac, header: Authorization, prefix: 'HMAC ',"
    " encoding: base64, key_encoding: base64}\n"
)

secrets = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=64)
bodies = st.binary(min_size=1, max_size=2048)


@st.composite
def body_and_mutation(draw: st.DrawFn) -> tuple[bytes, bytes]:
    body = draw(bodies)
    index = draw(st.integers(0, len(body) - 1))
    replacement = draw(st.integers(0, 255).filter(lambda b: b != body[index]))
    mutated = bytearray(body)
    mutated[index] = replacement
    return body, bytes(mutated)


def text_request(body: bytes, headers: dict[str, str]):  # type: ignore[no-untyped-def]
    return request(body, {"Content-Type": "text/plain", **headers})


@given(secret=secrets, pair=body_and_mutation())
def test_raw_body_scheme(secret: str, pair: tuple[bytes, bytes]) -> None:
    body, mutated = pair
    headers = {"X-Sig": "sha256=" + hmac_hex(secret.encode(), body)}
    assert isinstance(RAW.verify(text_request(body, headers), secret, NOW), VerifiedDelivery)
    with pytest.raises(WebhookRejected, match="signature mismatch"):
        RAW.verify(text_request(mutated, headers), secret, NOW)


@given(secret=secrets, pair=body_and_mutation())
def test_templated_message_keeps_the_raw_bytes(secret: str, pair: tuple[bytes, bytes]) -> None:
    """Bodies that are not UTF-8 still sign byte for byte through the message template."""
    body, mutated = pair
    signed = f"v0:{STAMP}:".encode() + body
    headers = {"X-Ts": STAMP, "X-Sig": "v0=" + hmac_hex(secret.encode(), signed)}
    assert isinstance(TEMPLATED.verify(text_request(body, headers), secret, NOW), VerifiedDelivery)
    with pytest.raises(WebhookRejected, match="signature mismatch"):
        TEMPLATED.verify(text_request(mutated, headers), secret, NOW)


@given(key=st.binary(min_size=1, max_size=64), pair=body_and_mutation())
def test_base64_key_scheme(key: bytes, pair: tuple[bytes, bytes]) -> None:
    body, mutated = pair
    secret = base64.b64encode(key).decode()
    headers = {"Authorization": "HMAC " + hmac_b64(key, body)}
    assert isinstance(KEYED.verify(text_request(body, headers), secret, NOW), VerifiedDelivery)
    with pytest.raises(WebhookRejected, match="signature mismatch"):
        KEYED.verify(text_request(mutated, headers), secret, NOW)
