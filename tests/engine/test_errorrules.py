"""Error rules see ``stream``: a rule can tell a stream read from a write or the connection
test (a read's 404 is a wrong project; a write's 404 is one gone item)."""

from __future__ import annotations

from multidict import CIMultiDict, CIMultiDictProxy

from engine.errorrules import ErrorRules, Label
from engine.errors import ConfigError, ProviderError
from engine.ratelimit import RateLimiter
from engine.spec import load_provider_text
from engine.wire import Response, Secrets

YAML = """
name: acme
title: Acme
category: work_tracking
base_url: https://acme.example
auth_modes:
  token:
    title: Token
    fields: [{name: token, secret: true}]
    auth: {type: bearer, token: "{{ credentials.token }}"}
errors:
  - status: 404
    when: "{{ stream is not none }}"
    action: fail_config
    message: "no such project ({{ stream }})"
test_connection:
  request: {path: /me}
  identity_path: $.login
streams:
  issues:
    request: {path: /issues}
"""


def test_a_rule_can_tell_a_stream_read_from_a_write() -> None:
    provider = load_provider_text(YAML)
    rules = ErrorRules(provider, RateLimiter(provider.spec.rate_limit), Secrets())
    headers = CIMultiDictProxy(CIMultiDict({"Content-Type": "application/json"}))
    answer = Response(404, headers, {"message": "Not Found"}, "https://acme.example/x")

    read = rules.judge(answer, Label("acme", "issues", "GET", "https://acme.example/issues"))
    assert isinstance(read.error, ConfigError)
    assert read.error.details == "no such project (issues)"

    write = rules.judge(answer, Label("acme", None, "POST", "https://acme.example/issues"))
    assert type(write.error) is ProviderError  # a writer turns a 4xx into a record error
    assert write.error.details == "Not Found"
