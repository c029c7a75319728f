"""Shared set-up of the Engine facade tests: test providers written to a temporary catalog,
a GitHub simulator on a real socket, and a tiny webhook endpoint in front of an Engine.

``hub`` is a GitHub-shaped provider (REST against tests/simulators/github.py): two auth
modes, an issues stream, HMAC-signed webhooks with delivery ids and registration by API; its
webhook secret is any string (connect generates one when none is given).

``chat`` talks to the same simulator but its webhook secret is issued by the provider
(``secret_issued_by_provider``), as Slack's signing secret is: connect never invents one.

``signal`` receives its secret in a handshake (``X-Hook-Secret`` echoed back, as Asana does).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from aiohttp import web

from engine.catalog import ProviderCatalog
from engine.facade import Engine
from engine.vault import Vault, generate_key, parse_keys
from engine.webhooks import InboundRequest

TOKEN = "ghp_sim_token"  # the GitHub simulator's default token (user "octocat")
REPO = "octo/hello"

HUB_YAML = """
name: hub
title: Hub
category: work_tracking
base_url: https://api.github.com
headers:
  Accept: application/vnd.github+json
  User-Agent: kiro-sync-tests
rate_limit: {max_retries: 1, backoff_base_seconds: 0.01, backoff_max_seconds: 0.05}
auth_modes:
  token:
    title: Personal access token
    fields:
      - {name: token, secret: true}
      - {name: webhookSecret, secret: true, required: false}
    auth: {type: bearer, token: "{{ credentials.token }}"}
  app:
    title: App installation token
    fields:
      - {name: installationToken, secret: true}
    auth: {type: bearer, token: "{{ credentials.installationToken }}"}
errors:
  - status: [401, 403]
    action: fail_config
    message: "{{ response.message if response else 'unauthorized' }}"
test_connection:
  request: {path: /user}
  identity_path: $.login
streams:
  issues:
    request:
      path: "/repos/{{ partition }}/issues"
      query:
        state: all
        sort: updated
        direction: asc
        since: "{{ cursor }}"
    partitions: {values: "{{ config.filters.projects }}"}
    record_filter: "{{ 'pull_request' not in record }}"
    updated_path: updated_at
    cursor: {field: updated_at, sorted: true}
    pagination: {type: link_header, page_size_param: per_page}
    pushed_filters: [projects]
webhooks:
  secret_field: webhookSecret
  signature: {type: hmac, header: X-Hub-Signature-256, prefix: "sha256="}
  delivery_id: "{{ headers['X-GitHub-Delivery'] }}"
  event_type: "{{ headers['X-GitHub-Event'] }}"
  events:
    - {name: ping, match: "{{ event_type == 'ping' }}", action: ack}
    - name: issue_deleted
      match: "{{ event_type == 'issues' and payload.action == 'deleted' }}"
      stream: issues
      records: "{{ payload.issue }}"
      action: delete
    - name: issue_changed
      match: "{{ event_type == 'issues' }}"
      stream: issues
      records: "{{ payload.issue }}"
  register:
    create:
      steps:
        - name: hook
          request:
            method: POST
            path: "/repos/{{ config.filters.projects[0] }}/hooks"
            body:
              name: web
              active: true
              events: "{{ item.events }}"
              config:
                url: "{{ item.url }}"
                content_type: json
                secret: "{{ item.secret }}"
          extract: {id: "{{ response.id }}"}
          require: [id]
      id: "{{ steps.hook.id }}"
    delete:
      steps:
        - name: hook
          request:
            method: DELETE
            path: "/repos/{{ config.filters.projects[0] }}/hooks/{{ link.external_id }}"
  default_events: [issues]
"""

HUB_MAPPING = """
provider: hub
streams:
  issues:
    entity: work_item
    key: "{{ record.number }}"
    url: html_url
    updated: updated_at
    created: created_at
    fields:
      title: {path: title}
      description: {path: body}
      status: {path: state, values: {open: To Do, closed: Done}}
      tags: {path: "labels[*].name", list: true, outbound_path: labels}
"""

CHAT_YAML = """
name: chat
title: Chat
category: messaging
base_url: https://chat.example/api
headers: {User-Agent: kiro-sync-tests}
auth_modes:
  token:
    title: Bot token and the app's signing secret
    fields:
      - {name: token, secret: true}
      - {name: signingSecret, secret: true, required: false}
    auth: {type: bearer, token: "{{ credentials.token }}"}
test_connection:
  request: {path: /user}
  identity_path: $.login
streams:
  issues:
    request: {path: "/repos/{{ partition }}/issues"}
    partitions: {values: "{{ config.filters.projects }}"}
webhooks:
  secret_field: signingSecret
  secret_issued_by_provider: true
  signature: {type: hmac, header: X-Chat-Signature}
  events:
    - {name: message, match: "{{ payload.issue is defined }}", stream: issues,
       records: "{{ payload.issue }}"}
"""

SIGNAL_YAML = """
name: signal
title: Signal
category: work_tracking
base_url: https://signal.example/api
auth_modes:
  token:
    title: Token
    fields:
      - {name: token, secret: true}
    auth: {type: bearer, token: "{{ credentials.token }}"}
test_connection:
  request: {path: /user}
  identity_path: $.login
streams:
  issues:
    request: {path: "/repos/{{ partition }}/issues"}
    partitions: {values: "{{ config.filters.projects }}"}
webhooks:
  secret_from_handshake: true
  signature: {type: hmac, header: X-Hook-Signature}
  handshakes:
    - {type: echo_header, header: X-Hook-Secret}
  events:
    - name: issue_changed
      match: "{{ payload.issue is defined }}"
      stream: issues
      records: "{{ payload.issue }}"
"""

CHAT_MAPPING = """
provider: chat
streams:
  issues:
    entity: work_item
    fields:
      title: {path: title}
"""

SIGNAL_MAPPING = """
provider: signal
streams:
  issues:
    entity: work_item
    fields:
      title: {path: title}
"""


def write_catalog(directory: Path) -> ProviderCatalog:
    """A catalog holding only the test providers (never the bundled ones)."""
    (directory / "mappings").mkdir(parents=True, exist_ok=True)
    for name, spec, mapping in (
        ("hub", HUB_YAML, HUB_MAPPING),
        ("signal", SIGNAL_YAML, SIGNAL_MAPPING),
        ("chat", CHAT_YAML, CHAT_MAPPING),
    ):
        (directory / f"{name}.yaml").write_text(spec, encoding="utf-8")
        (directory / "mappings" / f"{name}.yaml").write_text(mapping, encoding="utf-8")
    return ProviderCatalog([directory], include_bundled=False, env={})


def make_vault() -> Vault:
    return Vault(parse_keys(generate_key(), "test"))


def hub_credentials(base_url: str, **extra: Any) -> dict[str, Any]:
    return {"token": TOKEN, "baseUrl": base_url, **extra}


def hub_config(**extra: Any) -> dict[str, Any]:
    return {"filters": {"projects": [REPO]}, **extra}


def inbound(url: str, headers: dict[str, str], body: bytes, method: str = "POST") -> InboundRequest:
    return InboundRequest.build(method, url, headers, body)


def webhook_app(engine: Engine) -> web.Application:
    """The smallest adapter over ``Engine.receive_webhook`` (the real one is runtime's)."""

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        answer = await engine.receive_webhook(
            request.match_info["integration_id"],
            InboundRequest.build(request.method, str(request.url), dict(request.headers), body),
        )
        payload = answer.body
        if isinstance(payload, dict):
            return web.json_response(payload, status=answer.status, headers=answer.headers)
        data = payload.encode() if isinstance(payload, str) else (payload or b"")
        return web.Response(status=answer.status, body=data, headers=answer.headers)

    app = web.Application()
    app.router.add_post("/webhooks/{integration_id}", receive)
    return app


@asynccontextmanager
async def serve_app(app: web.Application) -> AsyncIterator[str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()
