"""Signature schemes: what they accept, what they reject, and that no reason leaks a secret."""

from __future__ import annotations

import pytest

from engine.errors import WebhookRejected
from engine.webhooks import VerifiedDelivery
from tests.engine.webhooks.helpers import (
    MS_GRAPH,
    hmac_b64,
    hmac_hex,
    json_of,
    processor,
    request,
)

SECRET = "s3cr3t-value-never-shown"
BODY = b'{"action":"opened","issue":{"id":1}}'

HEX = """
secret_field: webhookSecret
signature: {type: hmac, header: X-Signature, prefix: "sha256="}
"""


def rejected(yaml: str, req, secret: str | None = SECRET) -> WebhookRejected:  # type: ignore[no-untyped-def]
    with pytest.raises(WebhookRejected) as caught:
        processor(yaml).verify(req, secret)
    error = caught.value
    assert SECRET not in str(error) and SECRET not in repr(error.context)
    assert hmac_hex(SECRET.encode(), BODY) not in str(error)
    assert "\n" not in str(error)
    return error


def test_header_names_are_case_insensitive() -> None:
    signature = "sha256=" + hmac_hex(SECRET.encode(), BODY)
    checked = processor(HEX).verify(request(BODY, {"x-SIGNATURE": signature}), SECRET)
    assert isinstance(checked, VerifiedDelivery)


def test_hex_digest_case_and_prefix_case_do_not_matter() -> None:
    signature = "SHA256=" + hmac_hex(SECRET.encode(), BODY).upper()
    checked = processor(HEX).verify(request(BODY, {"X-Signature": signature}), SECRET)
    assert isinstance(checked, VerifiedDelivery)


def test_missing_header() -> None:
    error = rejected(HEX, request(BODY))
    assert str(error) == "missing signature header X-Signature"
    assert error.reason == "no_signature"


def test_wrong_prefix() -> None:
    signature = "sha1=" + hmac_hex(SECRET.encode(), BODY)
    error = rejected(HEX, request(BODY, {"X-Signature": signature}))
    assert "does not start with 'sha256='" in str(error)


def test_not_hex() -> None:
    error = rejected(HEX, request(BODY, {"X-Signature": "sha256=zzzz"}))
    assert str(error) == "signature header X-Signature is not valid hex"


def test_signature_of_another_body() -> None:
    signature = "sha256=" + hmac_hex(SECRET.encode(), BODY + b" ")
    error = rejected(HEX, request(BODY, {"X-Signature": signature}))
    assert str(error) == "webhook signature mismatch (header X-Signature)"
    assert error.reason == "signature_mismatch"


def test_no_secret_configured() -> None:
    signature = "sha256=" + hmac_hex(SECRET.encode(), BODY)
    error = rejected(HEX, request(BODY, {"X-Signature": signature}), secret=None)
    assert str(error) == "no webhook secret configured"


def test_raw_bytes_are_signed_not_reserialized_json() -> None:
    """Whitespace and key order of the body as sent are what the signature covers."""
    pretty = b'{\n  "b": 1,\n  "a": "\\u00e9"\n}\n'
    signature = "sha256=" + hmac_hex(SECRET.encode(), pretty)
    checked = processor(HEX).verify(request(pretty, {"X-Signature": signature}), SECRET)
    assert isinstance(checked, VerifiedDelivery) and checked.payload == {"b": 1, "a": "é"}
    compact = json_of(checked.payload)
    with pytest.raises(WebhookRejected, match="mismatch"):
        processor(HEX).verify(request(compact, {"X-Signature": signature}), SECRET)


@pytest.mark.parametrize("algorithm", ["sha1", "sha256", "sha512"])
@pytest.mark.parametrize("encoding", ["hex", "base64"])
def test_algorithms_and_encodings(algorithm: str, encoding: str) -> None:
    yaml = f"""
secret_field: s
signature: {{type: hmac, header: X-Sig, algorithm: {algorithm}, encoding: {encoding}}}
"""
    sign = hmac_hex if encoding == "hex" else hmac_b64
    good = sign(SECRET.encode(), BODY, algorithm)
    assert isinstance(
        processor(yaml).verify(request(BODY, {"X-Sig": good}), SECRET), VerifiedDelivery
    )
    other = "sha256" if algorithm != "sha256" else "sha1"
    with pytest.raises(WebhookRejected, match="mismatch"):
        processor(yaml).verify(request(BODY, {"X-Sig": sign(SECRET.encode(), BODY, other)}), SECRET)


def test_base64_key_that_is_not_base64() -> None:
    yaml = """
secret_field: s
signature:
  {type: hmac, header: Authorization, prefix: "HMAC ", encoding: base64, key_encoding: base64}
"""
    req = request(BODY, {"Authorization": "HMAC " + hmac_b64(b"k", BODY)})
    with pytest.raises(WebhookRejected, match="not valid base64 \\(key_encoding: base64\\)"):
        processor(yaml).verify(req, "not base64!")


def test_message_template_that_cannot_be_built_is_a_rejection() -> None:
    yaml = """
secret_field: s
signature: {type: hmac, header: X-Sig, message: "v0:{{ headers['X-Timestamp'] }}:{{ body }}"}
"""
    signature = hmac_hex(SECRET.encode(), b"v0::" + BODY)
    error = rejected(yaml, request(BODY, {"X-Sig": signature}))
    assert error.reason == "bad_signature_format"
    assert "cannot build the signed message" in str(error)


def test_none_scheme_accepts_without_a_secret() -> None:
    yaml = "signature: {type: none}\n"
    checked = processor(yaml).verify(request(BODY), None)
    assert isinstance(checked, VerifiedDelivery) and checked.payload["action"] == "opened"


def graph_batch(*client_states: object) -> bytes:
    return json_of({"value": [{"clientState": c, "changeType": "updated"} for c in client_states]})


def test_shared_secret_every_notification_of_the_batch() -> None:
    graph = processor(MS_GRAPH)
    checked = graph.verify(request(graph_batch(SECRET, SECRET)), SECRET)
    assert isinstance(checked, VerifiedDelivery)
    for body in (graph_batch(SECRET, "other"), graph_batch("other")):
        with pytest.raises(WebhookRejected, match=r"^shared secret mismatch$"):
            graph.verify(request(body), SECRET)


@pytest.mark.parametrize(
    "body",
    [graph_batch(), graph_batch(SECRET, None), graph_batch(""), b'{"other": 1}', b""],
    ids=["empty batch", "one without", "empty value", "no value key", "empty body"],
)
def test_shared_secret_absent(body: bytes) -> None:
    error = rejected(MS_GRAPH, request(body))
    assert str(error) == "the delivery carries no shared secret"


def test_shared_secret_non_string_values_do_not_match() -> None:
    with pytest.raises(WebhookRejected, match="mismatch"):
        processor(MS_GRAPH).verify(request(graph_batch(123)), SECRET)


def test_shared_secret_in_a_header() -> None:
    yaml = """
secret_field: token
signature: {type: shared_secret, value: "{{ headers['X-Gitlab-Token'] }}"}
"""
    token = processor(yaml)
    checked = token.verify(request(BODY, {"X-Gitlab-Token": SECRET}), SECRET)
    assert isinstance(checked, VerifiedDelivery)
    assert "X-Gitlab-Token" not in checked.headers  # carries the secret: never stored
    rejected(yaml, request(BODY, {"X-Gitlab-Token": "guess"}))
